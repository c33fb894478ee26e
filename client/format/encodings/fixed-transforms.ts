/**
 * Transforms of a section of fixed-width values (4 or 8 bytes each, little-endian), seen as
 * 32-bit words: frame of reference, delta and dictionary, each bit-packed, and byte splitting.
 * Integer arithmetic wraps in the value's width (mod 2^32 or 2^64), so every payload decodes to
 * exactly one section and any int64 range, including min to max, round-trips. Dictionaries
 * compare bit patterns, so floats (NaN payloads, -0) round-trip bit for bit.
 *
 * Payloads (little-endian):
 *   FOR     base u64, width u8, 7 zero bytes, packed (value - base)
 *   DELTA   first u64, minDelta u64, width u8, 7 zero bytes, packed (value[i] - value[i-1] - minDelta), i >= 1
 *   DICT    entries u32, width u8, 3 zero bytes, entries values (raw), packed indices
 *   SPLIT   byte 0 of every value, then byte 1, ...
 * A 4-byte section's base, first and minDelta have a zero high word.
 */
import { FormatError } from '../format-error.js';
import { BitReader, BitWriter, bitWidth32, bitWidth64, packedWords, unpack32 } from './bit-pack.js';
import { checkZeros, wordsOf } from './payload.js';

export type ValueBytes = 4 | 8;

export const FOR_HEADER_BYTES = 16;
export const DELTA_HEADER_BYTES = 24;
export const DICT_HEADER_BYTES = 8;
/** Entries a fixed-width dictionary holds at most. */
export const FIXED_DICT_ENTRIES_MAX = 1 << 16;

export interface IntRanges {
  /** Smallest value (signed) as (low, high) words, and the bits (value - base) needs. */
  readonly baseLow: number;
  readonly baseHigh: number;
  readonly forWidth: number;
  readonly firstLow: number;
  readonly firstHigh: number;
  readonly minDeltaLow: number;
  readonly minDeltaHigh: number;
  readonly deltaWidth: number;
}

/** One pass over `count` values: the frame of reference and the delta range. */
export function intRanges(words: Uint32Array, count: number, bytes: ValueBytes): IntRanges {
  if (count === 0) return { baseLow: 0, baseHigh: 0, forWidth: 0, firstLow: 0, firstHigh: 0, minDeltaLow: 0, minDeltaHigh: 0, deltaWidth: 0 };
  if (bytes === 4) {
    let min = (words[0] as number) | 0;
    let max = min;
    let prev = min;
    let dMin = 0;
    let dMax = 0;
    for (let i = 1; i < count; i++) {
      const v = (words[i] as number) | 0;
      if (v < min) min = v;
      if (v > max) max = v;
      const d = (v - prev) | 0;
      if (i === 1 || d < dMin) dMin = d;
      if (i === 1 || d > dMax) dMax = d;
      prev = v;
    }
    return {
      baseLow: min >>> 0,
      baseHigh: 0,
      forWidth: bitWidth32(max - min),
      firstLow: (words[0] as number) >>> 0,
      firstHigh: 0,
      minDeltaLow: dMin >>> 0,
      minDeltaHigh: 0,
      deltaWidth: count > 1 ? bitWidth32(dMax - dMin) : 0,
    };
  }
  let minLow = words[0] as number;
  let minHigh = (words[1] as number) | 0;
  let maxLow = minLow;
  let maxHigh = minHigh;
  let prevLow = minLow;
  let prevHigh = words[1] as number;
  let dMinLow = 0;
  let dMinHigh = 0;
  let dMaxLow = 0;
  let dMaxHigh = 0;
  for (let i = 1; i < count; i++) {
    const low = words[2 * i] as number;
    const high = (words[2 * i + 1] as number) | 0;
    if (high < minHigh || (high === minHigh && low < minLow)) {
      minLow = low;
      minHigh = high;
    }
    if (high > maxHigh || (high === maxHigh && low > maxLow)) {
      maxLow = low;
      maxHigh = high;
    }
    const dLow = (low - prevLow) >>> 0;
    const dHigh = (high - prevHigh - (low < prevLow ? 1 : 0)) | 0;
    if (i === 1 || dHigh < dMinHigh || (dHigh === dMinHigh && dLow < dMinLow)) {
      dMinLow = dLow;
      dMinHigh = dHigh;
    }
    if (i === 1 || dHigh > dMaxHigh || (dHigh === dMaxHigh && dLow > dMaxLow)) {
      dMaxLow = dLow;
      dMaxHigh = dHigh;
    }
    prevLow = low;
    prevHigh = high >>> 0;
  }
  const rLow = (maxLow - minLow) >>> 0;
  const rHigh = (maxHigh - minHigh - (maxLow < minLow ? 1 : 0)) >>> 0;
  const dLow = (dMaxLow - dMinLow) >>> 0;
  const dHigh = (dMaxHigh - dMinHigh - (dMaxLow < dMinLow ? 1 : 0)) >>> 0;
  return {
    baseLow: minLow >>> 0,
    baseHigh: minHigh >>> 0,
    forWidth: bitWidth64(rLow, rHigh),
    firstLow: (words[0] as number) >>> 0,
    firstHigh: (words[1] as number) >>> 0,
    minDeltaLow: dMinLow >>> 0,
    minDeltaHigh: dMinHigh >>> 0,
    deltaWidth: count > 1 ? bitWidth64(dLow, dHigh) : 0,
  };
}

