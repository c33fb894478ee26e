import { execFileSync } from 'node:child_process';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformBatch, planConform } from '../../../client/cli/formats/conform.js';
import { type InputFormat, formatFromPath, readInput } from '../../../client/cli/formats/input.js';
import { type OutputFormat, PARQUET_ROW_GROUP_ROWS, openOutput } from '../../../client/cli/formats/output.js';
import {
  type NamedColumn,
  arrowSchemaOf,
  arrowTypeOf,
  recordBatchToRows,
  rowsToRecordBatch,
} from '../../../client/format/index.js';

const COLUMNS: readonly NamedColumn[] = [
  { name: 'f', type: 'float' },
  { name: 'd', type: 'double' },
  { name: 'i32', type: 'int32' },
  { name: 'i64', type: 'int64' },
  { name: 'b', type: 'bool' },
  { name: 's', type: 'string' },
  { name: 'by', type: 'bytes' },
  { name: 'ids', type: 'id_list' },
  { name: 'scores', type: 'id_score_list' },
  { name: 'emb', type: 'float_list' },
];

/** Edge cases first (extremes, empty values, all-null row), then generated rows with nulls. */
const ROWS: Record<string, unknown>[] = [
  {
    f: 0.5,
    d: 1e300,
    i32: -2147483648,
    i64: '9007199254740993',
    b: true,
    s: 'héllo, "world"\nsecond line',
    by: 'AAEC/w==',
    ids: [1, -2, '9223372036854775807'],
    scores: [
      [1, 0.5],
      [2, -1.25],
    ],
    emb: [0.1, 0.2, 0.3],
  },
  {},
  { f: null, d: -0.25, i32: 0, i64: -5, b: false, s: '', by: '', ids: [], scores: [], emb: [] },
  { f: 3.5, i32: 2147483647, i64: '-9223372036854775808', s: '日本語 🧪', ids: [42], scores: [[7, 0]], emb: [1e-3] },
  ...Array.from({ length: 36 }, (_, i) => ({
    f: i % 5 === 0 ? null : i * 0.25,
    d: i % 7 === 0 ? null : i / 3,
    i32: i % 4 === 0 ? null : i * 1000 - 7,
    i64: i % 6 === 0 ? null : i * 123_456_789_012,
    b: i % 3 === 0 ? null : i % 2 === 0,
    s: i % 8 === 0 ? null : `row ${i}`,
    by: i % 9 === 0 ? null : Buffer.from([i, i + 1, 255 - i]).toString('base64'),
    ids: i % 5 === 1 ? null : Array.from({ length: i % 4 }, (_, j) => i * 10 + j),
    scores: i % 5 === 2 ? null : Array.from({ length: i % 3 }, (_, j) => [i + j, j * 0.5]),
    emb: i % 5 === 3 ? null : Array.from({ length: i % 5 }, (_, j) => j - 1.5),
  })),
];

const SCHEMA = arrowSchemaOf(COLUMNS);
const EXPECTED = recordBatchToRows(rowsToRecordBatch(COLUMNS, ROWS));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-cli-formats-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(batches: AsyncIterable<arrow.RecordBatch>): Promise<arrow.RecordBatch[]> {
  const out: arrow.RecordBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

function rowsOf(batches: readonly arrow.RecordBatch[]): Record<string, unknown>[] {
  // apache-arrow gives a schema-only stream one placeholder batch without column data.
  return batches.filter((batch) => batch.numRows > 0).flatMap((batch) => recordBatchToRows(batch));
}

/** Batches of the table's columns, in order, with exactly the table's Arrow types. */
function expectTableSchema(batches: readonly arrow.RecordBatch[], columns: readonly NamedColumn[]): void {
  for (const batch of batches) {
    expect(batch.schema.fields.map((field) => field.name)).toEqual(columns.map((column) => column.name));
    batch.schema.fields.forEach((field, i) => {
      expect(String(field.type)).toBe(String(arrowTypeOf((columns[i] as NamedColumn).type)));
    });
  }
}

/** ROWS as record batches of `size` rows. */
function sourceBatches(size: number, columns = COLUMNS, rows = ROWS): arrow.RecordBatch[] {
  const out: arrow.RecordBatch[] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rowsToRecordBatch(columns, rows.slice(i, i + size)));
  return out;
}

