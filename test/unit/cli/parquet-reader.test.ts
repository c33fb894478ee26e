/**
 * The Parquet reader of `granary ingest` on the files of apache/parquet-testing that broke it
 * (issue 16): pages whose CRC does not match are refused naming the file, row group, column and
 * page (and read when checks are off); the file whose footer arrow-rs refuses is read, value for
 * value as DuckDB reads it; every damaged file is one FormatError line naming the file, the row
 * group and the column; invalid UTF-8 in a string column is refused with its place.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInput } from '../../../client/cli/formats/input.js';
import { ParquetFileReader, readParquetSchema } from '../../../client/cli/formats/parquet-input.js';
import { FormatError, type NamedColumn, columnTypeOf, recordBatchToRows } from '../../../client/format/index.js';

const CORPUS = fileURLToPath(new URL('../../fixtures/parquet-testing/', import.meta.url));
const data = (name: string): string => join(CORPUS, 'data', name);
const bad = (name: string): string => join(CORPUS, 'bad_data', name);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-parquet-reader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The file's columns that Granary has a type for, as a table would have them. */
async function columnsOf(path: string): Promise<NamedColumn[]> {
  const schema = await readParquetSchema(path);
  return schema.fields.flatMap((field) => {
    const type = columnTypeOf(field.type);
    return type === undefined ? [] : [{ name: field.name, type }];
  });
}

async function readAll(path: string, columns: readonly NamedColumn[], verifyPageChecksums = true): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of readInput(path, 'parquet', columns, 8192, { verifyPageChecksums })) rows.push(...recordBatchToRows(batch));
  return rows;
}

/** Reads every column of the file as decoded (no table to fit it to): its row count. */
async function readRaw(path: string, verifyPageChecksums = true): Promise<number> {
  const file = await ParquetFileReader.open(path, 8192, { verifyPageChecksums });
  try {
    let rows = 0;
    for await (const { batch } of file.batches()) rows += batch.numRows;
    return rows;
  } finally {
    await file.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<FormatError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, 'expected a FormatError').toBeInstanceOf(FormatError);
  const error = outcome as FormatError;
  expect(error.message).not.toMatch(/\n/);
  return error;
}

