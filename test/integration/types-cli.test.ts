/**
 * decimal(p,s) and string_list columns, and float bits, as a user meets them through the `granary`
 * binary: a table declared with `DECIMAL(12, 2)` (stored as decimal(12,2)), rows ingested from
 * JSON Lines, from a Parquet file DuckDB wrote (DECIMAL and VARCHAR[]) and from an Arrow IPC
 * file; read back as JSON Lines (exact decimal text), CSV, Arrow (Decimal128, List<Utf8>) and
 * Parquet that DuckDB reads as DECIMAL(12,2) / VARCHAR[] with equal values; `--where` on a
 * decimal compared exactly; a value that would round refused naming file, row and column with
 * nothing stored. A Parquet file of float, double and float16 NaNs with signs and payloads comes
 * back out as Arrow and as Parquet with the same bits.
 */
import { openAsBlob } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { describe, expect, it } from 'vitest';
import { rowsToRecordBatch } from '../../client/format/index.js';
import { useCliCluster, duck, jsonLines } from '../helpers/cli-cluster.js';

const FIXTURES = join(process.cwd(), 'test/fixtures/parquet-testing-types');

const { cluster, granary, ok } = useCliCluster('types-cli');





/** The record batches of a Parquet file as parquet-wasm reads it. */
async function parquetTable(path: string): Promise<arrow.Table> {
  const file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  const batches: arrow.RecordBatch[] = [];
  for await (const batch of (await file.stream({ batchSize: 10_000 })) as AsyncIterable<parquet.RecordBatch>) {
    batches.push(...arrow.tableFromIPC(batch.intoIPCStream()).batches);
  }
  file.free();
  return new arrow.Table(batches);
}

/** A column's value bits as hex strings, in row order, whatever its width. */
function bitsOf(table: arrow.Table, name: string): string[] {
  const out: string[] = [];
  for (const data of table.getChild(name)?.data ?? []) {
    const values = data.values as Float32Array | Float64Array;
    const view = values.BYTES_PER_ELEMENT === 4 ? new Uint32Array(values.buffer, values.byteOffset, data.length) : new BigUint64Array(values.buffer, values.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? (view[i] as number | bigint).toString(16) : 'null');
  }
  return out;
}

