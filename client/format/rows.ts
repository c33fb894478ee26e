/**
 * Rows as users write and read them (the JSON Lines contract of docs/design.md) to Arrow record
 * batches and back. Ingest feeds user files through `rowsToRecordBatch`, so every value is checked
 * and a wrong one is reported by row, column and expected shape; the batch it builds is typed
 * arrays only (no per-value objects). `recordBatchToRows` is the inverse, for the CLI's JSON Lines
 * output and for tests.
 *
 * Shapes: missing key or null = null; float, double: number; int32: integer; int64: safe integer,
 * decimal string or bigint (out: number when safe, else decimal string); bool: true/false;
 * string: string; bytes: Uint8Array or base64 string (out: base64); id_list: array of int64s;
 * id_score_list: array of [id, score] pairs; float_list: array of numbers; timestamp: RFC 3339
 * text (any offset; none = UTC), integer microseconds as for int64, or a Date (out: RFC 3339 in
 * UTC with 6 fraction digits); date: `YYYY-MM-DD` or integer days (out: `YYYY-MM-DD`). See
 * protocol/temporal.ts. decimal(p,s): a string such as "123.45", or a number of at most 15
 * significant digits (out: always a string with s fraction digits, since a JSON number is read
 * as a double by most readers, which keeps 15-17 digits; protocol/decimal.ts); string_list: an
 * array of strings.
 */
import * as arrow from 'apache-arrow';
import {
  type ColumnType,
  DATE_FORMS,
  DECIMAL_FORMS,
  type DecimalParams,
  type TypeKind,
  decimalParamsOf,
  formatDecimal,
  isColumnType,
  kindOf,
  parseDecimalValue,
  TIMESTAMP_FORMS,
  formatDate,
  formatTimestamp,
  parseDateValue,
  parseTimestampValue,
} from '../../protocol/index.js';
import { getBit, isValid, listChild, setBit, validityOf } from './arrow-access.js';
import { DECIMAL_WORDS, decimalAt, setDecimal } from './decimal128.js';
import { type NamedColumn, arrowSchemaOf, columnTypeOf, idScorePairsData } from './arrow-types.js';
import { FormatError } from './format-error.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** int64 values up to this magnitude are written as JSON numbers (safe integers), beyond as strings. */
const INT64_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** Offsets are int32: a column of one batch holds at most this many bytes or list elements. */
const CHILD_COUNT_MAX = 0x7fff_ffff;
const DECIMAL_INT = /^-?\d{1,20}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** How much of a bad value an error message quotes. */
const QUOTE_CHARS_MAX = 60;

const EXPECTED: Readonly<Record<TypeKind, string>> = {
  float: 'a number',
  double: 'a number',
  int32: `an integer in ${INT32_MIN}..${INT32_MAX}`,
  int64: 'an int64 (a safe integer, a decimal string or a bigint)',
  bool: 'true or false',
  string: 'a string',
  bytes: 'bytes (a Uint8Array or a base64 string)',
  id_list: 'an array of integers',
  id_score_list: 'an array of [id, score] pairs',
  float_list: 'an array of numbers',
  timestamp: TIMESTAMP_FORMS,
  date: DATE_FORMS,
  decimal: DECIMAL_FORMS,
  string_list: 'an array of strings',
};

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

// ---------------------------------------------------------------------------------------------
// Rows to Arrow

export function rowsToRecordBatch(
  columns: readonly NamedColumn[],
  rows: readonly Record<string, unknown>[],
): arrow.RecordBatch {
  const names = new Set<string>();
  for (const column of columns) {
    if (names.has(column.name)) throw new FormatError(`column ${column.name} appears twice`);
    if (!isColumnType(column.type)) {
      throw new FormatError(`column ${column.name}: unknown type ${String(column.type)}`);
    }
    names.add(column.name);
  }
  rows.forEach((row, r) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new FormatError(`row ${r}: expected an object, got ${describe(row)}`);
    }
  });
  const schema = arrowSchemaOf(columns);
  const children = columns.map((column, c) => {
    const field = schema.fields[c] as arrow.Field;
    return new ColumnBuilder(column, rows).build(field.type);
  });
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new arrow.RecordBatch(schema, struct);
}

/** Builds one column's Data from the rows: validity first, then the values in typed arrays. */
class ColumnBuilder {
  private readonly name: string;
  private readonly type: ColumnType;
  private readonly values: unknown[];
  private readonly nullBitmap: Uint8Array;
  private readonly nullCount: number;

