/**
 * Timestamps and dates through the file formats: JSON Lines and CSV text in any offset, Arrow IPC
 * and Parquet timestamps of every unit (Parquet written by DuckDB), converted exactly into the
 * stored streams and written back out as JSON Lines, CSV, Arrow and Parquet. Values that do not fit
 * are refused naming the file, the row and the column.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInput } from '../../../client/cli/formats/input.js';
import { temporalConverter } from '../../../client/cli/formats/temporal-convert.js';
import { type OutputFormat, openOutput } from '../../../client/cli/formats/output.js';
import { FormatError, type NamedColumn, arrowSchemaOf, decodeStream, encodeStream, recordBatchToRows } from '../../../client/format/index.js';
import { TIMESTAMP_MICROS_MAX, TIMESTAMP_MICROS_MIN } from '../../../protocol/index.js';

const COLUMNS: readonly NamedColumn[] = [
  { name: 'id', type: 'int32' },
  { name: 'ts', type: 'timestamp' },
  { name: 'day', type: 'date' },
];

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-temporal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function path(name: string): string {
  return join(dir, name);
}

async function collect(batches: AsyncIterable<arrow.RecordBatch>): Promise<arrow.RecordBatch[]> {
  const out: arrow.RecordBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

/** Each batch's columns encoded into streams and decoded back, as the writer and reader do. */
function throughStreams(batches: readonly arrow.RecordBatch[], columns: readonly NamedColumn[]): arrow.RecordBatch[] {
  return batches.map((batch) => {
    const children = columns.map((column, c) => {
      const encoded = encodeStream(column.type, batch.getChildAt(c) as arrow.Vector);
      return decodeStream(column.type, encoded.bytes, batch.numRows);
    });
    const schema = arrowSchemaOf(columns);
    return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
  });
}

/** Stored values of a column over batches: bigint microseconds, int32 days, or null. */
function stored(batches: readonly arrow.RecordBatch[], name: string): (bigint | number | null)[] {
  const out: (bigint | number | null)[] = [];
  for (const batch of batches) {
    for (const data of (batch.getChild(name) as arrow.Vector).data) {
      for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? ((data.values as BigInt64Array | Int32Array)[i] as bigint | number) : null);
    }
  }
  return out;
}

function timestampData(unit: arrow.TimeUnit, timezone: string | null, values: readonly (bigint | null)[]): arrow.Data {
  const bits = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v !== null) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
  });
  return arrow.makeData({
    type: new arrow.Timestamp(unit, timezone) as arrow.TimestampMicrosecond,
    length: values.length,
    nullCount: values.filter((v) => v === null).length,
    nullBitmap: bits,
    data: BigInt64Array.from(values, (v) => v ?? 0n),
  });
}

async function arrowFile(name: string, columns: Record<string, arrow.Data>): Promise<string> {
  const table = new arrow.Table(Object.fromEntries(Object.entries(columns).map(([key, data]) => [key, new arrow.Vector([data])])));
  const file = path(name);
  await writeFile(file, arrow.tableToIPC(table, 'file'));
  return file;
}

const TS = [{ name: 'ts', type: 'timestamp' }] as const;
const DAY = [{ name: 'day', type: 'date' }] as const;

