/**
 * xxh64 checksums (xxhash-wasm): whole buffers, incremental streams, and per-page tables for
 * chunks, so a range read verifies only the pages it touches.
 *
 * Checksums travel as 16 lowercase hex digits in text (headers, JSON) and as unsigned 64-bit
 * little-endian integers in binary formats.
 */
import xxhash from 'xxhash-wasm';
import { invalidArgument } from './errors.js';

const hasher = await xxhash();

/** The page size chunks are checksummed in unless configured otherwise. */
export const DEFAULT_PAGE_BYTES = 64 * 1024;
export const PAGE_BYTES_MIN = 512;
export const PAGE_BYTES_MAX = 16 * 1024 * 1024;

export function xxh64(data: Uint8Array): bigint {
  return hasher.h64Raw(data);
}

export function checksumToHex(checksum: bigint): string {
  return checksum.toString(16).padStart(16, '0');
}

const HEX_CHECKSUM = /^[0-9a-f]{16}$/;

export function checksumFromHex(text: string): bigint {
  const lower = text.toLowerCase();
  if (!HEX_CHECKSUM.test(lower)) {
    throw invalidArgument(`a checksum is 16 hex digits (xxh64), got "${text}"`);
  }
  return BigInt(`0x${lower}`);
}

export function xxh64Hex(data: Uint8Array): string {
  return checksumToHex(xxh64(data));
}

/** An incremental xxh64 over bytes that arrive in pieces. */
export interface StreamingChecksum {
  update(data: Uint8Array): void;
  digest(): bigint;
}

export function createXxh64(): StreamingChecksum {
  const state = hasher.create64();
  return {
    update(data) {
      state.update(data);
    },
    digest() {
      return state.digest();
    },
  };
}

export function validatePageBytes(pageBytes: number): number {
  if (!Number.isInteger(pageBytes) || pageBytes < PAGE_BYTES_MIN || pageBytes > PAGE_BYTES_MAX) {
    throw invalidArgument(`page size must be an integer in ${PAGE_BYTES_MIN}..${PAGE_BYTES_MAX}, got ${pageBytes}`);
  }
  return pageBytes;
}

export function pageCount(dataBytes: number, pageBytes: number): number {
  return Math.ceil(dataBytes / pageBytes);
}

/** xxh64 of every `pageBytes` page of `data` (the last page may be short). */
export function pageChecksums(data: Uint8Array, pageBytes: number = DEFAULT_PAGE_BYTES): BigUint64Array {
  validatePageBytes(pageBytes);
  const table = new BigUint64Array(pageCount(data.length, pageBytes));
  for (let page = 0; page < table.length; page++) {
    const start = page * pageBytes;
    table[page] = hasher.h64Raw(data.subarray(start, Math.min(data.length, start + pageBytes)));
  }
  return table;
}

/**
 * Builds a page checksum table and a whole-data checksum over bytes that arrive in arbitrary
 * pieces (an HTTP body). Holds at most one partial page.
 */
export class PageChecksummer {
  readonly pageBytes: number;
  private readonly whole = createXxh64();
  private readonly pages: bigint[] = [];
  private readonly partial: Uint8Array;
  private partialBytes = 0;
  private totalBytes = 0;

  constructor(pageBytes: number = DEFAULT_PAGE_BYTES) {
    this.pageBytes = validatePageBytes(pageBytes);
    this.partial = new Uint8Array(pageBytes);
  }

  get bytes(): number {
    return this.totalBytes;
  }

  update(data: Uint8Array): void {
    this.whole.update(data);
    this.totalBytes += data.length;
    let offset = 0;
    if (this.partialBytes > 0) {
      const take = Math.min(this.pageBytes - this.partialBytes, data.length);
      this.partial.set(data.subarray(0, take), this.partialBytes);
      this.partialBytes += take;
      offset = take;
      if (this.partialBytes === this.pageBytes) {
        this.pages.push(hasher.h64Raw(this.partial));
        this.partialBytes = 0;
      }
    }
    while (data.length - offset >= this.pageBytes) {
      this.pages.push(hasher.h64Raw(data.subarray(offset, offset + this.pageBytes)));
      offset += this.pageBytes;
    }
    if (offset < data.length) {
      this.partial.set(data.subarray(offset), 0);
      this.partialBytes = data.length - offset;
    }
  }

  /** Ends the stream: the page table (last page included) and the whole-data checksum. */
  finish(): { readonly pages: BigUint64Array; readonly whole: bigint } {
    if (this.partialBytes > 0) {
      this.pages.push(hasher.h64Raw(this.partial.subarray(0, this.partialBytes)));
      this.partialBytes = 0;
    }
    return { pages: BigUint64Array.from(this.pages), whole: this.whole.digest() };
  }
}
