/**
 * Bit-packing of unsigned integers into little-endian 32-bit words, least significant bit first
 * (the order Parquet and ORC use for bit-packed runs). Values of up to 64 bits are given as pairs
 * of 32-bit words (low, high), the memory order of a little-endian int64, so int64 columns are
 * packed without BigInt. Counts are in values; a word index and a bit offset are kept apart so
 * sections past 2^32 bits stay exact.
 */

/** 32-bit words that `count` values of `width` bits take. */
export function packedWords(count: number, width: number): number {
  return Math.ceil((count * width) / 32);
}

/** Bits needed for an unsigned 32-bit value (0 for 0). */
export function bitWidth32(value: number): number {
  return 32 - Math.clz32(value);
}

/** Bits needed for an unsigned 64-bit value given as (low, high). */
export function bitWidth64(low: number, high: number): number {
  return high !== 0 ? 64 - Math.clz32(high) : 32 - Math.clz32(low);
}

function maskOf(width: number): number {
  return width >= 32 ? -1 : (1 << width) - 1;
}

/**
 * A writer of bit fields of up to 32 bits each into `out` from word `start`. Callers keep the
 * state in locals for speed; this class is for the less hot paths.
 */
export class BitWriter {
  private word: number;
  private pending = 0;
  private used = 0;

  constructor(
    private readonly out: Uint32Array,
    start = 0,
  ) {
    this.word = start;
  }

  /** Appends the low `bits` bits (0..32) of `value`. */
  put(value: number, bits: number): void {
    if (bits === 0) return;
    const x = value & maskOf(bits);
    this.pending |= x << this.used;
    const used = this.used + bits;
    if (used >= 32) {
      this.out[this.word++] = this.pending;
      this.pending = this.used === 0 ? 0 : x >>> (32 - this.used);
      this.used = used - 32;
    } else {
      this.used = used;
    }
  }

  /** Writes the last partial word; returns the word after the last one written. */
  finish(): number {
    if (this.used > 0) {
      this.out[this.word++] = this.pending;
      this.pending = 0;
      this.used = 0;
    }
    return this.word;
  }
}

/** A reader of bit fields of up to 32 bits from `words`; the caller has checked there are enough. */
export class BitReader {
  private word: number;
  private bit = 0;

  constructor(
    private readonly words: Uint32Array,
    start = 0,
  ) {
    this.word = start;
  }

  /** The next `bits` bits (0..32) as an unsigned number. */
  get(bits: number): number {
    if (bits === 0) return 0;
    const shift = this.bit;
    let value = (this.words[this.word] as number) >>> shift;
    const end = shift + bits;
    if (end > 32) value |= (this.words[this.word + 1] as number) << (32 - shift);
    if (end >= 32) {
      this.word++;
      this.bit = end - 32;
    } else {
      this.bit = end;
    }
    return bits === 32 ? value >>> 0 : (value & ((1 << bits) - 1)) >>> 0;
  }
}

/** Packs `count` 32-bit values of `src` in `width` bits each (0..32) into `out`. */
export function pack32(src: Uint32Array, count: number, width: number, out: Uint32Array): void {
  if (width === 0) return;
  const writer = new BitWriter(out);
  for (let i = 0; i < count; i++) writer.put(src[i] as number, width);
  writer.finish();
}

/**
 * Unpacks `count` values of `width` bits (0..32) from `words` into `dst` from index `at`. The
 * decoders' hot loop: state in locals, one word load per 32 bits (a BitReader call per value
 * measured about half as fast). The caller checked `words` holds packedWords(count, width).
 */
export function unpack32(words: Uint32Array, count: number, width: number, dst: Uint32Array, at = 0): void {
  if (width === 0) {
    dst.fill(0, at, at + count);
    return;
  }
  const mask = width === 32 ? -1 : (1 << width) - 1;
  const last = words.length - 1;
  let w = 0;
  let bit = 0;
  let cur = last >= 0 ? (words[0] as number) : 0;
  for (let i = 0; i < count; i++) {
    let v = cur >>> bit;
    bit += width;
    if (bit >= 32) {
      w++;
      cur = w <= last ? (words[w] as number) : 0;
      bit -= 32;
      if (bit > 0) v |= cur << (width - bit);
    }
    dst[at + i] = v & mask;
  }
}
