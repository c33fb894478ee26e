/**
 * INT32 columns encoded DELTA_BINARY_PACKED (issue 16): DuckDB's PARQUET_VERSION V2 files compute
 * the deltas in 64-bit arithmetic, so int32 extremes side by side give miniblocks 33 bits wide, on
 * which parquet-wasm's i32 decoder traps. Read through the INT64 footer rewrite and narrowed back
 * (parquet/int32-delta-footer.ts), every value equals DuckDB's reading; V1 files are not rewritten;
 * and a file whose writer did the arithmetic in 32 bits (arrow-rs) reads exactly too, though its
 * 64-bit decode leaves the int32 range.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParquetFileReader } from '../../../client/cli/formats/parquet-input.js';
import { FOOTER_TAIL_BYTES, PARQUET_MAGIC, decoderBlob, readFooter } from '../../../client/cli/formats/parquet/footer.js';
import { type ThriftStruct, fieldOf, readThriftStruct, writeThriftStruct } from '../../../client/cli/formats/parquet/thrift-tree.js';

const ROWS = 5000;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

let dir: string;
let v1: string;
let v2: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-int32-delta-'));
  v1 = join(dir, 'v1.parquet');
  v2 = join(dir, 'v2.parquet');
  await duckdb(async (run) => {
    // Extremes next to each other (deltas of 2^32 - 1), pseudo-random values and nulls, in
    // several row groups; i mod 5 = 0 rows are null, lists hold nulls and are null or empty.
    const select = `SELECT
      CASE WHEN i % 5 = 0 THEN NULL WHEN i % 4 = 1 THEN ${INT32_MIN} + (i % 3) WHEN i % 4 = 2 THEN ${INT32_MAX} - (i % 7) ELSE (hash(i) % 4294967296)::BIGINT - 2147483648 END::INTEGER AS i32,
      CASE WHEN i % 5 = 1 THEN NULL WHEN i % 2 = 0 THEN (i % 3) ELSE 4294967295 - (hash(i) % 1000) END::UINTEGER AS u32,
      CASE WHEN i % 4 = 0 THEN NULL WHEN i % 2 = 0 THEN [${INT32_MIN}, NULL, ${INT32_MAX}, (hash(i) % 4294967296)::BIGINT - 2147483648] WHEN i % 3 = 0 THEN [] ELSE [${INT32_MAX} - i] END::INTEGER[] AS ids,
      CASE WHEN i % 5 = 2 THEN NULL WHEN i % 2 = 0 THEN DATE '1970-01-01' - 2000000000 + (hash(i) % 1000000)::INTEGER ELSE DATE '1970-01-01' + 2000000000 - (hash(i) % 1000000)::INTEGER END AS d
      FROM range(${ROWS}) t(i)`;
    for (const [path, version] of [[v1, 'V1'], [v2, 'V2']] as const) {
      await run(`COPY (${select}) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION uncompressed, PARQUET_VERSION ${version})`);
    }
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function duckdb<T>(use: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await use(async (sql) => (await connection.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** DuckDB's reading of the columns, every value as a string (dates as days since the epoch). */
async function duckdbValues(path: string): Promise<string[][]> {
  return duckdb(async (run) => {
    const rows = await run(`SELECT i32::VARCHAR AS i32, u32::VARCHAR AS u32, ids::VARCHAR AS ids, (d - DATE '1970-01-01')::VARCHAR AS d FROM read_parquet('${path}')`);
    return rows.map((row) => [row.i32, row.u32, row.ids, row.d].map((value) => (value === null ? 'NULL' : String(value))));
  });
}

function cell(vector: arrow.Vector, row: number): string {
  const value: unknown = vector.get(row);
  if (value === null) return 'NULL';
  if (value instanceof arrow.Vector) return `[${[...value].map((item: unknown) => (item === null ? 'NULL' : String(item))).join(', ')}]`;
  return String(value);
}