export function forPayloadBytes(count: number, width: number): number {
  return FOR_HEADER_BYTES + 4 * packedWords(count, width);
}

export function deltaPayloadBytes(count: number, width: number): number {
  return DELTA_HEADER_BYTES + 4 * packedWords(Math.max(0, count - 1), width);
}

export function dictPayloadBytes(count: number, entries: number, bytes: ValueBytes, width = indexWidth(entries)): number {
  return DICT_HEADER_BYTES + entries * bytes + 4 * packedWords(count, width);
}

/** Index widths a dictionary of `entries` may use: the least, up to 32 (whole bytes help zstd). */
export function checkIndexWidth(width: number, entries: number, what: string): void {
  if (width < indexWidth(entries) || width > 32) {
    throw new FormatError(`${what}: ${entries} dictionary entries take ${indexWidth(entries)}- to 32-bit indices, the payload says ${width}`);
  }
}

export function indexWidth(entries: number): number {
  return entries <= 1 ? 0 : bitWidth32(entries - 1);
}

function header(bytes: number, words: readonly number[], width: number, at: number): { payload: Uint8Array; out: Uint32Array } {
  const payload = new Uint8Array(bytes);
  const out = new Uint32Array(payload.buffer);
  words.forEach((word, i) => {
    out[i] = word;
  });
  payload[at] = width;
  return { payload, out };
}

function checkWidth(width: number, bytes: ValueBytes, what: string): void {
  if (width > bytes * 8) throw new FormatError(`${what}: bit width ${width} is wider than a ${bytes}-byte value`);
}

/** Frame of reference: value - base in `width` bits (width >= the ranges' forWidth). */
export function encodeFor(words: Uint32Array, count: number, bytes: ValueBytes, baseLow: number, baseHigh: number, width: number): Uint8Array {
  const { payload, out } = header(forPayloadBytes(count, width), [baseLow, baseHigh], width, 8);
  if (width === 0) return payload;
  const writer = new BitWriter(out, FOR_HEADER_BYTES / 4);
  if (bytes === 4) {
    for (let i = 0; i < count; i++) writer.put(((words[i] as number) - baseLow) >>> 0, width);
  } else {
    const lowBits = Math.min(32, width);
    const highBits = width - lowBits;
    for (let i = 0; i < count; i++) {
      const low = words[2 * i] as number;
      const high = words[2 * i + 1] as number;
      writer.put((low - baseLow) >>> 0, lowBits);
      if (highBits > 0) writer.put((high - baseHigh - (low < baseLow ? 1 : 0)) >>> 0, highBits);
    }
  }
  writer.finish();
  return payload;
}

