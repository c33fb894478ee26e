/**
 * Input files that lie or are broken (issue 11): every one is refused by `readInput` with a
 * FormatError naming the file (and the line, or batch and column), never read as wrong values and
 * never as a crash. The real CLI's one-line output on these files is in
 * test/integration/bad-input.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBatchIntact } from '../../../client/cli/formats/arrow-validate.js';
import { LINE_BYTES_MAX, readInput } from '../../../client/cli/formats/input.js';
import { FormatError, type NamedColumn, recordBatchToRows, rowsToRecordBatch } from '../../../client/format/index.js';
import type { ColumnType } from '../../../protocol/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';
import { type BatchPatch, patchFooter, patchIpc } from './arrow-ipc-patch.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-bad-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function path(name: string): string {
  return join(dir, name);
}

async function rowCount(batches: AsyncIterable<arrow.RecordBatch>): Promise<number> {
  let rows = 0;
  for await (const batch of batches) rows += batch.numRows;
  return rows;
}

async function readRows(file: string, format: 'jsonl' | 'csv' | 'parquet' | 'arrow', columns: readonly NamedColumn[], lineBytesMax?: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const options = lineBytesMax === undefined ? {} : { lineBytesMax };
  for await (const batch of readInput(file, format, columns, 1000, options)) rows.push(...recordBatchToRows(batch));
  return rows;
}

/** The error `promise` rejects with; fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, 'expected a rejection').toBeInstanceOf(Error);
  return outcome as Error;
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC: a table of lying batches

const N = 77;

/** Every column type, with nulls, empty values and lists of every length 0-3. */
function granaryRows(type: ColumnType, nulls: boolean): Record<string, unknown>[] {
  return Array.from({ length: N }, (_, i) => {
    if (nulls && i % 5 === 0) return { c: null };
    switch (type) {
      case 'float':
      case 'double':
        return { c: i / 4 - 3 };
      case 'int32':
      case 'int64':
        return { c: i * 3 - 50 };
      case 'bool':
        return { c: i % 3 === 0 };
      case 'string':
        return { c: `row ${i}` };
      case 'bytes':
        return { c: Buffer.from([i, i + 1, 255 - i]).toString('base64') };
      case 'id_list':
        return { c: Array.from({ length: (i % 4) + 1 }, (_, j) => i * 10 + j) };
      case 'float_list':
        return { c: Array.from({ length: (i % 4) + 1 }, (_, j) => j - 1.5) };
      case 'id_score_list':
        return { c: Array.from({ length: (i % 4) + 1 }, (_, j) => [i + j, j * 0.5]) };
      case 'timestamp':
        return { c: i * 86_400_000_123 - 3_000_000_000_000 };
      case 'date':
        return { c: i * 40 - 1000 };
      case 'string_list':
        return { c: Array.from({ length: i % 4 }, (_, j) => `t${i + j}`) };
      default:
        // decimal(p,s)
        return { c: `${i * 3 - 50}.25` };
    }
  });
}

function granaryTable(type: ColumnType, nulls = false): arrow.Table {
  return new arrow.Table([rowsToRecordBatch([{ name: 'c', type }], granaryRows(type, nulls))]);
}

/** A column of another Arrow type, which the reader converts to `type`. */
function convertedTable(vector: arrow.Vector): arrow.Table {
  return new arrow.Table({ c: vector });
}

/** The bytes of buffer `index` of a batch's body, as a DataView (writes patch the file). */
function bufferView(batch: BatchPatch, index: number): DataView {
  const buffer = batch.buffers[index] as { offset: bigint; length: bigint };
  return new DataView(batch.body.buffer, batch.body.byteOffset + Number(buffer.offset), Number(buffer.length));
}

function setBufferLength(batch: BatchPatch, index: number, length: bigint): void {
  (batch.buffers[index] as { length: bigint }).length = length;
}

function node(batch: BatchPatch, index: number): { length: bigint; nullCount: bigint } {
  return batch.nodes[index] as { length: bigint; nullCount: bigint };
}