/** Granary's reading (the reading thread), the same way, and the Arrow types it gave. */
async function granaryValues(path: string): Promise<{ rows: string[][]; types: string[] }> {
  const file = await ParquetFileReader.open(path, 1000);
  try {
    const rows: string[][] = [];
    for await (const { batch } of file.batches()) {
      const columns = ['i32', 'u32', 'ids', 'd'].map((name) => batch.getChild(name) as arrow.Vector);
      const [i32, u32, ids, d] = columns as [arrow.Vector, arrow.Vector, arrow.Vector, arrow.Vector];
      const days = d.data.flatMap((data) => [...(data.values as Int32Array).subarray(data.offset, data.offset + data.length)]);
      for (let row = 0; row < batch.numRows; row++) rows.push([cell(i32, row), cell(u32, row), cell(ids, row), d.isValid(row) ? String(days[row]) : 'NULL']);
    }
    return { rows, types: file.schema.fields.map((field) => String(field.type)) };
  } finally {
    await file.close();
  }
}

function int32DeltaColumns(path: string): { path: string; target: string }[] {
  const fd = openSync(path, 'r');
  try {
    return readFooter(fd, fstatSync(fd).size, path).int32DeltaColumns.map((column) => ({ path: column.path.join('.'), target: column.target }));
  } finally {
    closeSync(fd);
  }
}

describe('DuckDB V2 INT32 delta columns', () => {
  it('are declared INT64 for the decoder, every one of them, and V1 columns are not', () => {
    expect(int32DeltaColumns(v2)).toEqual([
      { path: 'i32', target: 'int32' },
      { path: 'u32', target: 'uint32' },
      { path: 'ids.list.element', target: 'int32' },
      { path: 'd', target: 'date32' },
    ]);
    expect(int32DeltaColumns(v1)).toEqual([]);
  });

  it('have miniblocks wider than 32 bits, on which the decoder traps (the bug)', () => {
    expect(Math.max(...firstMiniblockWidths(v2, 'i32'))).toBe(33);
    expect(Math.max(...firstMiniblockWidths(v2, 'u32'))).toBe(33);
  });

  it('read every value as DuckDB reads it, with the 32-bit types', async () => {
    const expected = await duckdbValues(v2);
    expect(expected).toHaveLength(ROWS);
    expect(expected.some((row) => row[0] === String(INT32_MIN))).toBe(true);
    const { rows, types } = await granaryValues(v2);
    expect(types).toEqual(['Int32', 'Uint32', 'List<Int32>', 'Date32<DAY>']);
    expect(rows).toEqual(expected);
  });

  it('leave V1 files as they were: the same values, read without the rewrite', async () => {
    const { rows, types } = await granaryValues(v1);
    expect(types).toEqual(['Int32', 'Uint32', 'List<Int32>', 'Date32<DAY>']);
    expect(rows).toEqual(await duckdbValues(v1));
  });
});

describe('a 32-bit delta writer (arrow-rs)', () => {
  it('reads exactly: the low 32 bits of the 64-bit decode, though that decode leaves the int32 range', async () => {
    const values = Int32Array.from({ length: 3000 }, (_, i) => (i % 2 === 0 ? INT32_MIN + (i % 5) : INT32_MAX - (i % 3)));
    const table = arrow.tableFromArrays({ i32: values });
    const properties = new parquet.WriterPropertiesBuilder().setDictionaryEnabled(false).setEncoding(parquet.Encoding.DELTA_BINARY_PACKED).build();
    const written = parquet.writeParquet(parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties);
    // Without its embedded Arrow schema, which keeps a file as stored, as a writer of the format alone writes it.
    const path = join(dir, 'arrow-rs-delta.parquet');
    await writeFile(path, withoutArrowSchema(Buffer.from(written)));
    expect(int32DeltaColumns(path)).toEqual([{ path: 'i32', target: 'int32' }]);

    // What the decoder makes of the rewritten footer: values past the int32 range.
    const fd = openSync(path, 'r');
    let decoded: BigInt64Array;
    try {
      const footer = readFooter(fd, fstatSync(fd).size, path);
      const file = await parquet.ParquetFile.fromFile(decoderBlob(new Blob([await readFile(path)]), footer, path));
      const ipc = (await file.read()).intoIPCStream();
      decoded = arrow.tableFromIPC(ipc).getChild('i32')!.toArray() as BigInt64Array;
    } finally {
      closeSync(fd);
    }
    expect([...decoded].some((value) => value > BigInt(INT32_MAX) || value < BigInt(INT32_MIN))).toBe(true);

    const out: number[] = [];
    const reader = await ParquetFileReader.open(path, 1000);
    try {
      expect(String(reader.schema.fields[0]!.type)).toBe('Int32');
      for await (const { batch } of reader.batches()) out.push(...(batch.getChild('i32')!.toArray() as Int32Array));
    } finally {
      await reader.close();
    }
    expect(out).toEqual([...values]);
  });
});