export function decodeFor(payload: Uint8Array, count: number, bytes: ValueBytes, dst: Uint32Array, what: string): void {
  if (payload.length < FOR_HEADER_BYTES) throw new FormatError(`${what}: frame-of-reference payload of ${payload.length} bytes is shorter than its header`);
  const head = wordsOf(payload, 0, FOR_HEADER_BYTES / 4);
  const baseLow = head[0] as number;
  const baseHigh = head[1] as number;
  const width = payload[8] as number;
  checkWidth(width, bytes, what);
  checkZeros(payload, 9, FOR_HEADER_BYTES, what);
  if (bytes === 4 && baseHigh !== 0) throw new FormatError(`${what}: a 4-byte section's base has a non-zero high word`);
  const expected = forPayloadBytes(count, width);
  if (payload.length !== expected) throw new FormatError(`${what}: ${count} values of ${width} bits take ${expected} payload bytes, got ${payload.length}`);
  if (bytes === 4) {
    if (width === 0) {
      dst.fill(baseLow, 0, count);
      return;
    }
    unpack32(wordsOf(payload, FOR_HEADER_BYTES, packedWords(count, width)), count, width, dst);
    if (baseLow !== 0) for (let i = 0; i < count; i++) dst[i] = ((dst[i] as number) + baseLow) >>> 0;
    return;
  }
  if (width === 0) {
    for (let i = 0; i < count; i++) {
      dst[2 * i] = baseLow;
      dst[2 * i + 1] = baseHigh;
    }
    return;
  }
  const packed = wordsOf(payload, FOR_HEADER_BYTES, packedWords(count, width));
  if (width <= 32) {
    // Values within 2^32 of the base (most int64 columns): one field per value.
    const x = new Uint32Array(count);
    unpack32(packed, count, width, x);
    for (let i = 0; i < count; i++) {
      const xLow = x[i] as number;
      const low = (xLow + baseLow) >>> 0;
      dst[2 * i] = low;
      dst[2 * i + 1] = (baseHigh + (low < xLow ? 1 : 0)) >>> 0;
    }
    return;
  }
  const reader = new BitReader(packed);
  const lowBits = Math.min(32, width);
  const highBits = width - lowBits;
  for (let i = 0; i < count; i++) {
    const xLow = reader.get(lowBits);
    const xHigh = highBits > 0 ? reader.get(highBits) : 0;
    const low = (xLow + baseLow) >>> 0;
    dst[2 * i] = low;
    dst[2 * i + 1] = (xHigh + baseHigh + (low < xLow ? 1 : 0)) >>> 0;
  }
}

/** Delta: first value, then value[i] - value[i-1] - minDelta in `width` bits. */
export function encodeDelta(words: Uint32Array, count: number, bytes: ValueBytes, ranges: IntRanges, width: number): Uint8Array {
  const { payload, out } = header(deltaPayloadBytes(count, width), [ranges.firstLow, ranges.firstHigh, ranges.minDeltaLow, ranges.minDeltaHigh], width, 16);
  if (width === 0 || count < 2) return payload;
  const writer = new BitWriter(out, DELTA_HEADER_BYTES / 4);
  const mLow = ranges.minDeltaLow;
  const mHigh = ranges.minDeltaHigh;
  if (bytes === 4) {
    for (let i = 1; i < count; i++) writer.put(((words[i] as number) - (words[i - 1] as number) - mLow) >>> 0, width);
  } else {
    const lowBits = Math.min(32, width);
    const highBits = width - lowBits;
    for (let i = 1; i < count; i++) {
      const low = words[2 * i] as number;
      const high = words[2 * i + 1] as number;
      const pLow = words[2 * i - 2] as number;
      const pHigh = words[2 * i - 1] as number;
      const dLow = (low - pLow) >>> 0;
      const dHigh = (high - pHigh - (low < pLow ? 1 : 0)) >>> 0;
      writer.put((dLow - mLow) >>> 0, lowBits);
      if (highBits > 0) writer.put((dHigh - mHigh - (dLow < mLow ? 1 : 0)) >>> 0, highBits);
    }
  }
  writer.finish();
  return payload;
}