describe('JSON Lines and CSV', () => {
  it('read RFC 3339 at any offset and integer microseconds, store them as microseconds, write canonical UTC text', async () => {
    const file = path('t.jsonl');
    await writeFile(
      file,
      [
        { id: 1, ts: '2026-11-20T13:45:00.123456+05:30', day: '2026-11-20' },
        { id: 2, ts: 1795162500123456, day: 20777 },
        { id: 3, ts: '-9223372036854775808', day: '0001-01-01' },
        { id: 4 },
        { id: 5, ts: '1969-12-31T23:59:59.999999Z', day: '1969-12-31' },
        { id: 6, ts: '2024-02-29 23:30:00', day: '2024-02-29' },
        { id: 7, ts: '9999-12-31T23:59:59.999999-00:00', day: '9999-12-31' },
      ]
        .map((row) => JSON.stringify(row))
        .join('\n'),
    );
    const batches = throughStreams(await collect(readInput(file, 'jsonl', COLUMNS, 3)), COLUMNS);
    expect(stored(batches, 'ts')).toEqual([1795162500123456n, 1795162500123456n, TIMESTAMP_MICROS_MIN, null, -1n, 1709249400000000n, 253402300799999999n]);
    expect(stored(batches, 'day')).toEqual([20777, 20777, -719162, null, -1, 19782, 2932896]);
    const rows = batches.flatMap((batch) => recordBatchToRows(batch));
    expect(rows.map((row) => [row['ts'], row['day']])).toEqual([
      ['2026-11-20T08:15:00.123456Z', '2026-11-20'],
      ['2026-11-20T08:15:00.123456Z', '2026-11-20'],
      ['-290308-12-21T19:59:05.224192Z', '0001-01-01'],
      [null, null],
      ['1969-12-31T23:59:59.999999Z', '1969-12-31'],
      ['2024-02-29T23:30:00.000000Z', '2024-02-29'],
      ['9999-12-31T23:59:59.999999Z', '9999-12-31'],
    ]);
  });

  it('refuses a bad timestamp or date naming the line and saying what is wrong', async () => {
    const cases: [string, RegExp][] = [
      ['{"id":1}\n{"id":2,"ts":"2026-11-20T08:15:00.1234567Z"}', /bad\.jsonl:2: column ts \(timestamp\): .*whole microseconds.*rounded/],
      ['{"id":1,"ts":"2026-02-30T00:00:00Z"}', /bad\.jsonl:1: column ts \(timestamp\): .*day 30 is not 01\.\.28/],
      ['{"id":1,"ts":9007199254740993}', /bad\.jsonl:1: column ts \(timestamp\): .*within 2\^53/],
      ['{"id":1,"ts":"9223372036854775808"}', /bad\.jsonl:1: column ts \(timestamp\): .*outside int64/],
      ['{"id":1,"ts":true}', /bad\.jsonl:1: column ts: expected RFC 3339 text/],
      ['{"id":1,"day":"2026-11-20T00:00:00Z"}', /bad\.jsonl:1: column day \(date\): .*expected YYYY-MM-DD/],
      ['{"id":1,"day":2147483648}', /bad\.jsonl:1: column day \(date\): .*outside int32/],
    ];
    for (const [text, message] of cases) {
      await writeFile(path('bad.jsonl'), text);
      const error = await collect(readInput(path('bad.jsonl'), 'jsonl', COLUMNS)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('CSV: reads text and integers, writes canonical text that reads back the same', async () => {
    const file = path('t.csv');
    await writeFile(file, 'id,ts,day\n1,2026-11-20T13:45:00+05:30,2026-11-20\n2,,\n3,+1795162500123456, 2026-11-20 \n4, 1970-01-01T00:00:00Z ,1970-01-01\n');
    const batches = throughStreams(await collect(readInput(file, 'csv', COLUMNS)), COLUMNS);
    expect(stored(batches, 'ts')).toEqual([1795162500000000n, null, 1795162500123456n, 0n]);
    expect(stored(batches, 'day')).toEqual([20777, null, 20777, 0]);
    const out = path('out.csv');
    await writeOut('csv', out, batches, COLUMNS);
    expect(await readFile(out, 'utf8')).toBe(
      'id,ts,day\n1,2026-11-20T08:15:00.000000Z,2026-11-20\n2,,\n3,2026-11-20T08:15:00.123456Z,2026-11-20\n4,1970-01-01T00:00:00.000000Z,1970-01-01\n',
    );
    const again = throughStreams(await collect(readInput(out, 'csv', COLUMNS)), COLUMNS);
    expect(stored(again, 'ts')).toEqual(stored(batches, 'ts'));
    await writeFile(path('bad.csv'), 'id,ts\n1,2026-11-20T25:00:00Z\n');
    await expect(collect(readInput(path('bad.csv'), 'csv', COLUMNS))).rejects.toThrow(/bad\.csv:2: column ts \(timestamp\): .*hour 25/);
    await writeFile(path('bad.csv'), 'id,day\n1,20261120\n');
    await expect(collect(readInput(path('bad.csv'), 'csv', COLUMNS))).rejects.toThrow(/bad\.csv:2: column day \(date\): "20261120" is not a date: write it as YYYY-MM-DD/);
  });
});

async function writeOut(format: OutputFormat, file: string, batches: readonly arrow.RecordBatch[], columns: readonly NamedColumn[]): Promise<void> {
  const target = createWriteStream(file);
  const output = openOutput(format, target, arrowSchemaOf(columns));
  for (const batch of batches) await output.write(batch);
  await output.close();
  target.end();
  await finished(target);
}

describe('Arrow IPC timestamps of every unit', () => {
  it('converts s, ms, us and ns, zoned or not, exactly to microseconds', async () => {
    const cases: [arrow.TimeUnit, string | null, bigint[], bigint[]][] = [
      [arrow.TimeUnit.SECOND, null, [0n, -1n, 1_795_162_500n, 9_223_372_036_854n], [0n, -1_000_000n, 1_795_162_500_000_000n, 9_223_372_036_854_000_000n]],
      [arrow.TimeUnit.MILLISECOND, 'UTC', [1n, -1n, 1_795_162_500_123n], [1000n, -1000n, 1_795_162_500_123_000n]],
      [arrow.TimeUnit.MICROSECOND, 'America/New_York', [TIMESTAMP_MICROS_MIN, TIMESTAMP_MICROS_MAX, -1n], [TIMESTAMP_MICROS_MIN, TIMESTAMP_MICROS_MAX, -1n]],
      [arrow.TimeUnit.MICROSECOND, null, [5n], [5n]],
      [arrow.TimeUnit.NANOSECOND, '+05:30', [1_795_162_500_123_456_000n, -1000n, TIMESTAMP_MICROS_MIN + 808n], [1_795_162_500_123_456n, -1n, -9_223_372_036_854_775n]],
    ];
    for (const [index, [unit, timezone, input, micros]] of cases.entries()) {
      const file = await arrowFile(`unit-${index}.arrow`, { ts: timestampData(unit, timezone, [...input, null]) });
      const read = await collect(readInput(file, 'arrow', TS));
      expect(String(read[0]?.schema.fields[0]?.type)).toBe('Timestamp<MICROSECOND, UTC>');
      const batches = throughStreams(read, TS);
      expect(stored(batches, 'ts'), `${arrow.TimeUnit[unit]} ${timezone}`).toEqual([...micros, null]);
      // Arrow out: Timestamp<MICROSECOND, UTC>, the same microseconds.
      const out = path(`out-${index}.arrow`);
      await writeOut('arrow', out, batches, TS);
      const back = arrow.tableFromIPC(await readFile(out));
      expect(String(back.schema.fields[0]?.type)).toBe('Timestamp<MICROSECOND, UTC>');
      expect(stored(back.batches, 'ts')).toEqual([...micros, null]);
    }
  });

  it('refuses nanoseconds that are not whole microseconds, and seconds or milliseconds that overflow int64 microseconds', async () => {
    const cases: [string, arrow.Data, RegExp][] = [
      ['ns', timestampData(arrow.TimeUnit.NANOSECOND, null, [1000n, null, 1_795_162_500_123_456_789n]), /ns\.arrow: row 2, column ts: 1795162500123456789 ns is not a whole number of microseconds.*does not round/],
      ['s', timestampData(arrow.TimeUnit.SECOND, null, [9_223_372_036_855n]), /s\.arrow: row 0, column ts: 9223372036855 s is beyond the timestamp range/],
      ['ms', timestampData(arrow.TimeUnit.MILLISECOND, 'UTC', [0n, -9_223_372_036_854_776n]), /ms\.arrow: row 1, column ts: -9223372036854776 ms is beyond/],
    ];
    for (const [name, data, message] of cases) {
      const file = await arrowFile(`${name}.arrow`, { ts: data });
      await expect(collect(readInput(file, 'arrow', TS))).rejects.toThrow(message);
    }
  });

  it('reads Date32 and whole-day Date64 as dates, dates into timestamps, and refuses a Date64 that is not a whole day', async () => {
    const date32 = arrow.makeData({ type: new arrow.DateDay(), length: 3, nullCount: 0, data: new Int32Array([0, -719162, 2932896]) });
    const date64 = arrow.makeData({ type: new arrow.DateMillisecond(), length: 2, nullCount: 0, data: new BigInt64Array([86_400_000n * 20777n, -86_400_000n]) });
    expect(stored(throughStreams(await collect(readInput(await arrowFile('d32.arrow', { day: date32 }), 'arrow', DAY)), DAY), 'day')).toEqual([0, -719162, 2932896]);
    expect(stored(throughStreams(await collect(readInput(await arrowFile('d64.arrow', { day: date64 }), 'arrow', DAY)), DAY), 'day')).toEqual([20777, -1]);
    expect(stored(throughStreams(await collect(readInput(await arrowFile('d32ts.arrow', { ts: date32 }), 'arrow', TS)), TS), 'ts')).toEqual([
      0n,
      -62_135_596_800_000_000n,
      253_402_214_400_000_000n,
    ]);
    const partial = arrow.makeData({ type: new arrow.DateMillisecond(), length: 1, nullCount: 0, data: new BigInt64Array([86_400_001n]) });
    await expect(collect(readInput(await arrowFile('d64bad.arrow', { day: partial }), 'arrow', DAY))).rejects.toThrow(
      /d64bad\.arrow: row 0, column day: Date64 86400001 ms is not a whole day/,
    );
  });

  it('converts a sliced column (validity bits from an offset) row for row', () => {
    const values = [1_000n, null, 2_000n, 3_000n, null, 4_000n, 5_000n, 6_000n, null, 7_000n, 8_000n];
    const data = timestampData(arrow.TimeUnit.NANOSECOND, null, values).slice(3, 4); // Data#slice(offset, length)
    const convert = temporalConverter('timestamp', data.type);
    const out = convert?.(data, (r) => `row ${r}`) as arrow.Data;
    expect(out.nullCount).toBe(1);
    expect(String(out.type)).toBe('Timestamp<MICROSECOND, UTC>');
    const vector = new arrow.Vector([out]);
    expect([0, 1, 2, 3].map((i) => (vector.isValid(i) ? (out.values as BigInt64Array)[i] : null))).toEqual([3n, null, 4n, 5n]);
    expect(() => convert?.(timestampData(arrow.TimeUnit.NANOSECOND, null, [1n, 1000n]).slice(1, 1), (r) => `row ${r}`)).not.toThrow();
  });

  it('refuses integers and timestamps where a date or a timestamp is wanted: a unit cannot be guessed', async () => {
    const ints = arrow.makeData({ type: new arrow.Int64(), length: 1, nullCount: 0, data: new BigInt64Array([1n]) });
    await expect(collect(readInput(await arrowFile('int.arrow', { ts: ints }), 'arrow', TS))).rejects.toThrow(
      /column ts is Int64 in the file, cannot convert it to the table's timestamp \(Timestamp<MICROSECOND, UTC>\)/,
    );
    const ts = timestampData(arrow.TimeUnit.MICROSECOND, null, [0n]);
    await expect(collect(readInput(await arrowFile('tsday.arrow', { day: ts }), 'arrow', DAY))).rejects.toThrow(/cannot convert it to the table's date/);
  });
});

describe('Parquet written by DuckDB', () => {
  it('reads TIMESTAMP (s, ms, us, ns; with and without time zone) and DATE exactly, and writes TIMESTAMP(MICROS, UTC) and DATE', async () => {
    const file = path('duck.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      await connection.run(`COPY (
        SELECT * FROM (VALUES
          (TIMESTAMP '2026-11-20 08:15:00.123456', TIMESTAMPTZ '2026-11-20 13:45:00.123456+05:30', TIMESTAMP_MS '2026-11-20 08:15:00.123',
           TIMESTAMP_NS '2026-11-20 08:15:00.123456', TIMESTAMP_S '1969-12-31 23:59:59', DATE '2024-02-29'),
          (NULL, NULL, NULL, NULL, NULL, NULL),
          (TIMESTAMP '0001-01-01 00:00:00', TIMESTAMPTZ '9999-12-31 23:59:59.999999+00', TIMESTAMP_MS '1970-01-01 00:00:00.001',
           TIMESTAMP_NS '1677-09-22 00:00:00', TIMESTAMP_S '2262-04-11 00:00:00', DATE '0001-01-01')
        ) AS t(naive, zoned, ms, ns, s, day)
      ) TO '${file}' (FORMAT parquet, COMPRESSION zstd)`);
      const columns: NamedColumn[] = ['naive', 'zoned', 'ms', 'ns', 's'].map((name) => ({ name, type: 'timestamp' }));
      columns.push({ name: 'day', type: 'date' });
      const batches = throughStreams(await collect(readInput(file, 'parquet', columns)), columns);
      const rows = batches.flatMap((batch) => recordBatchToRows(batch));
      expect(rows).toEqual([
        {
          naive: '2026-11-20T08:15:00.123456Z',
          zoned: '2026-11-20T08:15:00.123456Z',
          ms: '2026-11-20T08:15:00.123000Z',
          ns: '2026-11-20T08:15:00.123456Z',
          s: '1969-12-31T23:59:59.000000Z',
          day: '2024-02-29',
        },
        { naive: null, zoned: null, ms: null, ns: null, s: null, day: null },
        {
          naive: '0001-01-01T00:00:00.000000Z',
          zoned: '9999-12-31T23:59:59.999999Z',
          ms: '1970-01-01T00:00:00.001000Z',
          ns: '1677-09-22T00:00:00.000000Z',
          s: '2262-04-11T00:00:00.000000Z',
          day: '0001-01-01',
        },
      ]);
      const out = path('out.parquet');
      await writeOut('parquet', out, batches, columns);
      const schema = (await connection.runAndReadAll(`SELECT name, logical_type FROM parquet_schema('${out}') WHERE name IN ('zoned', 'day') ORDER BY name`)).getRows();
      expect(schema).toEqual([
        ['day', 'DateType()'],
        ['zoned', 'TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=<null>, MICROS=MicroSeconds(), NANOS=<null>))'],
      ]);
      const values = (await connection.runAndReadAll(`SELECT epoch_us(naive), epoch_us(ns), day::VARCHAR FROM '${out}'`)).getRows();
      expect(values).toEqual([
        [1795162500123456n, 1795162500123456n, '2024-02-29'],
        [null, null, null],
        [-62135596800000000n, -9223286400000000n, '0001-01-01'],
      ]);
    } finally {
      connection.closeSync();
      db.closeSync();
    }
  });

  it('refuses a nanosecond timestamp that is not a whole microsecond, naming file, row and column', async () => {
    const file = path('ns.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      await connection.run(`COPY (SELECT * FROM (VALUES (TIMESTAMP_NS '2026-11-20 08:15:00.123456'), (TIMESTAMP_NS '2026-11-20 08:15:00.123456789')) AS t(ts)) TO '${file}' (FORMAT parquet)`);
    } finally {
      connection.closeSync();
      db.closeSync();
    }
    await expect(collect(readInput(file, 'parquet', TS))).rejects.toThrow(/ns\.parquet: row 1, column ts: 1795162500123456789 ns is not a whole number of microseconds/);
  });
});