/**
 * The bit widths of the first block's miniblocks in the first page of top-level optional
 * `column` of uncompressed `path`: a data page v1 (DuckDB's, for V2 too) whose definition levels
 * come first, 4-byte length prefixed, then the DELTA_BINARY_PACKED header (block size, miniblocks
 * per block, value count, first value, then the block's min delta and one width byte a miniblock).
 */
function firstMiniblockWidths(path: string, column: string): number[] {
  const fd = openSync(path, 'r');
  try {
    const footer = readFooter(fd, fstatSync(fd).size, path);
    const chunk = footer.rowGroups[0]!.columns.find((c) => c.path === column)!;
    const bytes = Buffer.alloc(chunk.totalCompressedBytes);
    readSync(fd, bytes, 0, bytes.length, chunk.firstPageOffset);
    const { struct: header, bytesRead } = readThriftStruct(bytes);
    expect(fieldOf(header, 1)?.value).toBe(0);
    expect(fieldOf(fieldOf(header, 5)!.value as ThriftStruct, 2)?.value).toBe(5);
    let at = bytesRead;
    at += 4 + bytes.readUInt32LE(at);
    const varint = (): void => {
      while ((bytes[at++] as number) & 0x80);
    };
    varint();
    const miniblocks = bytes[at] as number;
    varint();
    varint();
    varint();
    varint();
    return [...bytes.subarray(at, at + miniblocks)];
  } finally {
    closeSync(fd);
  }
}

describe("parquet-mr's delta file (32-bit deltas)", () => {
  it('is rewritten, and every INT32 value equals DuckDB\'s reading', async () => {
    const path = fileURLToPath(new URL('../../fixtures/parquet-testing-names/delta_encoding_required_column.parquet', import.meta.url));
    const columns = int32DeltaColumns(path);
    expect(columns.length).toBeGreaterThan(5);
    const got = new Map<string, string[]>(columns.map((column) => [column.path, []]));
    const reader = await ParquetFileReader.open(path, 1000);
    try {
      for await (const { batch } of reader.batches()) {
        for (const [name, values] of got) {
          const vector = batch.getChild(name)!;
          expect(String(vector.type)).toBe('Int32');
          for (let row = 0; row < batch.numRows; row++) values.push(cell(vector, row));
        }
      }
    } finally {
      await reader.close();
    }
    await duckdb(async (run) => {
      for (const [name, values] of got) {
        const rows = await run(`SELECT "${name}"::VARCHAR AS v FROM read_parquet('${path}')`);
        expect(values).toEqual(rows.map((row) => (row.v === null ? 'NULL' : String(row.v))));
      }
    });
  });
});

/** `file` with its footer's key-value metadata (ARROW:schema) removed. */
function withoutArrowSchema(file: Buffer): Buffer {
  const footerBytes = file.readUInt32LE(file.length - FOOTER_TAIL_BYTES);
  const footerOffset = file.length - FOOTER_TAIL_BYTES - footerBytes;
  const tree = readThriftStruct(file.subarray(footerOffset, footerOffset + footerBytes)).struct;
  const stripped: ThriftStruct = { kind: 'struct', fields: tree.fields.filter((field) => field.id !== 5) };
  const footer = writeThriftStruct(stripped);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length, 0);
  return Buffer.concat([file.subarray(0, footerOffset), footer, length, PARQUET_MAGIC]);
}