function parquetBytes(table: arrow.Table, rowGroupRows = 1024 * 1024): Uint8Array {
  const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const properties = new parquet.WriterPropertiesBuilder().setMaxRowGroupSize(rowGroupRows).build();
  return parquet.writeParquet(wasmTable, properties);
}

async function readParquetRows(path: string): Promise<{ rows: Record<string, unknown>[]; rowGroups: number; table: arrow.Table }> {
  const file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  const rowGroups = file.metadata().numRowGroups();
  file.free();
  const table = arrow.tableFromIPC(parquet.readParquet(await readFile(path)).intoIPCStream());
  return { rows: rowsOf(table.batches), rowGroups, table };
}

async function writeOutput(format: OutputFormat, path: string, batches: readonly arrow.RecordBatch[], schema = SCHEMA): Promise<void> {
  const stream = createWriteStream(path);
  const output = openOutput(format, stream, schema);
  for (const batch of batches) await output.write(batch);
  await output.close();
  stream.end();
  await finished(stream);
}

function path(name: string): string {
  return join(dir, name);
}

// ---------------------------------------------------------------------------------------------

describe('formatFromPath', () => {
  it('maps every known extension, case-insensitively', () => {
    const cases: [string, InputFormat][] = [
      ['a.jsonl', 'jsonl'],
      ['a.ndjson', 'jsonl'],
      ['dir.x/a.JSON', 'jsonl'],
      ['a.csv', 'csv'],
      ['a.parquet', 'parquet'],
      ['a.PQ', 'parquet'],
      ['a.arrow', 'arrow'],
      ['a.arrows', 'arrow'],
      ['a.ipc', 'arrow'],
      ['a.feather', 'arrow'],
    ];
    for (const [name, format] of cases) expect(formatFromPath(name)).toBe(format);
  });

  it('rejects an unknown or missing extension, listing the known ones', () => {
    expect(() => formatFromPath('data.txt')).toThrow(/extension \.txt.*\.jsonl.*\.csv.*\.parquet.*\.arrow/);
    expect(() => formatFromPath('data')).toThrow(/missing extension/);
  });
});

