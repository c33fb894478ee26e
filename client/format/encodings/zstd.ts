/**
 * zstd for stream sections, through @mongodb-js/zstd's native binding (prebuilt, runs on the
 * libuv pool, loads in worker threads). Its main entry drops the level, so the binding is loaded
 * directly. Before a frame is handed to the native decoder, its structure is walked here: one
 * frame, no dictionary, a content size (when recorded) equal to the size the container promises,
 * blocks that end exactly where the bytes end and could not regenerate much more than the size
 * the container promises. A lying size is a FormatError; a frame bomb is refused before the
 * native decoder allocates for it.
 */
import { createRequire } from 'node:module';
import { FormatError } from '../format-error.js';

interface ZstdBinding {
  compress(data: Buffer, level?: number | null): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

let binding: ZstdBinding | undefined;

function zstd(): ZstdBinding {
  binding ??= createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as ZstdBinding;
  return binding;
}

/** zstd levels a table may ask for (negative "fast" levels decode slower here: not offered). */
export const ZSTD_LEVEL_MIN = 1;
export const ZSTD_LEVEL_MAX = 19;
/** Level 1: the same stored bytes as 3 on the bench and flights tables, choosing 1.5-3x faster (bench/encodings.ts). */
export const ZSTD_LEVEL_DEFAULT = 1;

const FRAME_MAGIC = 0xfd2fb528;
const BLOCK_HEADER_BYTES = 3;
const BLOCK_TYPE_RAW = 0;
const BLOCK_TYPE_RLE = 1;
const BLOCK_TYPE_COMPRESSED = 2;
/** zstd never makes a block larger than this (128 KiB). */
const BLOCK_SIZE_MAX = 128 * 1024;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function zstdCompress(bytes: Uint8Array, level: number): Promise<Uint8Array> {
  if (!Number.isInteger(level) || level < ZSTD_LEVEL_MIN || level > ZSTD_LEVEL_MAX) {
    throw new RangeError(`zstd level must be an integer in ${ZSTD_LEVEL_MIN}..${ZSTD_LEVEL_MAX}, got ${level}`);
  }
  return zstd().compress(asBuffer(bytes), level);
}

/** Decompresses one frame that must hold exactly `expectedBytes` bytes. */
export async function zstdDecompress(frame: Uint8Array, expectedBytes: number, what: string): Promise<Uint8Array> {
  checkFrame(frame, expectedBytes, what);
  let out: Buffer;
  try {
    out = await zstd().decompress(asBuffer(frame));
  } catch (error) {
    throw new FormatError(`${what}: zstd frame does not decompress (${(error as Error).message})`, { cause: error });
  }
  if (out.length !== expectedBytes) throw new FormatError(`${what}: zstd frame decompressed to ${out.length} bytes, expected ${expectedBytes}`);
  return out;
}

/** Walks the frame header and block headers; throws unless it is one well-formed frame of `expectedBytes`. */
export function checkFrame(frame: Uint8Array, expectedBytes: number, what: string): void {
  const fail = (why: string): FormatError => new FormatError(`${what}: not a valid zstd frame (${why})`);
  if (frame.length < 6) throw fail(`${frame.length} bytes`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== FRAME_MAGIC) throw fail('bad magic');
  const descriptor = frame[4] as number;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const reserved = (descriptor >> 3) & 1;
  const hasChecksum = (descriptor >> 2) & 1;
  const dictFlag = descriptor & 3;
  if (reserved !== 0) throw fail('reserved bit set');
  if (dictFlag !== 0) throw fail('it names a dictionary');
  let at = 5 + (singleSegment === 1 ? 0 : 1);
  const fcsBytes = fcsFlag === 0 ? singleSegment : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (frame.length < at + fcsBytes) throw fail('truncated header');
  if (fcsBytes > 0) {
    let contentSize: number;
    if (fcsBytes === 1) contentSize = frame[at] as number;
    else if (fcsBytes === 2) contentSize = view.getUint16(at, true) + 256;
    else if (fcsBytes === 4) contentSize = view.getUint32(at, true);
    else {
      if (view.getUint32(at + 4, true) !== 0) throw fail('content size above 4 GiB');
      contentSize = view.getUint32(at, true);
    }
    if (contentSize !== expectedBytes) throw new FormatError(`${what}: zstd frame holds ${contentSize} bytes, the container says ${expectedBytes}`);
  }
  at += fcsBytes;
  // Raw and RLE blocks say what they regenerate; a compressed block regenerates at most
  // BLOCK_SIZE_MAX. The package's frames record no content size, so these bounds are what
  // keeps a frame from claiming far more than the container says (a decompression bomb).
  let exact = 0;
  let compressedBlocks = 0;
  for (;;) {
    if (frame.length < at + BLOCK_HEADER_BYTES) throw fail('truncated block header');
    const header = (frame[at] as number) | ((frame[at + 1] as number) << 8) | ((frame[at + 2] as number) << 16);
    at += BLOCK_HEADER_BYTES;
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (size > BLOCK_SIZE_MAX) throw fail(`block of ${size} bytes`);
    if (type === BLOCK_TYPE_RAW) {
      at += size;
      exact += size;
    } else if (type === BLOCK_TYPE_RLE) {
      at += 1;
      exact += size;
    } else if (type === BLOCK_TYPE_COMPRESSED) {
      at += size;
      compressedBlocks++;
    } else {
      throw fail('reserved block type');
    }
    if (at > frame.length) throw fail('truncated block');
    if (exact > expectedBytes) throw fail('blocks hold more than the container says');
    if (last === 1) break;
  }
  const most = exact + compressedBlocks * BLOCK_SIZE_MAX;
  if (most < expectedBytes) throw fail(`its blocks hold at most ${most} bytes, the container says ${expectedBytes}`);
  // Honest frames split blocks at most a little finer than BLOCK_SIZE_MAX (level 19 here: +12%).
  if (most > 2 * expectedBytes + BLOCK_SIZE_MAX) throw fail(`its blocks could hold ${most} bytes, far more than the ${expectedBytes} the container says`);
  if (hasChecksum === 1) at += 4;
  if (at !== frame.length) throw fail(at > frame.length ? 'truncated checksum' : `${frame.length - at} bytes after the frame`);
}
