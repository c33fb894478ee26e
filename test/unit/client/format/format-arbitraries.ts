/**
 * Random column values in the JSON Lines shapes of docs/design.md, and canonical renderings that make
 * "the same value" precise: float32 after Math.fround, -0 and NaN kept distinct (Object.is),
 * int64 as bigint whatever shape it was written in, bytes as their byte values.
 */
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import type { ColumnType } from '../../../../protocol/index.js';

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

const float32 = fc.oneof(fc.float(), fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, 0.1, -3.5e38));
const float64 = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, 0.1, Number.MAX_VALUE));

export const VALUE_ARBITRARIES: Readonly<Record<ColumnType, fc.Arbitrary<unknown>>> = {
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
};

/** A value or a null (written as null or as a missing key). */
export function nullable(type: ColumnType): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: VALUE_ARBITRARIES[type], weight: 6 },
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
    default:
      return canon(value);
  }
}

/** The canonical form of row `i` of `vector`, read through apache-arrow's own accessors. */
export function actualCanon(type: ColumnType, vector: arrow.Vector, i: number): string {
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
  if (type === 'id_list' || type === 'float_list') return canon((value as arrow.Vector).toArray());
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
