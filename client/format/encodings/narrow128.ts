/**
 * 128-bit integer sections (decimal) seen as 64-bit ones: when every value's high 64 bits are the
 * sign extension of its low 64 (any decimal of up to 18 digits, and most of the wider ones in
 * practice), the low halves are an int64 section, which frame of reference, delta and dictionary
 * pack as they pack int64 ids. Widening restores the high halves from the sign, so the round trip
 * is exact; a section with one wider value is not narrowed at all.
 */
const WORDS_PER_VALUE = 4;

/** The low 64 bits of each of `count` values as 32-bit word pairs, or undefined when a value is wider. */
export function narrow128(words: Uint32Array, count: number): Uint32Array | undefined {
  const out = new Uint32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const at = i * WORDS_PER_VALUE;
    const low = words[at] as number;
    const high = words[at + 1] as number;
    const sign = (high & 0x8000_0000) === 0 ? 0 : 0xffff_ffff;
    if (words[at + 2] !== sign || words[at + 3] !== sign) return undefined;
    out[2 * i] = low;
    out[2 * i + 1] = high;
  }
  return out;
}

/** The inverse of narrow128: `count` 64-bit values into 128-bit ones at `dst`. */
export function widen128(narrow: Uint32Array, count: number, dst: Uint32Array): void {
  for (let i = 0; i < count; i++) {
    const high = narrow[2 * i + 1] as number;
    const sign = (high & 0x8000_0000) === 0 ? 0 : 0xffff_ffff;
    const at = i * WORDS_PER_VALUE;
    dst[at] = narrow[2 * i] as number;
    dst[at + 1] = high;
    dst[at + 2] = sign;
    dst[at + 3] = sign;
  }
}
