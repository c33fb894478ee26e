/** Reading section payloads, which may sit at any byte offset (a decompressed buffer, a slice of a fetched range). */
import { FormatError } from '../format-error.js';

/** `count` 32-bit words at byte `offset` of `bytes`: a view when aligned, else a copy. The caller checked the bounds. */
export function wordsOf(bytes: Uint8Array, offset: number, count: number): Uint32Array {
  const at = bytes.byteOffset + offset;
  if (at % 4 === 0) return new Uint32Array(bytes.buffer, at, count);
  const copy = new Uint8Array(count * 4);
  copy.set(bytes.subarray(offset, offset + count * 4));
  return new Uint32Array(copy.buffer);
}

/** Padding and reserved bytes must be zero, so one section has one encoding. */
export function checkZeros(bytes: Uint8Array, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0) throw new FormatError(`${what}: reserved byte ${i} is ${bytes[i]}, expected 0`);
  }
}
