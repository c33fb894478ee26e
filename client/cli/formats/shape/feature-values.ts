/**
 * The values of a feature map (the `V` of `Map<int, V>`) gathered into table columns, buffer to
 * buffer. A map's entries are rows of two arrays (keys, values); once the spreader has found, for
 * each row and feature column, the entry that holds its value (a slot: an entry index or -1),
 * each column is built here from typed arrays: scalars copied as bits where the types agree
 * (NaN payloads and -0 survive), converted where they widen, and list values copied range by
 * range. No object per value.
 */
import * as arrow from 'apache-arrow';
import { type ColumnType, kindOf } from '../../../../protocol/index.js';
import { FormatError, idScorePairsData } from '../../../format/index.js';
import type { FeatureColumnType } from './options.js';

/** Primitive Arrow types a map value (or a list element) may have. */
export type Scalar = 'f32' | 'f64' | 'i8' | 'i16' | 'i32' | 'i64' | 'u8' | 'u16' | 'u32';

/** What a map's values are, as far as spreading them goes. */
export type ValueSource =
  | { readonly kind: 'scalar'; readonly scalar: Scalar }
  | { readonly kind: 'list'; readonly element: Scalar }
  | { readonly kind: 'pairs'; readonly id: Scalar; readonly score: Scalar; readonly idIndex: number; readonly scoreIndex: number }
  | { readonly kind: 'utf8' };

/** Offsets are int32: a column of one batch holds at most this many list elements or bytes. */
const CHILD_COUNT_MAX = 0x7fff_ffff;

export function scalarOf(type: arrow.DataType): Scalar | undefined {
  if (arrow.DataType.isFloat(type)) {
    if (type.precision === arrow.Precision.SINGLE) return 'f32';
    if (type.precision === arrow.Precision.DOUBLE) return 'f64';
    return undefined;
  }
  if (!arrow.DataType.isInt(type)) return undefined;
  if (type.isSigned) return type.bitWidth === 8 ? 'i8' : type.bitWidth === 16 ? 'i16' : type.bitWidth === 32 ? 'i32' : 'i64';
  return type.bitWidth === 8 ? 'u8' : type.bitWidth === 16 ? 'u16' : type.bitWidth === 32 ? 'u32' : undefined;
}

export function isIntegerScalar(scalar: Scalar): boolean {
  return scalar !== 'f32' && scalar !== 'f64';
}

/** How a map value of Arrow type `type` is read, or undefined when it cannot become a column value. */
export function valueSourceOf(type: arrow.DataType): ValueSource | undefined {
  const scalar = scalarOf(type);
  if (scalar !== undefined) return { kind: 'scalar', scalar };
  if (arrow.DataType.isUtf8(type)) return { kind: 'utf8' };
  if (!arrow.DataType.isList(type)) return undefined;
  const item = type.children[0]?.type;
  if (item === undefined) return undefined;
  const element = scalarOf(item);
  if (element !== undefined) return { kind: 'list', element };
  if (!arrow.DataType.isStruct(item) || item.children.length !== 2) return undefined;
  const names = item.children.map((field) => field.name);
  // By name when the struct says id and score, else by position (as conform does).
  const idIndex = names.includes('id') && names.includes('score') ? names.indexOf('id') : 0;
  const scoreIndex = 1 - idIndex;
  const id = scalarOf((item.children[idIndex] as arrow.Field).type);
  const score = scalarOf((item.children[scoreIndex] as arrow.Field).type);
  if (id === undefined || score === undefined || !isIntegerScalar(id)) return undefined;
  return { kind: 'pairs', id, score, idIndex, scoreIndex };
}

/** The column type a map's values imply (for `--add-features`). */
export function impliedColumnType(source: ValueSource): FeatureColumnType {
  switch (source.kind) {
    case 'scalar':
      if (source.scalar === 'f32') return 'float';
      if (source.scalar === 'f64') return 'double';
      return source.scalar === 'i64' || source.scalar === 'u32' ? 'int64' : 'int32';
    case 'list':
      return isIntegerScalar(source.element) ? 'id_list' : 'float_list';
    case 'pairs':
      return 'id_score_list';
    case 'utf8':
      return 'string';
  }
}