  constructor(column: NamedColumn, rows: readonly Record<string, unknown>[]) {
    this.name = column.name;
    this.type = column.type;
    this.values = rows.map((row) => (Object.hasOwn(row, column.name) ? row[column.name] : undefined));
    this.nullBitmap = new Uint8Array(Math.ceil(rows.length / 8));
    let nulls = 0;
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) nulls++;
      else setBit(this.nullBitmap, r);
    });
    this.nullCount = nulls;
  }

  build(type: arrow.DataType): arrow.Data {
    const length = this.values.length;
    const validity = { length, nullCount: this.nullCount, nullBitmap: this.nullBitmap };
    switch (kindOf(this.type)) {
      case 'float':
        return arrow.makeData({ type: type as arrow.Float32, ...validity, data: this.numbers(new Float32Array(length)) });
      case 'double':
        return arrow.makeData({ type: type as arrow.Float64, ...validity, data: this.numbers(new Float64Array(length)) });
      case 'int32':
        return arrow.makeData({ type: type as arrow.Int32, ...validity, data: this.int32s() });
      case 'int64':
        return arrow.makeData({ type: type as arrow.Int64, ...validity, data: this.int64s() });
      case 'bool':
        return arrow.makeData({ type: type as arrow.Bool, ...validity, data: this.bools() });
      case 'string': {
        const { valueOffsets, data } = this.strings();
        return arrow.makeData({ type: type as arrow.Utf8, ...validity, valueOffsets, data });
      }
      case 'bytes': {
        const { valueOffsets, data } = this.bytes();
        return arrow.makeData({ type: type as arrow.Binary, ...validity, valueOffsets, data });
      }
      case 'id_list':
      case 'float_list':
      case 'id_score_list':
      case 'string_list':
        return this.list(type as arrow.List);
      case 'timestamp':
        return arrow.makeData({ type: type as arrow.TimestampMicrosecond, ...validity, data: this.timestamps() });
      case 'date':
        return arrow.makeData({ type: type as arrow.DateDay, ...validity, data: this.dates() });
      case 'decimal':
        return arrow.makeData({ type: type as arrow.Decimal, ...validity, data: this.decimals(decimalParamsOf(this.type) as DecimalParams) });
    }
  }

  private fail(r: number, value: unknown, detail = ''): FormatError {
    return new FormatError(`row ${r}, column ${this.name}: expected ${EXPECTED[kindOf(this.type)]}, got ${describe(value)}${detail}`);
  }

  private decimals(params: DecimalParams): Uint32Array {
    const out = new Uint32Array(this.values.length * DECIMAL_WORDS);
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      const parsed = parseDecimalValue(value, params);
      if (!parsed.ok) {
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') throw this.fail(r, value);
        throw new FormatError(`row ${r}, column ${this.name} (${this.type}): ${parsed.reason}`);
      }
      setDecimal(out, r, parsed.value);
    });
    return out;
  }

  private numbers<T extends Float32Array | Float64Array>(out: T): T {
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (typeof value !== 'number') throw this.fail(r, value);
      out[r] = value;
    });
    return out;
  }

  private int32s(): Int32Array {
    const out = new Int32Array(this.values.length);
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        throw this.fail(r, value);
      }
      out[r] = value;
    });
    return out;
  }

  private int64s(): BigInt64Array {
    const out = new BigInt64Array(this.values.length);
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      const parsed = toInt64(value);
      if (parsed === undefined) throw this.fail(r, value);
      out[r] = parsed;
    });
    return out;
  }

  private timestamps(): BigInt64Array {
    const out = new BigInt64Array(this.values.length);
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      const parsed = parseTimestampValue(value);
      if (!parsed.ok) throw this.temporalFail(r, value, parsed.reason);
      out[r] = parsed.value;
    });
    return out;
  }

  private dates(): Int32Array {
    const out = new Int32Array(this.values.length);
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      const parsed = parseDateValue(value);
      if (!parsed.ok) throw this.temporalFail(r, value, parsed.reason);
      out[r] = parsed.value;
    });
    return out;
  }

  /** A text of the right kind but a wrong value says what is wrong with it; any other value, what was expected. */
  private temporalFail(r: number, value: unknown, reason: string): FormatError {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint' && !(value instanceof Date)) return this.fail(r, value);
    return new FormatError(`row ${r}, column ${this.name} (${this.type}): ${reason}`);
  }

  private bools(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.values.length / 8));
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (typeof value !== 'boolean') throw this.fail(r, value);
      if (value) setBit(out, r);
    });
    return out;
  }

  private strings(): { valueOffsets: Int32Array; data: Uint8Array } {
    let total = 0;
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (typeof value !== 'string') throw this.fail(r, value);
      total += Buffer.byteLength(value, 'utf8');
    });
    this.checkChildCount(total);
    const data = new Uint8Array(total);
    const valueOffsets = new Int32Array(this.values.length + 1);
    let next = 0;
    this.values.forEach((value, r) => {
      if (typeof value === 'string') next += utf8Encoder.encodeInto(value, data.subarray(next)).written;
      valueOffsets[r + 1] = next;
    });
    return { valueOffsets, data };
  }

  private bytes(): { valueOffsets: Int32Array; data: Uint8Array } {
    let total = 0;
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (value instanceof Uint8Array) total += value.length;
      else if (typeof value === 'string' && BASE64.test(value)) total += base64Bytes(value);
      else throw this.fail(r, value);
    });
    this.checkChildCount(total);
    const data = new Uint8Array(total);
    const writer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const valueOffsets = new Int32Array(this.values.length + 1);
    let next = 0;
    this.values.forEach((value, r) => {
      if (value instanceof Uint8Array) {
        data.set(value, next);
        next += value.length;
      } else if (typeof value === 'string') {
        next += writer.write(value, next, 'base64');
      }
      valueOffsets[r + 1] = next;
    });
    return { valueOffsets, data };
  }

  private list(type: arrow.List): arrow.Data {
    let total = 0;
    this.values.forEach((value, r) => {
      if (value === null || value === undefined) return;
      if (!Array.isArray(value)) throw this.fail(r, value);
      total += value.length;
    });
    this.checkChildCount(total);
    const valueOffsets = new Int32Array(this.values.length + 1);
    let child: arrow.Data;
    if (this.type === 'id_list') {
      const ids = new BigInt64Array(total);
      this.fillList(valueOffsets, (element, at, r, index) => {
        const id = toInt64(element);
        if (id === undefined) throw this.fail(r, element, ` at index ${index}`);
        ids[at] = id;
      });
      child = arrow.makeData({ type: type.valueType as arrow.Int64, length: total, nullCount: 0, data: ids });
    } else if (this.type === 'string_list') {
      child = this.listStrings(type, valueOffsets, total);
    } else if (this.type === 'float_list') {
      const floats = new Float32Array(total);
      this.fillList(valueOffsets, (element, at, r, index) => {
        if (typeof element !== 'number') throw this.fail(r, element, ` at index ${index}`);
        floats[at] = element;
      });
      child = arrow.makeData({ type: type.valueType as arrow.Float32, length: total, nullCount: 0, data: floats });
    } else {
      const ids = new BigInt64Array(total);
      const scores = new Float32Array(total);
      this.fillList(valueOffsets, (element, at, r, index) => {
        const id = Array.isArray(element) && element.length === 2 ? toInt64(element[0]) : undefined;
        const score: unknown = Array.isArray(element) ? element[1] : undefined;
        if (id === undefined || typeof score !== 'number') throw this.fail(r, element, ` at index ${index}`);
        ids[at] = id;
        scores[at] = score;
      });
      child = idScorePairsData(type, ids, scores);
    }
    return arrow.makeData({
      type,
      length: this.values.length,
      nullCount: this.nullCount,
      nullBitmap: this.nullBitmap,
      valueOffsets,
      child,
    });
  }

  /** The strings of a string_list column as one Utf8 child. */
  private listStrings(type: arrow.List, valueOffsets: Int32Array, total: number): arrow.Data {
    let bytes = 0;
    this.fillList(valueOffsets, (element, _at, r, index) => {
      if (typeof element !== 'string') throw this.fail(r, element, ` at index ${index}`);
      bytes += Buffer.byteLength(element, 'utf8');
    });
    this.checkChildCount(bytes);
    const data = new Uint8Array(bytes);
    const stringOffsets = new Int32Array(total + 1);
    let next = 0;
    this.fillList(valueOffsets, (element, at) => {
      next += utf8Encoder.encodeInto(element as string, data.subarray(next)).written;
      stringOffsets[at + 1] = next;
    });
    return arrow.makeData({ type: type.valueType as arrow.Utf8, length: total, nullCount: 0, valueOffsets: stringOffsets, data });
  }

  /** Walks every list element, handing each its position in the child; fills the offsets. */
  private fillList(
    valueOffsets: Int32Array,
    put: (element: unknown, at: number, row: number, index: number) => void,
  ): void {
    let next = 0;
    this.values.forEach((value, r) => {
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) put(value[i], next + i, r, i);
        next += value.length;
      }
      valueOffsets[r + 1] = next;
    });
  }

  private checkChildCount(total: number): void {
    if (total > CHILD_COUNT_MAX) {
      throw new FormatError(`column ${this.name}: ${total} bytes or elements in one batch, at most ${CHILD_COUNT_MAX}`);
    }
  }
}