export function decodeDelta(payload: Uint8Array, count: number, bytes: ValueBytes, dst: Uint32Array, what: string): void {
  if (payload.length < DELTA_HEADER_BYTES) throw new FormatError(`${what}: delta payload of ${payload.length} bytes is shorter than its header`);
  const head = wordsOf(payload, 0, DELTA_HEADER_BYTES / 4);
  let low = head[0] as number;
  let high = head[1] as number;
  const mLow = head[2] as number;
  const mHigh = head[3] as number;
  const width = payload[16] as number;
  checkWidth(width, bytes, what);
  checkZeros(payload, 17, DELTA_HEADER_BYTES, what);
  if (bytes === 4 && (high !== 0 || mHigh !== 0)) throw new FormatError(`${what}: a 4-byte section's first value or delta has a non-zero high word`);
  if (count === 0 && (low !== 0 || high !== 0)) throw new FormatError(`${what}: an empty section's first value must be 0`);
  const expected = deltaPayloadBytes(count, width);
  if (payload.length !== expected) throw new FormatError(`${what}: ${count} values of ${width}-bit deltas take ${expected} payload bytes, got ${payload.length}`);
  if (count === 0) return;
  const packed = wordsOf(payload, DELTA_HEADER_BYTES, packedWords(count - 1, width));
  if (bytes === 4) {
    unpack32(packed, count - 1, width, dst, 1);
    dst[0] = low;
    for (let i = 1; i < count; i++) {
      low = (low + (dst[i] as number) + mLow) >>> 0;
      dst[i] = low;
    }
    return;
  }
  const reader = new BitReader(packed);
  dst[0] = low;
  dst[1] = high;
  const lowBits = Math.min(32, width);
  const highBits = width - lowBits;
  for (let i = 1; i < count; i++) {
    const xLow = reader.get(lowBits);
    const xHigh = highBits > 0 ? reader.get(highBits) : 0;
    // delta = x + minDelta, then value = previous + delta, each mod 2^64.
    const dLow = (xLow + mLow) >>> 0;
    const dHigh = (xHigh + mHigh + (dLow < xLow ? 1 : 0)) >>> 0;
    const nLow = (low + dLow) >>> 0;
    high = (high + dHigh + (nLow < low ? 1 : 0)) >>> 0;
    low = nLow;
    dst[2 * i] = low;
    dst[2 * i + 1] = high;
  }
}

/** A dictionary of distinct values in first-seen order and each value's index. */
export interface FixedDictionary {
  /** Entries' words: `entries` values of `bytes` bytes. */
  readonly values: Uint32Array;
  readonly entries: number;
  readonly indices: Uint32Array;
}

/**
 * Builds a dictionary, or gives up (undefined) once it passes `entriesMax` entries: the caller
 * then does not pay for one that would not pay off.
 */
