/**
 * Random column values in the JSON Lines shapes of docs/design.md, and canonical renderings that make
 * "the same value" precise: float32 after Math.fround, -0 and NaN kept distinct (Object.is),
 * int64 as bigint whatever shape it was written in, bytes as their byte values, timestamps as
 * bigint microseconds and dates as days whatever text or number they were written as.
 */
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { expect } from 'vitest';
import { rowsToRecordBatch } from '../../../../client/format/index.js';
import { COLUMN_TYPES, type ColumnType } from '../../../../protocol/index.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

const int64Big = fc.oneof(
  fc.constantFrom(INT64_MIN, INT64_MAX, 0n, -1n, 2n ** 53n, -(2n ** 53n), 2n ** 53n + 1n, -(2n ** 53n) - 1n),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.integer().map(BigInt),
);

/** An int64 as a user may write it: a safe number, a decimal string or a bigint. */
export const int64Input: fc.Arbitrary<number | string | bigint> = fc
  .tuple(int64Big, fc.integer({ min: 0, max: 2 }))
  .map(([value, shape]) =>
    shape === 0 && value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n ? Number(value) : shape === 1 ? value.toString() : value,
  );

/** Milliseconds JavaScript's Date can show (±100,000,000 days around the epoch). */
const DATE_MS_MAX = 8.64e15;

/**
 * RFC 3339 text of `micros` at a UTC offset of `offsetMinutes`, built from Date#toISOString (an
 * oracle independent of protocol/temporal.ts), the microsecond digits appended.
 */
export function isoText(micros: bigint, offsetMinutes: number): string {
  const local = micros + BigInt(offsetMinutes) * 60_000_000n;
  let ms = local / 1000n;
  if (ms * 1000n > local) ms -= 1n;
  const iso = new Date(Number(ms)).toISOString();
  const extra = String(Number(local - ms * 1000n)).padStart(3, '0');
  if (offsetMinutes === 0) return `${iso.slice(0, -1)}${extra}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${iso.slice(0, -1)}${extra}${offset}`;
}

const timestampMicros = fc.oneof(
  fc.constantFrom(INT64_MIN, INT64_MAX, 0n, -1n, 1n, 2n ** 53n, -(2n ** 53n) - 1n, 951_782_400_000_000n /* 2000-02-29 */),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -62_135_596_800_000_000n /* 0001-01-01 */, max: 253_402_300_799_999_999n /* 9999-12-31T23:59:59.999999 */ }),
);

/** A timestamp as a user may write it: RFC 3339 text at some offset, or integer microseconds. */
const timestampInput: fc.Arbitrary<number | string | bigint> = fc
  .tuple(timestampMicros, fc.integer({ min: 0, max: 3 }), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }))
  .map(([micros, shape, offset]) => {
    const textable = micros > -BigInt(DATE_MS_MAX) * 1000n + 86_400_000_000n && micros < BigInt(DATE_MS_MAX) * 1000n - 86_400_000_000n;
    if (shape === 0 && textable) return isoText(micros, 0);
    if (shape === 1 && textable) return isoText(micros, offset);
    if (shape === 2 && micros >= -(2n ** 53n) + 1n && micros <= 2n ** 53n - 1n) return Number(micros);
    return shape === 3 ? micros : micros.toString();
  });

/** A date as a user may write it: YYYY-MM-DD, or integer days. */
const dateInput: fc.Arbitrary<number | string> = fc
  .tuple(
    fc.oneof(fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 0, -1, -719_162 /* 0001-01-01 */, 2_932_896 /* 9999-12-31 */, 11_016 /* 2000-02-29 */), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -800_000, max: 3_000_000 })),
    fc.boolean(),
  )
  .map(([days, text]) => (text && Math.abs(days) < 100_000_000 ? new Date(days * 86_400_000).toISOString().slice(0, -14) : days));

const float32 = fc.oneof(fc.float(), fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, 0.1, -3.5e38));
const float64 = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, 0.1, Number.MAX_VALUE));

/** The decimal types the suites draw: a narrow one (values fit 64 bits) and Decimal128's widest. */
export const TEST_DECIMAL_TYPES = ['decimal(9,2)', 'decimal(38,6)'] as const satisfies readonly ColumnType[];

/** Every column type the suites run over: each kind, decimal as TEST_DECIMAL_TYPES. */
export const TEST_COLUMN_TYPES: readonly ColumnType[] = COLUMN_TYPES.flatMap((kind): ColumnType[] => (kind === 'decimal' ? [...TEST_DECIMAL_TYPES] : [kind]));

