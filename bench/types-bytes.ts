/**
 * Stored bytes of decimal(p,s) and string_list columns: Granary's stream chooser (storePlain, the
 * writer's own, stripes of 65,536 rows) against DuckDB's zstd Parquet of the same values (column
 * chunks' total_compressed_size), in the same run. No cluster: streams are what a cluster stores
 * before erasure coding, so this is the figure storage-bytes.ts reports per type.
 *
 *   npx tsx bench/types-bytes.ts [--rows N]      # default 1,000,000 rows
 *
 * Columns (seeded): price decimal(12,2) (skewed prices 0.01..9,999.99, 1% null), amount
 * decimal(18,4) (signed, up to 10^9), rate decimal(38,10) (wide, 26 integer digits: values past
 * 64 bits), tags string_list (0-4 of 50 categorical tokens).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { type ColumnType, formatDecimal } from '../protocol/index.js';
import { encodeStream, rowsToRecordBatch, storePlain } from '../client/format/index.js';
import { seededRandom } from '../test/helpers/seeded-random.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { writeParquetFile } from './parquet-file.js';
import { printTable } from './measure.js';

const STRIPE_ROWS = 65_536;
const COLUMNS: readonly { name: string; type: ColumnType }[] = [
  { name: 'price', type: 'decimal(12,2)' },
  { name: 'amount', type: 'decimal(18,4)' },
  { name: 'rate', type: 'decimal(38,10)' },
  { name: 'tags', type: 'string_list' },
];

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const rows = Number(values.rows);
const random = seededRandom(16);
const tokens = Array.from({ length: 50 }, (_, i) => `topic_${i}`);

function rowAt(): Record<string, unknown> {
  const digits = Array.from({ length: 26 }, () => Math.floor(random() * 10)).join('');
  return {
    price: random() < 0.01 ? null : formatDecimal(BigInt(Math.floor(random() ** 3 * 999_999) + 1), 2),
    amount: formatDecimal(BigInt(Math.floor((random() - 0.3) * 1e13)), 4),
    rate: `${random() < 0.5 ? '-' : ''}${digits}.${String(Math.floor(random() * 1e10)).padStart(10, '0')}`,
    tags: Array.from({ length: Math.floor(random() * 5) }, () => tokens[Math.floor(random() ** 2 * tokens.length)]),
  };
}

const batches: arrow.RecordBatch[] = [];
for (let done = 0; done < rows; done += STRIPE_ROWS) {
  const n = Math.min(STRIPE_ROWS, rows - done);
  batches.push(rowsToRecordBatch(COLUMNS, Array.from({ length: n }, rowAt)));
}

const granary = new Map<string, { plain: number; stored: number }>();
for (const batch of batches) {
  for (const [c, column] of COLUMNS.entries()) {
    const plain = encodeStream(column.type, batch.getChildAt(c) as arrow.Vector);
    const stored = await storePlain(column.type, plain, { compressionLevel: 1 });
    const sum = granary.get(column.name) ?? { plain: 0, stored: 0 };
    granary.set(column.name, { plain: sum.plain + plain.bytes.length, stored: sum.stored + stored.bytes.length });
  }
}

const temp = await makeTempDir('types-bytes');
try {
  const source = join(temp.path, 'source.parquet');
  // Uncompressed, no dictionary: DuckDB alone chooses the stored encodings (as storage-bytes.ts).
  const properties = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.UNCOMPRESSED).setDictionaryEnabled(false).build();
  await writeParquetFile(source, batches[Symbol.iterator](), properties);
  const zstd = join(temp.path, 'duckdb.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`COPY (SELECT * FROM '${source}') TO '${zstd}' (FORMAT parquet, COMPRESSION zstd)`);
  const chunks = (await connection.runAndReadAll(`SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata('${zstd}') GROUP BY path_in_schema`)).getRows();
  const types = (await connection.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${zstd}')`)).getRows();
  connection.closeSync();
  instance.closeSync();
  const parquetBytes = (name: string): number => chunks.filter(([path]) => String(path).split(', ')[0] === name || String(path).startsWith(`${name}`)).reduce((sum, [, bytes]) => sum + Number(bytes), 0);
  console.log(`${rows} rows; DuckDB types: ${types.map(([n, t]) => `${String(n)} ${String(t)}`).join(', ')}`);
  printTable('stored bytes per column', [
    ['column', 'type', 'plain MiB', 'Granary MiB', 'DuckDB zstd MiB', 'Granary / DuckDB', 'bytes/row'],
    ...COLUMNS.map((column) => {
      const g = granary.get(column.name) as { plain: number; stored: number };
      const p = parquetBytes(column.name);
      return [column.name, column.type, (g.plain / 2 ** 20).toFixed(2), (g.stored / 2 ** 20).toFixed(2), (p / 2 ** 20).toFixed(2), (g.stored / p).toFixed(2), (g.stored / rows).toFixed(2)];
    }),
  ]);
} finally {
  await temp.remove();
}
