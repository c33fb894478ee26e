/**
 * The contract of a chunk store: immutable, checksummed chunks addressed by id. The disk store is
 * the real one; the contract is written down so the HTTP layer and its tests do not depend on
 * how bytes are kept.
 */
import { checksumToHex } from '../erasure/index.js';
import { GranaryError, validateChunkId } from '../protocol/index.js';

export interface ChunkInfo {
  readonly id: string;
  /** Bytes of chunk data (what a writer uploaded). */
  readonly dataBytes: number;
  /** xxh64 of the whole data. */
  readonly checksum: bigint;
  /** The page size its checksum table uses. */
  readonly pageBytes: number;
}

export interface PutOptions {
  /** The xxh64 the writer computed; the upload is refused if the body does not match. */
  readonly expectedChecksum: bigint;
  /** The body length when the writer declared it; lets a full disk be refused before writing. */
  readonly expectedBytes?: number;
  /**
   * Repair: the body is what the catalog says this chunk must hold, so an existing copy that
   * differs (rotten, or written wrong and checksummed as such) is replaced atomically. Without
   * it, a different existing copy is refused (chunks are immutable).
   */
  readonly replace?: boolean;
}

export interface PutResult {
  readonly info: ChunkInfo;
  /** False when an identical chunk was already stored (a retried put). */
  readonly created: boolean;
}

export interface ListedChunk {
  readonly id: string;
  /** Bytes the chunk file takes on disk (data, checksums and footer). */
  readonly fileBytes: number;
}

export interface ChunkListing {
  readonly chunks: readonly ListedChunk[];
  /** Pass as `after` to get the next page; null when this page is the last. */
  readonly next: string | null;
}

/** What a full verification of one chunk found. */
export type VerifyResult =
  | { readonly ok: true; readonly dataBytes: number }
  | { readonly ok: false; readonly reason: string; readonly badPages: readonly number[] };

export interface CorruptChunk {
  readonly id: string;
  readonly reason: string;
  readonly detectedAt: string;
}

export interface ChunkStoreStats {
  readonly chunkCount: number;
  readonly chunkFileBytes: number;
  readonly corruptChunkCount: number;
  readonly capacityBytes: number;
  readonly freeBytes: number;
}

export interface ReadRangeOptions {
  /** Check the page checksums of the pages the range touches (default true). */
  readonly verifyPages?: boolean;
  /** Where to read into (a buffer of at least the bytes asked, contents ignored); default a new one. */
  readonly alloc?: (bytes: number) => Buffer;
}

export interface ChunkStore {
  put(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<PutResult>;
  /**
   * Bytes `[offset, offset + length)` of a chunk, after verifying every page they touch, unless
   * `verifyPages` is false: then only those bytes are read and not checked, for readers that
   * verify end to end themselves (the client checks every stream against its writer's checksum).
   */
  readRange(id: string, offset: number, length: number, options?: ReadRangeOptions): Promise<Buffer>;
  info(id: string): Promise<ChunkInfo>;
  /** True when a chunk was deleted, false when there was none. */
  delete(id: string): Promise<boolean>;
  list(after: string | undefined, limit: number): ChunkListing;
  /** Reads and checks every byte of a chunk. `pace` is awaited after each read, to bound the rate. */
  verify(id: string, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult>;
  /** Chunks found corrupt by reads or verification since start-up (or until deleted). */
  corruptChunks(): readonly CorruptChunk[];
  stats(): Promise<ChunkStoreStats>;
  close(): Promise<void>;
}

/** What a store provides for `putChunkOnce`: the parts of a put that depend on how bytes are kept. */
export interface PutSteps {
  readonly chunkBytesMax: number;
  /** Ids being uploaded (or deleted) now; claimed before the first await. */
  readonly uploading: Set<string>;
  assertOpen(): void;
  has(id: string): boolean;
  /** The stored copy's info when every byte of it verifies; undefined when it is corrupt. */
  intactCopy(id: string): Promise<ChunkInfo | undefined>;
  checkFreeSpace(incomingBytes: number): Promise<void> | void;
  /** Receives, checks and stores the body, replacing a copy already there. */
  write(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<ChunkInfo>;
}

/**
 * The put protocol every store follows: one upload of an id at a time; an identical intact copy
 * makes the put a no-op (a writer's retry); a rotten copy of the same chunk is replaced (repair in
 * place); a different intact copy is refused, unless the put says `replace` (repair: the catalog,
 * not the old copy, says what the chunk holds).
 */
export async function putChunkOnce(steps: PutSteps, id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<PutResult> {
  validateChunkId(id);
  steps.assertOpen();
  if (steps.uploading.has(id)) {
    throw new GranaryError('GRN_CHUNK_BUSY', `chunk ${id} is being uploaded by another request; retry when it finishes`);
  }
  if (options.expectedBytes !== undefined && options.expectedBytes > steps.chunkBytesMax) throw chunkTooLarge(options.expectedBytes, steps.chunkBytesMax);
  // Claimed before the first await, so two concurrent uploads of one id cannot both proceed.
  steps.uploading.add(id);
  try {
    if (steps.has(id)) {
      const existing = await steps.intactCopy(id);
      if (existing !== undefined && existing.checksum === options.expectedChecksum) return { info: existing, created: false };
      if (existing !== undefined && options.replace !== true) {
        throw new GranaryError(
          'GRN_CHUNK_EXISTS',
          `chunk ${id} already exists with checksum ${checksumToHex(existing.checksum)}; chunks are immutable, delete it first`,
        );
      }
    }
    await steps.checkFreeSpace(options.expectedBytes ?? 0);
    return { info: await steps.write(id, body, options), created: true };
  } finally {
    steps.uploading.delete(id);
  }
}

export function chunkTooLarge(bytes: number, max: number): GranaryError {
  return new GranaryError('GRN_PAYLOAD_TOO_LARGE', `chunk body of ${bytes}+ bytes exceeds this node's limit of ${max} bytes`);
}

/** Refuses a received body whose length or xxh64 is not what the writer declared; nothing is stored then. */
export function checkReceivedBody(id: string, receivedBytes: number, checksum: bigint, options: PutOptions): void {
  if (options.expectedBytes !== undefined && receivedBytes !== options.expectedBytes) {
    throw new GranaryError('GRN_BAD_REQUEST', `chunk ${id}: body was ${receivedBytes} bytes, the writer declared ${options.expectedBytes}`);
  }
  if (checksum !== options.expectedChecksum) {
    throw new GranaryError(
      'GRN_CHECKSUM_MISMATCH',
      `chunk ${id}: body hashes to ${checksumToHex(checksum)} but the writer declared ${checksumToHex(options.expectedChecksum)}; nothing was stored`,
    );
  }
}
