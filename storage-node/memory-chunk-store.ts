/**
 * Chunks kept in memory, with the disk store's semantics (immutable ids, checksum checked on put,
 * per-page checksums so a range read verifies only the pages it touches, corrupt tracking, paged
 * listing, a capacity and a reserve), for tests that need many storage nodes started in
 * milliseconds, and fault knobs that make a node misbehave the ways real ones do.
 *
 * Faults are set for one chunk id or for the whole store (a chunk's own settings win, field by
 * field). A chunk's own `missing`, `corrupt` and `eio` describe the copy stored: they go with it
 * when it is deleted or replaced (set for an id not stored yet, they wait for it). Those that a
 * disk can cause live here, in the store:
 *   - `missing`: reads answer GRN_CHUNK_NOT_FOUND, as when the file vanished under the index.
 *   - `corrupt`: reads see a flipped byte (in every page, or at one offset); page verification
 *     catches it, and reads with `verifyPages: false` return it, as a rotten sector would.
 *   - `eio`: reads fail as on EIO; the chunk is marked corrupt (GRN_CHUNK_CORRUPT).
 *   - `slowMs`: every read of the chunk is delayed, until the delay passes or the faults change
 *     (a node that stops being slow answers the reads that were waiting).
 * Those that only a node or its network can cause are carried out by the HTTP server, which
 * consults `serverFaults` (see StorageServerDeps.faults):
 *   - `short`: the batch-read answer is cut off in the middle of this chunk's frame and the
 *     connection dropped, as by a node that dies or a link that breaks mid-answer. Frames carry
 *     their length, so a truncated answer is the only way bytes can come up short in practice.
 *   - `setUnavailable('refuse' | 'reset')`: every request is answered 503, or its connection is
 *     destroyed unanswered.
 */
import { PageChecksummer, pageCount, validatePageBytes, xxh64 } from '../erasure/index.js';
import { GranaryError, type RangeRequest, validateChunkId } from '../protocol/index.js';
import {
  type ChunkInfo,
  type ChunkListing,
  type ChunkStore,
  type ChunkStoreStats,
  type CorruptChunk,
  type ListedChunk,
  type PutOptions,
  type PutResult,
  type ReadRangeOptions,
  type VerifyResult,
  checkReceivedBody,
  chunkTooLarge,
  putChunkOnce,
} from './chunk-store.js';
import { upperBound } from '../protocol/sorted-ids.js';
import type { NodeRefusal, ServerFaults } from './server.js';

export interface MemoryChunkStoreOptions {
  /** Checksum page size for new chunks. */
  readonly pageBytes: number;
  /** Largest chunk accepted. */
  readonly chunkBytesMax: number;
  /** What `stats()` reports as the disk's size; uploads beyond it fail as on a full disk. */
  readonly capacityBytes: number;
  /** Uploads are refused (GRN_DISK_FULL) when they would leave less free space than this. */
  readonly reserveBytes: number;
}

export const MEMORY_STORE_DEFAULTS: MemoryChunkStoreOptions = {
  pageBytes: 64 * 1024,
  chunkBytesMax: 256 * 1024 * 1024,
  capacityBytes: 1024 * 1024 * 1024,
  reserveBytes: 0,
};

/** A byte to flip: in the middle of every page (any read of the chunk meets rot), or at one offset. */
export type CorruptFault = true | { readonly atByte: number };

export interface ChunkFaults {
  readonly missing?: boolean;
  readonly corrupt?: CorruptFault | false;
  readonly eio?: boolean;
  readonly slowMs?: number;
  readonly short?: boolean;
}

/** What a flipped byte is XORed with (one bit, as a bit rot). */
const FLIP_MASK = 0x40;
/** Verification reads this much at a time (the pace callback's unit), as the disk store does. */
const VERIFY_READ_BYTES = 1024 * 1024;
/** Bytes of page checksum kept per page. */
const PAGE_CHECKSUM_BYTES = 8;

interface StoredChunk {
  readonly data: Buffer;
  readonly pages: BigUint64Array;
  readonly checksum: bigint;
  readonly pageBytes: number;
}

export class MemoryChunkStore implements ChunkStore {
  private readonly options: MemoryChunkStoreOptions;
  private readonly chunks = new Map<string, StoredChunk>();
  /** The same ids, sorted: the listing order, and cursors that survive puts and deletes. */
  private readonly sortedIds: string[] = [];
  private readonly uploading = new Set<string>();
  private readonly corrupt = new Map<string, CorruptChunk>();
  private readonly chunkFaults = new Map<string, ChunkFaults>();
  private storeFaults: ChunkFaults = {};
  private refusal: NodeRefusal | undefined;
  private storedBytes = 0;
  private closed = false;
  /** Aborts the delays of slow reads, so closing a node never waits for them. */
  private readonly closing = new AbortController();
  /** Ends the delay of each slow read waiting now. */
  private readonly sleepers = new Set<() => void>();

