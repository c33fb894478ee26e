/**
 * Plain stream -> sections container, choosing per section. For each section the candidates
 * that can win are built whole (stripes are small: a section is at most a stripe's column), each
 * is tried with zstd, and the smallest stored form wins; zstd is kept only where it saves at
 * least an eighth, so a reader does not pay a decompression (a pool round trip, 100-300 MB/s
 * here) for a few bytes, and where it saves at least 1/64 of the whole stream (the lengths of a
 * large list stream are not worth a round trip). The container is kept only when it saves at least an eighth of the
 * plain stream too: a plain stream decodes in place, a container is rebuilt (a copy at least).
 *
 * Candidates per section:
 *   validity, bool                 raw
 *   integers (int32/int64, date,   frame of reference, delta (exact and byte-aligned widths:
 *   timestamp, id_list ids)          zstd finds more in whole bytes), dictionary when a
 *                                    sample of the first values shows few distinct ones
 *   floats (float, double,         raw, byte split, dictionary (low cardinality)
 *   float_list, scores)
 *   offsets                        lengths, bit-packed (exact and byte-aligned)
 *   string, bytes                  a dictionary when the sample shows few distinct values, else
 *                                    lengths + raw bytes
 *   decimal                        the integer candidates over the low 64 bits when every value
 *                                    fits them (narrow128.ts), else raw and byte split
 *   string_list                    lengths for the lists; its strings as a string column's
 */
import { type ColumnType, kindOf } from '../../../protocol/index.js';
import { FormatError } from '../format-error.js';
import { STREAM_HEADER_BYTES, layoutOf, readHeader, typeLayoutOf } from '../stream-layout.js';
import { Codec, Transform, type StoredSection, type TransformId, containerBytes, writeContainer } from './container.js';
import { DECODED_STREAM_BYTES_MAX } from './decode.js';
import {
  type ValueBytes,
  buildFixedDictionary,
  encodeDelta,
  encodeFixedDict,
  encodeFor,
  encodeSplit,
  indexWidth,
  intRanges,
} from './fixed-transforms.js';
import { narrow128 } from './narrow128.js';
import { wordsOf } from './payload.js';
import { buildStringDictionary, encodeLengths, encodeStringDictIndices, encodeStringDictValues, lengthsOf, lengthsWidth } from './var-transforms.js';
import { zstdCompress } from './zstd.js';

export interface SectionsOptions {
  /** zstd level for the sections that compress. */
  readonly level: number;
  /** The plain stream's length (set by encodeSections). */
  readonly streamBytes?: number;
}

/** Values looked at to decide whether a dictionary could pay. */
const DICT_SAMPLE_VALUES = 4096;
/** A dictionary is tried when the sample has at most this share of distinct values. */
const DICT_SAMPLE_DISTINCT_SHARE = 0.25;
/** Payloads smaller than this are not worth a zstd frame (and a pool round trip to decode). */
const ZSTD_MIN_PAYLOAD_BYTES = 512;
/** zstd must save at least 1/ZSTD_MIN_SAVING_DIVISOR of a payload to be kept (recsys floats save ~1/10: kept plain, decoded in place). */
const ZSTD_MIN_SAVING_DIVISOR = 8;
/**
 * zstd must also save at least 1/ZSTD_MIN_STREAM_SAVING_DIVISOR of the whole plain stream: the
 * lengths of a 1 MiB id_list stream (4 KiB) are not worth a pool round trip on every read.
 */
const ZSTD_MIN_STREAM_SAVING_DIVISOR = 64;
/** The container must save at least 1/CONTAINER_MIN_SAVING_DIVISOR of the plain stream to be kept. */
const CONTAINER_MIN_SAVING_DIVISOR = 8;

interface Candidate {
  readonly transform: TransformId;
  readonly payload: Uint8Array;
  /**
   * Whether zstd is tried on it. Not for the forms zstd is known to do worse on than a sibling
   * (floats unsplit, integers at a width that is not whole bytes): a zstd call costs a pool
   * round trip, and choosing is most of a writer's encoding time.
   */
  readonly tryZstd?: boolean;
}

