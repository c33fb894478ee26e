/**
 * The on-disk form of one chunk: its bytes, then a checksum per page, then a fixed footer.
 *
 *   | data (dataBytes) | page table (pageCount x u64 LE xxh64) | footer (48 bytes) |
 *
 * footer: magic "GRNC" | version u16 | flags u16 | pageBytes u32 | reserved u32 |
 *         dataBytes u64 | dataXxh64 u64 | pageTableXxh64 u64 | footerXxh64 u64 (of the 40 bytes before)
 *
 * Data comes first so a streamed upload is written as it arrives, and range reads are plain
 * offsets. The footer's own checksum and the page table's checksum let a reader tell a damaged
 * table from damaged data.
 */
import { pageCount, xxh64 } from '../erasure/index.js';

export const FOOTER_BYTES = 48;
const MAGIC = Buffer.from('GRNC', 'ascii');
const FORMAT_VERSION = 1;

export interface ChunkFooter {
  readonly pageBytes: number;
  readonly dataBytes: number;
  readonly dataChecksum: bigint;
  readonly pageTableChecksum: bigint;
}

export function encodePageTable(pages: BigUint64Array): Buffer {
  const table = Buffer.allocUnsafe(pages.length * 8);
  for (let i = 0; i < pages.length; i++) table.writeBigUInt64LE(pages[i] as bigint, i * 8);
  return table;
}

export function encodeFooter(footer: ChunkFooter): Buffer {
  const out = Buffer.alloc(FOOTER_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(FORMAT_VERSION, 4);
  out.writeUInt16LE(0, 6);
  out.writeUInt32LE(footer.pageBytes, 8);
  out.writeUInt32LE(0, 12);
  out.writeBigUInt64LE(BigInt(footer.dataBytes), 16);
  out.writeBigUInt64LE(footer.dataChecksum, 24);
  out.writeBigUInt64LE(footer.pageTableChecksum, 32);
  out.writeBigUInt64LE(xxh64(out.subarray(0, 40)), 40);
  return out;
}

/** Decodes a footer; returns a reason string when it is not a valid one. */
export function decodeFooter(bytes: Buffer, fileBytes: number): ChunkFooter | string {
  if (bytes.length !== FOOTER_BYTES) return `footer is ${bytes.length} bytes, expected ${FOOTER_BYTES}`;
  if (!bytes.subarray(0, 4).equals(MAGIC)) return 'footer magic is not GRNC';
  if (xxh64(bytes.subarray(0, 40)) !== bytes.readBigUInt64LE(40)) return 'footer failed its checksum';
  const version = bytes.readUInt16LE(4);
  if (version !== FORMAT_VERSION) return `chunk format version ${version} is not supported (this node reads ${FORMAT_VERSION})`;
  const pageBytes = bytes.readUInt32LE(8);
  const dataBytes = Number(bytes.readBigUInt64LE(16));
  if (pageBytes === 0 || !Number.isSafeInteger(dataBytes)) return 'footer holds impossible sizes';
  const expectedFileBytes = chunkFileBytes(dataBytes, pageBytes);
  if (expectedFileBytes !== fileBytes) {
    return `file is ${fileBytes} bytes but its footer describes ${expectedFileBytes}`;
  }
  return {
    pageBytes,
    dataBytes,
    dataChecksum: bytes.readBigUInt64LE(24),
    pageTableChecksum: bytes.readBigUInt64LE(32),
  };
}

export function chunkFileBytes(dataBytes: number, pageBytes: number): number {
  return dataBytes + pageCount(dataBytes, pageBytes) * 8 + FOOTER_BYTES;
}
