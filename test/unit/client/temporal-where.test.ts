/**
 * `where` on timestamp and date columns: the CLI's literals, the planner's stats pruning (from the
 * min/max the stream encoder records) and the reader's row filter must agree with a plain
 * comparison of the stored microseconds or days, at the boundaries and with nulls. Pruning may
 * keep a stripe with no match (its bounds are non-strict and rounded outward), never skip one
 * that has a match.
 */
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWhere } from '../../../client/cli/data-commands.js';
import { encodeStream, rowsToRecordBatch } from '../../../client/format/index.js';
import { filterRows } from '../../../client/reader/row-filter.js';
import { mayMatch, outwardFloat, resolvePredicate } from '../../../metadata/pruning.js';
import type { ColumnRecord } from '../../../metadata/records.js';
import {
  type ColumnType,
  type StatsOp,
  type StatsPredicate,
  TIMESTAMP_MICROS_MAX,
  TIMESTAMP_MICROS_MIN,
  formatDate,
  formatTimestamp,
} from '../../../protocol/index.js';

const COLUMNS: ReadonlyMap<string, ColumnRecord> = new Map([
  ['ts', { cid: 0, name: 'ts', type: 'timestamp', addedInVersion: 1 }],
  ['day', { cid: 1, name: 'day', type: 'date', addedInVersion: 1 }],
]);

/** A stripe of one column: its rows as the reader sees them and its stats as the planner does. */
function stripe(type: ColumnType, values: readonly (bigint | number | null)[]): { batch: arrow.RecordBatch; present: boolean; min: number; max: number } {
  const name = type === 'timestamp' ? 'ts' : 'day';
  const batch = rowsToRecordBatch([{ name, type }], values.map((v) => ({ [name]: typeof v === 'bigint' ? v.toString() : v })));
  const encoded = encodeStream(type, batch.getChildAt(0) as arrow.Vector);
  // As metadata/manifest.ts keeps them: float64, rounded outward; NaN when there are none.
  const bound = (value: number | string | undefined, direction: 'down' | 'up'): number =>
    value === undefined ? Number.NaN : outwardFloat(value, direction);
  return { batch, present: encoded.nulls < values.length, min: bound(encoded.min, 'down'), max: bound(encoded.max, 'up') };
}

/** Stored values of the rows the filter keeps. */
function kept(batch: arrow.RecordBatch, predicates: readonly StatsPredicate[]): (bigint | number)[] {
  const out: (bigint | number)[] = [];
  for (const slice of filterRows(batch, predicates)) {
    const data = (slice.getChildAt(0) as arrow.Vector).data[0] as arrow.Data;
    for (let i = 0; i < data.length; i++) out.push((data.values as BigInt64Array | Int32Array)[i] as bigint | number);
  }
  return out;
}

function compare(op: StatsOp, v: bigint | number, low: bigint | number, high: bigint | number): boolean {
  switch (op) {
    case '=':
      return v === low;
    case '<':
      return v < low;
    case '<=':
      return v <= low;
    case '>':
      return v > low;
    case '>=':
      return v >= low;
    case 'between':
      return v >= low && v <= high;
  }
}

describe('--where literals', () => {
  it('reads quoted text and unquoted dates as text, numbers as before', () => {
    expect(parseWhere("ts >= '2026-11-20T00:00:00Z' and day = 2026-11-20 and n < 5")).toEqual([
      { column: 'ts', op: '>=', value: '2026-11-20T00:00:00Z' },
      { column: 'day', op: '=', value: '2026-11-20' },
      { column: 'n', op: '<', value: 5 },
    ]);
    expect(parseWhere("ts between '2026-11-20 08:00:00+05:30' and '2026-11-21'")).toEqual([
      { column: 'ts', op: 'between', value: ['2026-11-20 08:00:00+05:30', '2026-11-21'] },
    ]);
    expect(parseWhere('ts < 2026-11-20T08:15:00.5-08:00')).toEqual([{ column: 'ts', op: '<', value: '2026-11-20T08:15:00.5-08:00' }]);
    expect(() => parseWhere("ts >= '2026-11-20")).toThrow(/cannot read/);
  });

  it('are refused by the planner with the reason when they do not read as the column type', () => {
    expect(() => resolvePredicate({ column: 'ts', op: '>=', value: '2026-11-31T00:00:00Z' }, COLUMNS)).toThrow(/where ts >=: .*day 31 is not 01\.\.30/);
    expect(() => resolvePredicate({ column: 'day', op: '=', value: '2026-11-20T00:00:00Z' }, COLUMNS)).toThrow(/where day =: .*expected YYYY-MM-DD/);
    expect(() => resolvePredicate({ column: 'ts', op: 'between', value: ['2026-11-20', 'soon'] }, COLUMNS)).toThrow(/is not an RFC 3339 timestamp/);
  });
});

