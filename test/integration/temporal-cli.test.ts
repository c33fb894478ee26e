/**
 * Timestamps and dates as a user meets them through the `granary` binary: a table with
 * `timestamp` and `date` columns, JSON Lines (RFC 3339 at several offsets) and a Parquet file
 * written by DuckDB (nanosecond, zoned and naive timestamps, dates) ingested, read back with
 * `--where` on a timestamp and on a date, and as Parquet that DuckDB reads as TIMESTAMP WITH TIME
 * ZONE and DATE. A Parquet file with a nanosecond that is not a whole microsecond is refused, the
 * message naming the file, row and column, and nothing of it is stored.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCliCluster, duck, jsonLines } from '../helpers/cli-cluster.js';


const { cluster, granary, ok } = useCliCluster('temporal-cli');





describe('timestamp and date columns through the CLI', () => {
  it('ingests JSON Lines and DuckDB Parquet, filters with --where on timestamps and dates, writes Parquet DuckDB reads', async () => {
    const files = cluster.dir;
    const schema = join(files, 'events.json');
    await writeFile(
      schema,
      JSON.stringify({ columns: [{ name: 'id', type: 'int64' }, { name: 'ts', type: 'timestamp' }, { name: 'day', type: 'date' }], partitionBy: ['ds'] }),
    );
    expect(await ok(['table', 'create', 'events', '--schema', schema, '--ec', '2+1'])).toMatch(/created table events: 3 columns/);
    expect(await ok(['table', 'describe', 'events'])).toMatch(/ts\s+timestamp[\s\S]*day\s+date/);

    const jsonl = join(files, 'events.jsonl');
    await writeFile(
      jsonl,
      [
        { id: 1, ts: '2026-11-20T05:29:59.999999+05:30', day: '2026-11-19' }, // 2026-11-19T23:59:59.999999Z
        { id: 2, ts: '2026-11-20T00:00:00Z', day: '2026-11-20' },
        { id: 3, ts: '2026-11-19T16:00:00.000001-08:00', day: '2026-11-20' }, // 2026-11-20T00:00:00.000001Z
        { id: 4, day: '2024-02-29' },
        { id: 5, ts: 1795132800000000, day: 20777 }, // 2026-11-20T00:00:00Z as microseconds
        { id: 6, ts: '1969-12-31T23:59:59.999999Z', day: '0001-01-01' },
      ]
        .map((row) => JSON.stringify(row))
        .join('\n'),
    );
    expect(await ok(['ingest', 'events', jsonl, '--partition', 'ds=2026-11-20'])).toMatch(/ingested 6 rows/);

    const parquet = join(files, 'events.parquet');
    await duck(`COPY (
      SELECT * FROM (VALUES
        (10, TIMESTAMP_NS '2026-11-21 08:15:00.123456', DATE '2026-11-21'),
        (11, TIMESTAMP_NS '2026-11-19 23:59:59', DATE '2026-11-19'),
        (12, NULL, NULL)
      ) AS t(id, ts, day)
    ) TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
    expect(await ok(['ingest', 'events', parquet, '--partition', 'ds=2026-11-21'])).toMatch(/ingested 3 rows/);

    // A nanosecond that is not a whole microsecond: refused, naming file, row and column; nothing stored.
    const bad = join(files, 'bad.parquet');
    await duck(`COPY (SELECT * FROM (VALUES (20, TIMESTAMP_NS '2026-11-22 00:00:00'), (21, TIMESTAMP_NS '2026-11-22 00:00:00.000000001')) AS t(id, ts)) TO '${bad}' (FORMAT parquet)`);
    const refused = await granary(['ingest', 'events', bad, '--partition', 'ds=2026-11-22']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/bad\.parquet: row 1, column ts: 1795305600000000001 ns is not a whole number of microseconds/);
    expect(await ok(['read', 'events', '--partition', 'ds=2026-11-22'])).toBe('');

    const all = jsonLines(await ok(['read', 'events']));
    expect(all.map((row) => row['id']).sort((a, b) => Number(a) - Number(b))).toEqual([1, 2, 3, 4, 5, 6, 10, 11, 12]);
    expect(all.find((row) => row['id'] === 1)).toEqual({ id: 1, ts: '2026-11-19T23:59:59.999999Z', day: '2026-11-19' });
    expect(all.find((row) => row['id'] === 10)).toEqual({ id: 10, ts: '2026-11-21T08:15:00.123456Z', day: '2026-11-21' });

    const ids = async (where: string): Promise<number[]> =>
      jsonLines(await ok(['read', 'events', '--columns', 'id', '--where', where]))
        .map((row) => row['id'] as number)
        .sort((a, b) => a - b);
    // The boundary microsecond is in, the one before it out; the offset is honoured; nulls never match.
    expect(await ids("ts >= '2026-11-20T00:00:00Z'")).toEqual([2, 3, 5, 10]);
    expect(await ids("ts > '2026-11-20T05:30:00+05:30'")).toEqual([3, 10]);
    expect(await ids("ts < '2026-11-20' and ts >= '1970-01-01T00:00:00Z'")).toEqual([1, 11]);
    expect(await ids("ts between '2026-11-20T00:00:00Z' and '2026-11-20T00:00:00.000001Z'")).toEqual([2, 3, 5]);
    expect(await ids("day = '2026-11-20'")).toEqual([2, 3, 5]);
    expect(await ids('day < 1970-01-01')).toEqual([6]);

    const badWhere = await granary(['read', 'events', '--where', "ts >= '2026-11-31T00:00:00Z'"]);
    expect(badWhere.code).not.toBe(0);
    expect(badWhere.stderr).toMatch(/day 31 is not 01\.\.30/);

    const out = join(files, 'out.parquet');
    await ok(['read', 'events', '--partition', 'ds=2026-11-21', '--format', 'parquet', '--out', out]);
    const read = await duck(`SELECT id, typeof(ts), epoch_us(ts), typeof(day), day::VARCHAR FROM '${out}' ORDER BY id`);
    expect(read).toEqual([
      [10n, 'TIMESTAMP WITH TIME ZONE', 1795248900123456n, 'DATE', '2026-11-21'],
      [11n, 'TIMESTAMP WITH TIME ZONE', 1795132799000000n, 'DATE', '2026-11-19'],
      [12n, 'TIMESTAMP WITH TIME ZONE', null, 'DATE', null],
    ]);

    // A timestamp column added later reads as null in the partitions written before it.
    expect(await ok(['table', 'alter', 'events', '--add-column', 'seen:timestamp'])).toMatch(/schema v2 with 4 columns/);
    const afterAlter = jsonLines(await ok(['read', 'events', '--partition', 'ds=2026-11-21', '--columns', 'id,seen', '--where', "seen >= '1970-01-01'"]));
    expect(afterAlter).toEqual([]);
  });
});
