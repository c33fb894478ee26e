/**
 * Chunks as files on a local disk. An upload is written to a temporary file, checked against the
 * writer's checksum, given its page table and footer, fsynced, renamed into place, and its
 * directory fsynced before it is acknowledged: after a crash at any moment a chunk is either
 * whole or absent, and start-up removes the temporaries of uploads that never finished.
 *
 * Every read verifies the checksums of the pages it touches, so rotten bytes are reported as
 * corrupt and never returned; the rest of the chunk stays readable.
 */
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { read as readCallback } from 'node:fs';
import { PageChecksummer, pageCount, validatePageBytes, xxh64 } from '../erasure/index.js';
import { GranaryError, validateChunkId } from '../protocol/index.js';
import { type ChunkFooter, FOOTER_BYTES, decodeFooter, encodeFooter, encodePageTable } from './chunk-format.js';
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
import { DataDir, FANOUT_DIRS, fanoutOf, fsyncDir } from './data-dir.js';
import { type OpenChunk, OpenChunkCache } from './open-chunk-cache.js';

export interface DiskChunkStoreOptions {
  readonly dataDir: string;
  /** Checksum page size for new chunks. */
  readonly pageBytes: number;
  /** Largest chunk accepted. */
  readonly chunkBytesMax: number;
  /** Uploads are refused (507) when they would leave less free space than this. */
  readonly reserveBytes: number;
  /** Chunk files kept open for reads. */
  readonly openFilesMax: number;
  /** Called with errors that happen off any request path (closing an evicted file). */
  readonly onBackgroundError: (error: unknown) => void;
  /** Told of every chunk whose bytes changed or went (stored, replaced, deleted, found corrupt): copies of it are stale. */
  readonly onChunkChanged?: (id: string) => void;
}

/** Uploads are written in pieces of about this size (fewer syscalls than one per network read). */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Verification reads this much at a time. */
const VERIFY_READ_BYTES = 1024 * 1024;
/** Files stat-ed at once while indexing at start-up. */
const STAT_CONCURRENCY = 64;

export class DiskChunkStore implements ChunkStore {
  private readonly dir: DataDir;
  /** Every stored chunk and its file size: the node's inventory. */
  private readonly index = new Map<string, number>();
  /** The same ids by fanout directory, for paged listing in a stable order. */
  private readonly byFanout: Set<string>[] = Array.from({ length: FANOUT_DIRS }, () => new Set());
  private readonly uploading = new Set<string>();
  private readonly corrupt = new Map<string, CorruptChunk>();
  private readonly openChunks: OpenChunkCache;
  private fileBytesTotal = 0;
  private unlock: (() => Promise<void>) | undefined;
  private closed = false;

  private constructor(private readonly options: DiskChunkStoreOptions) {
    validatePageBytes(options.pageBytes);
    this.dir = new DataDir(options.dataDir);
    this.openChunks = new OpenChunkCache(options.openFilesMax, options.onBackgroundError);
  }

  /** Opens (creating if needed) the store in `options.dataDir`, recovering from any crash. */
  static async open(options: DiskChunkStoreOptions): Promise<{ store: DiskChunkStore; removedTemporaries: number }> {
    const store = new DiskChunkStore(options);
    await store.dir.create();
    store.unlock = await store.dir.lock();
    try {
      const removedTemporaries = await store.removeTemporaries();
      await store.buildIndex();
      return { store, removedTemporaries };
    } catch (error) {
      await store.unlock();
      throw error;
    }
  }

  get dataDir(): DataDir {
    return this.dir;
  }

