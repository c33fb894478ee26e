/**
 * Stored bytes: the same rows written by Granary's writer into a local cluster and by DuckDB as
 * zstd Parquet, in the same run, per column type. Issue 13's target: Granary <= 1.2x Parquet.
 *
 * Two tables: the bench table (bench/workload.ts, its first partitions) and a flights-like table
 * (bench/flights-table.ts: a sorted event time, skewed integers, airport codes).
 *
 *   Granary: every partition through its own writer (default options: whatever encodings and
 *            compression the writer picks) into a local 9-node RS 6+3 cluster (real processes
 *            from dist/). Stored bytes are the stream lengths the manifest records (the scan
 *            plan's stream entries over every column), i.e. encoded and compressed, before
 *            erasure coding; x (k+m)/k for the erasure-coded figure, and the chunks' bytes on
 *            the nodes (blocks' shards, padding included) for information.
 *   Parquet: the same batches written once, uncompressed, through parquet-wasm (DuckDB has no
 *            Arrow input in this build), then `COPY ... (FORMAT parquet, COMPRESSION zstd)` by
 *            DuckDB at its defaults (row groups of 122,880 rows, its own dictionary and
 *            encodings), one file per partition. Bytes per column are the column chunks'
 *            total_compressed_size from parquet_metadata(); the file size is printed too.
 *
 * The ratio per table (the target) is Granary stream bytes / Parquet column-chunk bytes, data
 * against data: neither Granary's manifest nor Parquet's footer is counted.
 *
 *   npm run build && npx tsx bench/storage-bytes.ts            # bench table 1 x 25,000 rows; flights 3,000,000 rows
 *   npx tsx bench/storage-bytes.ts --quick                     # 1 x 5,000 rows; flights 300,000 rows
 *   npx tsx bench/storage-bytes.ts --flights-rows N --recsys-rows N --recsys-partitions P
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { GranaryClient } from '../client/index.js';
import { type ColumnSpec, type ColumnType, ENCODING_PLAIN, ENCODING_SECTIONS, NO_BLOCK, decodeStreamEntry } from '../protocol/index.js';
import { type Cluster, startCluster } from '../test/helpers/cluster.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { Cleanups } from './cleanups.js';
import { writeParquetFile } from './parquet-file.js';
import { positive } from './flags.js';
import { FLIGHTS_COLUMNS, FLIGHTS_ROWS, FLIGHTS_TABLE, flightsBatches } from './flights-table.js';
import { machineInfo, mib, printTable, secondsSince } from './measure.js';
import { printTargets, storageBytesTargets } from './targets.js';
import { COLUMNS, LAYOUT_ORDER, TABLE, partitionBatches, partitionSpec } from './workload.js';

const EC = { dataShards: 6, parityShards: 3 } as const;
const FLIGHTS_PARTITION = 'ds=2006-01-01';

export interface StorageBytesOptions {
  /** Partitions of the bench table written (partitions 0..n-1) and rows in each. */
  readonly recsys: { readonly partitions: number; readonly rowsPerPartition: number };
  readonly flightsRows: number;
}

/** Bytes of one column type (or one column) in a table. */
export interface TypeBytes {
  readonly type: ColumnType | 'total';
  readonly columns: number;
  /** Arrow buffers of the rows as written (values, offsets, validity): the plain size. */
  readonly arrowBytes: number;
  /** Stream lengths recorded in the manifest: encoded and compressed, before erasure coding. */
  readonly granaryBytes: number;
  /** Parquet column chunks' total_compressed_size. */
  readonly parquetBytes: number;
  readonly granaryOverParquet: number;
  /** Granary streams per encoding (its stream entries' `encoding`, by name where known). */
  readonly granaryEncodings: Readonly<Record<string, number>>;
  /** Encodings DuckDB's column chunks list (parquet_metadata's `encodings`). */
  readonly parquetEncodings: readonly string[];
}

export interface TableBytes {
  readonly table: string;
  readonly partitions: number;
  readonly rows: number;
  readonly byType: readonly TypeBytes[];
  readonly byColumn: readonly (TypeBytes & { readonly name: string })[];
  readonly total: TypeBytes;
  readonly granary: {
    readonly ec: string;
    readonly stripes: number;
    readonly streams: number;
    /** Stream bytes x (k+m)/k. */
    readonly erasureCodedBytes: number;
    /** Shards of the blocks holding the table, parity and padding included: what the nodes store. */
    readonly chunkBytes: number;
    /** The catalog's `bytes` of the partitions (listPartitions), as a cross-check. */
    readonly catalogBytes: number;
    readonly writeSeconds: number;
  };
  readonly parquet: {
    readonly fileBytes: number;
    readonly rowGroups: number;
    readonly writeSeconds: number;
  };
}

