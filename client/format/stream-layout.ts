/**
 * Where each section of a column stream lives. The encoder and the decoder both derive byte
 * offsets from here, so the two cannot drift apart; the decoder checks every offset it computes
 * against the stream's length before it touches a byte.
 *
 * A stream (all integers little-endian):
 *
 *   header     16 bytes: magic u32 'GRSM', version u16, type code u16, rows u32, nulls u32
 *   validity   ceil(rows / 8) bytes, Arrow bit order; only when nulls > 0
 *   main       fixed width: rows values | bool: ceil(rows / 8) bytes of bits |
 *              string, bytes and lists: rows + 1 int32 offsets
 *   child      string, bytes: the bytes | id_list: int64 ids | float_list: float32 values |
 *              id_score_list: int64 ids | string_list: strings + 1 int32 offsets into the data
 *   scores     id_score_list only: float32 scores
 *   data       string_list only: the strings' bytes
 *
 * A decimal(p,s) stream is fixed width, 16 bytes a row: Arrow's Decimal128 (the unscaled value,
 * two's complement, little-endian), so it decodes in place. Its type code names the decimal kind
 * only: p and s are the column's (a column's type never changes; a re-added name is a new column).
 *
 * Every section starts at a multiple of 8 bytes from the start of the stream, and the stream's
 * length is a multiple of 8 too: streams laid back to back in a block stay aligned, so a reader
 * that fetched several of them in one read can still view their values in place.
 */
import { COLUMN_TYPES, type ColumnType, type TypeKind, kindOf } from '../../protocol/index.js';

export const STREAM_MAGIC = 0x4752534d;
export const STREAM_VERSION = 1;
export const STREAM_HEADER_BYTES = 16;
export const SECTION_ALIGNMENT_BYTES = 8;
/** Rows are a u32 in the header. */
export const STREAM_ROWS_MAX = 0xffff_ffff;
/** Offsets are int32: at most this many bytes or elements in a stream's child section. */
export const STREAM_CHILD_COUNT_MAX = 0x7fff_ffff;
export const OFFSET_BYTES = 4;
/** Bytes of one decimal value (Decimal128). */
export const DECIMAL_BYTES = 16;

/** How a column type lays out its values. */
export type StreamShape =
  /** One fixed-width value per row. */
  | 'fixed'
  /** One bit per row. */
  | 'bool'
  /** Offsets, then a child section of bytes or elements. */
  | 'offsets'
  /** Offsets, then ids, then scores (id_score_list). */
  | 'pairs'
  /** Offsets into a list of strings, the strings' offsets, then their bytes (string_list). */
  | 'strings';

export interface TypeLayout {
  readonly shape: StreamShape;
  /** Bytes per row value (fixed) or per child element (offsets, pairs: the id; strings: its offset); 0 for bool. */
  readonly width: number;
}

const TYPE_LAYOUTS: Readonly<Record<TypeKind, TypeLayout>> = {
  float: { shape: 'fixed', width: 4 },
  double: { shape: 'fixed', width: 8 },
  int32: { shape: 'fixed', width: 4 },
  int64: { shape: 'fixed', width: 8 },
  bool: { shape: 'bool', width: 0 },
  string: { shape: 'offsets', width: 1 },
  bytes: { shape: 'offsets', width: 1 },
  id_list: { shape: 'offsets', width: 8 },
  float_list: { shape: 'offsets', width: 4 },
  id_score_list: { shape: 'pairs', width: 8 },
  // Exactly an int64 and an int32 stream under their own type codes.
  timestamp: { shape: 'fixed', width: 8 },
  date: { shape: 'fixed', width: 4 },
  decimal: { shape: 'fixed', width: DECIMAL_BYTES },
  string_list: { shape: 'strings', width: OFFSET_BYTES },
};

/** Bytes of one score of an id_score_list. */
export const SCORE_BYTES = 4;

export function typeLayoutOf(type: ColumnType): TypeLayout {
  return TYPE_LAYOUTS[kindOf(type)];
}

export function typeCodeOf(type: ColumnType): number {
  return COLUMN_TYPES.indexOf(kindOf(type));
}

/** Byte offsets of a stream's sections; -1 for a section the stream does not have. */
export interface StreamLayout {
  readonly validity: number;
  readonly bitmapBytes: number;
  readonly main: number;
  readonly mainBytes: number;
  readonly child: number;
  readonly childBytes: number;
  readonly scores: number;
  readonly scoresBytes: number;
  readonly data: number;
  readonly dataBytes: number;
  /** The stream's length. */
  readonly end: number;
}

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / SECTION_ALIGNMENT_BYTES) * SECTION_ALIGNMENT_BYTES;
}

/**
 * The layout of a stream of `rows` rows, `nulls` of them null, whose child section (string and
 * list types) holds `childCount` bytes or elements (string_list: strings, whose bytes are
 * `dataCount`). The main section's place depends only on `rows` and `nulls`, so a decoder can find
 * the offsets before it knows `childCount`, and a string_list's child section's place only on
 * those and `childCount`.
 */
export function layoutOf(type: ColumnType, rows: number, nulls: number, childCount: number, dataCount = 0): StreamLayout {
  const { shape, width } = typeLayoutOf(type);
  const bitmapBytes = Math.ceil(rows / 8);
  let cursor = STREAM_HEADER_BYTES;
  let validity = -1;
  if (nulls > 0) {
    validity = cursor;
    cursor = alignUp(cursor + bitmapBytes);
  }
  const main = cursor;
  const mainBytes = shape === 'fixed' ? rows * width : shape === 'bool' ? bitmapBytes : (rows + 1) * OFFSET_BYTES;
  cursor = alignUp(main + mainBytes);
  let child = -1;
  let childBytes = 0;
  let scores = -1;
  let scoresBytes = 0;
  if (shape === 'offsets' || shape === 'pairs' || shape === 'strings') {
    child = cursor;
    childBytes = shape === 'strings' ? (childCount + 1) * OFFSET_BYTES : childCount * width;
    cursor = alignUp(child + childBytes);
  }
  if (shape === 'pairs') {
    scores = cursor;
    scoresBytes = childCount * SCORE_BYTES;
    cursor = alignUp(scores + scoresBytes);
  }
  let data = -1;
  let dataBytes = 0;
  if (shape === 'strings') {
    data = cursor;
    dataBytes = dataCount;
    cursor = alignUp(data + dataBytes);
  }
  return { validity, bitmapBytes, main, mainBytes, child, childBytes, scores, scoresBytes, data, dataBytes, end: cursor };
}

export interface StreamHeader {
  readonly magic: number;
  readonly version: number;
  readonly typeCode: number;
  readonly rows: number;
  readonly nulls: number;
}

export function writeHeader(stream: Uint8Array, typeCode: number, rows: number, nulls: number): void {
  const view = new DataView(stream.buffer, stream.byteOffset, STREAM_HEADER_BYTES);
  view.setUint32(0, STREAM_MAGIC, true);
  view.setUint16(4, STREAM_VERSION, true);
  view.setUint16(6, typeCode, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, nulls, true);
}

/** Reads the header; the caller has checked that the stream holds at least STREAM_HEADER_BYTES. */
export function readHeader(stream: Uint8Array): StreamHeader {
  const view = new DataView(stream.buffer, stream.byteOffset, STREAM_HEADER_BYTES);
  return {
    magic: view.getUint32(0, true),
    version: view.getUint16(4, true),
    typeCode: view.getUint16(6, true),
    rows: view.getUint32(8, true),
    nulls: view.getUint32(12, true),
  };
}