/** Sets int32 value `index` of buffer `buffer` to what `value` makes of the value before it. */
function setInt32(batch: BatchPatch, buffer: number, index: number, value: (previous: number) => number): void {
  const view = bufferView(batch, buffer);
  view.setInt32(4 * index, value(index > 0 ? view.getInt32(4 * (index - 1), true) : 0), true);
}

interface LyingCase {
  readonly name: string;
  readonly type: ColumnType;
  readonly table: () => arrow.Table;
  /** Patches the record batch (dictionary batches are passed too, flagged). */
  readonly patch: (batch: BatchPatch) => void;
  /** What the message says is wrong (after `<file>: record batch 0 ..., column c (<type>): `). */
  readonly problem: RegExp;
}

const recordBatch = (patch: (batch: BatchPatch) => void) => (batch: BatchPatch) => {
  if (!batch.dictionary) patch(batch);
};

// Buffer order per the IPC format: a column's validity, then offsets (variable width) or values,
// then its children's, depth first; nodes likewise.
const LYING: readonly LyingCase[] = [
  {
    name: 'int32: the batch and the column claim 7,700 rows, the buffers hold 77 (the audit file)',
    type: 'int32',
    table: () => granaryTable('int32'),
    patch: recordBatch((batch) => {
      batch.length = 7700n;
      node(batch, 0).length = 7700n;
    }),
    problem: /the values buffer holds 78 values, 7700 needed for 7700 rows/,
  },
  {
    name: 'int32: only the batch claims 7,700 rows',
    type: 'int32',
    table: () => granaryTable('int32'),
    patch: recordBatch((batch) => {
      batch.length = 7700n;
    }),
    problem: /the batch claims 7700 rows but the column has 77/,
  },
  {
    name: 'int32: only the column claims 7,700 rows',
    type: 'int32',
    table: () => granaryTable('int32'),
    patch: recordBatch((batch) => {
      node(batch, 0).length = 7700n;
    }),
    problem: /the batch claims 77 rows but the column has 7700/,
  },
  {
    name: 'double: the values buffer is 10 values short',
    type: 'double',
    table: () => granaryTable('double'),
    patch: recordBatch((batch) => setBufferLength(batch, 1, BigInt(8 * (N - 10)))),
    problem: /the values buffer holds 67 values, 77 needed for 77 rows/,
  },
  {
    name: 'int64: nulls claimed without a validity bitmap',
    type: 'int64',
    table: () => granaryTable('int64', true),
    patch: recordBatch((batch) => setBufferLength(batch, 0, 0n)),
    problem: /claims 16 nulls but has no validity bitmap/,
  },
  {
    name: 'int64: a validity bitmap shorter than the rows',
    type: 'int64',
    table: () => granaryTable('int64', true),
    patch: recordBatch((batch) => setBufferLength(batch, 0, 8n)),
    problem: /the validity bitmap has 8 bytes, 10 needed for 77 rows/,
  },
  {
    name: 'float: a null count the bitmap does not back',
    type: 'float',
    table: () => granaryTable('float', true),
    patch: recordBatch((batch) => {
      node(batch, 0).nullCount = 20n;
    }),
    problem: /claims 20 nulls but the validity bitmap has 16/,
  },
  {
    name: 'int32: more nulls than rows',
    type: 'int32',
    table: () => granaryTable('int32'),
    patch: recordBatch((batch) => {
      node(batch, 0).nullCount = 78n;
    }),
    problem: /claims 78 nulls in 77 rows/,
  },
  {
    name: 'bool: value bits for 64 rows',
    type: 'bool',
    table: () => granaryTable('bool'),
    patch: recordBatch((batch) => setBufferLength(batch, 1, 8n)),
    problem: /the values hold 8 bytes of bits, 10 needed for 77 rows/,
  },
  {
    name: 'string: an offsets buffer of 40 entries',
    type: 'string',
    table: () => granaryTable('string'),
    patch: recordBatch((batch) => setBufferLength(batch, 1, 160n)),
    problem: /the offsets buffer has 40 entries, 78 needed for 77 rows/,
  },
  {
    name: 'string: offsets that go down',
    type: 'string',
    table: () => granaryTable('string'),
    patch: recordBatch((batch) => setInt32(batch, 1, 10, () => 0)),
    problem: /offset 10 is 0, below offset 9 \(\d+\): offsets must not go down/,
  },
  {
    name: 'string: the last offset past the data',
    type: 'string',
    table: () => granaryTable('string'),
    patch: recordBatch((batch) => setBufferLength(batch, 2, 8n)),
    problem: /the last offset is \d+ but there are 8 data bytes/,
  },
  {
    name: 'string: a negative first offset',
    type: 'string',
    table: () => granaryTable('string'),
    patch: recordBatch((batch) => setInt32(batch, 1, 0, () => -4)),
    problem: /the first offset is -4, below 0/,
  },
  {
    name: 'bytes: the last offset 100 bytes past the data',
    type: 'bytes',
    table: () => granaryTable('bytes'),
    patch: recordBatch((batch) => setInt32(batch, 1, N, (previous) => previous + 3 + 100)),
    problem: /the last offset is \d+ but there are \d+ data bytes/,
  },
  {
    name: 'id_list: a child with fewer values than the offsets say',
    type: 'id_list',
    table: () => granaryTable('id_list'),
    patch: recordBatch((batch) => {
      node(batch, 1).length = 10n;
    }),
    problem: /the last offset is \d+ but there are 10 child values/,
  },
  {
    name: 'id_list: a child values buffer of 2 values',
    type: 'id_list',
    table: () => granaryTable('id_list'),
    patch: recordBatch((batch) => setBufferLength(batch, 3, 16n)),
    problem: /list values: the values buffer holds 2 values, \d+ needed/,
  },
  {
    name: 'id_list: list offsets that go down',
    type: 'id_list',
    table: () => granaryTable('id_list'),
    patch: recordBatch((batch) => setInt32(batch, 1, 20, () => 0)),
    problem: /offset 20 is 0, below offset 19/,
  },
  {
    name: 'id_score_list: a struct field shorter than the struct',
    type: 'id_score_list',
    table: () => granaryTable('id_score_list'),
    patch: recordBatch((batch) => {
      node(batch, 2).length = 5n;
    }),
    problem: /list values: struct field id has 5 values, \d+ needed/,
  },
  {
    name: 'id_score_list: score values for 2 pairs',
    type: 'id_score_list',
    table: () => granaryTable('id_score_list'),
    patch: recordBatch((batch) => setBufferLength(batch, 6, 8n)),
    problem: /list values: struct field score: the values buffer holds 2 values, \d+ needed/,
  },
  {
    name: 'float_list: list values claim nulls without a bitmap',
    type: 'float_list',
    table: () => granaryTable('float_list'),
    patch: recordBatch((batch) => {
      node(batch, 1).nullCount = 3n;
    }),
    problem: /list values: claims 3 nulls but has no validity bitmap/,
  },
  {
    name: 'string from LargeUtf8: the last offset past the data',
    type: 'string',
    table: () => convertedTable(arrow.vectorFromArray(granaryRows('string', false).map((row) => row.c as string), new arrow.LargeUtf8())),
    patch: recordBatch((batch) => setBufferLength(batch, 2, 8n)),
    problem: /the last offset is \d+ but there are 8 data bytes/,
  },
  {
    name: 'string from a dictionary: an index past the dictionary',
    type: 'string',
    table: () =>
      convertedTable(arrow.vectorFromArray(Array.from({ length: N }, (_, i) => ['a', 'b', 'c'][i % 3] as string), new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()))),
    patch: recordBatch((batch) => bufferView(batch, 1).setInt32(4 * 5, 99, true)),
    problem: /row 5 has dictionary index 99, the dictionary has 3 entries/,
  },
  {
    name: "string from a dictionary: the dictionary's offsets past its data",
    type: 'string',
    table: () =>
      convertedTable(arrow.vectorFromArray(Array.from({ length: N }, (_, i) => ['aa', 'bb', 'cc'][i % 3] as string), new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()))),
    patch: (batch) => {
      if (batch.dictionary) setBufferLength(batch, 2, 1n);
    },
    problem: /dictionary: the last offset is 6 but there are 1 data bytes/,
  },
  {
    name: 'float_list from FixedSizeList<Float32>[3]: a child of 30 values',
    type: 'float_list',
    table: () =>
      convertedTable(
        arrow.vectorFromArray(
          Array.from({ length: N }, (_, i) => [i, i + 0.5, -i]),
          new arrow.FixedSizeList(3, new arrow.Field('item', new arrow.Float32(), true)),
        ),
      ),
    patch: recordBatch((batch) => {
      node(batch, 1).length = 30n;
    }),
    problem: /the child has 30 values, 231 needed for 77 lists of 3/,
  },
  {
    name: 'int32 from Int16: values for 8 rows',
    type: 'int32',
    table: () => convertedTable(arrow.vectorFromArray(Array.from({ length: N }, (_, i) => i - 30), new arrow.Int16())),
    patch: recordBatch((batch) => setBufferLength(batch, 1, 16n)),
    problem: /the values buffer holds 8 values, 77 needed for 77 rows/,
  },
  {
    name: 'id_list from LargeList<Int32>: offsets that go down',
    type: 'id_list',
    table: () =>
      convertedTable(
        arrow.vectorFromArray(
          Array.from({ length: N }, (_, i) => [i, i + 1]),
          new arrow.LargeList(new arrow.Field('item', new arrow.Int32(), true)),
        ),
      ),
    patch: recordBatch((batch) => bufferView(batch, 1).setBigInt64(8 * 20, 0n, true)),
    problem: /offset 20 is 0, below offset 19 \(38\)/,
  },
  {
    name: 'bytes from FixedSizeBinary(4): values for 25 rows',
    type: 'bytes',
    table: () =>
      convertedTable(arrow.vectorFromArray(Array.from({ length: N }, (_, i) => Uint8Array.of(i, i, i, i)), new arrow.FixedSizeBinary(4))),
    patch: recordBatch((batch) => setBufferLength(batch, 1, 100n)),
    problem: /the values buffer holds 100 values \(4 per row\), 308 needed for 77 rows/,
  },
];