export interface StorageBytesFigures {
  readonly duckdb: { readonly version: string; readonly copyOptions: string };
  readonly tables: readonly TableBytes[];
}

interface TableSource {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly columnOrder?: readonly string[];
  /** Partition spec and its batches, generated afresh on each call. */
  readonly partitions: readonly { readonly spec: string; readonly rows: number; readonly batches: () => Iterator<arrow.RecordBatch> }[];
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Arrow buffer bytes per column of `batch`, added to `into` by column index. */
function addArrowBytes(batch: arrow.RecordBatch, into: Float64Array): void {
  for (let c = 0; c < batch.numCols; c++) {
    for (const data of batch.getChildAt(c)?.data ?? []) into[c] = (into[c] as number) + data.byteLength;
  }
}

// ---------------------------------------------------------------- Granary

async function writeGranary(client: GranaryClient, source: TableSource, arrowBytes: Float64Array): Promise<number> {
  let seconds = 0;
  for (const partition of source.partitions) {
    const batches = partition.batches();
    const start = process.hrtime.bigint();
    const writer = await client.openWriter(source.name, partition.spec, source.columnOrder === undefined ? {} : { columnOrder: source.columnOrder });
    try {
      for (let next = batches.next(); next.done !== true; next = batches.next()) {
        addArrowBytes(next.value, arrowBytes);
        await writer.write(next.value);
      }
      const commit = await writer.commit();
      if (commit.rows !== partition.rows) throw new Error(`commit of ${source.name} ${partition.spec} says ${commit.rows} rows, ${partition.rows} were written`);
    } finally {
      await writer.close();
    }
    seconds += secondsSince(start);
  }
  return seconds;
}

interface GranaryLayout {
  readonly streamBytes: Float64Array;
  /** Per column: streams per encoding name. */
  readonly encodings: readonly Record<string, number>[];
  readonly stripes: number;
  readonly streams: number;
  readonly chunkBytes: number;
}

/** A stream entry's encoding id as printed: the name of the ones this file knows, else the id. */
function encodingName(id: number): string {
  return id === ENCODING_PLAIN ? 'plain' : id === ENCODING_SECTIONS ? 'sections' : `encoding ${id}`;
}

/** Stream lengths per column from the plan of a scan of every column of every partition. */
async function granaryLayout(client: GranaryClient, source: TableSource): Promise<GranaryLayout> {
  const names = source.columns.map((c) => c.name);
  const streamBytes = new Float64Array(names.length);
  const encodings = names.map((): Record<string, number> => ({}));
  const blocks = new Map<string, number>();
  let stripes = 0;
  let streams = 0;
  for await (const page of client.metadata.planPages(source.name, { columns: names })) {
    for (const block of page.blocks) blocks.set(block.blockId, block.shardBytes * (block.dataShards + block.parityShards));
    for (const stripe of page.stripes) {
      stripes++;
      for (let c = 0; c < names.length; c++) {
        const entry = decodeStreamEntry(stripe.streams, c);
        if (entry.blockRef === NO_BLOCK) continue;
        streams++;
        streamBytes[c] = (streamBytes[c] as number) + entry.length;
        const name = encodingName(entry.encoding);
        const counts = encodings[c] as Record<string, number>;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
  }
  const chunkBytes = [...blocks.values()].reduce((sum, b) => sum + b, 0);
  return { streamBytes, stripes, streams, encodings, chunkBytes };
}

// ---------------------------------------------------------------- Parquet

/** The intermediate file DuckDB reads: plain, so that DuckDB alone chooses the stored encodings. */
function plainWriterProperties(): parquet.WriterProperties {
  return new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false)
    .setCreatedBy('granary bench (intermediate)')
    .build();
}

const COPY_OPTIONS = 'FORMAT parquet, COMPRESSION zstd';

interface ParquetLayout {
  readonly chunkBytes: Float64Array;
  readonly encodings: readonly Set<string>[];
  readonly fileBytes: number;
  readonly rowGroups: number;
  readonly seconds: number;
}

async function writeParquet(connection: DuckDBConnection, dir: string, source: TableSource): Promise<ParquetLayout> {
  const index = new Map(source.columns.map((c, i) => [c.name, i]));
  const chunkBytes = new Float64Array(source.columns.length);
  const encodings = source.columns.map(() => new Set<string>());
  let fileBytes = 0;
  let rowGroups = 0;
  const start = process.hrtime.bigint();
  for (const partition of source.partitions) {
    const plain = join(dir, `${source.name}-${partition.spec}-plain.parquet`);
    const zstd = join(dir, `${source.name}-${partition.spec}.parquet`);
    await writeParquetFile(plain, partition.batches(), plainWriterProperties());
    await connection.run(`COPY (SELECT * FROM read_parquet(${sqlString(plain)})) TO ${sqlString(zstd)} (${COPY_OPTIONS})`);
    await rm(plain);
    const counted = (await connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(zstd)})`)).getRows()[0]?.[0];
    if (Number(counted) !== partition.rows) throw new Error(`DuckDB's ${zstd} holds ${String(counted)} rows, ${partition.rows} were written`);
    const meta = (await connection.runAndReadAll(`SELECT row_group_id, path_in_schema, total_compressed_size, encodings FROM parquet_metadata(${sqlString(zstd)})`)).getRows();
    const groups = new Set<string>();
    for (const [group, path, compressed, used] of meta) {
      groups.add(String(group));
      // A list's chunk is named by its leaf path ("ids_0, list, element"); the column is its head.
      const name = /^[A-Za-z0-9_]+/.exec(String(path))?.[0] ?? '';
      const c = index.get(name);
      if (c === undefined) throw new Error(`${zstd} has a column chunk ${String(path)} of no column of ${source.name}`);
      chunkBytes[c] = (chunkBytes[c] as number) + Number(compressed);
      for (const encoding of String(used).split(/,\s*/)) encodings[c]?.add(encoding);
    }
    rowGroups += groups.size;
    fileBytes += (await stat(zstd)).size;
    await rm(zstd);
  }
  return { chunkBytes, encodings, fileBytes, rowGroups, seconds: secondsSince(start) };
}

// ---------------------------------------------------------------- figures

type Counts = Readonly<Record<string, number>>;

function addCounts(all: readonly Counts[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const counts of all) for (const [name, n] of Object.entries(counts)) sum[name] = (sum[name] ?? 0) + n;
  return sum;
}

/** The figures of `columns` (one column, a type's columns, or all). */
function bytesOf(type: TypeBytes['type'], columns: readonly TypeBytes[]): TypeBytes {
  const total = (of: (c: TypeBytes) => number) => columns.reduce((sum, c) => sum + of(c), 0);
  const granaryBytes = total((c) => c.granaryBytes);
  const parquetBytes = total((c) => c.parquetBytes);
  return {
    type,
    columns: total((c) => c.columns),
    arrowBytes: total((c) => c.arrowBytes),
    granaryBytes,
    parquetBytes,
    granaryOverParquet: granaryBytes / parquetBytes,
    granaryEncodings: addCounts(columns.map((c) => c.granaryEncodings)),
    parquetEncodings: [...new Set(columns.flatMap((c) => c.parquetEncodings))].sort(),
  };
}

function tableBytes(
  source: TableSource,
  arrowBytes: Float64Array,
  granary: GranaryLayout & { readonly catalogBytes: number; readonly writeSeconds: number },
  pq: ParquetLayout,
): TableBytes {
  const byColumn = source.columns.map((c, i) => {
    const granaryBytes = granary.streamBytes[i] as number;
    const parquetBytes = pq.chunkBytes[i] as number;
    return {
      name: c.name,
      type: c.type,
      columns: 1,
      arrowBytes: arrowBytes[i] as number,
      granaryBytes,
      parquetBytes,
      granaryOverParquet: granaryBytes / parquetBytes,
      granaryEncodings: granary.encodings[i] ?? {},
      parquetEncodings: [...(pq.encodings[i] ?? [])].sort(),
    };
  });
  const types = [...new Set(source.columns.map((c) => c.type))];
  const byType = types.map((type) => bytesOf(type, byColumn.filter((c) => c.type === type)));
  const total = bytesOf('total', byType);
  return {
    table: source.name,
    partitions: source.partitions.length,
    rows: source.partitions.reduce((s, p) => s + p.rows, 0),
    byType,
    byColumn,
    total,
    granary: {
      ec: `${EC.dataShards}+${EC.parityShards}`,
      stripes: granary.stripes,
      streams: granary.streams,
      erasureCodedBytes: (total.granaryBytes * (EC.dataShards + EC.parityShards)) / EC.dataShards,
      chunkBytes: granary.chunkBytes,
      catalogBytes: granary.catalogBytes,
      writeSeconds: granary.writeSeconds,
    },
    parquet: { fileBytes: pq.fileBytes, rowGroups: pq.rowGroups, writeSeconds: pq.seconds },
  };
}

function encodingsText(b: TypeBytes): { granary: string; parquet: string } {
  const granary = Object.entries(b.granaryEncodings)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  return { granary, parquet: b.parquetEncodings.join(', ') };
}

function printTableBytes(t: TableBytes, duckdb: StorageBytesFigures['duckdb']): void {
  const ecFactor = `x${((EC.dataShards + EC.parityShards) / EC.dataShards).toFixed(1)}`;
  const row = (label: string, b: TypeBytes) => [
    label,
    String(b.columns),
    mib(b.arrowBytes),
    mib(b.granaryBytes),
    mib(b.parquetBytes),
    `${b.granaryOverParquet.toFixed(2)}x`,
    `${(b.arrowBytes / b.granaryBytes).toFixed(2)}x`,
    `${(b.arrowBytes / b.parquetBytes).toFixed(2)}x`,
    encodingsText(b).granary,
    encodingsText(b).parquet,
  ];
  const blank = (cells: readonly string[]) => [...cells, ...Array.from({ length: 10 - cells.length }, () => '')];
  printTable(
    `Stored bytes: ${t.table}, ${t.partitions} partition(s), ${t.rows} rows; Granary RS ${t.granary.ec} (${t.granary.stripes} stripes) vs DuckDB ${duckdb.version} (${duckdb.copyOptions}, ${t.parquet.rowGroups} row groups)`,
    [
      ['type', 'columns', 'arrow (plain)', 'granary streams', 'parquet chunks', 'granary/parquet', 'arrow/granary', 'arrow/parquet', 'granary streams by encoding', 'parquet encodings'],
      ...t.byType.map((b) => row(b.type, b)),
      row('total', t.total),
      blank([]),
      blank([`granary ${ecFactor} (RS ${t.granary.ec})`, '', '', mib(t.granary.erasureCodedBytes), '', `${(t.granary.erasureCodedBytes / t.total.parquetBytes).toFixed(2)}x`]),
      blank(['granary chunks on the nodes (padding incl.)', '', '', mib(t.granary.chunkBytes)]),
      blank(['granary catalog bytes (listPartitions)', '', '', mib(t.granary.catalogBytes)]),
      blank(['parquet files (footers incl.)', '', '', '', mib(t.parquet.fileBytes), `${(t.total.granaryBytes / t.parquet.fileBytes).toFixed(2)}x`]),
    ],
  );
  if (t.byColumn.length <= 10) {
    printTable(`Stored bytes per column: ${t.table}`, [
      ['column', 'type', 'arrow (plain)', 'granary streams', 'parquet chunks', 'granary/parquet', 'granary streams by encoding', 'parquet encodings'],
      ...t.byColumn.map((c) => [
        c.name,
        c.type,
        mib(c.arrowBytes),
        mib(c.granaryBytes),
        mib(c.parquetBytes),
        `${c.granaryOverParquet.toFixed(2)}x`,
        encodingsText(c).granary,
        encodingsText(c).parquet,
      ]),
    ]);
  }
}

function sources(options: StorageBytesOptions): TableSource[] {
  const { partitions, rowsPerPartition } = options.recsys;
  return [
    {
      name: TABLE,
      columns: COLUMNS,
      columnOrder: LAYOUT_ORDER,
      partitions: Array.from({ length: partitions }, (_, p) => ({
        spec: partitionSpec(p),
        rows: rowsPerPartition,
        batches: () => partitionBatches(p, rowsPerPartition),
      })),
    },
    {
      name: FLIGHTS_TABLE,
      columns: FLIGHTS_COLUMNS,
      partitions: [{ spec: FLIGHTS_PARTITION, rows: options.flightsRows, batches: () => flightsBatches(options.flightsRows) }],
    },
  ];
}

/** Writes both tables both ways and returns the bytes per column type; prints a table per table. */
export async function benchStorageBytes(options: StorageBytesOptions): Promise<StorageBytesFigures> {
  const cleanups = new Cleanups('stopping the storage-bytes cluster and removing its files');
  try {
    const scratch = await makeTempDir('bench-storage-bytes');
    cleanups.push(scratch.remove);
    const cluster: Cluster = await startCluster({ nodes: EC.dataShards + EC.parityShards, domains: 3 });
    cleanups.push(() => cluster.stop());
    const client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    cleanups.push(() => client.close());
    const instance = await DuckDBInstance.create(':memory:');
    cleanups.push(async () => instance.closeSync());
    const connection = await instance.connect();
    cleanups.push(async () => connection.closeSync());
    const version = String((await connection.runAndReadAll('SELECT version()')).getRows()[0]?.[0]);
    const duckdb = { version, copyOptions: COPY_OPTIONS };

    const tables: TableBytes[] = [];
    for (const source of sources(options)) {
      await client.metadata.createTable({ name: source.name, columns: source.columns, partitionBy: ['ds'], ec: `${EC.dataShards}+${EC.parityShards}` });
      const arrowBytes = new Float64Array(source.columns.length);
      const writeSeconds = await writeGranary(client, source, arrowBytes);
      const layout = await granaryLayout(client, source);
      const catalogBytes = (await client.metadata.listPartitions(source.name)).reduce((sum, p) => sum + p.bytes, 0);
      const pq = await writeParquet(connection, scratch.path, source);
      const figures = tableBytes(source, arrowBytes, { ...layout, catalogBytes, writeSeconds }, pq);
      printTableBytes(figures, duckdb);
      tables.push(figures);
    }
    printTable('Stored bytes, Granary / DuckDB zstd Parquet (column data), per column type', [
      ['table', ...new Set(tables.flatMap((t) => t.byType.map((b) => b.type))), 'total'],
      ...tables.map((t) => {
        const types = [...new Set(tables.flatMap((x) => x.byType.map((b) => b.type)))];
        return [t.table, ...types.map((type) => t.byType.find((b) => b.type === type)?.granaryOverParquet.toFixed(2) ?? '-'), `${t.total.granaryOverParquet.toFixed(2)}x`];
      }),
    ]);
    return { duckdb, tables };
  } finally {
    await cleanups.run();
  }
}

// ---------------------------------------------------------------- standalone

export const STORAGE_BYTES_DEFAULT: StorageBytesOptions = { recsys: { partitions: 1, rowsPerPartition: 25_000 }, flightsRows: FLIGHTS_ROWS };
export const STORAGE_BYTES_QUICK: StorageBytesOptions = { recsys: { partitions: 1, rowsPerPartition: 5_000 }, flightsRows: 300_000 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'recsys-rows': { type: 'string' },
      'recsys-partitions': { type: 'string' },
      'flights-rows': { type: 'string' },
    },
    strict: true,
  });
  const base = values.quick === true ? STORAGE_BYTES_QUICK : STORAGE_BYTES_DEFAULT;
  const options: StorageBytesOptions = {
    recsys: {
      partitions: positive('recsys-partitions', values['recsys-partitions'], base.recsys.partitions, true),
      rowsPerPartition: positive('recsys-rows', values['recsys-rows'], base.recsys.rowsPerPartition, true),
    },
    flightsRows: positive('flights-rows', values['flights-rows'], base.flightsRows, true),
  };
  console.log(
    `Granary storage-bytes bench: ${TABLE} ${options.recsys.partitions} x ${options.recsys.rowsPerPartition} rows, ${FLIGHTS_TABLE} ${options.flightsRows} rows`,
  );
  const startedAt = new Date().toISOString();
  const storageBytes = await benchStorageBytes(options);
  const targets = storageBytesTargets(storageBytes);
  printTargets(targets);
  const results = { startedAt, finishedAt: new Date().toISOString(), machine: machineInfo(), options, storageBytes, targets };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/storage-bytes-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nfigures written to ${file.pathname} (${((Date.parse(results.finishedAt) - Date.parse(startedAt)) / 1000).toFixed(0)} s)`);
}

const entry = process.argv[1];
if (entry !== undefined && (await realpath(entry).catch(() => entry)) === fileURLToPath(import.meta.url)) await main();