  put(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<PutResult> {
    return putChunkOnce(
      {
        chunkBytesMax: this.options.chunkBytesMax,
        uploading: this.uploading,
        assertOpen: () => this.assertOpen(),
        has: (chunkId) => this.index.has(chunkId),
        intactCopy: (chunkId) => this.intactCopy(chunkId),
        checkFreeSpace: (bytes) => this.checkFreeSpace(bytes),
        write: (chunkId, chunkBody, putOptions) => this.writeChunk(chunkId, chunkBody, putOptions),
      },
      id,
      body,
      options,
    );
  }

  /**
   * The stored chunk's info when every byte of it verifies; undefined when it is corrupt (a put of
   * the same id may then replace it). Verifying reads the whole chunk, which only a put that finds
   * an existing copy pays: a writer's retry, or a repair.
   */
  private async intactCopy(id: string): Promise<ChunkInfo | undefined> {
    let existing: ChunkInfo;
    try {
      existing = await this.info(id);
    } catch (error) {
      if (error instanceof GranaryError && error.code === 'GRN_CHUNK_CORRUPT') return undefined;
      throw error;
    }
    return (await this.verify(id)).ok ? existing : undefined;
  }

  private async writeChunk(id: string, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<ChunkInfo> {
    const tmpPath = this.dir.tmpPath(id);
    let handle: FileHandle | undefined = await open(tmpPath, 'wx');
    try {
      const summer = new PageChecksummer(this.options.pageBytes);
      let position = 0;
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      const flush = async (): Promise<void> => {
        if (batchBytes === 0) return;
        await writeAll(handle as FileHandle, batch, position);
        position += batchBytes;
        batch = [];
        batchBytes = 0;
      };
      for await (const piece of body) {
        if (summer.bytes + piece.length > this.options.chunkBytesMax) {
          throw chunkTooLarge(summer.bytes + piece.length, this.options.chunkBytesMax);
        }
        summer.update(piece);
        batch.push(piece);
        batchBytes += piece.length;
        if (batchBytes >= WRITE_BATCH_BYTES) await flush();
      }
      await flush();
      const { pages, whole } = summer.finish();
      checkReceivedBody(id, summer.bytes, whole, options);
      const table = encodePageTable(pages);
      const footer = encodeFooter({
        pageBytes: this.options.pageBytes,
        dataBytes: summer.bytes,
        dataChecksum: whole,
        pageTableChecksum: xxh64(table),
      });
      await writeAll(handle, [table, footer], position);
      await handle.sync();
      await handle.close();
      handle = undefined;
      // Renaming over a rotten copy replaces it atomically; readers holding it open are let go.
      await this.openChunks.evict(id);
      await rename(tmpPath, this.dir.chunkPath(id));
      // A read between the eviction and the rename opened the old file and cached it: without a
      // second eviction every later read would be served the replaced bytes until it aged out.
      await this.openChunks.evict(id);
      this.options.onChunkChanged?.(id);
      await fsyncDir(this.dir.chunkDir(id));
      this.forget(id);
      this.remember(id, position + table.length + footer.length);
      return { id, dataBytes: summer.bytes, checksum: whole, pageBytes: this.options.pageBytes };
    } catch (error) {
      if (handle !== undefined) await handle.close().catch(this.options.onBackgroundError);
      await rm(tmpPath, { force: true });
      throw diskError(error, id);
    }
  }

  async readRange(id: string, offset: number, length: number, options: ReadRangeOptions = {}): Promise<Buffer> {
    validateChunkId(id);
    this.assertOpen();
    const chunk = await this.acquire(id);
    try {
      const { dataBytes, pageBytes } = chunk.footer;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > dataBytes) {
        throw new GranaryError(
          'GRN_RANGE_NOT_SATISFIABLE',
          `range [${offset}, ${offset + length}) is outside chunk ${id}, which holds ${dataBytes} bytes`,
        );
      }
      if (length === 0) return Buffer.alloc(0);
      const verify = options.verifyPages !== false;
      const firstPage = Math.floor(offset / pageBytes);
      const lastPage = Math.floor((offset + length - 1) / pageBytes);
      // Checking pages needs them whole; an unchecked read takes just the range.
      const readStart = verify ? firstPage * pageBytes : offset;
      const readEnd = verify ? Math.min(dataBytes, (lastPage + 1) * pageBytes) : offset + length;
      const buffer = (options.alloc ?? Buffer.allocUnsafe)(readEnd - readStart);
      try {
        await readFullyFd(chunk.handle.fd, buffer, readStart);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EIO') throw error;
        this.markCorrupt(id, `read error: ${(error as Error).message}`);
        throw new GranaryError('GRN_CHUNK_CORRUPT', `chunk ${id} could not be read (EIO); read this range from other shards`, { details: { chunk: id } });
      }
      for (let page = firstPage; verify && page <= lastPage; page++) {
        const start = page * pageBytes - readStart;
        const end = Math.min(buffer.length, start + pageBytes);
        if (xxh64(buffer.subarray(start, end)) !== chunk.pages[page]) {
          const reason = `page ${page} (bytes ${page * pageBytes}-${page * pageBytes + end - start}) failed its checksum`;
          this.markCorrupt(id, reason);
          throw new GranaryError('GRN_CHUNK_CORRUPT', `chunk ${id}: ${reason}; read this range from other shards`, {
            details: { chunk: id, page },
          });
        }
      }
      return buffer.subarray(offset - readStart, offset - readStart + length);
    } finally {
      await this.openChunks.release(chunk);
    }
  }

  async info(id: string): Promise<ChunkInfo> {
    validateChunkId(id);
    this.assertOpen();
    const chunk = await this.acquire(id);
    try {
      const { dataBytes, dataChecksum, pageBytes } = chunk.footer;
      return { id, dataBytes, checksum: dataChecksum, pageBytes };
    } finally {
      await this.openChunks.release(chunk);
    }
  }

  async delete(id: string): Promise<boolean> {
    validateChunkId(id);
    this.assertOpen();
    if (this.uploading.has(id)) {
      throw new GranaryError('GRN_CHUNK_BUSY', `chunk ${id} is being uploaded or deleted; retry when that finishes`);
    }
    if (!this.index.has(id)) return false;
    // Claimed like an upload, so a put of the same id cannot land between the unlink and the index.
    this.uploading.add(id);
    try {
      await this.openChunks.evict(id);
      this.options.onChunkChanged?.(id);
      try {
        await unlink(this.dir.chunkPath(id));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        this.forget(id);
        return false;
      }
      this.forget(id);
      await fsyncDir(this.dir.chunkDir(id));
      return true;
    } finally {
      this.uploading.delete(id);
    }
  }

  list(after: string | undefined, limit: number): ChunkListing {
    this.assertOpen();
    const chunks: ListedChunk[] = [];
    const startFanout = after === undefined ? 0 : Number.parseInt(fanoutOf(after), 16);
    for (let fanout = startFanout; fanout < FANOUT_DIRS; fanout++) {
      const ids = [...(this.byFanout[fanout] as Set<string>)].sort();
      for (const id of ids) {
        if (fanout === startFanout && after !== undefined && id <= after) continue;
        if (chunks.length === limit) return { chunks, next: (chunks[chunks.length - 1] as ListedChunk).id };
        chunks.push({ id, fileBytes: this.index.get(id) as number });
      }
    }
    return { chunks, next: null };
  }

  async verify(id: string, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult> {
    validateChunkId(id);
    this.assertOpen();
    const handle = await this.openFile(id);
    let result: VerifyResult;
    try {
      result = await verifyFile(handle, pace);
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      // An unreadable chunk (bad sector, EIO) is as lost as a rotten one: report it, go on.
      result = { ok: false, reason: `could not be read: ${(error as Error).message}`, badPages: [] };
    } finally {
      await handle.close();
    }
    if (result.ok) this.corrupt.delete(id);
    else this.markCorrupt(id, result.reason);
    return result;
  }

  corruptChunks(): readonly CorruptChunk[] {
    return [...this.corrupt.values()];
  }

  chunkIds(): string[] {
    return [...this.index.keys()];
  }

  async stats(): Promise<ChunkStoreStats> {
    const disk = await statfs(this.dir.root);
    return {
      chunkCount: this.index.size,
      chunkFileBytes: this.fileBytesTotal,
      corruptChunkCount: this.corrupt.size,
      capacityBytes: disk.blocks * disk.bsize,
      freeBytes: disk.bavail * disk.bsize,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.openChunks.closeAll();
    await this.unlock?.();
  }

  private assertOpen(): void {
    if (this.closed) throw new GranaryError('GRN_UNAVAILABLE', 'the chunk store is closed; the node is shutting down');
  }

  private async acquire(id: string): Promise<OpenChunk> {
    if (!this.index.has(id)) throw notFound(id);
    return this.openChunks.acquire(id, () => this.load(id));
  }

  /** Opens a chunk file and loads its verified page table. */
  private async load(id: string): Promise<OpenChunk> {
    const handle = await this.openFile(id);
    try {
      const fileBytes = (await handle.stat()).size;
      const header = await readTable(handle, fileBytes);
      if (typeof header === 'string') {
        this.markCorrupt(id, header);
        throw new GranaryError('GRN_CHUNK_CORRUPT', `chunk ${id}: ${header}; read it from other shards`, { details: { chunk: id } });
      }
      return { handle, footer: header.footer, pages: header.pages, users: 0, retired: false };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private async openFile(id: string): Promise<FileHandle> {
    try {
      return await open(this.dir.chunkPath(id), 'r');
    } catch (error) {
      throw diskError(error, id);
    }
  }

  private markCorrupt(id: string, reason: string): void {
    if (!this.corrupt.has(id)) this.corrupt.set(id, { id, reason, detectedAt: new Date().toISOString() });
    // Reload the table next time: a damaged cached entry must not keep answering.
    this.openChunks.evict(id).catch(this.options.onBackgroundError);
    this.options.onChunkChanged?.(id);
  }

  private remember(id: string, fileBytes: number): void {
    this.index.set(id, fileBytes);
    this.byFanout[Number.parseInt(fanoutOf(id), 16)]?.add(id);
    this.fileBytesTotal += fileBytes;
  }

  private forget(id: string): void {
    const fileBytes = this.index.get(id);
    if (fileBytes === undefined) return;
    this.index.delete(id);
    this.byFanout[Number.parseInt(fanoutOf(id), 16)]?.delete(id);
    this.fileBytesTotal -= fileBytes;
    this.corrupt.delete(id);
  }

  private async checkFreeSpace(incomingBytes: number): Promise<void> {
    const disk = await statfs(this.dir.root);
    const freeBytes = disk.bavail * disk.bsize;
    if (freeBytes - incomingBytes < this.options.reserveBytes) {
      throw new GranaryError(
        'GRN_DISK_FULL',
        `node has ${freeBytes} bytes free, the upload needs ${incomingBytes} and ${this.options.reserveBytes} are reserved; ` +
          'write to another node or free space',
      );
    }
  }

  private async removeTemporaries(): Promise<number> {
    const names = await readdir(this.dir.tmpDir);
    await Promise.all(names.map((name) => rm(join(this.dir.tmpDir, name), { force: true, recursive: true })));
    if (names.length > 0) await fsyncDir(this.dir.tmpDir);
    return names.length;
  }

  private async buildIndex(): Promise<void> {
    for (let fanout = 0; fanout < FANOUT_DIRS; fanout++) {
      const name = fanout.toString(16).padStart(2, '0');
      const dir = join(this.dir.chunksDir, name);
      const ids = (await readdir(dir)).filter((id) => fanoutOf(id) === name);
      for (let i = 0; i < ids.length; i += STAT_CONCURRENCY) {
        const group = ids.slice(i, i + STAT_CONCURRENCY);
        const sizes = await Promise.all(group.map(async (id) => (await stat(join(dir, id))).size));
        group.forEach((id, j) => this.remember(id, sizes[j] as number));
      }
    }
  }
}

async function readTable(
  handle: FileHandle,
  fileBytes: number,
): Promise<{ footer: ChunkFooter; pages: BigUint64Array } | string> {
  if (fileBytes < FOOTER_BYTES) return `file is ${fileBytes} bytes, shorter than a footer`;
  const footerBytes = Buffer.allocUnsafe(FOOTER_BYTES);
  await readFully(handle, footerBytes, fileBytes - FOOTER_BYTES);
  const footer = decodeFooter(footerBytes, fileBytes);
  if (typeof footer === 'string') return footer;
  const count = pageCount(footer.dataBytes, footer.pageBytes);
  const table = Buffer.allocUnsafe(count * 8);
  await readFully(handle, table, footer.dataBytes);
  if (xxh64(table) !== footer.pageTableChecksum) return 'page checksum table failed its checksum';
  const pages = new BigUint64Array(count);
  for (let i = 0; i < count; i++) pages[i] = table.readBigUInt64LE(i * 8);
  return { footer, pages };
}

async function verifyFile(handle: FileHandle, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult> {
  const fileBytes = (await handle.stat()).size;
  const table = await readTable(handle, fileBytes);
  if (typeof table === 'string') return { ok: false, reason: table, badPages: [] };
  const { footer, pages } = table;
  const pagesPerRead = Math.max(1, Math.floor(VERIFY_READ_BYTES / footer.pageBytes));
  const readBytes = pagesPerRead * footer.pageBytes;
  const buffer = Buffer.allocUnsafe(Math.min(readBytes, Math.max(footer.dataBytes, 1)));
  const whole = new PageChecksummer(footer.pageBytes);
  const badPages: number[] = [];
  for (let offset = 0; offset < footer.dataBytes; offset += readBytes) {
    const view = buffer.subarray(0, Math.min(readBytes, footer.dataBytes - offset));
    await readFully(handle, view, offset);
    whole.update(view);
    for (let start = 0; start < view.length; start += footer.pageBytes) {
      const page = (offset + start) / footer.pageBytes;
      if (xxh64(view.subarray(start, start + footer.pageBytes)) !== pages[page]) badPages.push(page);
    }
    if (pace !== undefined) await pace(view.length);
  }
  if (badPages.length > 0) {
    return { ok: false, reason: `${badPages.length} page(s) failed their checksum: ${badPages.slice(0, 10).join(', ')}`, badPages };
  }
  if (whole.finish().whole !== footer.dataChecksum) {
    return { ok: false, reason: 'pages verify but the whole-chunk checksum does not', badPages: [] };
  }
  return { ok: true, dataBytes: footer.dataBytes };
}

async function readFully(handle: FileHandle, buffer: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new GranaryError('GRN_INTERNAL', `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

async function writeAll(handle: FileHandle, pieces: readonly Uint8Array[], position: number): Promise<void> {
  let remaining = pieces.filter((piece) => piece.length > 0);
  let at = position;
  while (remaining.length > 0) {
    const { bytesWritten } = await handle.writev(remaining as Uint8Array[], at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const piece of remaining) {
      if (skip >= piece.length) {
        skip -= piece.length;
      } else {
        rest.push(skip > 0 ? piece.subarray(skip) : piece);
        skip = 0;
      }
    }
    remaining = rest;
  }
}

function notFound(id: string): GranaryError {
  return new GranaryError('GRN_CHUNK_NOT_FOUND', `chunk ${id} is not stored on this node`, { details: { chunk: id } });
}


function diskError(error: unknown, id: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new GranaryError('GRN_DISK_FULL', `disk full while writing chunk ${id}; nothing partial was kept; write to another node`, {
      cause: error,
    });
  }
  if (code === 'ENOENT') return notFound(id);
  return error;
}

/** The callback API costs less per call than FileHandle.read, which matters for many small reads. */
function readFullyFd(fd: number, buffer: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      readCallback(fd, buffer, done, buffer.length - done, position + done, (error, bytesRead) => {
        if (error !== null) reject(error);
        else if (bytesRead === 0) reject(new GranaryError('GRN_INTERNAL', `unexpected end of file at byte ${position + done}`));
        else if (done + bytesRead < buffer.length) step(done + bytesRead);
        else resolve();
      });
    };
    step(0);
  });
}