describe('Arrow IPC batches that lie about their buffers', () => {
  it.each(LYING)('$name: the honest file is read, the patched one refused naming file, batch and column', async (lying) => {
    const table = lying.table();
    const honest = arrow.tableToIPC(table, 'stream');
    const file = path(`${lying.name.replace(/[^a-z0-9]+/gi, '-')}.arrows`);
    await writeFile(file, honest);
    const columns = [{ name: 'c', type: lying.type }];
    expect(await rowCount(readInput(file, 'arrow', columns))).toBe(N);

    await writeFile(file, patchIpc(honest, lying.patch));
    const error = await failure(rowCount(readInput(file, 'arrow', columns)));
    expect(error).toBeInstanceOf(FormatError);
    const type = String((table.schema.fields[0] as arrow.Field).type).replace(/[[\]()<>]/g, '\\$&');
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: record batch 0 \\(rows from 0\\), column c \\(${type}\\): `));
    expect(error.message).toMatch(lying.problem);
  });

  it('the audit file in the IPC file format too, in the second batch of a file', async () => {
    const columns: NamedColumn[] = [
      { name: 'id', type: 'int64' },
      { name: 'x', type: 'int32' },
    ];
    const batch = (from: number) =>
      rowsToRecordBatch(
        columns,
        Array.from({ length: N }, (_, i) => ({ id: from + i, x: i })),
      );
    const honest = arrow.tableToIPC(new arrow.Table([batch(0), batch(N)]), 'file');
    const file = path('audit.arrow');
    await writeFile(file, patchIpc(honest, (lying) => {
      if (lying.index !== 1) return;
      lying.length = 7700n;
      node(lying, 0).length = 7700n;
      node(lying, 1).length = 7700n;
    }));
    const error = await failure(rowCount(readInput(file, 'arrow', columns)));
    expect(error.message).toBe(`${file}: record batch 1 (rows from 77), column id (Int64): the values buffer holds 77 values, 7700 needed for 7700 rows`);
  });

  it('a dictionary batch claiming more values than its column holds', async () => {
    const table = convertedTable(arrow.vectorFromArray(['a', 'b', 'c', 'a'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())));
    const file = path('dictionary-length.arrows');
    await writeFile(file, patchIpc(arrow.tableToIPC(table, 'stream'), (batch) => {
      if (batch.dictionary) batch.length = 300n;
    }));
    const error = await failure(rowCount(readInput(file, 'arrow', [{ name: 'c', type: 'string' }])));
    expect(error.message).toBe(`${file}: a dictionary batch before record batch 0, the batch claims 300 dictionary values but its column has 3`);
  });

  it('every column of a batch is checked, not only the first', async () => {
    const table = new arrow.Table([
      rowsToRecordBatch(
        [
          { name: 'a', type: 'int32' },
          { name: 'b', type: 'int32' },
        ],
        Array.from({ length: N }, (_, i) => ({ a: i, b: i })),
      ),
    ]);
    const file = path('second-column.arrows');
    await writeFile(file, patchIpc(arrow.tableToIPC(table, 'stream'), (batch) => setBufferLength(batch, 3, 8n)));
    const error = await failure(rowCount(readInput(file, 'arrow', [{ name: 'a', type: 'int32' }, { name: 'b', type: 'int32' }])));
    expect(error.message).toMatch(/column b \(Int32\): the values buffer holds 2 values, 77 needed/);
  });
});

describe('Arrow IPC files broken elsewhere', () => {
  const columns: NamedColumn[] = [
    { name: 'x', type: 'int32' },
    { name: 's', type: 'string' },
    { name: 'ids', type: 'id_list' },
  ];
  const rows = Array.from({ length: 300 }, (_, i) => ({ x: i, s: i % 7 === 0 ? null : `r${i}`, ids: [i, i + 1] }));
  const table = new arrow.Table([rowsToRecordBatch(columns, rows.slice(0, 150)), rowsToRecordBatch(columns, rows.slice(150))]);

  it("a record batch block pointing at a dictionary batch is refused (the reader's own iterator loops on it forever)", async () => {
    const words = new arrow.Table({ s: arrow.vectorFromArray(['a', 'b', 'a', 'c'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())) });
    const file = path('block-points-at-dictionary.arrow');
    await writeFile(file, patchFooter(arrow.tableToIPC(words, 'file'), (recordBatches, dictionaries) => {
      const [batch, dictionary] = [recordBatches[0], dictionaries[0]];
      if (batch === undefined || dictionary === undefined) throw new Error('expected a record batch and a dictionary block');
      Object.assign(batch, dictionary);
    }));
    const error = await failure(rowCount(readInput(file, 'arrow', [{ name: 's', type: 'string' }])));
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: Arrow IPC read failed after row 0: Expected RecordBatch Message`));
  });

  it('a truncated file, and a footer length past the file, are refused before apache-arrow reads them', async () => {
    const bytes = arrow.tableToIPC(table, 'file');
    const truncated = path('truncated.arrow');
    await writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    expect((await failure(rowCount(readInput(truncated, 'arrow', columns)))).message).toBe(
      `${truncated}: an Arrow IPC file that does not end with ARROW1: it is truncated or not an Arrow IPC file`,
    );
    const longFooter = path('long-footer.arrow');
    const patched = new Uint8Array(bytes);
    new DataView(patched.buffer).setInt32(patched.length - 10, 0x7fff_fff0, true);
    await writeFile(longFooter, patched);
    expect((await failure(rowCount(readInput(longFooter, 'arrow', columns)))).message).toBe(
      `${longFooter}: the Arrow IPC footer claims ${0x7fff_fff0} bytes, the file has room for ${bytes.length - 18}`,
    );
  });

  it('random bit flips in files and streams: every read ends, with the rows or a FormatError naming the file', async () => {
    const random = seededRandom(1);
    let refused = 0;
    for (const kind of ['file', 'stream'] as const) {
      const honest = arrow.tableToIPC(table, kind);
      for (let variant = 0; variant < 60; variant++) {
        const bytes = new Uint8Array(honest);
        const flips = 1 + Math.floor(random() * 4);
        for (let k = 0; k < flips; k++) {
          const at = Math.floor(random() * bytes.length);
          bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(random() * 8));
        }
        const file = path(`flipped-${kind}-${variant}.arrow`);
        await writeFile(file, bytes);
        const outcome = await rowCount(readInput(file, 'arrow', columns)).then(
          (count) => count,
          (error: unknown) => error,
        );
        if (typeof outcome === 'number') continue; // a flipped value: nothing to notice
        refused++;
        expect(outcome, `${kind} variant ${variant}`).toBeInstanceOf(FormatError);
        expect((outcome as Error).message.startsWith(`${file}: `), `${kind} variant ${variant}`).toBe(true);
      }
    }
    expect(refused).toBeGreaterThan(20);
  });
});

