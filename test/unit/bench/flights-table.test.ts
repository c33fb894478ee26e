import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { FLIGHTS_AIRPORTS, FLIGHTS_COLUMNS, FLIGHTS_SCHEMA, flightsBatches } from '../../../bench/flights-table.js';
import { columnTypeOf } from '../../../client/format/arrow-types.js';

const ROWS = 20_000;

interface Rows {
  readonly dates: bigint[];
  readonly delays: number[];
  readonly distances: number[];
  readonly origins: string[];
  readonly destinations: string[];
}

function collect(batchRows: number): Rows {
  const rows: Rows = { dates: [], delays: [], distances: [], origins: [], destinations: [] };
  for (const batch of flightsBatches(ROWS, batchRows)) {
    expect(batch.numRows).toBeLessThanOrEqual(batchRows);
    // The stored int64 microseconds (apache-arrow's get() of a timestamp is float milliseconds).
    const dates = batch.getChild('date')?.data[0]?.values as BigInt64Array;
    for (let i = 0; i < batch.numRows; i++) {
      rows.dates.push(dates[i] as bigint);
      rows.delays.push(batch.getChild('delay')?.get(i) as number);
      rows.distances.push(batch.getChild('distance')?.get(i) as number);
      rows.origins.push(batch.getChild('origin')?.get(i) as string);
      rows.destinations.push(batch.getChild('destination')?.get(i) as string);
    }
  }
  return rows;
}

describe('flights-like bench table', () => {
  it('has the Arrow layout of its declared column types (what the writer checks)', () => {
    for (const [i, column] of FLIGHTS_COLUMNS.entries()) {
      expect(columnTypeOf((FLIGHTS_SCHEMA.fields[i] as arrow.Field).type)).toBe(column.type);
    }
    const [batch] = flightsBatches(10);
    expect(batch?.schema.fields.map((f) => f.name)).toEqual(FLIGHTS_COLUMNS.map((c) => c.name));
  });

  it('makes the same rows whatever the batch size', () => {
    const big = collect(65_536);
    const small = collect(777);
    expect(small).toEqual(big);
    expect(big.dates).toHaveLength(ROWS);
  });

  it('has sorted minute-resolution times, codes from a short list, and a distance per route', () => {
    const rows = collect(4096);
    const dates = rows.dates;
    for (let i = 1; i < dates.length; i++) expect(dates[i] as bigint).toBeGreaterThanOrEqual(dates[i - 1] as bigint);
    expect(dates.every((d) => d % 60_000_000n === 0n)).toBe(true);
    const codes = new Set([...rows.origins, ...rows.destinations]);
    expect(codes.size).toBeLessThanOrEqual(FLIGHTS_AIRPORTS);
    expect([...codes].every((c) => /^[A-Z]{3}$/.test(c))).toBe(true);
    const routes = new Map<string, number>();
    for (let i = 0; i < ROWS; i++) {
      expect(rows.origins[i]).not.toBe(rows.destinations[i]);
      const route = `${rows.origins[i]}-${rows.destinations[i]}`;
      expect(routes.get(route) ?? rows.distances[i]).toBe(rows.distances[i]);
      routes.set(route, rows.distances[i] as number);
    }
    const sortedDelays = [...rows.delays].sort((a, b) => a - b);
    // Skewed: the median flight is about on time, the tail hours late.
    expect(Math.abs(sortedDelays[ROWS >> 1] as number)).toBeLessThan(10);
    expect(sortedDelays[ROWS - 1] as number).toBeGreaterThan(300);
  });
});
