/**
 * Page CRCs of a Parquet row group, checked before its rows are decoded. parquet-wasm (arrow-rs)
 * does not check them, so a page whose bytes rotted on a disk decoded into values that differ by a
 * bit from the values written, and were ingested as if nothing had happened.
 *
 * Per the Parquet format, a page header's `crc` is the CRC-32 of gzip and zlib over the page's
 * bytes as stored after its header (`compressed_page_size` of them: levels and values, compressed
 * or not), for data pages v1 and v2 and dictionary pages. A page without a CRC is not checked.
 * Each column chunk is walked page by page from its first page over `total_compressed_size`
 * bytes; a header or a page reaching past its chunk is an error too, so the walk also proves the
 * chunk's pages are where the footer says. The hash is node's `zlib.crc32` over reads of at most
 * READ_BYTES_MAX, so a page of any size costs that much memory.
 */
import { crc32 } from 'node:zlib';
import { FormatError } from '../../../format/format-error.js';
import { type ColumnChunkInfo, type RowGroupInfo, intValue, readAt, readInto } from './footer.js';
import { type ThriftStruct, ThriftType, fieldOf, readThriftStruct } from './thrift-tree.js';

/** Bytes hashed per read. */
const READ_BYTES_MAX = 4 * 1024 * 1024;
/** Bytes read for a page header at first; a longer header (big statistics) is read again. */
const HEADER_READ_BYTES = 64 * 1024;
/** The longest page header read: beyond it a header is taken for garbage. */
export const PAGE_HEADER_BYTES_MAX = 16 * 1024 * 1024;

/** PageType values of parquet.thrift that carry a CRC of their bytes. */
const PAGE_TYPES_WITH_CRC: ReadonlyMap<number, string> = new Map([
  [0, 'data page'],
  [2, 'dictionary page'],
  [3, 'data page v2'],
]);

/** What the walk found, for tests and the bench. */
export interface PageWalk {
  readonly pages: number;
  readonly pagesWithCrc: number;
}

/**
 * Walks every column chunk of `group` (row group `index` of the file open as `fd`) and throws a
 * FormatError naming the file, row group, column and page of the first page whose CRC does not
 * match, or whose header does not fit its chunk.
 */
export function verifyRowGroupPages(fd: number, path: string, index: number, group: RowGroupInfo): PageWalk {
  let pages = 0;
  let pagesWithCrc = 0;
  for (const chunk of group.columns) {
    const walk = verifyChunkPages(fd, `${path}: row group ${index}, column ${chunk.path}`, chunk);
    pages += walk.pages;
    pagesWithCrc += walk.pagesWithCrc;
  }
  return { pages, pagesWithCrc };
}

function verifyChunkPages(fd: number, where: string, chunk: ColumnChunkInfo): PageWalk {
  if (chunk.externalFile !== undefined) {
    throw new FormatError(`${where}: the column chunk is in another file (${chunk.externalFile}), which Granary does not follow`);
  }
  const end = chunk.firstPageOffset + chunk.totalCompressedBytes;
  let position = chunk.firstPageOffset;
  let pages = 0;
  let pagesWithCrc = 0;
  while (position < end) {
    const page = `page ${pages} (at byte ${position})`;
    const { header, headerBytes } = readPageHeader(fd, position, end - position, `${where}, ${page}`);
    const what = (id: number): string => `${where}, ${page}: PageHeader field ${id}`;
    const typeField = fieldOf(header, 1);
    const sizeField = fieldOf(header, 3);
    if (typeField === undefined || typeField.type !== ThriftType.I32) throw new FormatError(`${what(1)} (type) is missing or not an i32`);
    if (sizeField === undefined) throw new FormatError(`${what(3)} (compressed_page_size) is missing`);
    const pageBytes = intValue(sizeField, `${page}: PageHeader.compressed_page_size`, where);
    const start = position + headerBytes;
    if (start + pageBytes > end) {
      throw new FormatError(`${where}, ${page}: the page claims ${pageBytes} bytes after its ${headerBytes}-byte header, past the chunk's end at byte ${end}`);
    }
    const crcField = fieldOf(header, 4);
    const kind = PAGE_TYPES_WITH_CRC.get(typeField.value as number);
    if (crcField !== undefined && kind !== undefined) {
      if (crcField.type !== ThriftType.I32) throw new FormatError(`${what(4)} (crc) is not an i32`);
      const stored = (crcField.value as number) >>> 0;
      const actual = crcOfRange(fd, start, pageBytes);
      if (actual !== stored) {
        throw new FormatError(
          `${where}, ${page}, a ${kind}: the page's CRC-32 is ${hex(actual)} but its header says ${hex(stored)}: the page is corrupt (--no-page-checksums reads it anyway)`,
        );
      }
      pagesWithCrc++;
    }
    pages++;
    position = start + pageBytes;
  }
  return { pages, pagesWithCrc };
}

/**
 * The page header at `position`, read with at most `room` bytes (what is left of its chunk),
 * starting with a read of `firstRead` bytes (a walk of headers alone reads less at a time).
 */
export function readPageHeader(
  fd: number,
  position: number,
  room: number,
  where: string,
  firstRead = HEADER_READ_BYTES,
): { header: ThriftStruct; headerBytes: number } {
  let window = Math.min(firstRead, room);
  for (;;) {
    try {
      const { struct, bytesRead } = readThriftStruct(readAt(fd, position, window));
      return { header: struct, headerBytes: bytesRead };
    } catch (error) {
      // The header may just be longer than what was read: read more, up to the chunk's end.
      const limit = Math.min(room, PAGE_HEADER_BYTES_MAX);
      if (isUnderrun(error) && window < limit) {
        window = Math.min(window * 4, limit);
        continue;
      }
      if (error instanceof FormatError) throw new FormatError(`${where}: ${error.message}`, { cause: error });
      throw new FormatError(`${where}: not a valid page header: ${messageOf(error)}`, { cause: error });
    }
  }
}

function isUnderrun(error: unknown): boolean {
  return error instanceof Error && error.name === 'InputBufferUnderrunError';
}

/** One read buffer for every page hashed by this thread. */
let scratch: Buffer | undefined;

function crcOfRange(fd: number, start: number, length: number): number {
  scratch ??= Buffer.allocUnsafe(READ_BYTES_MAX);
  let crc = 0;
  for (let done = 0; done < length; done += READ_BYTES_MAX) {
    const part = Math.min(READ_BYTES_MAX, length - done);
    readInto(fd, scratch, part, start + done);
    crc = crc32(scratch.subarray(0, part), crc);
  }
  return crc;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
