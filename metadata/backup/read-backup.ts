/**
 * Reading a backup (backup-format.ts) frame by frame with bounded memory, checking everything a
 * restore relies on: the magic, a header this version reads, well-formed entries in strictly
 * increasing (space, key) order, a trailer whose entry count and checksum match what came before
 * it, and nothing after the trailer. Any failure is GRN_BACKUP_INVALID naming the byte offset.
 *
 * Entries are yielded as they are read, before the trailer is seen: a caller that must not act on
 * a bad file (restore) reads the file once to the end (verifyBackup) before acting on a second read.
 */
import { checksumToHex, createXxh64 } from '../../erasure/index.js';
import { GranaryError, decodeUntrustedMsgpack } from '../../protocol/index.js';
import type { KvEntry } from '../store/kv-store.js';
import {
  BACKUP_FORMAT,
  BACKUP_MAGIC,
  type BackupHeader,
  type BackupTrailer,
  CONTROL_FRAME_BYTES_MAX,
  FRAME_ENTRY,
  FRAME_HEADER,
  FRAME_PAYLOAD_BYTES_MAX,
  FRAME_PREFIX_BYTES,
  FRAME_TRAILER,
  SERVICE_FILES_MAX,
  SERVICE_FILES_SPACE,
  SERVICE_FILE_BYTES_MAX,
  type StoreKind,
  compareEntryKeys,
  invalidBackup,
  isReservedSpace,
} from './backup-format.js';
import { ByteReader } from './byte-reader.js';

/** Space names and keys are short (etcd allows keys of a few KiB); longer text is a corrupt frame. */
const KEY_BYTES_MAX = 64 * 1024;
const ENTRY_LIMITS = {
  depthMax: 1,
  itemsMax: 4,
  containersMax: 1,
  arrayLengthMax: 3,
  mapEntriesMax: 0,
  stringBytesMax: KEY_BYTES_MAX,
  binaryBytesMax: FRAME_PAYLOAD_BYTES_MAX,
} as const;
const CONTROL_LIMITS = { depthMax: 1, itemsMax: 64, containersMax: 1, arrayLengthMax: 0, mapEntriesMax: 16, stringBytesMax: 4096, binaryBytesMax: 0 } as const;
const STORE_KINDS: readonly StoreKind[] = ['level', 'etcd'];
const HEX_CHECKSUM = /^[0-9a-f]{16}$/;

/** What a whole, checked pass over a backup found. */
export interface VerifiedBackup {
  readonly header: BackupHeader;
  /** Entry frames: store entries and service files. */
  readonly entries: number;
  /** Entries a restore writes to the store. */
  readonly storeEntries: number;
  readonly bytes: number;
  readonly checksum: string;
  /** The reserved `@service` entries: files the service keeps beside its catalog, by name. */
  readonly serviceFiles: ReadonlyMap<string, Uint8Array>;
}

export class BackupReader {
  private readonly bytes: ByteReader;
  private readonly hash = createXxh64();
  private headerRead: BackupHeader | undefined;
  private result: Omit<VerifiedBackup, 'serviceFiles'> | undefined;