async function duckdbRows(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('page CRCs', () => {
  it.each([
    ['datapage_v1-corrupt-checksum.parquet', /row group 0, column a, page 0 \(at byte 4\), a data page: the page's CRC-32 is 0x[0-9a-f]{8} but its header says 0x[0-9a-f]{8}/],
    ['rle-dict-uncompressed-corrupt-checksum.parquet', /row group 0, column long_field, page 0 \(at byte 4\), a dictionary page: the page's CRC-32 is/],
  ])('%s is refused naming the row group, column and page; read when checks are off', async (name, says) => {
    const path = data(name);
    const columns = await columnsOf(path);
    const error = await failure(readAll(path, columns));
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(says);
    // The same bytes read without the check: what parquet-wasm alone did before.
    expect((await readAll(path, columns, false)).length).toBeGreaterThan(0);
  });

  it.each(['datapage_v1-snappy-compressed-checksum.parquet', 'datapage_v1-uncompressed-checksum.parquet', 'plain-dict-uncompressed-checksum.parquet', 'rle-dict-snappy-checksum.parquet'])(
    '%s, whose CRCs match, reads the same rows as DuckDB',
    async (name) => {
      const path = data(name);
      const rows = await readAll(path, await columnsOf(path));
      const expected = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${path}')`);
      expect(rows.length).toBe(expected[0]?.n);
    },
  );

  it('a page CRC is checked over the page bytes: one flipped bit in an intact file is found', async () => {
    const intact = await readFile(data('datapage_v1-uncompressed-checksum.parquet'));
    const flipped = Buffer.from(intact);
    // Byte 100 is inside column a's first page, after its header.
    flipped[100] = (flipped[100] as number) ^ 0x01;
    const path = join(dir, 'flipped-bit.parquet');
    await writeFile(path, flipped);
    const error = await failure(readAll(path, await columnsOf(path)));
    expect(error.message).toMatch(/row group 0, column a, page 0 \(at byte 4\), a data page: the page's CRC-32/);
  });
});

describe('the footer arrow-rs refuses', () => {
  it('dict-page-offset-zero.parquet reads, every value as DuckDB reads it', async () => {
    const path = data('dict-page-offset-zero.parquet');
    const columns = await columnsOf(path);
    expect(columns.map((column) => column.name)).toEqual(['l_partkey']);
    const rows = await readAll(path, columns);
    const expected = await duckdbRows(`SELECT l_partkey FROM read_parquet('${path}')`);
    expect(rows.length).toBe(39);
    expect(rows).toEqual(expected);
  });

  it('a dictionary page offset of 0 alone (no mistyped field) is read as "no dictionary page"', async () => {
    // column_chunk_key_value_metadata.parquet: chunks of no values, data_page_offset 0.
    const path = data('column_chunk_key_value_metadata.parquet');
    expect(await readRaw(path)).toBe(0);
  });

  it('ARROW-GH-41317.parquet (a required field of the wrong type) is refused in one line naming the field', async () => {
    const path = bad('ARROW-GH-41317.parquet');
    const error = await failure(readParquetSchema(path));
    expect(error.message).toMatch(new RegExp(`^${escape(path)}: cannot read it as Parquet: .*row group 1, column uint8: ColumnMetaData field 2 \\(its wire type is list<I16>, the format declares list<I32>\\)`));
  });
});

describe('damaged files: one line naming the file, row group and column', () => {
  const CASES: readonly [string, RegExp][] = [
    [bad('ARROW-GH-41321.parquet'), /row group \d+.*column \w+/],
    [bad('ARROW-GH-45185.parquet'), /row group \d+.*column \w+/],
    [bad('ARROW-GH-47662.parquet'), /row group \d+.*column \w+/],
    [bad('ARROW-RS-GH-6229-DICTHEADER.parquet'), /row group 0, column \w+/],
    [bad('ARROW-RS-GH-6229-LEVELS.parquet'), /row group \d+.*column \w+/],
    [bad('PARQUET-1481.parquet'), /cannot read it as Parquet: .*Unexpected Type -7/],
    [data('nation.dict-malformed.parquet'), /row group 0, column name/],
    [data('large_string_map.brotli.parquet'), /row group 0, column arr\.key_value\.key: 2 rows that decode to 2147483749 bytes.*above the 1073741824 bytes a batch column may hold/],
  ];
  it.each(CASES)('%s', async (path, says) => {
    const error = await failure(readRaw(path));
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(says);
  });

  it('a file whose first bytes are not PAR1 is refused before anything is decoded', async () => {
    const bytes = await readFile(data('alltypes_plain.parquet'));
    bytes.write('PAR0', 0);
    const path = join(dir, 'head-magic.parquet');
    await writeFile(path, bytes);
    const error = await failure(readRaw(path));
    expect(error.message).toBe(`${path}: not a Parquet file (it does not start with PAR1): damaged, or another format`);
  });

  it('decoder failures with no column of their own are located by probing, with checks off too', async () => {
    const path = data('nation.dict-malformed.parquet');
    const error = await failure(readAll(path, await columnsOf(path), false));
    expect(error.message).toMatch(
      new RegExp(`^${escape(path)}: Parquet read failed after row 0: the Parquet decoder crashed \\(.*\\), in row group 0 \\(rows 0-24\\), columns name, comment_col; `),
    );
  });
});

describe('invalid UTF-8 in a string column', () => {
  it('is refused naming the file, row group, column and row', async () => {
    const table = arrow.tableFromArrays({ x: Int32Array.from([1, 2, 3, 4]), s: ['good', 'fine', 'Q@Z#', 'okay'] });
    const properties = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.UNCOMPRESSED).setDictionaryEnabled(false).build();
    const bytes = Buffer.from(parquet.writeParquet(parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties));
    // The value's bytes in the page (and in the statistics): 0xFF is never UTF-8. No CRC here.
    let patched = 0;
    for (let at = bytes.indexOf('Q@Z#'); at >= 0; at = bytes.indexOf('Q@Z#', at + 1)) {
      bytes[at + 1] = 0xff;
      patched++;
    }
    expect(patched).toBeGreaterThan(0);
    const path = join(dir, 'invalid-utf8.parquet');
    await writeFile(path, bytes);
    const error = await failure(
      readAll(path, [
        { name: 'x', type: 'int32' },
        { name: 's', type: 'string' },
      ]),
    );
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(/row group 0\b.*column s\b/);
    expect(error.message).toMatch(/UTF-8|utf-8|utf8/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