  /** The HTTP-level faults, for buildStorageServer's `faults`. */
  readonly serverFaults: ServerFaults = {
    refusal: () => this.refusal,
    cutsAnswerAt: (range: RangeRequest) => this.faultsOf(range.chunk).short === true,
  };

  constructor(options: Partial<MemoryChunkStoreOptions> = {}) {
    this.options = { ...MEMORY_STORE_DEFAULTS, ...options };
    validatePageBytes(this.options.pageBytes);
  }

  /** Sets faults for every chunk (merged under each chunk's own); `{}` clears them. */
  setFaults(faults: ChunkFaults): void {
    this.storeFaults = faults;
    this.wakeSleepers();
  }

  /** Sets faults for one chunk id (stored or not yet); `{}` clears them. */
  setChunkFaults(id: string, faults: ChunkFaults): void {
    this.chunkFaults.set(validateChunkId(id), faults);
    this.wakeSleepers();
  }

  /** Makes the whole node refuse every request (`refuse`: 503; `reset`: connection destroyed); undefined ends it. */
  setUnavailable(refusal: NodeRefusal | undefined): void {
    this.refusal = refusal;
  }

  clearFaults(): void {
    this.storeFaults = {};
    this.chunkFaults.clear();
    this.refusal = undefined;
    this.wakeSleepers();
  }

  /** The faults in force for a chunk: the store's, overridden field by field by the chunk's own. */
  faultsOf(id: string): ChunkFaults {
    return { ...this.storeFaults, ...this.chunkFaults.get(id) };
  }

