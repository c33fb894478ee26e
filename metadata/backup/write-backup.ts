/**
 * Writing a backup (backup-format.ts) from a store that keeps serving: every entry comes from one
 * store snapshot (`KvStore.snapshot()`, one LevelDB snapshot or one etcd revision), so the file
 * holds each committed batch whole or not at all, however many writes happen while it is taken.
 * Memory stays bounded whatever the catalog's size: entries stream from the snapshot's pages to
 * the writable, a chunk of about CHUNK_BYTES_TARGET at a time, waiting for the writable to drain.
 */
import { readFileSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumToHex, createXxh64 } from '../../erasure/index.js';
import { GranaryError } from '../../protocol/index.js';
import type { KvStore } from '../store/kv-store.js';
import {
  BACKUP_FORMAT,
  BACKUP_MAGIC,
  type BackupHeader,
  FRAME_ENTRY,
  FRAME_HEADER,
  FRAME_TRAILER,
  SERVICE_FILES_MAX,
  SERVICE_FILES_SPACE,
  SERVICE_FILE_BYTES_MAX,
  compareEntryKeys,
  encodeFrame,
  isReservedSpace,
} from './backup-format.js';

/** Frames are gathered into chunks of about this size: one write per entry would cost more than the entry. */
const CHUNK_BYTES_TARGET = 64 * 1024;

export interface BackupOptions {
  /**
   * Files the service keeps beside its catalog that a restore needs too (the capability signing
   * key), by name; they go into the reserved space `@service`. Secret: the backup is then secret.
   */
  readonly serviceFiles?: ReadonlyMap<string, Uint8Array>;
  /** Written into the header; default the version in Granary's package.json. */
  readonly serviceVersion?: string;
  readonly now?: () => Date;
}

export interface BackupSummary {
  /** Entry frames written: store entries and service files. */
  readonly entries: number;
  /** Store entries among them. */
  readonly storeEntries: number;
  readonly bytes: number;
  /** The trailer's checksum (xxh64 hex of every byte before the trailer). */
  readonly checksum: string;
}

/**
 * The bytes of a backup of `store`, in chunks. Stopping early (`return()`, as a destroyed stream
 * does) closes the store snapshot. `done` receives the summary after the last chunk.
 */
export async function* backupChunks(store: KvStore, options: BackupOptions = {}, done?: (summary: BackupSummary) => void): AsyncGenerator<Buffer> {
  const serviceFiles = checkedServiceFiles(options.serviceFiles);
  const hash = createXxh64();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  const add = (frame: Buffer): void => {
    hash.update(frame);
    pending.push(frame);
    pendingBytes += frame.length;
  };
  const take = (): Buffer => {
    const chunk = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    bytes += chunk.length;
    pending = [];
    pendingBytes = 0;
    return chunk;
  };

  const version = options.serviceVersion ?? granaryVersion();
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    storeKind: store.kind,
    createdAt: (options.now?.() ?? new Date()).toISOString(),
    ...(version === undefined ? {} : { serviceVersion: version }),
  };
  add(BACKUP_MAGIC);
  add(encodeFrame(FRAME_HEADER, header));
  let entries = 0;
  for (const [name, value] of serviceFiles) {
    add(encodeFrame(FRAME_ENTRY, [SERVICE_FILES_SPACE, name, value]));
    entries++;
  }
  let storeEntries = 0;
  let last: { space: string; key: string } | undefined;
  for await (const entry of store.snapshot()) {
    // The store promises (space, key) order and no reserved space; a restore refuses a file that
    // breaks either, so a backup that would is stopped here rather than found broken later.
    if (isReservedSpace(entry.space)) {
      throw new GranaryError('GRN_INTERNAL', `the store holds a space named ${JSON.stringify(entry.space)}; spaces starting with "@" are reserved for backups`);
    }
    if (last !== undefined && compareEntryKeys(last.space, last.key, entry.space, entry.key) >= 0) {
      throw new GranaryError('GRN_INTERNAL', `the store's snapshot is out of (space, key) order at ${entry.space}/${entry.key.slice(0, 80)} (after ${last.space}/${last.key.slice(0, 80)})`);
    }
    last = { space: entry.space, key: entry.key };
    add(encodeFrame(FRAME_ENTRY, [entry.space, entry.key, entry.value]));
    entries++;
    storeEntries++;
    if (pendingBytes >= CHUNK_BYTES_TARGET) yield take();
  }
  const checksum = checksumToHex(hash.digest());
  // The trailer is outside its own checksum.
  pending.push(encodeFrame(FRAME_TRAILER, { entries, checksum }));
  pendingBytes += (pending[pending.length - 1] as Buffer).length;
  yield take();
  done?.({ entries, storeEntries, bytes, checksum });
}

/** Writes a whole backup of `store` to `writable` and ends it; on failure the writable is destroyed. */
export async function writeBackup(store: KvStore, writable: Writable, options: BackupOptions = {}): Promise<BackupSummary> {
  let summary: BackupSummary | undefined;
  await pipeline(
    Readable.from(
      backupChunks(store, options, (s) => {
        summary = s;
      }),
    ),
    writable,
  );
  if (summary === undefined) throw new GranaryError('GRN_INTERNAL', 'the backup stream ended before its trailer');
  return summary;
}

function checkedServiceFiles(files: ReadonlyMap<string, Uint8Array> | undefined): [string, Uint8Array][] {
  const sorted = [...(files ?? new Map<string, Uint8Array>())].sort(([a], [b]) => compareEntryKeys(SERVICE_FILES_SPACE, a, SERVICE_FILES_SPACE, b));
  if (sorted.length > SERVICE_FILES_MAX) throw new GranaryError('GRN_INTERNAL', `a backup carries at most ${SERVICE_FILES_MAX} service files, got ${sorted.length}`);
  for (const [name, value] of sorted) {
    if (name.length === 0 || value.length > SERVICE_FILE_BYTES_MAX) {
      throw new GranaryError('GRN_INTERNAL', `service file ${JSON.stringify(name)} of ${value.length} bytes cannot go into a backup (a name, at most ${SERVICE_FILE_BYTES_MAX} bytes)`);
    }
  }
  return sorted;
}

let cachedVersion: string | undefined | null = null;

/**
 * Granary's version from its package.json, found upwards from this module (it runs from the
 * sources under tests and from dist/ when installed); undefined when none is found.
 */
export function granaryVersion(): string | undefined {
  if (cachedVersion !== null) return cachedVersion;
  cachedVersion = undefined;
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'granary' && typeof parsed.version === 'string') {
        cachedVersion = parsed.version;
        break;
      }
    } catch {
      // Not there: try one level up.
    }
  }
  return cachedVersion;
}