describe('readInput', () => {
  it('jsonl: reads every column type, nulls and empty lists, skipping blank lines', async () => {
    const file = path('all.jsonl');
    const lines = ROWS.map((row) => JSON.stringify(row));
    lines.splice(3, 0, '', '   ');
    await writeFile(file, `${lines.join('\r\n')}\n\n`);
    const batches = await collect(readInput(file, 'jsonl', COLUMNS, 7));
    expect(batches.map((batch) => batch.numRows)).toEqual([7, 7, 7, 7, 7, 5]);
    expectTableSchema(batches, COLUMNS);
    expect(rowsOf(batches)).toEqual(EXPECTED);
  });

  it('csv: reads cells per column type, header order free, missing columns null', async () => {
    const file = path('cells.csv');
    // Header in another order than the table; the d column is absent (null).
    const text = [
      'emb,scores,ids,by,s,b,i64,i32,f',
      '"[0.1,0.2,0.3]","[[1,0.5],[2,-1.25]]","[1,-2,""9223372036854775807""]",AAEC/w==,"héllo, ""world""',
      'second line",true,9007199254740993,-2147483648,0.5',
      ',,,,,,,,',
      '[],[],[],"","",0,-5,0,',
      '[0.001],"[[7,0]]",[42],,日本語 🧪,FALSE,-9223372036854775808,+2147483647,3.5',
      ',,,, x ,1,+12, 7 ,-1e2',
      '',
    ].join('\n');
    await writeFile(file, text);
    const batches = await collect(readInput(file, 'csv', COLUMNS, 2));
    expect(batches.map((batch) => batch.numRows)).toEqual([2, 2, 1]);
    expectTableSchema(batches, COLUMNS);
    const expectedRows = [
      { ...ROWS[0], d: null },
      {},
      { f: null, i32: 0, i64: -5, b: false, s: '', by: '', ids: [], scores: [], emb: [] },
      { f: 3.5, i32: 2147483647, i64: '-9223372036854775808', b: false, s: '日本語 🧪', by: null, ids: [42], scores: [[7, 0]], emb: [0.001] },
      { f: -100, i32: 7, i64: 12, b: true, s: ' x ' },
    ];
    expect(rowsOf(batches)).toEqual(recordBatchToRows(rowsToRecordBatch(COLUMNS, expectedRows)));
  });

  it('csv: a row reads back exactly after csv output (the output is the inverse)', async () => {
    const file = path('roundtrip.csv');
    await writeOutput('csv', file, sourceBatches(9));
    const batches = await collect(readInput(file, 'csv', COLUMNS, 16));
    expect(batches.map((batch) => batch.numRows)).toEqual([16, 16, 8]);
    expect(rowsOf(batches)).toEqual(EXPECTED);
  });

  it('parquet: streams the file in batches of batchRows across row groups', async () => {
    const file = path('all.parquet');
    await writeFile(file, parquetBytes(new arrow.Table(sourceBatches(40)), 16));
    const batches = await collect(readInput(file, 'parquet', COLUMNS, 10));
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const batch of batches) expect(batch.numRows).toBeLessThanOrEqual(10);
    expectTableSchema(batches, COLUMNS);
    expect(rowsOf(batches)).toEqual(EXPECTED);
  });

  it('arrow: reads the IPC stream and file formats', async () => {
    const table = new arrow.Table(sourceBatches(12));
    for (const [name, kind] of [
      ['all.arrows', 'stream'],
      ['all.arrow', 'file'],
    ] as const) {
      const file = path(name);
      await writeFile(file, arrow.tableToIPC(table, kind));
      const bytes = await readFile(file);
      expect(bytes.subarray(0, 6).toString('latin1') === 'ARROW1').toBe(kind === 'file');
      const batches = await collect(readInput(file, 'arrow', COLUMNS));
      expect(batches.map((batch) => batch.numRows)).toEqual([12, 12, 12, 4]);
      expectTableSchema(batches, COLUMNS);
      expect(rowsOf(batches)).toEqual(EXPECTED);
    }
  });

  it('arrow: picks columns by name and fills a column missing from the file with nulls', async () => {
    const fileColumns = [...COLUMNS].reverse().filter((column) => column.name !== 'b' && column.name !== 'ids');
    const file = path('reordered.arrow');
    await writeFile(file, arrow.tableToIPC(new arrow.Table([rowsToRecordBatch(fileColumns, ROWS)]), 'file'));
    const batches = await collect(readInput(file, 'arrow', COLUMNS));
    expectTableSchema(batches, COLUMNS);
    expect(rowsOf(batches)).toEqual(EXPECTED.map((row) => ({ ...row, b: null, ids: null })));
  });

  it('keeps a column of the table type as it is (zero copy) and retags it with the table type', () => {
    const batch = rowsToRecordBatch(COLUMNS, ROWS);
    const plan = planConform(batch.schema, COLUMNS, 'memory');
    const conformed = conformBatch(plan, batch);
    COLUMNS.forEach((_, i) => {
      expect(conformed.data.children[i]?.values).toBe(batch.data.children[i]?.values);
    });
    expect(recordBatchToRows(conformed)).toEqual(EXPECTED);
  });
});