describe('pruning and row filtering on timestamps', () => {
  const at = (text: string): bigint => BigInt(new Date(text).getTime()) * 1000n;
  const day = [at('2026-11-20T00:00:00Z'), at('2026-11-20T08:15:00Z') + 123_456n, null, at('2026-11-20T23:59:59Z') + 999_999n];

  it('keep the boundary microsecond and skip one microsecond beyond it', () => {
    const { batch, present, min, max } = stripe('timestamp', day);
    const check = (op: StatsOp, value: string | readonly [string, string]): { prunedAway: boolean; rows: number } => {
      const predicate = { column: 'ts', op, value } as StatsPredicate;
      return { prunedAway: !mayMatch(present, min, max, resolvePredicate(predicate, COLUMNS)), rows: kept(batch, [predicate]).length };
    };
    expect(check('>=', '2026-11-20T23:59:59.999999Z')).toEqual({ prunedAway: false, rows: 1 });
    expect(check('>=', '2026-11-21T00:00:00Z')).toEqual({ prunedAway: true, rows: 0 });
    expect(check('>', '2026-11-20T23:59:59.999999Z')).toEqual({ prunedAway: false, rows: 0 }); // bounds are non-strict
    expect(check('<', '2026-11-20T00:00:00Z')).toEqual({ prunedAway: false, rows: 0 });
    expect(check('<', '2026-11-19T23:59:59.999999Z')).toEqual({ prunedAway: true, rows: 0 });
    expect(check('<=', '2026-11-20T05:30:00+05:30')).toEqual({ prunedAway: false, rows: 1 }); // midnight UTC
    expect(check('=', '2026-11-20T13:45:00.123456+05:30')).toEqual({ prunedAway: false, rows: 1 });
    expect(check('=', '2026-11-20T08:15:00.123455Z')).toEqual({ prunedAway: false, rows: 0 });
    expect(check('between', ['2026-11-20T00:00:00.000001Z', '2026-11-20T23:59:59.999998Z'])).toEqual({ prunedAway: false, rows: 1 });
    expect(check('between', ['2026-11-21', '2026-11-22'])).toEqual({ prunedAway: true, rows: 0 });
    // Integer microseconds work as well as text.
    expect(kept(batch, [{ column: 'ts', op: '=', value: (day[1] as bigint).toString() }])).toEqual([day[1]]);
  });

  it('skip a stripe of nulls only, and never match a null row', () => {
    const { batch, present, min, max } = stripe('timestamp', [null, null]);
    const predicate: StatsPredicate = { column: 'ts', op: '>=', value: '1970-01-01T00:00:00Z' };
    expect(kept(batch, [predicate])).toEqual([]);
    // All null: no stats (NaN) and the planner skips the stripe by its null count (planner.ts).
    expect(Number.isNaN(min) && Number.isNaN(max)).toBe(true);
    expect(present).toBe(false);
  });

  it('agree with a plain comparison over the whole int64 range (pruning never skips a match)', () => {
    const micros = fc.oneof(
      fc.bigInt({ min: TIMESTAMP_MICROS_MIN, max: TIMESTAMP_MICROS_MAX }),
      fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
      fc.constantFrom(TIMESTAMP_MICROS_MIN, TIMESTAMP_MICROS_MAX, 0n, -1n, 2n ** 53n + 1n),
    );
    const ops = fc.constantFrom<StatsOp>('=', '<', '<=', '>', '>=', 'between');
    fc.assert(
      fc.property(fc.array(fc.option(micros), { minLength: 1, maxLength: 20 }), ops, micros, micros, fc.nat(), fc.boolean(), (values, op, a, b, pick, asText) => {
        const nonNull = values.filter((v): v is bigint => v !== null);
        // Often a literal equal to a stored value, to hit the boundaries.
        const low = pick % 2 === 0 && nonNull.length > 0 ? (nonNull[pick % nonNull.length] as bigint) : a < b ? a : b;
        const high = a < b ? b : a > low ? a : low;
        const literal = (v: bigint): string => (asText ? formatTimestamp(v) : v.toString());
        const predicate = { column: 'ts', op, value: op === 'between' ? [literal(low), literal(high)] : literal(low) } as StatsPredicate;
        const { batch, present, min, max } = stripe('timestamp', values);
        const expected = nonNull.filter((v) => compare(op, v, low, high));
        expect(kept(batch, [predicate])).toEqual(expected);
        if (expected.length > 0) expect(mayMatch(present, min, max, resolvePredicate(predicate, COLUMNS))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('pruning and row filtering on dates', () => {
  it('agree with a plain comparison of days, text or integer literals', () => {
    const days = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -1000, max: 1000 }));
    const ops = fc.constantFrom<StatsOp>('=', '<', '<=', '>', '>=', 'between');
    fc.assert(
      fc.property(fc.array(fc.option(days), { minLength: 1, maxLength: 20 }), ops, days, days, fc.nat(), fc.boolean(), (values, op, a, b, pick, asText) => {
        const nonNull = values.filter((v): v is number => v !== null);
        const low = pick % 2 === 0 && nonNull.length > 0 ? (nonNull[pick % nonNull.length] as number) : Math.min(a, b);
        const high = Math.max(a, b, low);
        const literal = (v: number): string | number => (asText ? formatDate(v) : v);
        const predicate = { column: 'day', op, value: op === 'between' ? [literal(low), literal(high)] : literal(low) } as StatsPredicate;
        const { batch, present, min, max } = stripe('date', values);
        const expected = nonNull.filter((v) => compare(op, v, low, high));
        expect(kept(batch, [predicate])).toEqual(expected);
        if (expected.length > 0) expect(mayMatch(present, min, max, resolvePredicate(predicate, COLUMNS))).toBe(true);
      }),
      { numRuns: 500 },
    );
    const { batch } = stripe('date', [0, null, 11016, -1]);
    expect(kept(batch, [{ column: 'day', op: '>=', value: '2000-02-29' }])).toEqual([11016]);
    expect(kept(batch, [{ column: 'day', op: '<', value: '1970-01-01' }])).toEqual([-1]);
  });
});
