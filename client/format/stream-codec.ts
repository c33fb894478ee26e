/**
 * The column stream codec: one column of one stripe as bytes, and back. Streams are what a
 * training reader fetches, so decoding is built to be nearly free: the layout (see
 * stream-layout.ts) is Arrow's own buffers in a fixed order, and the decoder hands out typed
 * arrays that view the fetched bytes in place whenever they are aligned. The encoder normalises
 * whatever Arrow hands it (slices, chunked vectors, lists whose offsets do not start at 0, null
 * slots holding junk) so that equal columns encode to equal bytes and equal checksums.
 *
 * The decoder trusts nothing: it checks magic, version, type, row count, null count and every
 * size against the stream's length before it reads, and raises FormatError on any mismatch.
 * Decoded data may share memory with the input bytes: do not reuse the input buffer while the
 * decoded data is alive.
 */
import * as arrow from 'apache-arrow';
import { xxh64 } from '../../erasure/index.js';
import { COLUMN_TYPES, type ColumnType, ENCODING_PLAIN, type DecimalParams, decimalParamsOf, formatDecimal, pow10 } from '../../protocol/index.js';
import { chunksOf, getBit, isValid, listChild, nullCountOf, setBit, validityOf, type Validity } from './arrow-access.js';
import { arrowTypeMatches, arrowTypeOf } from './arrow-types.js';
import { DECIMAL_WORDS, decimalAt, withinBound } from './decimal128.js';
import { FormatError } from './format-error.js';
import {
  STREAM_CHILD_COUNT_MAX,
  STREAM_HEADER_BYTES,
  STREAM_MAGIC,
  STREAM_ROWS_MAX,
  STREAM_VERSION,
  type StreamLayout,
  layoutOf,
  readHeader,
  typeCodeOf,
  typeLayoutOf,
  writeHeader,
} from './stream-layout.js';


/** A column stream ready to be placed in a block, with what the stripe manifest records about it. */
export interface EncodedStream {
  readonly bytes: Uint8Array;
  readonly encoding: number;
  readonly nulls: number;
  /**
   * Smallest and largest non-null, non-NaN value, for float, double, int32, int64, bool (as 0
   * and 1), timestamp (microseconds), date (days) and decimal (the value as a double rounded
   * outward: min down, max up, so pruning never skips a match); absent when there is none. An
   * int64 or timestamp beyond 2^53 in magnitude is a decimal string.
   */
  readonly min?: number | string;
  readonly max?: number | string;
  /** xxh64 of `bytes`. */
  readonly checksum: bigint;
}

// The format and Arrow are little-endian; typed-array views over stream bytes need a
// little-endian host.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('the Granary stripe format needs a little-endian host');
}

const INT64_SAFE_MAX = 2n ** 53n;