describe('decimal and string_list columns through the CLI', () => {
  it('ingests JSON Lines, DuckDB Parquet and Arrow, filters decimals exactly, writes every output format', async () => {
    const files = cluster.dir;
    const schema = join(files, 'orders.json');
    await writeFile(
      schema,
      JSON.stringify({
        columns: [
          { name: 'id', type: 'int64' },
          { name: 'price', type: 'DECIMAL(12, 2)' },
          { name: 'big', type: 'decimal(38,10)' },
          { name: 'tags', type: 'string_list' },
        ],
      }),
    );
    expect(await ok(['table', 'create', 'orders', '--schema', schema, '--ec', '2+1'])).toMatch(/created table orders: 4 columns/);
    expect(await ok(['table', 'describe', 'orders'])).toMatch(/price\s+decimal\(12,2\)[\s\S]*big\s+decimal\(38,10\)[\s\S]*tags\s+string_list/);

    const jsonl = join(files, 'orders.jsonl');
    await writeFile(
      jsonl,
      [
        { id: 1, price: '12.34', big: '-1234567890123456789012345678.0123456789', tags: ['sports', 'news'] },
        { id: 2, price: 12.35, big: '0.0000000001', tags: [] },
        { id: 3, price: '-0.01', tags: null },
        { id: 4, price: '9999999999.99', big: '9999999999999999999999999999.9999999999', tags: ['', 'é'] },
      ]
        .map((row) => JSON.stringify(row))
        .join('\n'),
    );
    expect(await ok(['ingest', 'orders', jsonl, '--partition', 'ds=2026-12-01'])).toMatch(/ingested 4 rows/);

    const fromDuck = join(files, 'orders.parquet');
    await duck(`COPY (
      SELECT * FROM (VALUES
        (10, 12.3::DECIMAL(12,2), '42.5'::DECIMAL(38,10), ['a', 'b', 'c']),
        (11, NULL, NULL, NULL),
        (12, -99999.99::DECIMAL(12,2), '-0.0000000001'::DECIMAL(38,10), [])
      ) AS t(id, price, big, tags)
    ) TO '${fromDuck}' (FORMAT parquet, COMPRESSION zstd)`);
    expect(await ok(['ingest', 'orders', fromDuck, '--partition', 'ds=2026-12-02'])).toMatch(/ingested 3 rows/);

    const arrowFile = join(files, 'orders.arrow');
    const batch = rowsToRecordBatch(
      [
        { name: 'id', type: 'int64' },
        { name: 'price', type: 'decimal(12,2)' },
        { name: 'tags', type: 'string_list' },
      ],
      [{ id: 20, price: '0.10', tags: ['x'] }],
    );
    await writeFile(arrowFile, arrow.tableToIPC(new arrow.Table([batch]), 'file'));
    expect(await ok(['ingest', 'orders', arrowFile, '--partition', 'ds=2026-12-03'])).toMatch(/ingested 1 rows?/);

    // Refused: a value that would round (JSON Lines, Parquet of a larger scale); nothing stored.
    const roundJson = join(files, 'round.jsonl');
    await writeFile(roundJson, `${JSON.stringify({ id: 30, price: '1.00' })}\n${JSON.stringify({ id: 31, price: '1.005' })}\n`);
    const refusedJson = await granary(['ingest', 'orders', roundJson, '--partition', 'ds=2026-12-04']);
    expect(refusedJson.code).not.toBe(0);
    expect(refusedJson.stderr).toMatch(/round\.jsonl:2: column price \(decimal\(12,2\)\): "1\.005" has more than 2 fraction digits and would be rounded/);
    const roundParquet = join(files, 'round.parquet');
    await duck(`COPY (SELECT * FROM (VALUES (40, 1.000::DECIMAL(12,3)), (41, 1.005::DECIMAL(12,3))) AS t(id, price)) TO '${roundParquet}' (FORMAT parquet)`);
    const refusedParquet = await granary(['ingest', 'orders', roundParquet, '--partition', 'ds=2026-12-04']);
    expect(refusedParquet.code).not.toBe(0);
    expect(refusedParquet.stderr).toMatch(/round\.parquet: row 1, column price: 1\.005 has more than 2 fraction digits and would be rounded in decimal\(12,2\)/);
    expect(await ok(['read', 'orders', '--partition', 'ds=2026-12-04'])).toBe('');

    const all = jsonLines(await ok(['read', 'orders'])).sort((a, b) => Number(a['id']) - Number(b['id']));
    expect(all).toEqual([
      { id: 1, price: '12.34', big: '-1234567890123456789012345678.0123456789', tags: ['sports', 'news'] },
      { id: 2, price: '12.35', big: '0.0000000001', tags: [] },
      { id: 3, price: '-0.01', big: null, tags: null },
      { id: 4, price: '9999999999.99', big: '9999999999999999999999999999.9999999999', tags: ['', 'é'] },
      { id: 10, price: '12.30', big: '42.5000000000', tags: ['a', 'b', 'c'] },
      { id: 11, price: null, big: null, tags: null },
      { id: 12, price: '-99999.99', big: '-0.0000000001', tags: [] },
      { id: 20, price: '0.10', big: null, tags: ['x'] },
    ]);

    const ids = async (where: string): Promise<number[]> =>
      jsonLines(await ok(['read', 'orders', '--columns', 'id', '--where', where]))
        .map((row) => row['id'] as number)
        .sort((a, b) => a - b);
    expect(await ids("price >= '12.35'")).toEqual([2, 4]);
    expect(await ids('price = 12.3')).toEqual([10]);
    expect(await ids("price > '12.345'")).toEqual([2, 4]);
    expect(await ids("price between '-0.01' and '0.10'")).toEqual([3, 20]);
    expect(await ids("big < '0'")).toEqual([1, 12]);
    expect(await ids("big > '9999999999999999999999999999.9999999998'")).toEqual([4]);
    const badWhere = await granary(['read', 'orders', '--where', "price >= '1.2.3'"]);
    expect(badWhere.code).not.toBe(0);
    expect(badWhere.stderr).toMatch(/where price >=: "1.2.3" is not a decimal number/);

    const csv = await ok(['read', 'orders', '--partition', 'ds=2026-12-02', '--format', 'csv']);
    expect(csv.split('\n').slice(0, 4).sort()).toEqual(['10,12.30,42.5000000000,"[""a"",""b"",""c""]"', '11,,,', '12,-99999.99,-0.0000000001,[]', 'id,price,big,tags'].sort());

    const arrowOut = join(files, 'out.arrow');
    await ok(['read', 'orders', '--partition', 'ds=2026-12-02', '--format', 'arrow', '--out', arrowOut]);
    const arrowTable = arrow.tableFromIPC(await readFile(arrowOut));
    expect(String(arrowTable.schema.fields.find((f) => f.name === 'price')?.type)).toBe(String(new arrow.Decimal(2, 12, 128)));
    expect(String(arrowTable.schema.fields.find((f) => f.name === 'tags')?.type)).toBe('List<Utf8>');

    const parquetOut = join(files, 'out.parquet');
    await ok(['read', 'orders', '--format', 'parquet', '--out', parquetOut]);
    expect(await duck(`SELECT typeof(price), typeof(big), typeof(tags) FROM '${parquetOut}' LIMIT 1`)).toEqual([['DECIMAL(12,2)', 'DECIMAL(38,10)', 'VARCHAR[]']]);
    // Every row DuckDB reads back equals what went in (decimals compared as DECIMAL, lists as lists).
    const back = await duck(`SELECT id, price::VARCHAR, big::VARCHAR, to_json(tags)::VARCHAR FROM '${parquetOut}' ORDER BY id`);
    expect(back.map(([id, price, big, tags]) => [id, price, big, tags === null ? null : JSON.parse(tags as string)])).toEqual(
      all.map((row) => [BigInt(row['id'] as number), row['price'], row['big'], row['tags']]),
    );
    const mismatches = await duck(`SELECT count(*) FROM '${fromDuck}' a JOIN '${parquetOut}' b USING (id) WHERE a.price IS DISTINCT FROM b.price OR a.big IS DISTINCT FROM b.big OR a.tags IS DISTINCT FROM b.tags`);
    expect(mismatches).toEqual([[0n]]);

    expect(await ok(['table', 'alter', 'orders', '--add-column', 'fee:decimal(10)'])).toMatch(/schema v2 with 5 columns/);
    expect(await ok(['table', 'describe', 'orders'])).toMatch(/fee\s+decimal\(10,0\)/);
    const badType = await granary(['table', 'alter', 'orders', '--add-column', 'x:decimal(39,2)']);
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toMatch(/decimal precision 39 is outside 1\.\.38/);
  });

  it('keeps float, double and float16 NaN signs and payloads, -0 and subnormals through Arrow and Parquet out', async () => {
    const files = cluster.dir;
    const schema = join(files, 'floats.json');
    await writeFile(
      schema,
      JSON.stringify({
        columns: [
          { name: 'float_ieee754', type: 'float' },
          { name: 'float_typedef', type: 'float' },
          { name: 'double_ieee754', type: 'double' },
          { name: 'double_typedef', type: 'double' },
          { name: 'float16_ieee754', type: 'float' },
          { name: 'float16_typedef', type: 'double' },
        ],
      }),
    );
    await ok(['table', 'create', 'floats', '--schema', schema, '--ec', '2+1']);
    const source = join(FIXTURES, 'floating_orders_nan_count.parquet');
    expect(await ok(['ingest', 'floats', source, '--partition', 'ds=1'])).toMatch(/ingested 50 rows/);
    const input = await parquetTable(source);
    const arrowOut = join(files, 'floats.arrow');
    await ok(['read', 'floats', '--format', 'arrow', '--out', arrowOut]);
    const parquetOut = join(files, 'floats.parquet');
    await ok(['read', 'floats', '--format', 'parquet', '--out', parquetOut]);
    const outputs = [arrow.tableFromIPC(await readFile(arrowOut)), await parquetTable(parquetOut)];
    for (const output of outputs) {
      expect(output.numRows).toBe(50);
      for (const name of ['float_ieee754', 'float_typedef', 'double_ieee754', 'double_typedef']) expect(bitsOf(output, name), name).toEqual(bitsOf(input, name));
      const halves = bitsOf(output, 'float16_ieee754');
      // -NaN with payload 0x3ff, -sNaN and +sNaN with payload 1, -0: the sign and payload kept.
      expect(halves).toEqual(expect.arrayContaining(['ffffe000', 'ff802000', '7f802000', '80000000']));
      expect(bitsOf(output, 'float16_typedef')).toEqual(expect.arrayContaining(['fffffc0000000000', 'fff0040000000000', '8000000000000000']));
    }
  });
});