/** The container for a plain stream, or undefined when it would not be smaller. */
export async function encodeSections(type: ColumnType, plain: Uint8Array, options: SectionsOptions): Promise<Uint8Array | undefined> {
  if (plain.length > DECODED_STREAM_BYTES_MAX || plain.length < STREAM_HEADER_BYTES) return undefined;
  const { rows, nulls } = readHeader(plain);
  const { shape, width } = typeLayoutOf(type);
  let childCount = 0;
  let dataCount = 0;
  if (shape === 'offsets' || shape === 'pairs' || shape === 'strings') {
    const main = layoutOf(type, rows, nulls, 0).main;
    childCount = wordsOf(plain, main + 4 * rows, 1)[0] as number;
  }
  if (shape === 'strings') {
    const child = layoutOf(type, rows, nulls, childCount).child;
    dataCount = wordsOf(plain, child + 4 * childCount, 1)[0] as number;
  }
  const layout = layoutOf(type, rows, nulls, childCount, dataCount);
  if (layout.end !== plain.length) throw new FormatError(`${type} plain stream of ${plain.length} bytes, its layout says ${layout.end}`);
  const floating = type === 'float' || type === 'double';
  options = { ...options, streamBytes: plain.length };

  const choices: Promise<StoredSection>[] = [];
  if (nulls > 0) choices.push(best([raw(plain, layout.validity, layout.bitmapBytes)], options));
  if (kindOf(type) === 'decimal') {
    choices.push(best(decimalCandidates(plain, layout.main, rows), options));
  } else if (shape === 'fixed') {
    const count = rows;
    choices.push(best(floating ? floatCandidates(plain, layout.main, count, width as ValueBytes) : intCandidates(plain, layout.main, count, width as ValueBytes), options));
  } else if (shape === 'bool') {
    choices.push(best([raw(plain, layout.main, layout.mainBytes)], options));
  } else {
    const offsetWords = wordsOf(plain, layout.main, rows + 1);
    const offsetsView = new Int32Array(offsetWords.buffer, offsetWords.byteOffset, rows + 1);
    const lengths = lengthsOf(offsetsView, rows);
    const lengthCandidates = widthVariants(lengthsWidth(lengths)).map((w) => ({ transform: Transform.LENGTHS, payload: encodeLengths(lengths, w), tryZstd: wholeBytes(w) }));
    if (type === 'string' || type === 'bytes') {
      const data = plain.subarray(layout.child, layout.child + childCount);
      choices.push(...(await stringSections(offsetsView, data, rows, lengthCandidates, options)));
    } else if (shape === 'strings') {
      choices.push(best(lengthCandidates, options));
      const stringWords = wordsOf(plain, layout.child, childCount + 1);
      const stringOffsets = new Int32Array(stringWords.buffer, stringWords.byteOffset, childCount + 1);
      const stringLengths = lengthsOf(stringOffsets, childCount);
      const stringLengthCandidates = widthVariants(lengthsWidth(stringLengths)).map((w) => ({ transform: Transform.LENGTHS, payload: encodeLengths(stringLengths, w), tryZstd: wholeBytes(w) }));
      choices.push(...(await stringSections(stringOffsets, plain.subarray(layout.data, layout.data + dataCount), childCount, stringLengthCandidates, options)));
    } else {
      choices.push(best(lengthCandidates, options));
      choices.push(best(type === 'float_list' ? floatCandidates(plain, layout.child, childCount, 4) : intCandidates(plain, layout.child, childCount, 8), options));
      if (shape === 'pairs') choices.push(best(floatCandidates(plain, layout.scores, childCount, 4), options));
    }
  }
  const sections = await Promise.all(choices);
  if (containerBytes(sections) > plain.length - plain.length / CONTAINER_MIN_SAVING_DIVISOR) return undefined;
  return writeContainer(type, { rows, nulls, childCount, sections });
}

/**
 * The offsets and bytes sections of `count` strings: few distinct values in the sample make a
 * dictionary (Parquet's and ORC's rule too), chosen without also compressing the lengths and
 * bytes to compare, which costs three zstd calls; else lengths and the raw bytes.
 */