function toInt64(value: unknown): bigint | undefined {
  let parsed: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return undefined;
    parsed = BigInt(value);
  } else if (typeof value === 'bigint') {
    parsed = value;
  } else if (typeof value === 'string' && DECIMAL_INT.test(value)) {
    parsed = BigInt(value);
  } else {
    return undefined;
  }
  return parsed >= INT64_MIN && parsed <= INT64_MAX ? parsed : undefined;
}

/** Decoded length of a valid, padded base64 string. */
function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

/** A short, readable rendering of a bad value for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return String(value);
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > QUOTE_CHARS_MAX ? `${text.slice(0, QUOTE_CHARS_MAX)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Arrow to rows

export function recordBatchToRows(batch: arrow.RecordBatch): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let r = 0; r < batch.numRows; r++) rows.push({});
  batch.schema.fields.forEach((field, c) => {
    const type = columnTypeOf(field.type);
    if (type === undefined) {
      throw new FormatError(`column ${field.name}: Arrow type ${String(field.type)} is not a Granary column type`);
    }
    const vector = batch.getChildAt(c);
    if (vector === null) throw new FormatError(`column ${field.name}: the batch has no data for it`);
    let base = 0;
    for (const data of vector.data) {
      readColumn(type, data, (r, value) => setField(rows[base + r] as Record<string, unknown>, field.name, value));
      base += data.length;
    }
  });
  return rows;
}

/** Hands `put` every row's value of one chunk in the JSON Lines shape. */
function readColumn(type: ColumnType, data: arrow.Data, put: (row: number, value: unknown) => void): void {
  const validity = validityOf(data);
  const each = (value: (i: number) => unknown): void => {
    for (let i = 0; i < data.length; i++) put(i, isValid(validity, i) ? value(i) : null);
  };
  const kind = kindOf(type);
  switch (kind) {
    case 'float': {
      const values = data.values as Float32Array;
      return each((i) => float32Number(values[i] as number));
    }
    case 'double':
    case 'int32': {
      const values = data.values as Float64Array | Int32Array;
      return each((i) => values[i]);
    }
    case 'int64': {
      const values = data.values as BigInt64Array;
      return each((i) => int64Json(values[i] as bigint));
    }
    case 'bool': {
      const values = data.values as Uint8Array;
      return each((i) => getBit(values, data.offset + i));
    }
    case 'string':
    case 'bytes': {
      const offsets = data.valueOffsets as Int32Array;
      const values = data.values as Uint8Array;
      return each((i) => {
        const bytes = values.subarray(offsets[i] as number, offsets[i + 1] as number);
        return kind === 'string'
          ? utf8Decoder.decode(bytes)
          : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
      });
    }
    case 'timestamp': {
      const values = data.values as BigInt64Array;
      return each((i) => formatTimestamp(values[i] as bigint));
    }
    case 'date': {
      const values = data.values as Int32Array;
      return each((i) => formatDate(values[i] as number));
    }
    case 'decimal': {
      const values = data.values as Uint32Array;
      const { scale } = decimalParamsOf(type) as DecimalParams;
      return each((i) => formatDecimal(BigInt(decimalAt(values, i)), scale));
    }
    case 'id_list':
    case 'float_list':
    case 'id_score_list':
    case 'string_list': {
      const offsets = data.valueOffsets as Int32Array;
      const element = listElementReader(type, listChild(data));
      return each((i) => {
        const out: unknown[] = [];
        for (let j = offsets[i] as number; j < (offsets[i + 1] as number); j++) out.push(element(j));
        return out;
      });
    }
  }
}

