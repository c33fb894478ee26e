/**
 * `where` on decimal(p,s) columns: the planner's pruning (stats are doubles rounded outward) and
 * the reader's row filter (exact: unscaled integers at a common scale) must agree with an exact
 * comparison of the values, at boundaries one unit apart, at 38 digits where doubles cannot tell
 * neighbours apart, and for literals with more fraction digits than the column.
 */
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeStream, rowsToRecordBatch } from '../../../client/format/index.js';
import { filterRows } from '../../../client/reader/row-filter.js';
import { mayMatch, outwardFloat, resolvePredicate } from '../../../metadata/pruning.js';
import type { ColumnRecord } from '../../../metadata/records.js';
import { type ColumnType, type StatsOp, type StatsPredicate, formatDecimal } from '../../../protocol/index.js';

const COLUMNS: ReadonlyMap<string, ColumnRecord> = new Map([
  ['price', { cid: 0, name: 'price', type: 'decimal(12,2)', addedInVersion: 1 }],
  ['wide', { cid: 1, name: 'wide', type: 'decimal(38,0)', addedInVersion: 1 }],
]);

function stripe(name: 'price' | 'wide', values: readonly (bigint | null)[]): { batch: arrow.RecordBatch; present: boolean; min: number; max: number } {
  const type = (COLUMNS.get(name) as ColumnRecord).type as ColumnType;
  const scale = name === 'price' ? 2 : 0;
  const batch = rowsToRecordBatch([{ name, type }], values.map((v) => ({ [name]: v === null ? null : formatDecimal(v, scale) })));
  const encoded = encodeStream(type, batch.getChildAt(0) as arrow.Vector);
  const bound = (value: number | string | undefined, direction: 'down' | 'up'): number => (value === undefined ? Number.NaN : outwardFloat(value, direction));
  return { batch, present: encoded.nulls < values.length, min: bound(encoded.min, 'down'), max: bound(encoded.max, 'up') };
}

/** Unscaled values of the rows kept, read from the Decimal128 words. */
function kept(batch: arrow.RecordBatch, predicates: readonly StatsPredicate[]): bigint[] {
  const out: bigint[] = [];
  for (const slice of filterRows(batch, predicates)) {
    const data = (slice.getChildAt(0) as arrow.Vector).data[0] as arrow.Data;
    const words = data.values as Uint32Array;
    for (let i = 0; i < slice.numRows; i++) {
      let value = 0n;
      for (let w = 3; w >= 0; w--) value = (value << 32n) | BigInt(words[i * 4 + w] as number);
      out.push(BigInt.asIntN(128, value));
    }
  }
  return out;
}

/** v (at `scale`) op literal (lv at `lscale`), compared as rationals. */
function holds(op: StatsOp, v: bigint, scale: number, lv: bigint, lscale: number): boolean {
  const s = Math.max(scale, lscale);
  const a = v * 10n ** BigInt(s - scale);
  const b = lv * 10n ** BigInt(s - lscale);
  return op === '=' ? a === b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

describe('where on decimals', () => {
  it('keeps the boundary unit and skips one unit beyond it, by stats and by rows', () => {
    const values = [1234n, 1235n, null, -1n, 99_999_999_999n];
    const { batch, present, min, max } = stripe('price', values);
    expect(kept(batch, [{ column: 'price', op: '>=', value: '12.35' }])).toEqual([1235n, 99_999_999_999n]);
    expect(kept(batch, [{ column: 'price', op: '=', value: 12.34 }])).toEqual([1234n]);
    expect(kept(batch, [{ column: 'price', op: '<', value: '0' }])).toEqual([-1n]);
    expect(kept(batch, [{ column: 'price', op: 'between', value: ['-0.01', '12.34'] }])).toEqual([1234n, -1n]);
    // A literal between two units: 12.345 lies strictly between 12.34 and 12.35.
    expect(kept(batch, [{ column: 'price', op: '>', value: '12.345' }])).toEqual([1235n, 99_999_999_999n]);
    expect(kept(batch, [{ column: 'price', op: '=', value: '12.345' }])).toEqual([]);
    expect(mayMatch(present, min, max, resolvePredicate({ column: 'price', op: '>=', value: '999999999.99' }, COLUMNS))).toBe(true);
    expect(mayMatch(present, min, max, resolvePredicate({ column: 'price', op: '>', value: '999999999.99' }, COLUMNS))).toBe(true);
    expect(mayMatch(present, min, max, resolvePredicate({ column: 'price', op: '>', value: '1000000000' }, COLUMNS))).toBe(false);
    expect(mayMatch(present, min, max, resolvePredicate({ column: 'price', op: '<', value: '-0.02' }, COLUMNS))).toBe(false);
  });

  it('tells 38-digit neighbours apart in rows (doubles cannot), and pruning keeps them', () => {
    const big = 10n ** 38n - 2n;
    const { batch, present, min, max } = stripe('wide', [big, big + 1n, -big]);
    expect(kept(batch, [{ column: 'wide', op: '>', value: (big).toString() }])).toEqual([big + 1n]);
    expect(kept(batch, [{ column: 'wide', op: '=', value: (-big).toString() }])).toEqual([-big]);
    expect(mayMatch(present, min, max, resolvePredicate({ column: 'wide', op: '>', value: big.toString() }, COLUMNS))).toBe(true);
  });

  it('refuses a literal that is not a decimal, saying why', () => {
    expect(() => resolvePredicate({ column: 'price', op: '>=', value: '12,5' }, COLUMNS)).toThrow(/where price >=: "12,5" is not a decimal number/);
    const { batch } = stripe('price', [1n]);
    expect(() => filterRows(batch, [{ column: 'price', op: '=', value: 'abc' }])).toThrow(/where price: "abc" is not a decimal number/);
  });

  it('agree with an exact comparison (pruning never skips a match)', () => {
    const unscaled = fc.oneof(fc.bigInt({ min: -(10n ** 12n - 1n), max: 10n ** 12n - 1n }), fc.bigInt({ min: -500n, max: 500n }));
    const literal = fc.tuple(fc.bigInt({ min: -(10n ** 13n), max: 10n ** 13n }), fc.integer({ min: 0, max: 4 }));
    fc.assert(
      fc.property(fc.array(fc.option(unscaled, { nil: null }), { minLength: 1, maxLength: 40 }), literal, fc.constantFrom<StatsOp>('=', '<', '<=', '>', '>='), fc.boolean(), (values, [lv, lscale], op, asNumber) => {
        const text = formatDecimal(lv, lscale);
        const value = asNumber && Math.abs(Number(lv)) < 1e14 ? Number(text) : text;
        const predicate: StatsPredicate = { column: 'price', op, value };
        const { batch, present, min, max } = stripe('price', values);
        const expected = values.filter((v): v is bigint => v !== null && holds(op, v, 2, lv, lscale));
        expect(kept(batch, [predicate])).toEqual(expected);
        if (expected.length > 0) expect(mayMatch(present, min, max, resolvePredicate(predicate, COLUMNS))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