describe('assertBatchIntact on batches in memory', () => {
  const ALL: readonly NamedColumn[] = (['float', 'double', 'int32', 'int64', 'bool', 'string', 'bytes', 'id_list', 'id_score_list', 'float_list'] as const).map(
    (type) => ({ name: type, type }),
  );
  const rows = Array.from({ length: N }, (_, i) => Object.fromEntries(ALL.map((column) => [column.name, granaryRows(column.type, true)[i]?.c])));

  it('accepts every column type, with nulls, whole and sliced at odd bounds', () => {
    const batch = rowsToRecordBatch(ALL, rows);
    expect(batch.data.children.every((child) => child.nullCount > 0)).toBe(true);
    for (const [begin, end] of [
      [0, N],
      [3, 30],
      [13, 14],
      [70, N],
    ] as const) {
      expect(() => assertBatchIntact(batch.slice(begin, end), `slice ${begin}-${end}`)).not.toThrow();
    }
  });

  it('Utf8View: a view pointing past its variadic buffer is refused, one inside it accepted', () => {
    const views = new Uint8Array(16 * 2);
    const view = new DataView(views.buffer);
    view.setInt32(0, 3, true);
    views.set([104, 105, 33], 4); // inline "hi!"
    view.setInt32(16, 20, true); // 20 bytes in buffer 0 at offset 4
    view.setInt32(16 + 8, 0, true);
    view.setInt32(16 + 12, 4, true);
    const make = (bufferBytes: number) => {
      const data = arrow.makeData({ type: new arrow.Utf8View(), length: 2, views, variadicBuffers: [new Uint8Array(bufferBytes)] } as never) as arrow.Data;
      const schema = new arrow.Schema([new arrow.Field('v', new arrow.Utf8View(), true)]);
      return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: 2, nullCount: 0, children: [data] }));
    };
    expect(() => assertBatchIntact(make(24), 'memory')).not.toThrow();
    expect(() => assertBatchIntact(make(23), 'memory')).toThrow(/column v \(Utf8View\): row 1 points at bytes 4-24 of buffer 0, which has 23/);
  });
});