/** Whether values of `source` can fill a column of `type` (the conversions conform allows). */
export function fits(source: ValueSource, type: ColumnType): boolean {
  const kind = kindOf(type);
  switch (source.kind) {
    case 'scalar':
      if (kind === 'float' || kind === 'double') return true;
      if (kind === 'int32' || kind === 'int64') return isIntegerScalar(source.scalar);
      return false;
    case 'list':
      return kind === 'float_list' || (kind === 'id_list' && isIntegerScalar(source.element));
    case 'pairs':
      return kind === 'id_score_list';
    case 'utf8':
      return kind === 'string';
  }
}

/** Which entry of the map fills each row of one column: `slots[base + r]`, -1 for none. */
export interface Slots {
  readonly slots: Int32Array;
  readonly base: number;
  readonly rows: number;
}

/** Names a row of the batch in an error (file, row, map column, feature). */
export type RowLabel = (row: number) => string;

/**
 * The column of `type` (Arrow type `arrowType`) whose row r is the value at entry `slots[r]` of
 * `values` (null where there is none, or the value is null).
 */
export function gatherColumn(source: ValueSource, values: arrow.Data, type: ColumnType, arrowType: arrow.DataType, at: Slots, where: RowLabel): arrow.Data {
  switch (source.kind) {
    case 'scalar':
      return gatherScalar(source.scalar, values, type, arrowType, at, where);
    case 'list':
      return gatherList(source.element, values, type, arrowType as arrow.List, at, where);
    case 'pairs':
      return gatherPairs(source, values, arrowType as arrow.List, at, where);
    case 'utf8':
      return gatherUtf8(values, arrowType as arrow.Utf8, at, where);
  }
}

/** Rows that have a value, as a validity bitmap, and how many do not. */
function presentRows(values: arrow.Data, at: Slots): { nullBitmap: Uint8Array; nullCount: number } {
  const { slots, base, rows } = at;
  const nullBitmap = new Uint8Array(Math.ceil(rows / 8));
  const valueBits = values.nullCount > 0 ? (values.nullBitmap as Uint8Array) : null;
  const offset = values.offset;
  let present = 0;
  for (let r = 0; r < rows; r++) {
    const s = slots[base + r] as number;
    if (s < 0) continue;
    if (valueBits !== null && ((valueBits[(offset + s) >> 3] as number) & (1 << ((offset + s) & 7))) === 0) continue;
    nullBitmap[r >> 3] = (nullBitmap[r >> 3] as number) | (1 << (r & 7));
    present++;
  }
  return { nullBitmap, nullCount: rows - present };
}

function isSet(bits: Uint8Array, r: number): boolean {
  return ((bits[r >> 3] as number) & (1 << (r & 7))) !== 0;
}

/** 32-bit words of a 64-bit typed array (low word first: little-endian, as Arrow is). */
function words(array: ArrayBufferView, count: number): Int32Array {
  return new Int32Array(array.buffer, array.byteOffset, count * 2);
}

/** Reads element i of a scalar array as a number (int64 exactly up to 2^53, rounded beyond). */
function numberReader(scalar: Scalar, array: ArrayBufferView & { length: number }): (i: number) => number {
  if (scalar === 'i64') {
    const w = words(array, array.length);
    return (i) => (w[2 * i + 1] as number) * 4294967296 + ((w[2 * i] as number) >>> 0);
  }
  const typed = array as unknown as ArrayLike<number>;
  return (i) => typed[i] as number;
}

function gatherScalar(scalar: Scalar, values: arrow.Data, type: ColumnType, arrowType: arrow.DataType, at: Slots, where: RowLabel): arrow.Data {
  const kind = kindOf(type);
  const source = values.values as ArrayBufferView & { length: number };
  if ((kind === 'float' && scalar === 'f32') || (kind === 'int32' && scalar === 'i32') || (kind === 'double' && scalar === 'f64') || (kind === 'int64' && scalar === 'i64')) {
    return copyScalarBits(values, kind === 'double' || kind === 'int64' ? 2 : 1, arrowType, at);
  }
  const { slots, base, rows } = at;
  const { nullBitmap, nullCount } = presentRows(values, at);
  const read = numberReader(scalar, source);
  let data: ArrayBufferView;
  if (kind === 'float' || kind === 'double' || kind === 'int32') {
    const out = kind === 'float' ? new Float32Array(rows) : kind === 'double' ? new Float64Array(rows) : new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      if (!isSet(nullBitmap, r)) continue;
      const value = read(slots[base + r] as number);
      if (kind === 'int32' && (value < -2147483648 || value > 2147483647)) {
        throw new FormatError(`${where(r)}: ${value} does not fit the int32 column`);
      }
      out[r] = value;
    }
    data = out;
  } else {
    // int64 from a narrower integer: sign-extended into two words.
    const out = new Int32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      if (!isSet(nullBitmap, r)) continue;
      const value = read(slots[base + r] as number);
      out[2 * r] = value | 0;
      out[2 * r + 1] = value < 0 ? -1 : 0;
    }
    data = new BigInt64Array(out.buffer);
  }
  return arrow.makeData({ type: arrowType as arrow.Float32, length: rows, nullCount, nullBitmap, data: data as Float32Array });
}