describe('readInput conversions', () => {
  const columns: readonly NamedColumn[] = [
    { name: 'f', type: 'float' },
    { name: 'i64', type: 'int64' },
    { name: 'ids', type: 'id_list' },
    { name: 's', type: 'string' },
    { name: 't', type: 'string' },
    { name: 'emb', type: 'float_list' },
    { name: 'scores', type: 'id_score_list' },
    { name: 'i32', type: 'int32' },
  ];
  const pairType = new arrow.Struct([new arrow.Field('score', new arrow.Float64(), true), new arrow.Field('id', new arrow.Int32(), true)]);
  const fileTable = new arrow.Table({
    f: arrow.vectorFromArray([1.5, null, -2.25], new arrow.Float64()),
    i64: arrow.vectorFromArray([1, -2, null], new arrow.Int32()),
    ids: arrow.vectorFromArray([[1, 2], [], null], new arrow.List(new arrow.Field('item', new arrow.Int32(), true))),
    s: arrow.vectorFromArray(['a', null, 'a'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())),
    t: arrow.vectorFromArray(['x', 'yy', null], new arrow.LargeUtf8()),
    emb: arrow.vectorFromArray([[0.5, 1e10], null, []], new arrow.List(new arrow.Field('item', new arrow.Float64(), true))),
    scores: arrow.vectorFromArray(
      [[{ score: 0.25, id: 9 }], [], null],
      new arrow.List(new arrow.Field('item', pairType, true)),
    ),
    i32: arrow.vectorFromArray([5n, null, -7n], new arrow.Int64()),
  });
  const expected = recordBatchToRows(
    rowsToRecordBatch(columns, [
      { f: 1.5, i64: 1, ids: [1, 2], s: 'a', t: 'x', emb: [0.5, 1e10], scores: [[9, 0.25]], i32: 5 },
      { f: null, i64: -2, ids: [], s: null, t: 'yy', emb: null, scores: [], i32: null },
      { f: -2.25, i64: null, ids: null, s: 'a', t: null, emb: [], scores: null, i32: -7 },
    ]),
  );

  it('arrow: Float64 -> float, Int32 -> int64, List<Int32> -> id_list, dictionary and LargeUtf8 -> string, ...', async () => {
    const file = path('convert.arrow');
    await writeFile(file, arrow.tableToIPC(fileTable, 'file'));
    const batches = await collect(readInput(file, 'arrow', columns));
    expectTableSchema(batches, columns);
    expect(rowsOf(batches)).toEqual(expected);
  });

  it('parquet: Float64 -> float, Int32 -> int64, List<Int32> -> id_list', async () => {
    const simple = columns.filter((column) => ['f', 'i64', 'ids', 'emb', 'i32'].includes(column.name));
    const table = new arrow.Table(Object.fromEntries(simple.map((column) => [column.name, (fileTable as arrow.Table).getChild(column.name) as arrow.Vector])));
    const file = path('convert.parquet');
    await writeFile(file, parquetBytes(table));
    const batches = await collect(readInput(file, 'parquet', simple));
    expectTableSchema(batches, simple);
    const names = simple.map((column) => column.name);
    expect(rowsOf(batches)).toEqual(expected.map((row) => Object.fromEntries(names.map((name) => [name, row[name]]))));
  });

  it('an out-of-range value in a converted column is an error naming the row', async () => {
    const file = path('overflow.arrows');
    const table = new arrow.Table({ i32: arrow.vectorFromArray([1n, 2n, 5_000_000_000n], new arrow.Int64()) });
    await writeFile(file, arrow.tableToIPC(table, 'stream'));
    await expect(collect(readInput(file, 'arrow', [{ name: 'i32', type: 'int32' }]))).rejects.toThrow(
      /overflow\.arrows: row 2, column i32: int64 5000000000 is outside int32's range -2147483648\.\.2147483647/,
    );
  });
});