/** p and s of a decimal test type, read without protocol/decimal.ts. */
export function testDecimalParams(type: string): { precision: number; scale: number } | undefined {
  const match = /^decimal\((\d+),(\d+)\)$/.exec(type);
  return match === null ? undefined : { precision: Number(match[1]), scale: Number(match[2]) };
}

/** The text of unscaled `value` at `scale`, built digit by digit (an oracle independent of protocol/decimal.ts). */
export function decimalText(value: bigint, scale: number): string {
  const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return value < 0n ? `-${text}` : text;
}

/** A decimal as a user may write it: its text (sometimes with extra trailing zeros), or a number when it has at most 15 digits. */
function decimalInput(precision: number, scale: number): fc.Arbitrary<string | number> {
  const bound = 10n ** BigInt(precision) - 1n;
  return fc
    .tuple(fc.oneof(fc.constantFrom(bound, -bound, 0n, 1n, -1n), fc.bigInt({ min: -bound, max: bound }), fc.bigInt({ min: -99_999n, max: 99_999n })), fc.integer({ min: 0, max: 2 }))
    .map(([value, shape]) => {
      const text = decimalText(value, scale);
      if (shape === 1 && (value < 0n ? -value : value) < 10n ** 15n && scale <= 6) return Number(text);
      if (shape === 2 && scale > 0) return `${text}00`;
      return text;
    });
}

export const VALUE_ARBITRARIES: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  'decimal(9,2)': decimalInput(9, 2),
  'decimal(38,6)': decimalInput(38, 6),
  string_list: fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('', 'héllo', '🧪')), { maxLength: 6 }),
  float: float32,
  double: float64,
  int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  int64: int64Input,
  bool: fc.boolean(),
  string: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', 'héllo wörld', '日本語', '🧪🚀', 'a\u0000b')),
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 24 }),
    fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('base64')),
  ),
  id_list: fc.array(int64Input, { maxLength: 8 }),
  id_score_list: fc.array(fc.tuple(int64Input, float32), { maxLength: 8 }),
  float_list: fc.array(float32, { maxLength: 8 }),
  timestamp: timestampInput,
  date: dateInput,
};

/** A value or a null (written as null or as a missing key). */
export function nullable(type: ColumnType): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: VALUE_ARBITRARIES[type] as fc.Arbitrary<unknown>, weight: 6 },
  );
}

/** Column values of 0..2000 rows: mostly short, sometimes long, sometimes all null. */
export function columnValues(type: ColumnType): fc.Arbitrary<unknown[]> {
  return fc.oneof(
    { arbitrary: fc.array(nullable(type), { maxLength: 30 }), weight: 4 },
    { arbitrary: fc.array(nullable(type), { maxLength: 2000, size: 'max' }), weight: 2 },
    { arbitrary: fc.array(fc.constant(null), { maxLength: 40 }), weight: 1 },
  );
}

/** Rows holding `values` under `name`; undefined becomes a missing key. */
export function rowsOf(name: string, values: readonly unknown[]): Record<string, unknown>[] {
  return values.map((value) => (value === undefined ? {} : { [name]: value }));
}

/** The canonical form of an input value of `type`. */
export function expectedCanon(type: ColumnType, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const decimal = testDecimalParams(type);
  if (decimal !== undefined) return canon(unscaledOf(value as string | number, decimal.scale));
  switch (type) {
    case 'float':
      return canon(Math.fround(value as number));
    case 'int64':
      return canon(BigInt(value as number | string | bigint));
    case 'bytes':
      return canon(typeof value === 'string' ? Buffer.from(value, 'base64') : (value as Uint8Array));
    case 'id_list':
      return canon((value as (number | string | bigint)[]).map((id) => BigInt(id)));
    case 'id_score_list':
      return canon((value as [number | string | bigint, number][]).map(([id, score]) => [BigInt(id), Math.fround(score)]));
    case 'float_list':
      return canon((value as number[]).map((f) => Math.fround(f)));
    case 'timestamp':
      return canon(typeof value === 'string' && value.includes('-', 1) ? oracleMicros(value) : BigInt(value as number | string | bigint));
    case 'date':
      return canon(typeof value === 'string' && value.includes('-', 1) ? Date.parse(`${value}T00:00:00Z`) / 86_400_000 : Number(value));
    default:
      return canon(value);
  }
}