async function stringSections(offsets: Int32Array, data: Uint8Array, count: number, lengthCandidates: readonly Candidate[], options: SectionsOptions): Promise<Promise<StoredSection>[]> {
  const dict = mayDictionary(offsets, data, count) ? buildStringDictionary(offsets, data, count, Math.max(1, Math.floor(count * DICT_SAMPLE_DISTINCT_SHARE))) : undefined;
  let indices: StoredSection;
  let values: StoredSection;
  if (dict !== undefined) {
    [indices, values] = await Promise.all([
      best(widthVariants(indexWidth(dict.entries)).map((w) => ({ transform: Transform.STRING_DICT_INDICES, payload: encodeStringDictIndices(dict, count, w), tryZstd: wholeBytes(w) })), options),
      best([{ transform: Transform.STRING_DICT_VALUES, payload: encodeStringDictValues(dict, data) }], options),
    ]);
  } else {
    [indices, values] = await Promise.all([best(lengthCandidates, options), best([{ transform: Transform.RAW, payload: data }], options)]);
  }
  return [Promise.resolve(indices), Promise.resolve(values)];
}

/** Transform of a narrowed decimal section for each 8-byte integer transform. */
const NARROWED: Readonly<Partial<Record<TransformId, TransformId>>> = {
  [Transform.FOR]: Transform.NARROW_FOR,
  [Transform.DELTA]: Transform.NARROW_DELTA,
  [Transform.DICT]: Transform.NARROW_DICT,
};

/** Decimal values: as int64s when they all fit 64 bits, else raw and byte split (which zstd may take). */
function decimalCandidates(plain: Uint8Array, offset: number, count: number): Candidate[] {
  const bytes = count * 16;
  const narrow = narrow128(wordsOf(plain, offset, count * 4), count);
  if (narrow !== undefined) {
    const narrowBytes = new Uint8Array(narrow.buffer);
    return intCandidates(narrowBytes, 0, count, 8).map((candidate) => ({ ...candidate, transform: NARROWED[candidate.transform] as TransformId }));
  }
  return [
    { ...raw(plain, offset, bytes), tryZstd: false },
    { transform: Transform.SPLIT, payload: encodeSplit(plain.subarray(offset, offset + bytes), count, 16) },
  ];
}

function raw(plain: Uint8Array, offset: number, bytes: number): Candidate {
  return { transform: Transform.RAW, payload: plain.subarray(offset, offset + bytes) };
}

/** The exact width and, when different, the next whole-byte width (the one zstd is tried on). */
function widthVariants(width: number): number[] {
  const aligned = Math.ceil(width / 8) * 8;
  return aligned === width ? [width] : [width, aligned];
}

function wholeBytes(width: number): boolean {
  return width % 8 === 0;
}

function section(plain: Uint8Array, offset: number, count: number, bytes: ValueBytes): Uint32Array {
  return wordsOf(plain, offset, (count * bytes) / 4);
}

function intCandidates(plain: Uint8Array, offset: number, count: number, bytes: ValueBytes): Candidate[] {
  const words = section(plain, offset, count, bytes);
  const ranges = intRanges(words, count, bytes);
  const candidates: Candidate[] = [];
  // Frame of reference or delta, whichever packs narrower (delta wins on sorted values).
  if (ranges.deltaWidth < ranges.forWidth) {
    for (const w of widthVariants(ranges.deltaWidth)) candidates.push({ transform: Transform.DELTA, payload: encodeDelta(words, count, bytes, ranges, w), tryZstd: wholeBytes(w) });
  } else {
    for (const w of widthVariants(ranges.forWidth)) candidates.push({ transform: Transform.FOR, payload: encodeFor(words, count, bytes, ranges.baseLow, ranges.baseHigh, w), tryZstd: wholeBytes(w) });
  }
  candidates.push(...dictionaryOf(words, count, bytes));
  return candidates;
}