interface Stats {
  readonly min?: number | string;
  readonly max?: number | string;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes one column of one stripe. `alloc` provides the stream's bytes, which must be zeroed
 * (padding and null slots stay zero); writers pass memory they reuse.
 */
export function encodeStream(type: ColumnType, data: arrow.Data | arrow.Vector, alloc: (bytes: number) => Uint8Array = zeroedBytes): EncodedStream {
  const chunks = chunksOf(data);
  const expected = arrowTypeOf(type);
  for (const chunk of chunks) {
    if (!arrowTypeMatches(expected, chunk.type)) {
      throw new FormatError(`column type ${type} is Arrow ${String(expected)}, got ${String(chunk.type)}`);
    }
  }
  let rows = 0;
  let nulls = 0;
  for (const chunk of chunks) {
    rows += chunk.length;
    nulls += nullCountOf(chunk);
  }
  if (rows > STREAM_ROWS_MAX) {
    throw new FormatError(`a stream holds at most ${STREAM_ROWS_MAX} rows, got ${rows}`);
  }
  const { shape } = typeLayoutOf(type);
  const childCount = shape === 'offsets' || shape === 'pairs' || shape === 'strings' ? countChildren(chunks) : 0;
  const dataCount = shape === 'strings' ? countListStringBytes(chunks) : 0;
  if (childCount > STREAM_CHILD_COUNT_MAX || dataCount > STREAM_CHILD_COUNT_MAX) {
    throw new FormatError(`${type} stream: at most ${STREAM_CHILD_COUNT_MAX} values fit, got ${Math.max(childCount, dataCount)}`);
  }
  const layout = layoutOf(type, rows, nulls, childCount, dataCount);
  const stream = alloc(layout.end);
  writeHeader(stream, typeCodeOf(type), rows, nulls);
  if (nulls > 0) writeValidity(chunks, stream.subarray(layout.validity, layout.validity + layout.bitmapBytes));
  let stats: Stats = {};
  const decimal = decimalParamsOf(type);
  if (decimal !== undefined) {
    stats = writeDecimals(type, decimal, chunks, stream, layout, rows);
  } else if (shape === 'fixed') {
    stats = type === 'int64' || type === 'timestamp' ? writeInt64(chunks, stream, layout, rows) : writeNumbers(type, chunks, stream, layout, rows);
  } else if (shape === 'bool') {
    stats = writeBool(chunks, stream.subarray(layout.main, layout.main + layout.mainBytes));
  } else if (shape === 'strings') {
    writeStringLists(chunks, stream, layout, rows, childCount);
  } else {
    writeOffsetsAndChildren(type, chunks, stream, layout, rows, childCount);
  }
  return { bytes: stream, encoding: ENCODING_PLAIN, nulls, ...stats, checksum: xxh64(stream) };
}

function zeroedBytes(bytes: number): Uint8Array {
  return new Uint8Array(bytes);
}

function writeValidity(chunks: readonly arrow.Data[], bitmap: Uint8Array): void {
  let base = 0;
  for (const chunk of chunks) {
    const validity = validityOf(chunk);
    for (let i = 0; i < chunk.length; i++) {
      if (isValid(validity, i)) setBit(bitmap, base + i);
    }
    base += chunk.length;
  }
}

function writeInt64(chunks: readonly arrow.Data[], stream: Uint8Array, layout: StreamLayout, rows: number): Stats {
  const out = new BigInt64Array(stream.buffer, stream.byteOffset + layout.main, rows);
  let min: bigint | undefined;
  let max: bigint | undefined;
  let base = 0;
  for (const chunk of chunks) {
    const values = chunk.values as BigInt64Array;
    const validity = validityOf(chunk);
    out.set(values.subarray(0, chunk.length), base);
    for (let i = 0; i < chunk.length; i++) {
      if (!isValid(validity, i)) {
        out[base + i] = 0n;
        continue;
      }
      const value = values[i] as bigint;
      if (min === undefined || value < min) min = value;
      if (max === undefined || value > max) max = value;
    }
    base += chunk.length;
  }
  return min === undefined || max === undefined ? {} : { min: int64Stat(min), max: int64Stat(max) };
}

function int64Stat(value: bigint): number | string {
  return value >= -INT64_SAFE_MAX && value <= INT64_SAFE_MAX ? Number(value) : value.toString();
}

function writeNumbers(
  type: ColumnType,
  chunks: readonly arrow.Data[],
  stream: Uint8Array,
  layout: StreamLayout,
  rows: number,
): Stats {
  const at = stream.byteOffset + layout.main;
  const out =
    type === 'float'
      ? new Float32Array(stream.buffer, at, rows)
      : type === 'double'
        ? new Float64Array(stream.buffer, at, rows)
        : new Int32Array(stream.buffer, at, rows);
  let min = Infinity;
  let max = -Infinity;
  let seen = false;
  let base = 0;
  for (const chunk of chunks) {
    const values = chunk.values as Float32Array | Float64Array | Int32Array;
    const validity = validityOf(chunk);
    out.set(values.subarray(0, chunk.length), base);
    for (let i = 0; i < chunk.length; i++) {
      if (!isValid(validity, i)) {
        out[base + i] = 0;
        continue;
      }
      const value = values[i] as number;
      if (Number.isNaN(value)) continue;
      seen = true;
      if (value < min) min = value;
      if (value > max) max = value;
    }
    base += chunk.length;
  }
  // Stats travel as JSON numbers, which have no infinities: a stripe holding one keeps no min/max
  // (it is then never pruned, which is always correct).
  return seen && Number.isFinite(min) && Number.isFinite(max) ? { min, max } : {};
}

/**
 * Decimal128 values as they are, null slots zeroed. Each value is checked against the column's
 * precision: a writer handed Arrow data of another p's range (a library user's batch) must not
 * store a value the column's type cannot hold.
 */
function writeDecimals(type: ColumnType, { precision, scale }: DecimalParams, chunks: readonly arrow.Data[], stream: Uint8Array, layout: StreamLayout, rows: number): Stats {
  const out = new Uint32Array(stream.buffer, stream.byteOffset + layout.main, rows * DECIMAL_WORDS);
  const bound = pow10(precision);
  let min: number | bigint | undefined;
  let max: number | bigint | undefined;
  let base = 0;
  for (const chunk of chunks) {
    const values = chunk.values as Uint32Array;
    const validity = validityOf(chunk);
    for (let i = 0; i < chunk.length; i++) {
      if (!isValid(validity, i)) continue;
      const value = decimalAt(values, i);
      if (!withinBound(value, bound)) {
        throw new FormatError(`${type} value at row ${base + i} has ${String(value).replace('-', '').length} digits (unscaled ${String(value)}), more than the column's precision ${precision}`);
      }
      out.set(values.subarray(i * DECIMAL_WORDS, (i + 1) * DECIMAL_WORDS), (base + i) * DECIMAL_WORDS);
      if (min === undefined || value < min) min = value;
      if (max === undefined || value > max) max = value;
    }
    base += chunk.length;
  }
  if (min === undefined || max === undefined) return {};
  return { min: decimalStat(min, scale, 'down'), max: decimalStat(max, scale, 'up') };
}

/**
 * A decimal as a double one step outward from the nearest: Number() of its text is the nearest
 * double, off by less than one step, so the next one out is a bound on the safe side.
 */
function decimalStat(value: number | bigint, scale: number, direction: 'down' | 'up'): number {
  const nearest = Number(formatDecimal(BigInt(value), scale));
  const bits = new Float64Array([nearest]);
  const word = new BigInt64Array(bits.buffer);
  if (nearest === 0) return direction === 'down' ? -Number.MIN_VALUE : Number.MIN_VALUE;
  const away = (nearest > 0) === (direction === 'up');
  word[0] = (word[0] as bigint) + (away ? 1n : -1n);
  return bits[0] as number;
}

function writeBool(chunks: readonly arrow.Data[], bits: Uint8Array): Stats {
  let sawTrue = false;
  let sawFalse = false;
  let base = 0;
  for (const chunk of chunks) {
    const values = chunk.values as Uint8Array;
    const validity = validityOf(chunk);
    for (let i = 0; i < chunk.length; i++) {
      if (!isValid(validity, i)) continue;
      if (getBit(values, chunk.offset + i)) {
        setBit(bits, base + i);
        sawTrue = true;
      } else {
        sawFalse = true;
      }
    }
    base += chunk.length;
  }
  if (!sawTrue && !sawFalse) return {};
  return { min: sawFalse ? 0 : 1, max: sawTrue ? 1 : 0 };
}

/** Child bytes or elements the stream will hold: those of non-null rows only. */
function countChildren(chunks: readonly arrow.Data[]): number {
  let count = 0;
  for (const chunk of chunks) {
    const offsets = chunk.valueOffsets as Int32Array;
    const validity = validityOf(chunk);
    if (validity === null) {
      count += (offsets[chunk.length] as number) - (offsets[0] as number);
      continue;
    }
    for (let i = 0; i < chunk.length; i++) {
      if (isValid(validity, i)) count += (offsets[i + 1] as number) - (offsets[i] as number);
    }
  }
  return count;
}

/** Bytes of the strings of the non-null rows of string_list chunks. */
function countListStringBytes(chunks: readonly arrow.Data[]): number {
  let bytes = 0;
  for (const chunk of chunks) {
    const offsets = chunk.valueOffsets as Int32Array;
    const stringOffsets = listChild(chunk).valueOffsets as Int32Array;
    const validity = validityOf(chunk);
    for (let i = 0; i < chunk.length; i++) {
      if (!isValid(validity, i)) continue;
      bytes += (stringOffsets[offsets[i + 1] as number] as number) - (stringOffsets[offsets[i] as number] as number);
    }
  }
  return bytes;
}

/**
 * string_list rows: list offsets rebased and null rows emptied, string offsets rebased to the
 * stream's bytes, and each row's strings copied as one run (a row's strings are contiguous).
 */
function writeStringLists(chunks: readonly arrow.Data[], stream: Uint8Array, layout: StreamLayout, rows: number, childCount: number): void {
  const listOffsets = new Int32Array(stream.buffer, stream.byteOffset + layout.main, rows + 1);
  const stringOffsets = new Int32Array(stream.buffer, stream.byteOffset + layout.child, childCount + 1);
  const out = stream.subarray(layout.data, layout.data + layout.dataBytes);
  let row = 0;
  let next = 0;
  let at = 0;
  for (const chunk of chunks) {
    const offsets = chunk.valueOffsets as Int32Array;
    const strings = listChild(chunk);
    const inOffsets = strings.valueOffsets as Int32Array;
    const bytes = strings.values as Uint8Array;
    const validity = validityOf(chunk);
    for (let i = 0; i < chunk.length; i++, row++) {
      if (isValid(validity, i)) {
        const first = offsets[i] as number;
        const end = offsets[i + 1] as number;
        assertNoNulls(strings, first, end - first, 'string_list string');
        const from = inOffsets[first] as number;
        for (let j = first; j < end; j++) stringOffsets[++next] = at + (inOffsets[j + 1] as number) - from;
        const to = inOffsets[end] as number;
        out.set(bytes.subarray(from, to), at);
        at += to - from;
      }
      listOffsets[row + 1] = next;
    }
  }
  if (next !== childCount || at !== layout.dataBytes) throw new Error(`copied ${next} strings of ${at} bytes, counted ${childCount} of ${layout.dataBytes}`);
}

/** Copies `count` child values from input position `from` to output position `to`. */
type ChildCopy = (from: number, to: number, count: number) => void;

function writeOffsetsAndChildren(
  type: ColumnType,
  chunks: readonly arrow.Data[],
  stream: Uint8Array,
  layout: StreamLayout,
  rows: number,
  childCount: number,
): void {
  const offsets = new Int32Array(stream.buffer, stream.byteOffset + layout.main, rows + 1);
  const childAt = stream.byteOffset + layout.child;
  let copyOf: (chunk: arrow.Data) => ChildCopy;
  if (type === 'string' || type === 'bytes') {
    const out = stream.subarray(layout.child, layout.child + childCount);
    copyOf = (chunk) => {
      const values = chunk.values as Uint8Array;
      return (from, to, count) => out.set(values.subarray(from, from + count), to);
    };
  } else if (type === 'id_list' || type === 'float_list') {
    const out =
      type === 'id_list' ? new BigInt64Array(stream.buffer, childAt, childCount) : new Float32Array(stream.buffer, childAt, childCount);
    copyOf = (chunk) => {
      const child = listChild(chunk);
      const values = child.values as BigInt64Array | Float32Array;
      return (from, to, count) => {
        assertNoNulls(child, from, count, `${type} value`);
        // The type check in encodeStream makes `values` and `out` the same array type.
        (out as Float32Array).set(values.subarray(from, from + count) as Float32Array, to);
      };
    };
  } else {
    const ids = new BigInt64Array(stream.buffer, childAt, childCount);
    const scores = new Float32Array(stream.buffer, stream.byteOffset + layout.scores, childCount);
    copyOf = (chunk) => {
      const pairs = listChild(chunk);
      const [idData, scoreData] = pairs.children;
      if (idData === undefined || scoreData === undefined) throw new FormatError('id_score_list pairs need an id and a score child');
      const idValues = idData.values as BigInt64Array;
      const scoreValues = scoreData.values as Float32Array;
      return (from, to, count) => {
        assertNoNulls(pairs, from, count, 'id_score_list pair');
        assertNoNulls(idData, from, count, 'id_score_list id');
        assertNoNulls(scoreData, from, count, 'id_score_list score');
        ids.set(idValues.subarray(from, from + count), to);
        scores.set(scoreValues.subarray(from, from + count), to);
      };
    };
  }
  let rowBase = 0;
  let childBase = 0;
  for (const chunk of chunks) {
    childBase = copyRanges(chunk, offsets, rowBase, childBase, copyOf(chunk));
    rowBase += chunk.length;
  }
  if (childBase !== childCount) throw new Error(`copied ${childBase} child values, counted ${childCount}`);
}

/**
 * Writes one chunk's offsets, rebased to start at `childBase` and with null rows emptied, and
 * copies the child values of its non-null rows in as few contiguous runs as the input allows.
 * Returns the next free child position.
 */
function copyRanges(chunk: arrow.Data, outOffsets: Int32Array, rowBase: number, childBase: number, copy: ChildCopy): number {
  const offsets = chunk.valueOffsets as Int32Array;
  const validity: Validity | null = validityOf(chunk);
  let next = childBase;
  let runFrom = offsets[0] as number;
  let runTo = next;
  for (let i = 0; i < chunk.length; i++) {
    if (isValid(validity, i)) {
      const start = offsets[i] as number;
      if (start !== runFrom + (next - runTo)) {
        if (next > runTo) copy(runFrom, runTo, next - runTo);
        runFrom = start;
        runTo = next;
      }
      next += (offsets[i + 1] as number) - start;
    }
    outOffsets[rowBase + i + 1] = next;
  }
  if (next > runTo) copy(runFrom, runTo, next - runTo);
  return next;
}

function assertNoNulls(data: arrow.Data, from: number, count: number, what: string): void {
  const validity = validityOf(data);
  if (validity === null) return;
  for (let i = from; i < from + count; i++) {
    if (!isValid(validity, i)) {
      throw new FormatError(`${what} element ${i} is null; Granary lists hold no null elements`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

export function decodeStream(type: ColumnType, bytes: Uint8Array, rows: number): arrow.Data {
  if (!Number.isInteger(rows) || rows < 0 || rows > STREAM_ROWS_MAX) {
    throw new FormatError(`rows must be an integer in 0..${STREAM_ROWS_MAX}, got ${rows}`);
  }
  if (bytes.length < STREAM_HEADER_BYTES) {
    throw new FormatError(`${type} stream: it starts with a ${STREAM_HEADER_BYTES}-byte header, got ${bytes.length} bytes`);
  }
  const header = readHeader(bytes);
  if (header.magic !== STREAM_MAGIC) {
    throw new FormatError(
      `not a Granary column stream: magic is 0x${header.magic.toString(16)}, expected 0x${STREAM_MAGIC.toString(16)} ('GRSM')`,
    );
  }
  if (header.version !== STREAM_VERSION) {
    throw new FormatError(`stream format version ${header.version} is not supported (this reader knows ${STREAM_VERSION})`);
  }
  const typeCode = typeCodeOf(type);
  if (header.typeCode !== typeCode) {
    const stored = COLUMN_TYPES[header.typeCode] ?? 'an unknown type';
    throw new FormatError(`stream holds ${stored} (type code ${header.typeCode}), expected ${type} (type code ${typeCode})`);
  }
  if (header.rows !== rows) {
    throw new FormatError(`${type} stream: it holds ${header.rows} rows, expected ${rows}`);
  }
  const nulls = header.nulls;
  if (nulls > rows) throw new FormatError(`${type} stream: it claims ${nulls} nulls in ${rows} rows`);

  const { shape } = typeLayoutOf(type);
  let layout = layoutOf(type, rows, nulls, 0);
  const knownEnd = shape === 'fixed' || shape === 'bool' ? layout.end : layout.main + layout.mainBytes;
  if (bytes.length < knownEnd) throw wrongLength(type, rows, nulls, knownEnd, bytes.length, 'at least ');
  const nullBitmap = nulls > 0 ? readValidity(type, bytes, layout, rows, nulls) : undefined;
  const arrowType = arrowTypeOf(type);

  if (shape === 'fixed' || shape === 'bool') {
    if (bytes.length !== layout.end) throw wrongLength(type, rows, nulls, layout.end, bytes.length, '');
    const data =
      shape === 'bool'
        ? bytes.subarray(layout.main, layout.main + layout.mainBytes)
        : type === 'float'
          ? section(Float32Array, bytes, layout.main, rows)
          : type === 'double'
            ? section(Float64Array, bytes, layout.main, rows)
            : type === 'int32' || type === 'date'
              ? section(Int32Array, bytes, layout.main, rows)
              : arrow.DataType.isDecimal(arrowType)
                ? section(Uint32Array, bytes, layout.main, rows * DECIMAL_WORDS)
                : section(BigInt64Array, bytes, layout.main, rows);
    return arrow.makeData({ type: arrowType as arrow.Float32, length: rows, nullCount: nulls, nullBitmap, data: data as Float32Array });
  }

  const valueOffsets = section(Int32Array, bytes, layout.main, rows + 1);
  const childCount = checkOffsets(type, valueOffsets, rows);
  if (shape === 'strings') return decodeStringLists(type, bytes, rows, nulls, nullBitmap, valueOffsets, childCount);
  layout = layoutOf(type, rows, nulls, childCount);
  if (bytes.length !== layout.end) throw wrongLength(type, rows, nulls, layout.end, bytes.length, '');

  if (type === 'string' || type === 'bytes') {
    const data = bytes.subarray(layout.child, layout.child + childCount);
    return arrow.makeData({ type: arrowType as arrow.Utf8, length: rows, nullCount: nulls, nullBitmap, valueOffsets, data });
  }
  const listType = arrowType as arrow.List;
  let child: arrow.Data;
  if (type === 'id_list') {
    child = arrow.makeData({ type: listType.valueType as arrow.Int64, length: childCount, nullCount: 0, data: section(BigInt64Array, bytes, layout.child, childCount) });
  } else if (type === 'float_list') {
    child = arrow.makeData({ type: listType.valueType as arrow.Float32, length: childCount, nullCount: 0, data: section(Float32Array, bytes, layout.child, childCount) });
  } else {
    const pairType = listType.valueType as arrow.Struct;
    const [idField, scoreField] = pairType.children as [arrow.Field<arrow.Int64>, arrow.Field<arrow.Float32>];
    const ids = arrow.makeData({ type: idField.type, length: childCount, nullCount: 0, data: section(BigInt64Array, bytes, layout.child, childCount) });
    const scores = arrow.makeData({ type: scoreField.type, length: childCount, nullCount: 0, data: section(Float32Array, bytes, layout.scores, childCount) });
    child = arrow.makeData({ type: pairType, length: childCount, nullCount: 0, children: [ids, scores] });
  }
  return arrow.makeData({ type: listType, length: rows, nullCount: nulls, nullBitmap, valueOffsets, child });
}

/** The string offsets and bytes of a string_list stream, both checked before they are viewed. */
function decodeStringLists(
  type: ColumnType,
  bytes: Uint8Array,
  rows: number,
  nulls: number,
  nullBitmap: Uint8Array | undefined,
  valueOffsets: Int32Array,
  childCount: number,
): arrow.Data {
  let layout = layoutOf(type, rows, nulls, childCount);
  const stringsEnd = layout.child + layout.childBytes;
  if (bytes.length < stringsEnd) throw wrongLength(type, rows, nulls, stringsEnd, bytes.length, 'at least ');
  const stringOffsets = section(Int32Array, bytes, layout.child, childCount + 1);
  const dataCount = checkOffsets(type, stringOffsets, childCount);
  layout = layoutOf(type, rows, nulls, childCount, dataCount);
  if (bytes.length !== layout.end) throw wrongLength(type, rows, nulls, layout.end, bytes.length, '');
  const listType = arrowTypeOf(type) as arrow.List<arrow.Utf8>;
  const child = arrow.makeData({
    type: listType.valueType,
    length: childCount,
    nullCount: 0,
    valueOffsets: stringOffsets,
    data: bytes.subarray(layout.data, layout.data + dataCount),
  });
  return arrow.makeData({ type: listType, length: rows, nullCount: nulls, nullBitmap, valueOffsets, child });
}

function wrongLength(type: ColumnType, rows: number, nulls: number, expected: number, actual: number, atLeast: string): FormatError {
  const what = actual < expected ? 'truncated' : 'too long';
  return new FormatError(
    `${type} stream: ${rows} rows with ${nulls} nulls take ${atLeast}${expected} bytes, got ${actual} (${what})`,
  );
}

/** Set bits of every byte value. */
const BITS_SET = Uint8Array.from({ length: 256 }, (_, byte) => {
  let count = 0;
  for (let b = byte; b !== 0; b >>= 1) count += b & 1;
  return count;
});

function readValidity(type: ColumnType, bytes: Uint8Array, layout: StreamLayout, rows: number, nulls: number): Uint8Array {
  const bitmap = bytes.subarray(layout.validity, layout.validity + layout.bitmapBytes);
  // A byte at a time, not a bit at a time: this runs on every stream with nulls a scan reads.
  let valid = 0;
  const wholeBytes = rows >> 3;
  for (let i = 0; i < wholeBytes; i++) valid += BITS_SET[bitmap[i] as number] as number;
  if ((rows & 7) !== 0) valid += BITS_SET[(bitmap[wholeBytes] as number) & ((1 << (rows & 7)) - 1)] as number;
  if (rows - valid !== nulls) {
    throw new FormatError(`${type} stream: the validity bitmap marks ${rows - valid} nulls, its header says ${nulls}`);
  }
  return bitmap;
}

/** Checks that offsets start at 0 and never decrease; returns the child count they imply. */
function checkOffsets(type: ColumnType, offsets: Int32Array, rows: number): number {
  if (offsets[0] !== 0) throw new FormatError(`${type} stream: offsets start at ${offsets[0]}, expected 0`);
  for (let i = 0; i < rows; i++) {
    if ((offsets[i + 1] as number) < (offsets[i] as number)) {
      throw new FormatError(`${type} stream: offsets decrease at row ${i} (${offsets[i]} then ${offsets[i + 1]})`);
    }
  }
  return offsets[rows] as number;
}

interface SectionArrayType<T> {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * `count` values at byte `offset` of `bytes`: a view when the position is aligned for the element
 * size, else a copy. The caller has checked that the section lies inside `bytes`.
 */
function section<T>(arrayType: SectionArrayType<T>, bytes: Uint8Array, offset: number, count: number): T {
  const at = bytes.byteOffset + offset;
  if (at % arrayType.BYTES_PER_ELEMENT === 0) return new arrayType(bytes.buffer, at, count);
  // Not bytes.slice(): on a Node Buffer that is a view, not a copy, and would keep the misalignment.
  const copy = new Uint8Array(count * arrayType.BYTES_PER_ELEMENT);
  copy.set(bytes.subarray(offset, offset + copy.length));
  return new arrayType(copy.buffer, 0, count);
}

// ---------------------------------------------------------------------------------------------
// All-null data

/** `rows` nulls of `type`: the column of a stripe written before the column was added. */
export function nullData(type: ColumnType, rows: number): arrow.Data {
  if (!Number.isInteger(rows) || rows < 0 || rows > STREAM_ROWS_MAX) {
    throw new FormatError(`rows must be an integer in 0..${STREAM_ROWS_MAX}, got ${rows}`);
  }
  const arrowType = arrowTypeOf(type);
  const nullBitmap = new Uint8Array(Math.ceil(rows / 8));
  const nullCount = rows;
  if (arrow.DataType.isDecimal(arrowType)) {
    return arrow.makeData({ type: arrowType, length: rows, nullCount, nullBitmap, data: new Uint32Array(rows * DECIMAL_WORDS) });
  }
  switch (type) {
    case 'float':
      return arrow.makeData({ type: arrowType as arrow.Float32, length: rows, nullCount, nullBitmap, data: new Float32Array(rows) });
    case 'double':
      return arrow.makeData({ type: arrowType as arrow.Float64, length: rows, nullCount, nullBitmap, data: new Float64Array(rows) });
    case 'int32':
    case 'date':
      return arrow.makeData({ type: arrowType as arrow.Int32, length: rows, nullCount, nullBitmap, data: new Int32Array(rows) });
    case 'int64':
    case 'timestamp':
      return arrow.makeData({ type: arrowType as arrow.Int64, length: rows, nullCount, nullBitmap, data: new BigInt64Array(rows) });
    case 'bool':
      return arrow.makeData({ type: arrowType as arrow.Bool, length: rows, nullCount, nullBitmap, data: new Uint8Array(Math.ceil(rows / 8)) });
    case 'string':
    case 'bytes':
      return arrow.makeData({
        type: arrowType as arrow.Utf8,
        length: rows,
        nullCount,
        nullBitmap,
        valueOffsets: new Int32Array(rows + 1),
        data: new Uint8Array(0),
      });
    default: {
      const listType = arrowType as arrow.List;
      return arrow.makeData({
        type: listType,
        length: rows,
        nullCount,
        nullBitmap,
        valueOffsets: new Int32Array(rows + 1),
        child: emptyData(listType.valueType),
      });
    }
  }
}

function emptyData(type: arrow.DataType): arrow.Data {
  if (arrow.DataType.isUtf8(type)) {
    return arrow.makeData({ type, length: 0, nullCount: 0, valueOffsets: new Int32Array(1), data: new Uint8Array(0) });
  }
  if (arrow.DataType.isStruct(type)) {
    return arrow.makeData({ type, length: 0, nullCount: 0, children: type.children.map((field) => emptyData(field.type)) });
  }
  return arrow.makeData({ type: type as arrow.Int64, length: 0, nullCount: 0, data: new (type as arrow.Int64).ArrayType(0) });
}