// ---------------------------------------------------------------------------------------------
// JSON Lines and CSV: a bound on one line

describe('the longest line read', () => {
  const columns: NamedColumn[] = [{ name: 's', type: 'string' }];
  /** A JSON Lines row of exactly `bytes` bytes (without its newline), multi-byte characters included. */
  const rowOf = (bytes: number): string => {
    const text = `{"s":"${'é'.repeat(Math.floor((bytes - 8) / 2))}"}`;
    return text + ' '.repeat(bytes - Buffer.byteLength(text));
  };

  it('is 64 MiB by default', () => {
    expect(LINE_BYTES_MAX).toBe(64 * 1024 * 1024);
  });

  it('jsonl: a line of exactly the limit is read (CRLF too); one byte more is refused naming the line', async () => {
    const limit = 200_000; // longer than a read chunk (64 KiB), so lines span chunks
    const file = path('limit.jsonl');
    await writeFile(file, `${rowOf(100)}\r\n${rowOf(limit)}\n${rowOf(10)}`);
    const rows = await readRows(file, 'jsonl', columns, limit);
    expect(rows.map((row) => Buffer.byteLength(row.s as string))).toEqual([92, limit - 8, 2]);
    expect(rows[1]?.s).toBe('é'.repeat((limit - 8) / 2));

    await writeFile(file, `${rowOf(100)}\n${rowOf(limit + 1)}\n${rowOf(10)}\n`);
    const error = await failure(readRows(file, 'jsonl', columns, limit));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toBe(`${file}:2: the line is longer than ${limit} bytes, the longest line read (--max-line-bytes raises it)`);
  });

  it('jsonl: a line with no newline over the default limit is refused before more of it is held', async () => {
    const file = path('huge.jsonl');
    // 64 MiB + 1 of one unterminated line: the audit's 560 MB line crashed the CLI.
    await writeFile(file, Buffer.alloc(LINE_BYTES_MAX + 1, 0x20));
    const error = await failure(readRows(file, 'jsonl', columns));
    expect(error.message).toBe(`${file}:1: the line is longer than 64 MiB, the longest line read (--max-line-bytes raises it)`);
  });

  it('csv: a record over the limit is refused naming the file', async () => {
    const file = path('limit.csv');
    await writeFile(file, `s\nshort\n"${'x'.repeat(5000)}"\n`);
    expect(await readRows(file, 'csv', columns, 10_000)).toHaveLength(2);
    const error = await failure(readRows(file, 'csv', columns, 1000));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+: the record is longer than 1000 bytes`));
  });
});

// ---------------------------------------------------------------------------------------------
// Parquet: corrupt bytes

describe('corrupt Parquet files', () => {
  const columns: NamedColumn[] = [
    { name: 'x', type: 'int32' },
    { name: 's', type: 'string' },
  ];
  const ROWS = 5000;
  const good = (): Uint8Array => {
    const table = arrow.tableFromArrays({
      x: Int32Array.from({ length: ROWS }, (_, i) => i),
      s: Array.from({ length: ROWS }, (_, i) => `row ${i}`),
    });
    const properties = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.UNCOMPRESSED).build();
    return parquet.writeParquet(parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties);
  };
  /** 20 bytes flipped in the column data (after the magic, before the footer). */
  const flipped = (bytes: Uint8Array, seed: number): Uint8Array => {
    const out = new Uint8Array(bytes);
    for (let k = 0; k < 20; k++) {
      const at = 4 + ((seed * 7919 + k * 104729) % (out.length - 2000));
      out[at] = (out[at] as number) ^ 0xff;
    }
    return out;
  };

  it('flipped data bytes that make parquet-wasm trap: one error naming the file, and the next file reads', async () => {
    const bytes = good();
    const bad = path('flipped.parquet');
    await writeFile(bad, flipped(bytes, 1));
    const error = await failure(rowCount(readInput(bad, 'parquet', columns)));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}: Parquet read failed after row 0: the Parquet decoder crashed \\(RuntimeError: unreachable\\)`));
    expect(error.message).not.toMatch(/\n/);
    // The crash took only the reading thread.
    const fine = path('fine.parquet');
    await writeFile(fine, bytes);
    expect(await rowCount(readInput(fine, 'parquet', columns))).toBe(ROWS);
  });

  it('flips anywhere, a truncated file and a bad footer: read or refused with a FormatError, never a crash', async () => {
    const bytes = good();
    const random = seededRandom(11);
    const variants: [string, Uint8Array][] = [
      ['truncated', bytes.subarray(0, Math.floor(bytes.length / 2))],
      ['footer', (() => {
        const out = new Uint8Array(bytes);
        for (let i = out.length - 200; i < out.length - 8; i += 7) out[i] = (out[i] as number) ^ 0x5a;
        return out;
      })()],
      ...Array.from({ length: 6 }, (_, i): [string, Uint8Array] => ['flipped', flipped(bytes, 2 + Math.floor(random() * 1e6) + i)]),
    ];
    let refused = 0;
    for (const [i, [name, variant]] of variants.entries()) {
      const file = path(`variant-${i}-${name}.parquet`);
      await writeFile(file, variant);
      const outcome = await rowCount(readInput(file, 'parquet', columns)).then(
        (rows) => rows,
        (error: unknown) => error,
      );
      if (typeof outcome === 'number') continue; // flipped bytes can be values: nothing to notice
      refused++;
      expect(outcome, name).toBeInstanceOf(FormatError);
      expect((outcome as Error).message.startsWith(`${file}: `), name).toBe(true);
    }
    expect(refused).toBeGreaterThanOrEqual(2);
    // Each refused file may start threads that probe its columns for the one that fails.
  }, 240_000);
});