/**
 * A column of the map values' own type, gathered as 32-bit words (`words` per value): the bits
 * are copied, so NaN payloads and -0 survive. One pass: validity and values together.
 */
function copyScalarBits(values: arrow.Data, words: 1 | 2, arrowType: arrow.DataType, at: Slots): arrow.Data {
  const { slots, base, rows } = at;
  const source = values.values as ArrayBufferView & { length: number };
  const from = new Int32Array(source.buffer, source.byteOffset, source.length * words);
  const out = new Int32Array(rows * words);
  const nullBitmap = new Uint8Array(Math.ceil(rows / 8));
  const valueBits = values.nullCount > 0 ? (values.nullBitmap as Uint8Array) : null;
  const offset = values.offset;
  let present = 0;
  for (let r = 0; r < rows; r++) {
    const s = slots[base + r] as number;
    if (s < 0) continue;
    if (valueBits !== null && ((valueBits[(offset + s) >> 3] as number) & (1 << ((offset + s) & 7))) === 0) continue;
    if (words === 1) {
      out[r] = from[s] as number;
    } else {
      out[2 * r] = from[2 * s] as number;
      out[2 * r + 1] = from[2 * s + 1] as number;
    }
    nullBitmap[r >> 3] = (nullBitmap[r >> 3] as number) | (1 << (r & 7));
    present++;
  }
  const data = arrow.DataType.isFloat(arrowType)
    ? words === 1
      ? new Float32Array(out.buffer)
      : new Float64Array(out.buffer)
    : words === 1
      ? out
      : new BigInt64Array(out.buffer);
  return arrow.makeData({ type: arrowType as arrow.Float32, length: rows, nullCount: rows - present, nullBitmap, data: data as Float32Array });
}

/** Offsets of the gathered lists (or strings) and their total length; `span(s)`: entry s's elements. */
function gatherOffsets(nullBitmap: Uint8Array, at: Slots, span: (s: number) => [number, number], where: RowLabel): { offsets: Int32Array; total: number } {
  const { slots, base, rows } = at;
  const offsets = new Int32Array(rows + 1);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (isSet(nullBitmap, r)) {
      const [start, end] = span(slots[base + r] as number);
      total += end - start;
      if (total > CHILD_COUNT_MAX) throw new FormatError(`${where(r)}: the batch's values of this feature pass ${CHILD_COUNT_MAX} elements`);
    }
    offsets[r + 1] = total;
  }
  return { offsets, total };
}

/** Throws when element `start..end` of `child` holds a null (Granary lists hold no nulls). */
function checkNoNullElements(child: arrow.Data, start: number, end: number, where: () => string): void {
  if (child.nullCount === 0) return;
  const bits = child.nullBitmap as Uint8Array;
  for (let i = start; i < end; i++) {
    if (!isSet(bits, child.offset + i)) throw new FormatError(`${where()}: element ${i - start} of the list is null; Granary list elements cannot be null`);
  }
}

function listSpan(values: arrow.Data): (s: number) => [number, number] {
  const offsets = values.valueOffsets as Int32Array;
  return (s) => [offsets[s] as number, offsets[s + 1] as number];
}