function listElementReader(type: ColumnType, child: arrow.Data): (j: number) => unknown {
  if (type === 'id_list') {
    const ids = child.values as BigInt64Array;
    return (j) => int64Json(ids[j] as bigint);
  }
  if (type === 'float_list') {
    const floats = child.values as Float32Array;
    return (j) => float32Number(floats[j] as number);
  }
  if (type === 'string_list') {
    const offsets = child.valueOffsets as Int32Array;
    const bytes = child.values as Uint8Array;
    return (j) => utf8Decoder.decode(bytes.subarray(offsets[j] as number, offsets[j + 1] as number));
  }
  const ids = (child.children[0] as arrow.Data).values as BigInt64Array;
  const scores = (child.children[1] as arrow.Data).values as Float32Array;
  return (j) => [int64Json(ids[j] as bigint), float32Number(scores[j] as number)];
}

function int64Json(value: bigint): number | string {
  return value >= -INT64_SAFE_MAX && value <= INT64_SAFE_MAX ? Number(value) : value.toString();
}

/**
 * The shortest decimal that reads back as the same float32 (0.1, not 0.10000000149011612), so
 * JSON Lines output looks like what was written. -0, NaN and infinities are kept as they are.
 */
export function float32Number(value: number): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

/** Sets a key even when it is `__proto__` (a valid column name). */
function setField(row: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
  else row[name] = value;
}