/** The unscaled value of a decimal input: text digit by digit, a number (at most 15 digits) by rounding value * 10^scale. */
export function unscaledOf(value: string | number, scale: number): bigint {
  if (typeof value === 'number') return BigInt(Math.round(value * 10 ** scale));
  const [whole = '', fraction = ''] = value.replace(/^[+-]/, '').split('.');
  const digits = BigInt(`${whole}${fraction.padEnd(scale, '0').slice(0, scale)}` || '0');
  return value.startsWith('-') ? -digits : digits;
}

/** Row `i` of a Decimal128 vector as a bigint, from its four words (not through decimal128.ts). */
export function decimalAtOracle(vector: arrow.Vector, i: number): bigint | null {
  let row = i;
  for (const data of vector.data) {
    if (row < data.length) {
      if (!data.getValid(row)) return null;
      const words = data.values as Uint32Array;
      let value = 0n;
      for (let w = 3; w >= 0; w--) value = (value << 32n) | BigInt(words[row * 4 + w] as number);
      return BigInt.asIntN(128, value);
    }
    row -= data.length;
  }
  throw new Error(`row ${i} is beyond the vector's ${vector.length} rows`);
}

/** Microseconds of RFC 3339 text by Date.parse (milliseconds), the 4th-6th fraction digits added. */
export function oracleMicros(text: string): bigint {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(text);
  if (match === null) throw new Error(`not a timestamp text: ${text}`);
  const digits = (match[2] ?? '').padEnd(6, '0');
  const ms = Date.parse(`${match[1]}.${digits.slice(0, 3)}${match[3]}`);
  if (Number.isNaN(ms)) throw new Error(`Date.parse cannot read ${text}`);
  return BigInt(ms) * 1000n + BigInt(digits.slice(3, 6));
}

/**
 * Row `i` of a timestamp or date vector as stored (bigint microseconds, int32 days), or null:
 * apache-arrow's `get` hands out float milliseconds.
 */
export function storedAt(vector: arrow.Vector, i: number): bigint | number | null {
  let row = i;
  for (const data of vector.data) {
    if (row < data.length) return data.getValid(row) ? ((data.values as BigInt64Array | Int32Array)[row] as bigint | number) : null;
    row -= data.length;
  }
  throw new Error(`row ${i} is beyond the vector's ${vector.length} rows`);
}

/** The canonical form of row `i` of `vector`, read through apache-arrow's own accessors. */
export function actualCanon(type: ColumnType, vector: arrow.Vector, i: number): string {
  if (type === 'timestamp' || type === 'date') return canon(storedAt(vector, i));
  if (testDecimalParams(type) !== undefined) return canon(decimalAtOracle(vector, i));
  const value: unknown = vector.get(i);
  if (value === null) return 'null';
  if (type === 'id_score_list') {
    const pairs = value as arrow.Vector<arrow.Struct<{ id: arrow.Int64; score: arrow.Float32 }>>;
    const out: unknown[] = [];
    for (let j = 0; j < pairs.length; j++) {
      const pair = pairs.get(j);
      out.push([pair?.id, pair?.score]);
    }
    return canon(out);
  }
  if (type === 'id_list' || type === 'float_list' || type === 'string_list') return canon(Array.from((value as arrow.Vector).toArray() as ArrayLike<unknown>));
  return canon(value);
}

/** Renders numbers with -0 and NaN distinct, bigints tagged, typed arrays as arrays. */
export function canon(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    return `[${Array.from(value as ArrayLike<unknown>, canon).join(',')}]`;
  }
  throw new Error(`no canonical form for ${Object.prototype.toString.call(value)}`);
}

/** `values` as one column of `type`, through the JSON Lines row contract. */
export function vectorOf(type: ColumnType, values: readonly unknown[]): arrow.Vector {
  const batch = rowsToRecordBatch([{ name: 'col', type }], rowsOf('col', values));
  return batch.getChildAt(0) as arrow.Vector;
}

/** Decoded `data` holds exactly `values`, compared in their canonical text forms. */
export function expectSameValues(type: ColumnType, data: arrow.Data, values: readonly unknown[]): void {
  expect(data.length).toBe(values.length);
  const vector = new arrow.Vector([data]);
  expect(values.map((_, i) => actualCanon(type, vector, i))).toEqual(values.map((value) => expectedCanon(type, value)));
}
