/**
 * Transforms of the sections of variable-length types (string, bytes, lists): offsets stored as
 * bit-packed lengths, and the dictionary of strings and bytes (distinct values once, then one
 * bit-packed index per row).
 *
 * Payloads (little-endian):
 *   LENGTHS              a FOR payload (fixed-transforms.ts) of rows lengths, 4-byte values
 *   STRING_DICT_INDICES  entries u32, width u8, 3 zero bytes, packed indices (one per row)
 *   STRING_DICT_VALUES   entries u32, value bytes u32, a FOR payload of entries lengths, the value bytes
 * A null row is an empty value, as in the plain stream.
 */
import { FormatError } from '../format-error.js';
import { BitWriter, packedWords, unpack32 } from './bit-pack.js';
import { FOR_HEADER_BYTES, checkIndexWidth, decodeFor, encodeFor, forPayloadBytes, indexWidth, intRanges } from './fixed-transforms.js';
import { checkZeros, wordsOf } from './payload.js';

export const STRING_DICT_INDEX_HEADER_BYTES = 8;
export const STRING_DICT_VALUES_HEADER_BYTES = 8;
/** Entries a string dictionary holds at most. */
export const STRING_DICT_ENTRIES_MAX = 1 << 16;

export function lengthsOf(offsets: Int32Array, rows: number): Uint32Array {
  const lengths = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) lengths[i] = (offsets[i + 1] as number) - (offsets[i] as number);
  return lengths;
}

/** Lengths bit-packed from their smallest; `width` at least the lengths' range width. */
export function encodeLengths(lengths: Uint32Array, width?: number): Uint8Array {
  const ranges = intRanges(lengths, lengths.length, 4);
  return encodeFor(lengths, lengths.length, 4, ranges.baseLow, 0, Math.max(width ?? 0, ranges.forWidth));
}

export function lengthsWidth(lengths: Uint32Array): number {
  return intRanges(lengths, lengths.length, 4).forWidth;
}

/** Rebuilds `rows + 1` offsets from a LENGTHS payload; they must end at exactly `childCount`. */
export function decodeLengths(payload: Uint8Array, rows: number, childCount: number, offsets: Int32Array, what: string): void {
  const lengths = new Uint32Array(rows);
  decodeFor(payload, rows, 4, lengths, what);
  let at = 0;
  offsets[0] = 0;
  for (let i = 0; i < rows; i++) {
    at += lengths[i] as number;
    if (at > childCount) throw new FormatError(`${what}: lengths add up past the ${childCount} child values the container holds`);
    offsets[i + 1] = at;
  }
  if (at !== childCount) throw new FormatError(`${what}: lengths add up to ${at}, the container holds ${childCount} child values`);
}

export interface StringDictionary {
  readonly entries: number;
  /** Per entry: where its first occurrence starts in the child bytes, and its length. */
  readonly starts: Int32Array;
  readonly lengths: Uint32Array;
  readonly valueBytes: number;
  /** Per row. */
  readonly indices: Uint32Array;
}