  /** `name` says which file errors are about. */
  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly name = 'the backup',
  ) {
    this.bytes = new ByteReader(source);
  }

  /** The header, once `entries()` has started. */
  get header(): BackupHeader | undefined {
    return this.headerRead;
  }

  /** Set once `entries()` has read the trailer and found it matching. */
  get verified(): Omit<VerifiedBackup, 'serviceFiles'> | undefined {
    return this.result;
  }

  /** Every entry in file order; throws GRN_BACKUP_INVALID at the first thing wrong. Stopping early closes the source. */
  async *entries(): AsyncGenerator<KvEntry> {
    try {
      const magic = await this.bytes.read(BACKUP_MAGIC.length);
      if (magic === undefined || !magic.equals(BACKUP_MAGIC)) {
        throw invalidBackup(`${this.name} is not a Granary metadata backup: it does not start with ${JSON.stringify(BACKUP_MAGIC.toString('latin1'))}`);
      }
      this.hash.update(magic);
      const header = this.decodeHeader(await this.frame(0, 'its header'));
      this.headerRead = header;
      let entries = 0;
      let storeEntries = 0;
      let last: KvEntry | undefined;
      for (;;) {
        const at = this.bytes.offset;
        const frame = await this.frame(entries + 1, `entry ${entries + 1} or its trailer`);
        if (frame.type === FRAME_TRAILER) {
          const checksum = this.checkTrailer(frame.payload, at, entries);
          if ((await this.bytes.remaining()) > 0) throw invalidBackup(`${this.name} has bytes after its trailer (at byte ${this.bytes.offset}): it is not the file the backup wrote`);
          this.result = { header, entries, storeEntries, bytes: this.bytes.offset, checksum };
          return;
        }
        if (frame.type !== FRAME_ENTRY) throw invalidBackup(`${this.name} has a frame of unknown type ${frame.type} at byte ${at}: the file is corrupt`);
        const entry = this.decodeEntry(frame.payload, at);
        if (last !== undefined && compareEntryKeys(last.space, last.key, entry.space, entry.key) >= 0) {
          throw invalidBackup(`${this.name} has entries out of order at byte ${at} (${entry.space}/${entry.key.slice(0, 80)} after ${last.space}/${last.key.slice(0, 80)}): the file is corrupt`);
        }
        last = entry;
        entries++;
        if (!isReservedSpace(entry.space)) storeEntries++;
        yield entry;
      }
    } finally {
      await this.bytes.close();
    }
  }

  /** Reads one frame; every byte before the trailer goes into the checksum. */
  private async frame(index: number, what: string): Promise<{ type: number; payload: Buffer }> {
    const at = this.bytes.offset;
    const prefix = await this.bytes.read(FRAME_PREFIX_BYTES);
    if (prefix === undefined) throw this.truncated(at, what);
    const type = prefix[0] as number;
    const length = prefix.readUInt32LE(1);
    const lengthMax = type === FRAME_ENTRY ? FRAME_PAYLOAD_BYTES_MAX : CONTROL_FRAME_BYTES_MAX;
    if (length > lengthMax) {
      throw invalidBackup(`${this.name} declares a frame of ${length} bytes at byte ${at} (frame ${index}), more than the ${lengthMax} a backup holds: the file is corrupt`);
    }
    const payload = await this.bytes.read(length);
    if (payload === undefined) throw this.truncated(at, what);
    if (type !== FRAME_TRAILER) {
      this.hash.update(prefix);
      this.hash.update(payload);
    }
    return { type, payload };
  }

  private truncated(at: number, what: string): GranaryError {
    return invalidBackup(`${this.name} is truncated: it ends at byte ${this.bytes.offset} within ${what} (which starts at byte ${at}); an interrupted backup or copy? Take the backup again`);
  }

  private decodeControl(payload: Buffer, at: number): Record<string, unknown> {
    let value: unknown;
    try {
      value = decodeUntrustedMsgpack(payload, CONTROL_LIMITS);
    } catch (error) {
      throw invalidBackup(`${this.name} has a malformed frame at byte ${at}: ${(error as Error).message}`, error);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidBackup(`${this.name} has a malformed frame at byte ${at}: not a map`);
    return value as Record<string, unknown>;
  }

  private decodeHeader(frame: { type: number; payload: Buffer }): BackupHeader {
    const at = BACKUP_MAGIC.length;
    if (frame.type !== FRAME_HEADER) throw invalidBackup(`${this.name} has no header frame after its magic: the file is corrupt`);
    const { format, storeKind, createdAt, serviceVersion } = this.decodeControl(frame.payload, at);
    if (typeof format !== 'number' || !Number.isInteger(format) || format < 1) throw invalidBackup(`${this.name}'s header has no valid format number`);
    if (format > BACKUP_FORMAT) {
      throw invalidBackup(
        `${this.name} is in backup format ${format}${typeof serviceVersion === 'string' ? ` (written by Granary ${serviceVersion})` : ''}; this Granary reads format ${BACKUP_FORMAT}: restore it with a Granary at least as new as the one that wrote it`,
      );
    }
    if (!STORE_KINDS.includes(storeKind as StoreKind)) throw invalidBackup(`${this.name}'s header names an unknown store kind ${JSON.stringify(storeKind)}`);
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) throw invalidBackup(`${this.name}'s header has no valid creation time`);
    if (serviceVersion !== undefined && typeof serviceVersion !== 'string') throw invalidBackup(`${this.name}'s header has a service version that is not text`);
    return { format, storeKind: storeKind as StoreKind, createdAt, ...(serviceVersion === undefined ? {} : { serviceVersion }) };
  }

  private decodeEntry(payload: Buffer, at: number): KvEntry {
    let value: unknown;
    try {
      value = decodeUntrustedMsgpack(payload, ENTRY_LIMITS);
    } catch (error) {
      throw invalidBackup(`${this.name} has a malformed entry at byte ${at}: ${(error as Error).message}; the file is corrupt`, error);
    }
    if (!Array.isArray(value) || value.length !== 3) throw invalidBackup(`${this.name} has a malformed entry at byte ${at}: not [space, key, value]`);
    const [space, key, bytes] = value as unknown[];
    if (typeof space !== 'string' || space.length === 0 || space.includes('/') || typeof key !== 'string' || !(bytes instanceof Uint8Array)) {
      throw invalidBackup(`${this.name} has a malformed entry at byte ${at}: not [space, key, value]`);
    }
    if (isReservedSpace(space)) {
      if (space !== SERVICE_FILES_SPACE) {
        throw invalidBackup(`${this.name} holds a reserved space ${JSON.stringify(space)} this Granary does not know; restore it with the Granary that wrote it`);
      }
      if (key.length === 0 || bytes.length > SERVICE_FILE_BYTES_MAX) throw invalidBackup(`${this.name} has a malformed service file at byte ${at}`);
    }
    return { space, key, value: bytes };
  }

  /** Checks the trailer against what was read; returns its checksum. */
  private checkTrailer(payload: Buffer, at: number, entries: number): string {
    const { entries: declared, checksum } = this.decodeControl(payload, at) as Partial<Record<keyof BackupTrailer, unknown>>;
    if (typeof declared !== 'number' || typeof checksum !== 'string' || !HEX_CHECKSUM.test(checksum)) {
      throw invalidBackup(`${this.name} has a malformed trailer at byte ${at}`);
    }
    if (declared !== entries) throw invalidBackup(`${this.name}'s trailer counts ${declared} entries but the file holds ${entries}: the file is corrupt`);
    const actual = checksumToHex(this.hash.digest());
    if (actual !== checksum) throw invalidBackup(`${this.name} fails its checksum (xxh64 ${actual}, the trailer says ${checksum}): the file is corrupt`);
    return checksum;
  }
}

/**
 * Reads a whole backup and checks it, keeping only the service files (at most
 * SERVICE_FILES_MAX, each small): what a restore does before it writes anything, and what the CLI
 * does to a downloaded backup before it calls it good.
 */
export async function verifyBackup(source: AsyncIterable<Uint8Array>, name?: string): Promise<VerifiedBackup> {
  const reader = new BackupReader(source, name);
  const serviceFiles = new Map<string, Uint8Array>();
  for await (const entry of reader.entries()) {
    if (entry.space !== SERVICE_FILES_SPACE) continue;
    if (serviceFiles.size >= SERVICE_FILES_MAX) throw invalidBackup(`${name ?? 'the backup'} carries more than ${SERVICE_FILES_MAX} service files: the file is corrupt`);
    serviceFiles.set(entry.key, entry.value);
  }
  const verified = reader.verified;
  if (verified === undefined) throw new GranaryError('GRN_INTERNAL', 'a backup was read to its end without its trailer being checked');
  return { ...verified, serviceFiles };
}
