/**
 * Decimal128 values in place: Arrow keeps a decimal column as four little-endian 32-bit words a
 * value (apache-arrow hands them out as a Uint32Array), the unscaled value in two's complement.
 * Reading one as a JavaScript number when it is small enough (almost every price, amount or rate)
 * spares a bigint a value; comparisons between numbers and bigints are exact in JavaScript, so
 * callers may mix the two.
 */

const TWO_32 = 2 ** 32;
/** |value| below this fits a double exactly. */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

/** Words of one value. */
export const DECIMAL_WORDS = 4;

/** Value `i` of `words`, as a number when it is a safe integer, else as a bigint. */
export function decimalAt(words: Uint32Array, i: number): number | bigint {
  const at = i * DECIMAL_WORDS;
  const w0 = words[at] as number;
  const w1 = words[at + 1] as number;
  const w2 = words[at + 2] as number;
  const w3 = words[at + 3] as number;
  if (w2 === 0 && w3 === 0 && w1 <= SAFE_HIGH_WORD_MAX) return w1 * TWO_32 + w0;
  if (w2 === 0xffff_ffff && w3 === 0xffff_ffff && w1 >= 0xffff_ffff - SAFE_HIGH_WORD_MAX) return (w1 - TWO_32) * TWO_32 + w0;
  return (BigInt(w3 | 0) << 96n) | (BigInt(w2) << 64n) | (BigInt(w1) << 32n) | BigInt(w0);
}

/** Value `i` of `words` as a bigint. */
export function decimalBigAt(words: Uint32Array, i: number): bigint {
  const value = decimalAt(words, i);
  return typeof value === 'bigint' ? value : BigInt(value);
}

/** Writes `value` (which fits 128 bits) as value `i` of `words`. */
export function setDecimal(words: Uint32Array, i: number, value: bigint | number): void {
  const at = i * DECIMAL_WORDS;
  if (typeof value === 'number') {
    // A safe integer: low word, then the high part (floor division keeps two's complement).
    const high = Math.floor(value / TWO_32);
    words[at] = value - high * TWO_32;
    words[at + 1] = high >>> 0;
    const sign = high < 0 ? 0xffff_ffff : 0;
    words[at + 2] = sign;
    words[at + 3] = sign;
    return;
  }
  words[at] = Number(BigInt.asUintN(32, value));
  words[at + 1] = Number(BigInt.asUintN(32, value >> 32n));
  words[at + 2] = Number(BigInt.asUintN(32, value >> 64n));
  words[at + 3] = Number(BigInt.asUintN(32, value >> 96n));
}

/** |value| < bound, for a number or bigint value and a bigint bound (10^p). */
export function withinBound(value: number | bigint, bound: bigint): boolean {
  return value < bound && value > -bound;
}