describe('readInput errors', () => {
  it('jsonl: a bad JSON line names the file and the line number', async () => {
    const file = path('bad.jsonl');
    await writeFile(file, '{"f": 1}\n\n{"f": 2,}\n{"f": 3}\n');
    await expect(collect(readInput(file, 'jsonl', COLUMNS))).rejects.toThrow(/bad\.jsonl:3: not valid JSON .*\{"f": 2,\}/);
  });

  it('jsonl: a value of the wrong shape names the line, the column and what was expected', async () => {
    const file = path('badvalue.jsonl');
    await writeFile(file, ['{"i32": 1}', '{"i32": 2}', '{"ids": [1, "x"]}', '{"i32": 4}'].join('\n'));
    await expect(collect(readInput(file, 'jsonl', COLUMNS, 10))).rejects.toThrow(
      /badvalue\.jsonl:3: column ids: expected an array of integers, got "x" at index 1/,
    );
  });

  it('jsonl: a non-object line and an unknown key are errors', async () => {
    const file = path('shape.jsonl');
    await writeFile(file, '{"f": 1}\n[1, 2]\n');
    await expect(collect(readInput(file, 'jsonl', COLUMNS))).rejects.toThrow(/shape\.jsonl:2: expected a JSON object/);
    await writeFile(file, '{"f": 1}\n{"f": 1, "nope": 2}\n');
    await expect(collect(readInput(file, 'jsonl', COLUMNS))).rejects.toThrow(/shape\.jsonl:2: the table has no column "nope"/);
  });

  it('csv: an unknown header name is named', async () => {
    const file = path('unknown.csv');
    await writeFile(file, 'f,nope,i32,also_not\n1,2,3,4\n');
    await expect(collect(readInput(file, 'csv', COLUMNS))).rejects.toThrow(/unknown\.csv:1: .*"nope", "also_not"/);
  });

  it('csv: a bad cell names the line and column; a short row is an error', async () => {
    const file = path('badcell.csv');
    await writeFile(file, 'f,i32,b\n1,2,true\n1.5,x,false\n');
    await expect(collect(readInput(file, 'csv', COLUMNS))).rejects.toThrow(/badcell\.csv:3: column i32 \(int32\): expected an integer, got "x"/);
    await writeFile(file, 'f,i32,b\n1,2,true\n1.5,3,maybe\n');
    await expect(collect(readInput(file, 'csv', COLUMNS))).rejects.toThrow(/badcell\.csv:3: column b \(bool\): expected true, false, 1 or 0/);
    await writeFile(file, 'f,i32,b\n1,2,true\n1.5,3\n');
    await expect(collect(readInput(file, 'csv', COLUMNS))).rejects.toThrow(/badcell\.csv: .*line 3/);
  });

  it('arrow: a file column the table does not have is named', async () => {
    const file = path('extra.arrow');
    const table = new arrow.Table({
      f: arrow.vectorFromArray([1], new arrow.Float32()),
      extra: arrow.vectorFromArray([1], new arrow.Int32()),
    });
    await writeFile(file, arrow.tableToIPC(table, 'file'));
    await expect(collect(readInput(file, 'arrow', COLUMNS))).rejects.toThrow(/extra\.arrow: the table has no column "extra"/);
  });

  it('an unconvertible type names the column, the file type and the table type', async () => {
    const table = new arrow.Table({
      i64: arrow.vectorFromArray(['12'], new arrow.Utf8()),
      b: arrow.vectorFromArray([1], new arrow.Int8()),
    });
    const arrowFile = path('unconvertible.arrow');
    await writeFile(arrowFile, arrow.tableToIPC(table, 'file'));
    const error = collect(readInput(arrowFile, 'arrow', COLUMNS));
    await expect(error).rejects.toThrow(/column i64 is Utf8 in the file, cannot convert it to the table's int64 \(Int64\)/);
    await expect(collect(readInput(arrowFile, 'arrow', COLUMNS))).rejects.toThrow(/column b is Int8 in the file, cannot convert it to the table's bool/);
    const parquetFile = path('unconvertible.parquet');
    await writeFile(parquetFile, parquetBytes(table));
    await expect(collect(readInput(parquetFile, 'parquet', COLUMNS))).rejects.toThrow(/unconvertible\.parquet: column i64 is Utf8/);
  });

  it('a file that is not of its format, or missing, is a clear error', async () => {
    const file = path('not-arrow.arrow');
    await writeFile(file, 'hello, this is text');
    await expect(collect(readInput(file, 'arrow', COLUMNS))).rejects.toThrow(/not-arrow\.arrow: not an Arrow IPC file/);
    const notParquet = path('not.parquet');
    await writeFile(notParquet, 'hello, this is text');
    await expect(collect(readInput(notParquet, 'parquet', COLUMNS))).rejects.toThrow(/not\.parquet: not a Parquet file \(it does not end with PAR1\)/);
    await expect(collect(readInput(path('missing.jsonl'), 'jsonl', COLUMNS))).rejects.toThrow(/missing\.jsonl: cannot open it: ENOENT/);
  });
});

describe('readInput streaming', () => {
  it('jsonl: 50,000 rows in batches of 1000 give 50 full batches', async () => {
    const file = path('big.jsonl');
    const columns: NamedColumn[] = [
      { name: 'id', type: 'int64' },
      { name: 'ids', type: 'id_list' },
    ];
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(JSON.stringify({ id: i, ids: [i, i + 1] }));
    await writeFile(file, `${lines.join('\n')}\n`);
    let count = 0;
    let next = 0;
    for await (const batch of readInput(file, 'jsonl', columns, 1000)) {
      expect(batch.numRows).toBe(1000);
      const ids = batch.getChild('id')?.toArray() as BigInt64Array;
      expect(ids[0]).toBe(BigInt(next));
      expect(ids[999]).toBe(BigInt(next + 999));
      next += 1000;
      count++;
    }
    expect(count).toBe(50);
  });

  it('jsonl: yields a batch before the input has ended (read from a FIFO)', async () => {
    const fifo = path('rows.fifo');
    execFileSync('mkfifo', [fifo]);
    const columns: NamedColumn[] = [{ name: 'id', type: 'int64' }];
    const writer = createWriteStream(fifo);
    const line = (i: number): string => `${JSON.stringify({ id: i })}\n`;
    let written = 0;
    for (; written < 1500; written++) writer.write(line(written));
    const batches = readInput(fifo, 'jsonl', columns, 1000);
    const first = await batches.next();
    // The writer has not finished: the reader cannot have seen the end of the input.
    expect(writer.writableEnded).toBe(false);
    expect(first.done).toBe(false);
    expect((first.value as arrow.RecordBatch).numRows).toBe(1000);
    for (; written < 3200; written++) writer.write(line(written));
    writer.end();
    const rest: number[] = [];
    for await (const batch of { [Symbol.asyncIterator]: () => batches }) rest.push(batch.numRows);
    expect(rest).toEqual([1000, 1000, 200]);
    await finished(writer);
  });
});

// ---------------------------------------------------------------------------------------------

describe('openOutput', () => {
  it('jsonl: one JSON object per line, read back equal', async () => {
    const file = path('out.jsonl');
    await writeOutput('jsonl', file, sourceBatches(11));
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').length).toBe(ROWS.length + 1);
    expect(JSON.parse(text.split('\n')[0] as string)).toEqual(EXPECTED[0]);
    expect(rowsOf(await collect(readInput(file, 'jsonl', COLUMNS)))).toEqual(EXPECTED);
  });

  it('csv: header, then rows; empty strings quoted, nulls empty; read back equal', async () => {
    const file = path('out.csv');
    await writeOutput('csv', file, sourceBatches(40));
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')[0]).toBe(COLUMNS.map((column) => column.name).join(','));
    // Row 1 is all nulls; row 2 has empty string, empty bytes and empty lists.
    expect(text).toContain('\n,,,,,,,,,\n');
    expect(text).toContain('\n,-0.25,0,-5,false,"","",[],[],[]\n');
    expect(rowsOf(await collect(readInput(file, 'csv', COLUMNS)))).toEqual(EXPECTED);
  });

  it('arrow: an IPC stream that tableFromIPC reads back equal', async () => {
    const file = path('out.arrows');
    await writeOutput('arrow', file, sourceBatches(15));
    const bytes = await readFile(file);
    expect(bytes.readUInt32LE(0)).toBe(0xffffffff);
    const table = arrow.tableFromIPC(bytes);
    expect(table.batches.map((batch) => batch.numRows)).toEqual([15, 15, 10]);
    expect(rowsOf(table.batches)).toEqual(EXPECTED);
    expect(rowsOf(await collect(readInput(file, 'arrow', COLUMNS)))).toEqual(EXPECTED);
  });

  it('parquet: a file parquet-wasm reads back equal, with the table types', async () => {
    const file = path('out.parquet');
    await writeOutput('parquet', file, sourceBatches(13));
    const bytes = await readFile(file);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('PAR1');
    expect(bytes.subarray(bytes.length - 4).toString('latin1')).toBe('PAR1');
    const { rows, table } = await readParquetRows(file);
    expect(rows).toEqual(EXPECTED);
    table.schema.fields.forEach((field, i) => {
      expect(field.name).toBe(COLUMNS[i]?.name);
      expect(field.type.typeId).toBe(arrowTypeOf((COLUMNS[i] as NamedColumn).type).typeId);
    });
    expect(rowsOf(await collect(readInput(file, 'parquet', COLUMNS)))).toEqual(EXPECTED);
  });

  it('parquet: streams row groups of at most PARQUET_ROW_GROUP_ROWS rows, bytes before close', async () => {
    const columns: NamedColumn[] = [
      { name: 'id', type: 'int64' },
      { name: 'x', type: 'float' },
    ];
    const schema = arrowSchemaOf(columns);
    const total = PARQUET_ROW_GROUP_ROWS * 2 + 1000;
    const received: Buffer[] = [];
    const target = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    });
    const output = openOutput('parquet', target, schema);
    const step = 10_000;
    let bytesBeforeClose = 0;
    for (let start = 0; start < total; start += step) {
      const ids = BigInt64Array.from({ length: Math.min(step, total - start) }, (_, i) => BigInt(start + i));
      const batch = new arrow.RecordBatch(
        schema,
        arrow.makeData({
          type: new arrow.Struct(schema.fields),
          length: ids.length,
          nullCount: 0,
          children: [
            arrow.makeData({ type: new arrow.Int64(), length: ids.length, nullCount: 0, data: ids }),
            arrow.makeData({ type: new arrow.Float32(), length: ids.length, nullCount: 0, data: Float32Array.from(ids, Number) }),
          ],
        }),
      );
      await output.write(batch);
    }
    bytesBeforeClose = received.reduce((sum, chunk) => sum + chunk.length, 0);
    await output.close();
    target.end();
    await finished(target);
    // At least the first row group (65,536 rows of 12 bytes, about 0.75 MiB) reached the target
    // before close: the output is not held back until the end.
    expect(bytesBeforeClose).toBeGreaterThan(PARQUET_ROW_GROUP_ROWS * 8);
    const file = path('groups.parquet');
    await writeFile(file, Buffer.concat(received));
    const { rows, rowGroups } = await readParquetRows(file);
    expect(rowGroups).toBe(3);
    expect(rows.length).toBe(total);
    expect(rows[total - 1]).toEqual({ id: total - 1, x: total - 1 });
  });

  it('no batches: a readable empty file of each format', async () => {
    const jsonl = path('empty.jsonl');
    await writeOutput('jsonl', jsonl, []);
    expect(await readFile(jsonl, 'utf8')).toBe('');
    const csv = path('empty.csv');
    await writeOutput('csv', csv, []);
    expect(await readFile(csv, 'utf8')).toBe(`${COLUMNS.map((column) => column.name).join(',')}\n`);
    const arrowFile = path('empty.arrows');
    await writeOutput('arrow', arrowFile, []);
    const table = arrow.tableFromIPC(await readFile(arrowFile));
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((field) => field.name)).toEqual(COLUMNS.map((column) => column.name));
    const parquetFile = path('empty.parquet');
    await writeOutput('parquet', parquetFile, []);
    const { rows, table: parquetTable } = await readParquetRows(parquetFile);
    expect(rows).toEqual([]);
    expect(parquetTable.schema.fields.map((field) => field.name)).toEqual(COLUMNS.map((column) => column.name));
  });

  it('waits for drain on a slow target and keeps the order', async () => {
    const chunks: string[] = [];
    const target = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          chunks.push(chunk.toString('utf8'));
          callback();
        }, 1);
      },
    });
    const output = openOutput('jsonl', target, SCHEMA);
    for (const batch of sourceBatches(4)) {
      await output.write(batch);
      // After write resolves the target's buffer is below its high-water mark again.
      expect(target.writableLength).toBeLessThanOrEqual(64);
    }
    await output.close();
    target.end();
    await finished(target);
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual(EXPECTED);
  });

  it('a batch whose columns are not the schema is rejected', async () => {
    const target = new Writable({ write: (_c, _e, callback) => callback() });
    const output = openOutput('arrow', target, SCHEMA);
    const other = rowsToRecordBatch([{ name: 'f', type: 'double' }], [{ f: 1 }]);
    await expect(output.write(other)).rejects.toThrow(/column f is Float64 in the batch, the output schema says Float32/);
    const extra = rowsToRecordBatch([{ name: 'zzz', type: 'double' }], [{ zzz: 1 }]);
    await expect(output.write(extra)).rejects.toThrow(/the batch has column "zzz"/);
  });
});