/** Builds the dictionary of `rows` values, or gives up (undefined) past `entriesMax` entries. */
export function buildStringDictionary(offsets: Int32Array, data: Uint8Array, rows: number, entriesMax: number): StringDictionary | undefined {
  const limit = Math.min(entriesMax, STRING_DICT_ENTRIES_MAX);
  const slots = new Int32Array(1 << (32 - Math.clz32(limit) + 1)).fill(-1);
  const mask = slots.length - 1;
  const starts = new Int32Array(limit);
  const lengths = new Uint32Array(limit);
  const hashes = new Int32Array(limit);
  const indices = new Uint32Array(rows);
  let entries = 0;
  let valueBytes = 0;
  for (let i = 0; i < rows; i++) {
    const start = offsets[i] as number;
    const end = offsets[i + 1] as number;
    const length = end - start;
    let hash = 0x811c9dc5 ^ length;
    for (let b = start; b < end; b++) hash = Math.imul(hash ^ (data[b] as number), 0x01000193);
    let slot = hash & mask;
    for (;;) {
      const entry = slots[slot] as number;
      if (entry < 0) {
        if (entries === limit) return undefined;
        slots[slot] = entries;
        starts[entries] = start;
        lengths[entries] = length;
        hashes[entries] = hash;
        valueBytes += length;
        indices[i] = entries++;
        break;
      }
      if (hashes[entry] === hash && lengths[entry] === length && sameBytes(data, starts[entry] as number, start, length)) {
        indices[i] = entry;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { entries, starts: starts.subarray(0, entries), lengths: lengths.subarray(0, entries), valueBytes, indices };
}

function sameBytes(data: Uint8Array, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (data[a + i] !== data[b + i]) return false;
  return true;
}

export function stringDictIndexBytes(rows: number, width: number): number {
  return STRING_DICT_INDEX_HEADER_BYTES + 4 * packedWords(rows, width);
}

/** `width` at least indexWidth(entries); a whole-byte width is what zstd is tried on. */
export function encodeStringDictIndices(dict: StringDictionary, rows: number, width = indexWidth(dict.entries)): Uint8Array {
  const payload = new Uint8Array(stringDictIndexBytes(rows, width));
  const out = new Uint32Array(payload.buffer);
  out[0] = dict.entries;
  payload[4] = width;
  if (width > 0) {
    const writer = new BitWriter(out, STRING_DICT_INDEX_HEADER_BYTES / 4);
    for (let i = 0; i < rows; i++) writer.put(dict.indices[i] as number, width);
    writer.finish();
  }
  return payload;
}

export function encodeStringDictValues(dict: StringDictionary, data: Uint8Array): Uint8Array {
  const lengths = encodeLengths(dict.lengths);
  const payload = new Uint8Array(STRING_DICT_VALUES_HEADER_BYTES + lengths.length + dict.valueBytes);
  const view = new DataView(payload.buffer);
  view.setUint32(0, dict.entries, true);
  view.setUint32(4, dict.valueBytes, true);
  payload.set(lengths, STRING_DICT_VALUES_HEADER_BYTES);
  let at = STRING_DICT_VALUES_HEADER_BYTES + lengths.length;
  for (let e = 0; e < dict.entries; e++) {
    const start = dict.starts[e] as number;
    const length = dict.lengths[e] as number;
    payload.set(data.subarray(start, start + length), at);
    at += length;
  }
  return payload;
}

/** A string dictionary's two payloads, checked, with its indices unpacked. */
interface ReadDictionary {
  readonly entries: number;
  readonly entryOffsets: Int32Array;
  readonly values: Uint8Array;
  readonly indices: Uint32Array;
}

function readStringDict(indexPayload: Uint8Array, valuesPayload: Uint8Array, rows: number, what: string): ReadDictionary {
  if (valuesPayload.length < STRING_DICT_VALUES_HEADER_BYTES + FOR_HEADER_BYTES) throw new FormatError(`${what}: dictionary values payload of ${valuesPayload.length} bytes is shorter than its headers`);
  const head = new DataView(valuesPayload.buffer, valuesPayload.byteOffset, STRING_DICT_VALUES_HEADER_BYTES);
  const entries = head.getUint32(0, true);
  const valueBytes = head.getUint32(4, true);
  if (entries > STRING_DICT_ENTRIES_MAX) throw new FormatError(`${what}: a dictionary holds at most ${STRING_DICT_ENTRIES_MAX} entries, this one claims ${entries}`);
  if (rows > 0 && entries === 0) throw new FormatError(`${what}: ${rows} rows index an empty dictionary`);
  const lengthsWidthStored = valuesPayload[STRING_DICT_VALUES_HEADER_BYTES + 8] as number;
  if (lengthsWidthStored > 32) throw new FormatError(`${what}: dictionary lengths of ${lengthsWidthStored} bits`);
  const lengthsBytes = forPayloadBytes(entries, lengthsWidthStored);
  const valuesAt = STRING_DICT_VALUES_HEADER_BYTES + lengthsBytes;
  if (valuesPayload.length !== valuesAt + valueBytes) {
    throw new FormatError(`${what}: a dictionary of ${entries} entries and ${valueBytes} value bytes takes ${valuesAt + valueBytes} bytes, got ${valuesPayload.length}`);
  }
  const entryOffsets = new Int32Array(entries + 1);
  decodeLengths(valuesPayload.subarray(STRING_DICT_VALUES_HEADER_BYTES, valuesAt), entries, valueBytes, entryOffsets, `${what} dictionary`);
  const values = valuesPayload.subarray(valuesAt);

  if (indexPayload.length < STRING_DICT_INDEX_HEADER_BYTES) throw new FormatError(`${what}: dictionary index payload of ${indexPayload.length} bytes is shorter than its header`);
  const indexEntries = wordsOf(indexPayload, 0, 1)[0] as number;
  const width = indexPayload[4] as number;
  checkZeros(indexPayload, 5, STRING_DICT_INDEX_HEADER_BYTES, what);
  if (indexEntries !== entries) throw new FormatError(`${what}: indices are into ${indexEntries} entries, the dictionary holds ${entries}`);
  checkIndexWidth(width, entries, what);
  const expected = stringDictIndexBytes(rows, width);
  if (indexPayload.length !== expected) throw new FormatError(`${what}: ${rows} indices of ${width} bits take ${expected} payload bytes, got ${indexPayload.length}`);

  const indices = new Uint32Array(rows);
  unpack32(wordsOf(indexPayload, STRING_DICT_INDEX_HEADER_BYTES, packedWords(rows, width)), rows, width, indices);
  return { entries, entryOffsets, values, indices };
}

/** Fills `rows + 1` offsets from the indices; they may add up to at most `bytesMax`. Returns the total. */
function dictOffsets(dict: ReadDictionary, rows: number, offsets: Int32Array, bytesMax: number, what: string): number {
  const { entries, entryOffsets, indices } = dict;
  let at = 0;
  offsets[0] = 0;
  for (let i = 0; i < rows; i++) {
    const index = indices[i] as number;
    if (index >= entries) throw new FormatError(`${what}: row ${i} indexes entry ${index} of a ${entries}-entry dictionary`);
    at += (entryOffsets[index + 1] as number) - (entryOffsets[index] as number);
    if (at > bytesMax) throw new FormatError(`${what}: dictionary values add up past the ${bytesMax} bytes the container holds`);
    offsets[i + 1] = at;
  }
  return at;
}

function dictValuesInto(dict: ReadDictionary, rows: number, offsets: Int32Array, child: Uint8Array): void {
  const { entryOffsets, values, indices } = dict;
  for (let i = 0; i < rows; i++) {
    const index = indices[i] as number;
    let from = entryOffsets[index] as number;
    const to = entryOffsets[index + 1] as number;
    let out = offsets[i] as number;
    if (to - from > 32) {
      child.set(values.subarray(from, to), out);
      continue;
    }
    while (from < to) child[out++] = values[from++] as number;
  }
}

/**
 * Rebuilds the plain offsets and child bytes of `rows` rows from the two dictionary payloads;
 * the values must add up to exactly `childCount` bytes.
 */
export function decodeStringDict(
  indexPayload: Uint8Array,
  valuesPayload: Uint8Array,
  rows: number,
  childCount: number,
  offsets: Int32Array,
  child: Uint8Array,
  what: string,
): void {
  const dict = readStringDict(indexPayload, valuesPayload, rows, what);
  const at = dictOffsets(dict, rows, offsets, childCount, what);
  if (at !== childCount) throw new FormatError(`${what}: dictionary values add up to ${at} bytes, the container holds ${childCount}`);
  dictValuesInto(dict, rows, offsets, child);
}

/**
 * The same where nothing records how many bytes the values add up to (a string_list's strings):
 * fills `rows + 1` offsets and returns the bytes, refusing more than `bytesMax`.
 */
export function decodeStringDictAnySize(indexPayload: Uint8Array, valuesPayload: Uint8Array, rows: number, bytesMax: number, offsets: Int32Array, what: string): Uint8Array {
  const dict = readStringDict(indexPayload, valuesPayload, rows, what);
  const child = new Uint8Array(dictOffsets(dict, rows, offsets, bytesMax, what));
  dictValuesInto(dict, rows, offsets, child);
  return child;
}