/** Copies `count` elements of scalar array `from` (from `start`) into `to` at `at`, converting. */
function copyElements(element: Scalar, from: ArrayBufferView & { length: number }, start: number, count: number, target: 'i64' | 'f32', to: BigInt64Array | Float32Array, at: number): void {
  if (target === 'i64' && element === 'i64') {
    (to as BigInt64Array).set((from as BigInt64Array).subarray(start, start + count), at);
  } else if (target === 'f32' && element === 'f32') {
    (to as Float32Array).set((from as Float32Array).subarray(start, start + count), at);
  } else if (target === 'i64') {
    const out = words(to, to.length);
    const read = numberReader(element, from);
    for (let i = 0; i < count; i++) {
      const value = read(start + i);
      out[2 * (at + i)] = value | 0;
      out[2 * (at + i) + 1] = value < 0 ? -1 : 0;
    }
  } else {
    const read = numberReader(element, from);
    const out = to as Float32Array;
    for (let i = 0; i < count; i++) out[at + i] = read(start + i);
  }
}

function gatherList(element: Scalar, values: arrow.Data, type: ColumnType, arrowType: arrow.List, at: Slots, where: RowLabel): arrow.Data {
  const { slots, base, rows } = at;
  const { nullBitmap, nullCount } = presentRows(values, at);
  const span = listSpan(values);
  const child = values.children[0] as arrow.Data;
  const { offsets, total } = gatherOffsets(nullBitmap, at, span, where);
  const target = kindOf(type) === 'id_list' ? 'i64' : 'f32';
  const out = target === 'i64' ? new BigInt64Array(total) : new Float32Array(total);
  const from = child.values as ArrayBufferView & { length: number };
  for (let r = 0; r < rows; r++) {
    if (!isSet(nullBitmap, r)) continue;
    const [start, end] = span(slots[base + r] as number);
    checkNoNullElements(child, start, end, () => where(r));
    copyElements(element, from, start, end - start, target, out, offsets[r] as number);
  }
  const childData = arrow.makeData({ type: arrowType.valueType as arrow.Float32, length: total, nullCount: 0, data: out as Float32Array });
  return arrow.makeData({ type: arrowType, length: rows, nullCount, nullBitmap, valueOffsets: offsets, child: childData });
}

function gatherPairs(source: Extract<ValueSource, { kind: 'pairs' }>, values: arrow.Data, arrowType: arrow.List, at: Slots, where: RowLabel): arrow.Data {
  const { slots, base, rows } = at;
  const { nullBitmap, nullCount } = presentRows(values, at);
  const span = listSpan(values);
  const pairs = values.children[0] as arrow.Data;
  const idData = pairs.children[source.idIndex] as arrow.Data;
  const scoreData = pairs.children[source.scoreIndex] as arrow.Data;
  const { offsets, total } = gatherOffsets(nullBitmap, at, span, where);
  const ids = new BigInt64Array(total);
  const scores = new Float32Array(total);
  for (let r = 0; r < rows; r++) {
    if (!isSet(nullBitmap, r)) continue;
    const [start, end] = span(slots[base + r] as number);
    const here = (): string => where(r);
    checkNoNullElements(pairs, start, end, here);
    checkNoNullElements(idData, start, end, () => `${here()} (id)`);
    checkNoNullElements(scoreData, start, end, () => `${here()} (score)`);
    const to = offsets[r] as number;
    copyElements(source.id, idData.values as BigInt64Array, start, end - start, 'i64', ids, to);
    copyElements(source.score, scoreData.values as Float32Array, start, end - start, 'f32', scores, to);
  }
  const child = idScorePairsData(arrowType, ids, scores);
  return arrow.makeData({ type: arrowType, length: rows, nullCount, nullBitmap, valueOffsets: offsets, child });
}

function gatherUtf8(values: arrow.Data, arrowType: arrow.Utf8, at: Slots, where: RowLabel): arrow.Data {
  const { slots, base, rows } = at;
  const { nullBitmap, nullCount } = presentRows(values, at);
  const span = listSpan(values);
  const { offsets, total } = gatherOffsets(nullBitmap, at, span, where);
  const bytes = values.values as Uint8Array;
  const data = new Uint8Array(total);
  for (let r = 0; r < rows; r++) {
    if (!isSet(nullBitmap, r)) continue;
    const [start, end] = span(slots[base + r] as number);
    data.set(bytes.subarray(start, end), offsets[r] as number);
  }
  return arrow.makeData({ type: arrowType, length: rows, nullCount, nullBitmap, valueOffsets: offsets, data });
}
