/**
 * The metadata backup file: what `granary metadata backup` writes and `granary metadata restore`
 * reads. A backup must be restorable on another machine, into another store kind (LevelDB or
 * etcd) and by a later Granary, and a restore must be able to say "this file is whole and ours"
 * before it writes a single entry, so the format is self-describing and checked end to end:
 *
 *   MAGIC (24 bytes: "granary-metadata-backup\n")
 *   frame*   where frame = type u8 | payload length u32 little-endian | payload (msgpack)
 *
 *   1 header frame   'H' {format, storeKind, createdAt, serviceVersion?}
 *   N entry frames   'E' [space, key, value bytes], in (space, key) order, reserved spaces first
 *   1 trailer frame  'T' {entries: N, checksum: xxh64 hex of every byte before this frame}
 *   end of file
 *
 * Entries are the store's own bytes (metadata/db.ts packs the records), so a backup needs no
 * knowledge of record kinds and survives new ones. Reserved spaces (`@…`) are not catalog spaces:
 * they carry files the service keeps beside its catalog that a restore needs as well (the
 * capability signing key), and are handed to the restoring caller, never written to the store.
 */
import { Packr } from 'msgpackr';
import { GranaryError } from '../../protocol/index.js';

export const BACKUP_MAGIC = Buffer.from('granary-metadata-backup\n', 'latin1');
/** Raised only for a change old readers cannot read; a reader refuses a newer format by name. */
export const BACKUP_FORMAT = 1;

export const FRAME_HEADER = 0x48; // 'H'
export const FRAME_ENTRY = 0x45; // 'E'
export const FRAME_TRAILER = 0x54; // 'T'
/** Type byte and payload length. */
export const FRAME_PREFIX_BYTES = 5;

/**
 * The largest frame payload a reader accepts before allocating it. Store values are bounded well
 * below this (a manifest piece aims at 240 KiB, a commit body at 64 MiB, etcd values at 1.5 MiB);
 * the bound exists so a corrupt length field cannot make a restore allocate gigabytes.
 */
export const FRAME_PAYLOAD_BYTES_MAX = 128 * 1024 * 1024;
/** Header and trailer are a few hundred bytes. */
export const CONTROL_FRAME_BYTES_MAX = 64 * 1024;

/** Spaces starting with this are the backup's own, never the store's. */
export const RESERVED_SPACE_PREFIX = '@';
/** Files of the service's data directory that a restore needs besides the catalog. */
export const SERVICE_FILES_SPACE = '@service';
/** The Ed25519 key capabilities are signed with: storage nodes hold its public half. */
export const CAPABILITY_KEY_ENTRY = 'capability-signing.key';
/** Bounds on the service files a backup may carry (one key today). */
export const SERVICE_FILES_MAX = 16;
export const SERVICE_FILE_BYTES_MAX = 64 * 1024;

export type StoreKind = 'level' | 'etcd';

export interface BackupHeader {
  readonly format: number;
  /** The kind of store the backup was taken from; a restore may target either kind. */
  readonly storeKind: StoreKind;
  /** ISO time the snapshot was taken. */
  readonly createdAt: string;
  /** The Granary version that wrote it, when known. */
  readonly serviceVersion?: string;
}

export interface BackupTrailer {
  readonly entries: number;
  /** xxh64 (16 hex digits) of every byte of the file before the trailer frame. */
  readonly checksum: string;
}

/** Packs frames. Records off: a backup must read back with any msgpack decoder. */
const packr = new Packr({ useRecords: false, variableMapSize: true });

export function encodeFrame(type: number, payload: unknown): Buffer {
  const body = packr.pack(payload);
  if (body.length > FRAME_PAYLOAD_BYTES_MAX) {
    throw new GranaryError('GRN_INTERNAL', `a backup frame of ${body.length} bytes is larger than the ${FRAME_PAYLOAD_BYTES_MAX} bytes a restore accepts`);
  }
  const frame = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body.length);
  frame[0] = type;
  frame.writeUInt32LE(body.length, 1);
  frame.set(body, FRAME_PREFIX_BYTES);
  return frame;
}

export function isReservedSpace(space: string): boolean {
  return space.startsWith(RESERVED_SPACE_PREFIX);
}

/**
 * Orders entries as a backup holds them: reserved spaces first, then by space, then by key, each
 * compared as UTF-8 bytes (the order LevelDB and etcd keep keys in). Negative when a < b.
 */
export function compareEntryKeys(aSpace: string, aKey: string, bSpace: string, bKey: string): number {
  const aReserved = isReservedSpace(aSpace);
  if (aReserved !== isReservedSpace(bSpace)) return aReserved ? -1 : 1;
  const bySpace = aSpace === bSpace ? 0 : Buffer.compare(Buffer.from(aSpace, 'utf8'), Buffer.from(bSpace, 'utf8'));
  if (bySpace !== 0) return bySpace;
  return aKey === bKey ? 0 : Buffer.compare(Buffer.from(aKey, 'utf8'), Buffer.from(bKey, 'utf8'));
}

/** Every bad file is this one error; a restore's verifying pass raises it before writing anything. */
export function invalidBackup(message: string, cause?: unknown): GranaryError {
  return new GranaryError('GRN_BACKUP_INVALID', message, cause === undefined ? {} : { cause });
}