function floatCandidates(plain: Uint8Array, offset: number, count: number, bytes: ValueBytes): Candidate[] {
  const split = encodeSplit(plain.subarray(offset, offset + count * bytes), count, bytes);
  const candidates: Candidate[] = [
    { ...raw(plain, offset, count * bytes), tryZstd: false },
    { transform: Transform.SPLIT, payload: split, tryZstd: entropySaving(split, count, bytes) >= 1 / ZSTD_MIN_SAVING_DIVISOR },
  ];
  candidates.push(...dictionaryOf(section(plain, offset, count, bytes), count, bytes));
  return candidates;
}

/** Byte planes' values sampled per plane for the entropy estimate. */
const ENTROPY_SAMPLE_BYTES = 16384;

/**
 * The share of a byte-split section an order-0 entropy coder would save, plane by plane (from
 * a sample of each): noisy floats (random mantissas) come out near 0, and zstd is not tried on
 * them. zstd's matches can do better than order 0 only on repeats, which a dictionary catches.
 */
function entropySaving(split: Uint8Array, count: number, bytes: ValueBytes): number {
  if (count === 0) return 0;
  const sample = Math.min(count, ENTROPY_SAMPLE_BYTES);
  const histogram = new Uint32Array(256);
  let bits = 0;
  for (let plane = 0; plane < bytes; plane++) {
    histogram.fill(0);
    const base = plane * count;
    for (let i = 0; i < sample; i++) {
      const value = split[base + i] as number;
      histogram[value] = (histogram[value] as number) + 1;
    }
    let entropy = 0;
    for (let v = 0; v < 256; v++) {
      const n = histogram[v] as number;
      if (n > 0) entropy -= (n / sample) * Math.log2(n / sample);
    }
    bits += entropy;
  }
  return 1 - bits / (8 * bytes);
}

/** Dictionary candidates (exact and whole-byte index widths), none when the sample has many distinct values. */
function dictionaryOf(words: Uint32Array, count: number, bytes: ValueBytes): Candidate[] {
  const sample = Math.min(count, DICT_SAMPLE_VALUES);
  if (sample < 16) return [];
  if (buildFixedDictionary(words, sample, bytes, Math.floor(sample * DICT_SAMPLE_DISTINCT_SHARE)) === undefined) return [];
  const dict = buildFixedDictionary(words, count, bytes, Math.max(1, Math.floor(count * DICT_SAMPLE_DISTINCT_SHARE)));
  if (dict === undefined) return [];
  return widthVariants(indexWidth(dict.entries)).map((w) => ({ transform: Transform.DICT, payload: encodeFixedDict(dict, count, bytes, w), tryZstd: wholeBytes(w) }));
}

function mayDictionary(offsets: Int32Array, data: Uint8Array, rows: number): boolean {
  const sample = Math.min(rows, DICT_SAMPLE_VALUES);
  if (sample < 16) return false;
  return buildStringDictionary(offsets, data, sample, Math.floor(sample * DICT_SAMPLE_DISTINCT_SHARE)) !== undefined;
}

/** The smallest stored form among the candidates, each with and without zstd. */
async function best(candidates: readonly Candidate[], options: SectionsOptions): Promise<StoredSection> {
  const forms = await Promise.all(candidates.map((candidate) => stored(candidate, options)));
  let winner = forms[0] as StoredSection;
  for (const form of forms) if (form.stored.length < winner.stored.length) winner = form;
  return winner;
}

async function stored(candidate: Candidate, options: SectionsOptions): Promise<StoredSection> {
  const { transform, payload } = candidate;
  const plainForm: StoredSection = { transform, codec: Codec.NONE, stored: payload, payloadBytes: payload.length };
  const streamSavingMin = (options.streamBytes ?? 0) / ZSTD_MIN_STREAM_SAVING_DIVISOR;
  if (payload.length < ZSTD_MIN_PAYLOAD_BYTES || payload.length <= streamSavingMin || candidate.tryZstd === false) return plainForm;
  const compressed = await zstdCompress(payload, options.level);
  const saved = payload.length - compressed.length;
  if (saved < payload.length / ZSTD_MIN_SAVING_DIVISOR || saved < streamSavingMin) return plainForm;
  return { transform, codec: Codec.ZSTD, stored: compressed, payloadBytes: payload.length };
}