  put(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<PutResult> {
    return putChunkOnce(
      {
        chunkBytesMax: this.options.chunkBytesMax,
        uploading: this.uploading,
        assertOpen: () => this.assertOpen(),
        has: (chunkId) => this.chunks.has(chunkId),
        intactCopy: (chunkId) => this.intactCopy(chunkId),
        checkFreeSpace: (bytes) => this.checkFreeSpace(bytes),
        write: async (chunkId, chunkBody, putOptions) => {
          const chunk = await this.receive(chunkId, chunkBody, putOptions);
          this.forget(chunkId);
          this.remember(chunkId, chunk);
          return infoOf(chunkId, chunk);
        },
      },
      id,
      body,
      options,
    );
  }

  /** The stored chunk's info when every byte of it verifies; undefined when it is corrupt (a put may then replace it). */
  private async intactCopy(id: string): Promise<ChunkInfo | undefined> {
    const existing = await this.info(id);
    return (await this.verify(id)).ok ? existing : undefined;
  }

  private async receive(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredChunk> {
    const summer = new PageChecksummer(this.options.pageBytes);
    // Copied: a body's pieces may be views of buffers their producer reuses.
    const pieces: Buffer[] = [];
    for await (const piece of body) {
      if (summer.bytes + piece.length > this.options.chunkBytesMax) throw chunkTooLarge(summer.bytes + piece.length, this.options.chunkBytesMax);
      if (this.storedBytes + summer.bytes + piece.length > this.options.capacityBytes) {
        throw new GranaryError('GRN_DISK_FULL', `memory store full while receiving chunk ${id}; nothing partial was kept; write to another node`);
      }
      summer.update(piece);
      pieces.push(Buffer.from(piece));
    }
    const { pages, whole } = summer.finish();
    checkReceivedBody(id, summer.bytes, whole, options);
    return { data: Buffer.concat(pieces, summer.bytes), pages, checksum: whole, pageBytes: this.options.pageBytes };
  }

  async readRange(id: string, offset: number, length: number, options: ReadRangeOptions = {}): Promise<Buffer> {
    validateChunkId(id);
    this.assertOpen();
    await this.delay(id);
    const faults = this.faultsOf(id);
    const chunk = this.lookup(id, faults);
    const dataBytes = chunk.data.length;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > dataBytes) {
      throw new GranaryError('GRN_RANGE_NOT_SATISFIABLE', `range [${offset}, ${offset + length}) is outside chunk ${id}, which holds ${dataBytes} bytes`);
    }
    if (faults.eio === true) throw this.readError(id);
    if (length === 0) return Buffer.alloc(0);
    const verify = options.verifyPages !== false;
    const { pageBytes } = chunk;
    const firstPage = Math.floor(offset / pageBytes);
    const lastPage = Math.floor((offset + length - 1) / pageBytes);
    // Checking pages needs them whole; an unchecked read takes just the range.
    const readStart = verify ? firstPage * pageBytes : offset;
    const readEnd = verify ? Math.min(dataBytes, (lastPage + 1) * pageBytes) : offset + length;
    const buffer = (options.alloc ?? Buffer.allocUnsafe)(readEnd - readStart).subarray(0, readEnd - readStart);
    this.readInto(chunk, faults, buffer, readStart);
    for (let page = firstPage; verify && page <= lastPage; page++) {
      const start = page * pageBytes - readStart;
      const end = Math.min(buffer.length, start + pageBytes);
      if (xxh64(buffer.subarray(start, end)) !== chunk.pages[page]) {
        const reason = `page ${page} (bytes ${page * pageBytes}-${page * pageBytes + end - start}) failed its checksum`;
        this.markCorrupt(id, reason);
        throw new GranaryError('GRN_CHUNK_CORRUPT', `chunk ${id}: ${reason}; read this range from other shards`, { details: { chunk: id, page } });
      }
    }
    return buffer.subarray(offset - readStart, offset - readStart + length);
  }

  async info(id: string): Promise<ChunkInfo> {
    validateChunkId(id);
    this.assertOpen();
    return infoOf(id, this.lookup(id, this.faultsOf(id)));
  }

  async delete(id: string): Promise<boolean> {
    validateChunkId(id);
    this.assertOpen();
    if (this.uploading.has(id)) {
      throw new GranaryError('GRN_CHUNK_BUSY', `chunk ${id} is being uploaded or deleted; retry when that finishes`);
    }
    if (!this.chunks.has(id)) return false;
    // A vanished file is forgotten and reported as absent, as the disk store does on ENOENT.
    const vanished = this.faultsOf(id).missing === true;
    this.forget(id);
    return !vanished;
  }

  list(after: string | undefined, limit: number): ChunkListing {
    this.assertOpen();
    const start = after === undefined ? 0 : upperBound(this.sortedIds, after);
    const ids = this.sortedIds.slice(start, start + limit);
    const chunks: ListedChunk[] = ids.map((id) => ({ id, fileBytes: keptBytes(this.chunks.get(id) as StoredChunk) }));
    const more = start + limit < this.sortedIds.length;
    return { chunks, next: more && chunks.length > 0 ? (chunks[chunks.length - 1] as ListedChunk).id : null };
  }

  async verify(id: string, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult> {
    validateChunkId(id);
    this.assertOpen();
    await this.delay(id);
    const faults = this.faultsOf(id);
    const chunk = this.lookup(id, faults);
    const result = faults.eio === true ? { ok: false as const, reason: 'could not be read: EIO', badPages: [] } : await this.verifyChunk(chunk, faults, pace);
    if (result.ok) this.corrupt.delete(id);
    else this.markCorrupt(id, result.reason);
    return result;
  }

  private async verifyChunk(chunk: StoredChunk, faults: ChunkFaults, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult> {
    const { pageBytes } = chunk;
    const dataBytes = chunk.data.length;
    const pagesPerRead = Math.max(1, Math.floor(VERIFY_READ_BYTES / pageBytes));
    const readBytes = pagesPerRead * pageBytes;
    const buffer = Buffer.allocUnsafe(Math.min(readBytes, Math.max(dataBytes, 1)));
    const whole = new PageChecksummer(pageBytes);
    const badPages: number[] = [];
    for (let offset = 0; offset < dataBytes; offset += readBytes) {
      const view = buffer.subarray(0, Math.min(readBytes, dataBytes - offset));
      this.readInto(chunk, faults, view, offset);
      whole.update(view);
      for (let start = 0; start < view.length; start += pageBytes) {
        const page = (offset + start) / pageBytes;
        if (xxh64(view.subarray(start, start + pageBytes)) !== chunk.pages[page]) badPages.push(page);
      }
      if (pace !== undefined) await pace(view.length);
    }
    if (badPages.length > 0) {
      return { ok: false, reason: `${badPages.length} page(s) failed their checksum: ${badPages.slice(0, 10).join(', ')}`, badPages };
    }
    if (whole.finish().whole !== chunk.checksum) return { ok: false, reason: 'pages verify but the whole-chunk checksum does not', badPages: [] };
    return { ok: true, dataBytes };
  }

  corruptChunks(): readonly CorruptChunk[] {
    return [...this.corrupt.values()];
  }

  /** Every stored chunk id (what the scrubber walks). */
  chunkIds(): string[] {
    return [...this.sortedIds];
  }

  async stats(): Promise<ChunkStoreStats> {
    return {
      chunkCount: this.chunks.size,
      chunkFileBytes: this.storedBytes,
      corruptChunkCount: this.corrupt.size,
      capacityBytes: this.options.capacityBytes,
      freeBytes: Math.max(0, this.options.capacityBytes - this.storedBytes),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
  }

  private assertOpen(): void {
    if (this.closed) throw new GranaryError('GRN_UNAVAILABLE', 'the chunk store is closed; the node is shutting down');
  }

  private lookup(id: string, faults: ChunkFaults): StoredChunk {
    const chunk = this.chunks.get(id);
    if (chunk === undefined || faults.missing === true) throw notFound(id);
    return chunk;
  }

  /** Waits out a slow fault on `id`: until its delay passes, the faults change, or the store closes. */
  private async delay(id: string): Promise<void> {
    const delayMs = this.faultsOf(id).slowMs ?? 0;
    if (delayMs <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const signal = this.closing.signal;
      const settle = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        signal.removeEventListener('abort', stop);
      };
      const wake = (): void => {
        settle();
        resolve();
      };
      const stop = (): void => {
        settle();
        reject(new GranaryError('GRN_UNAVAILABLE', 'the chunk store closed during a slow read; the node is shutting down'));
      };
      const timer = setTimeout(wake, delayMs);
      this.sleepers.add(wake);
      signal.addEventListener('abort', stop, { once: true });
    });
    this.assertOpen();
  }

  private wakeSleepers(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Copies stored bytes `[start, start + target.length)` into `target`, with any corrupt fault's flipped bytes. */
  private readInto(chunk: StoredChunk, faults: ChunkFaults, target: Buffer, start: number): void {
    chunk.data.copy(target, 0, start, start + target.length);
    const corrupt = faults.corrupt;
    if (corrupt === undefined || corrupt === false) return;
    for (const at of flippedBytes(chunk, corrupt, start, start + target.length)) {
      target[at - start] = (target[at - start] as number) ^ FLIP_MASK;
    }
  }

  private readError(id: string): GranaryError {
    this.markCorrupt(id, 'read error: EIO');
    return new GranaryError('GRN_CHUNK_CORRUPT', `chunk ${id} could not be read (EIO); read this range from other shards`, { details: { chunk: id } });
  }

  private markCorrupt(id: string, reason: string): void {
    if (!this.corrupt.has(id)) this.corrupt.set(id, { id, reason, detectedAt: new Date().toISOString() });
  }

  private checkFreeSpace(incomingBytes: number): void {
    const freeBytes = this.options.capacityBytes - this.storedBytes;
    if (freeBytes - incomingBytes < this.options.reserveBytes) {
      throw new GranaryError(
        'GRN_DISK_FULL',
        `node has ${freeBytes} bytes free, the upload needs ${incomingBytes} and ${this.options.reserveBytes} are reserved; write to another node or free space`,
      );
    }
  }

  private remember(id: string, chunk: StoredChunk): void {
    this.chunks.set(id, chunk);
    this.sortedIds.splice(upperBound(this.sortedIds, id), 0, id);
    this.storedBytes += keptBytes(chunk);
  }

  private forget(id: string): void {
    const chunk = this.chunks.get(id);
    if (chunk === undefined) return;
    this.chunks.delete(id);
    this.sortedIds.splice(upperBound(this.sortedIds, id) - 1, 1);
    this.storedBytes -= keptBytes(chunk);
    this.corrupt.delete(id);
    const faults = this.chunkFaults.get(id);
    if (faults !== undefined) this.chunkFaults.set(id, { ...(faults.slowMs === undefined ? {} : { slowMs: faults.slowMs }), ...(faults.short === undefined ? {} : { short: faults.short }) });
  }
}


/** Offsets in `[start, end)` whose byte a corrupt fault flips, ascending. */
function flippedBytes(chunk: StoredChunk, corrupt: CorruptFault, start: number, end: number): number[] {
  if (corrupt !== true) return corrupt.atByte >= start && corrupt.atByte < end ? [corrupt.atByte] : [];
  const { pageBytes } = chunk;
  const dataBytes = chunk.data.length;
  const offsets: number[] = [];
  for (let page = Math.floor(start / pageBytes); page * pageBytes < end; page++) {
    const pageStart = page * pageBytes;
    const middle = pageStart + (Math.min(pageBytes, dataBytes - pageStart) >> 1);
    if (middle >= start && middle < end) offsets.push(middle);
  }
  return offsets;
}

function keptBytes(chunk: StoredChunk): number {
  return chunk.data.length + pageCount(chunk.data.length, chunk.pageBytes) * PAGE_CHECKSUM_BYTES;
}

function infoOf(id: string, chunk: StoredChunk): ChunkInfo {
  return { id, dataBytes: chunk.data.length, checksum: chunk.checksum, pageBytes: chunk.pageBytes };
}

function notFound(id: string): GranaryError {
  return new GranaryError('GRN_CHUNK_NOT_FOUND', `chunk ${id} is not stored on this node`, { details: { chunk: id } });
}