export function buildFixedDictionary(words: Uint32Array, count: number, bytes: ValueBytes, entriesMax: number): FixedDictionary | undefined {
  const limit = Math.min(entriesMax, FIXED_DICT_ENTRIES_MAX);
  const slots = new Int32Array(1 << (bitWidth32(limit) + 1)).fill(-1);
  const mask = slots.length - 1;
  const per = bytes / 4;
  const values = new Uint32Array((limit + 1) * per);
  const indices = new Uint32Array(count);
  let entries = 0;
  for (let i = 0; i < count; i++) {
    const low = words[i * per] as number;
    const high = per === 2 ? (words[i * per + 1] as number) : 0;
    let slot = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b) & mask;
    for (;;) {
      const entry = slots[slot] as number;
      if (entry < 0) {
        if (entries === limit) return undefined;
        slots[slot] = entries;
        values[entries * per] = low;
        if (per === 2) values[entries * per + 1] = high;
        indices[i] = entries++;
        break;
      }
      if (values[entry * per] === low && (per === 1 || values[entry * per + 1] === high)) {
        indices[i] = entry;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { values: values.subarray(0, entries * per), entries, indices };
}

/** `width` at least indexWidth(entries); a whole-byte width is what zstd is tried on. */
export function encodeFixedDict(dict: FixedDictionary, count: number, bytes: ValueBytes, width = indexWidth(dict.entries)): Uint8Array {
  const { payload, out } = header(dictPayloadBytes(count, dict.entries, bytes, width), [dict.entries], width, 4);
  out.set(dict.values, DICT_HEADER_BYTES / 4);
  if (width > 0) {
    const writer = new BitWriter(out, DICT_HEADER_BYTES / 4 + dict.values.length);
    for (let i = 0; i < count; i++) writer.put(dict.indices[i] as number, width);
    writer.finish();
  }
  return payload;
}

export function decodeFixedDict(payload: Uint8Array, count: number, bytes: ValueBytes, dst: Uint32Array, what: string): void {
  if (payload.length < DICT_HEADER_BYTES) throw new FormatError(`${what}: dictionary payload of ${payload.length} bytes is shorter than its header`);
  const entries = wordsOf(payload, 0, 1)[0] as number;
  const width = payload[4] as number;
  checkZeros(payload, 5, DICT_HEADER_BYTES, what);
  if (entries > FIXED_DICT_ENTRIES_MAX) throw new FormatError(`${what}: a dictionary holds at most ${FIXED_DICT_ENTRIES_MAX} entries, this one claims ${entries}`);
  if (count > 0 && entries === 0) throw new FormatError(`${what}: ${count} values index an empty dictionary`);
  checkIndexWidth(width, entries, what);
  const expected = dictPayloadBytes(count, entries, bytes, width);
  if (payload.length !== expected) throw new FormatError(`${what}: ${count} indices into ${entries} entries take ${expected} payload bytes, got ${payload.length}`);
  const per = bytes / 4;
  const values = wordsOf(payload, DICT_HEADER_BYTES, entries * per);
  if (width === 0) {
    for (let i = 0; i < count; i++) {
      dst[i * per] = values[0] as number;
      if (per === 2) dst[i * per + 1] = values[1] as number;
    }
    return;
  }
  const indices = new Uint32Array(count);
  unpack32(wordsOf(payload, DICT_HEADER_BYTES + entries * bytes, packedWords(count, width)), count, width, indices);
  for (let i = 0; i < count; i++) {
    const index = indices[i] as number;
    if (index >= entries) throw new FormatError(`${what}: value ${i} indexes entry ${index} of a ${entries}-entry dictionary`);
    if (per === 1) {
      dst[i] = values[index] as number;
    } else {
      dst[2 * i] = values[2 * index] as number;
      dst[2 * i + 1] = values[2 * index + 1] as number;
    }
  }
}

/** Byte split (Parquet's BYTE_STREAM_SPLIT): helps a compressor see floats' exponent bytes together. */
export function encodeSplit(section: Uint8Array, count: number, bytes: ValueBytes | 16): Uint8Array {
  const out = new Uint8Array(count * bytes);
  for (let b = 0; b < bytes; b++) {
    const base = b * count;
    for (let i = 0; i < count; i++) out[base + i] = section[i * bytes + b] as number;
  }
  return out;
}

export function decodeSplit(payload: Uint8Array, count: number, bytes: ValueBytes | 16, dst: Uint8Array, what: string): void {
  if (payload.length !== count * bytes) throw new FormatError(`${what}: ${count} split values take ${count * bytes} bytes, got ${payload.length}`);
  for (let b = 0; b < bytes; b++) {
    const base = b * count;
    for (let i = 0; i < count; i++) dst[i * bytes + b] = payload[base + i] as number;
  }
}
