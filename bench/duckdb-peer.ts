/**
 * Peer: the training job (bench/workload.ts) read by DuckDB from local Parquet files of the same
 * data, in the same run, as a point of comparison for the Granary scan.
 *
 * Every partition is generated again (same seed, same batches) and written once to its own file
 * through parquet-wasm's streaming writer: no compression and no dictionary (Granary's streams are
 * plain too, so neither reader decompresses; dictionary encoding of random 40-bit ids also made
 * the write 4x slower and the file larger), row groups of at most 64 MiB (the table's stripe size)
 * or 65,536 rows. DuckDB (in-memory instance, its default thread count) then reads the job's
 * columns of the job's partitions (read_parquet over those files) two ways:
 *
 *   aggregate: sum of every float, of every list's length and of its ids, inside DuckDB;
 *   streamed:  result chunks (up to 2,048 rows) copied column by column into JS typed arrays:
 *              Float32Array values + Uint8Array validity per float column, Int32Array offsets +
 *              BigInt64Array ids per id_list. The copy reads DuckDB's vector memory directly
 *              (C API vector_get_data, through @duckdb/node-bindings, which @duckdb/node-api
 *              wraps): the fastest way out, where a value-by-value getItem() would make one
 *              BigInt per id and mostly measure that.
 *
 * Useful bytes per scan are the Granary scan's `bytesNeeded` for those columns when the caller
 * passes the Granary figures; otherwise the Parquet files' uncompressed sizes of those columns.
 * With the Granary figures, DuckDB's rows, list values and float sum must equal the scan's.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import bindings from '@duckdb/node-bindings';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import * as parquet from 'parquet-wasm';
import { TABLE_DEFAULTS } from '../protocol/index.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import type { ScanTotals } from './client.js';
import { writeParquetFile } from './parquet-file.js';
import { mbps, mib, printTable, secondsSince, timedItems } from './measure.js';
import { COLUMNS, JOB_COLUMNS, type Scale, jobPartitions, partitionBatches, partitionSpec } from './workload.js';

/** The Granary scan measured in the same run (bench/client.ts's healthy coalesced read). */
export interface GranaryScanFigure {
  readonly usefulBytesPerSecond: number;
  readonly bytesNeededPerScan: number;
  readonly totals: ScanTotals;
}

export interface DuckdbPeerOptions {
  readonly scale: Scale;
  /** Minimum seconds per measurement. */
  readonly seconds: number;
  readonly granary?: GranaryScanFigure;
}

export interface DuckdbPeerCase {
  readonly scans: number;
  readonly seconds: number;
  readonly usefulBytesPerSecond: number;
  readonly rowsPerSecond: number;
  /** Granary scan useful bytes/s over this case's (above 1: Granary faster). */
  readonly granaryOverDuckdb: number | null;
}

export interface DuckdbPeerFigures {
  readonly duckdb: { readonly version: string; readonly threads: number };
  readonly parquet: {
    readonly files: readonly string[];
    readonly filesRead: readonly string[];
    readonly fileBytes: number;
    /** Seconds to generate every partition and write its file; generation alone below. */
    readonly writeSeconds: number;
    readonly generateSeconds: number;
    readonly rowGroups: number;
    /** The job's column chunks in the files read: uncompressed and stored bytes. */
    readonly readColumnsUncompressedBytes: number;
    readonly readColumnsCompressedBytes: number;
  };
  readonly rowsPerScan: number;
  readonly usefulBytesPerScan: number;
  readonly usefulBytesSource: 'granary bytesNeeded' | 'parquet uncompressed column sizes';
  readonly granaryScanUsefulBytesPerSecond: number | null;
  readonly aggregate: DuckdbPeerCase;
  readonly streamed: DuckdbPeerCase;
}

const typeOf = (name: string) => COLUMNS.find((c) => c.name === name)?.type;
const FLOAT_COLUMNS = JOB_COLUMNS.filter((c) => typeOf(c) === 'float');
const LIST_COLUMNS = JOB_COLUMNS.filter((c) => typeOf(c) === 'id_list');

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

// ---------------------------------------------------------------- the Parquet files

function writerProperties(): parquet.WriterProperties {
  return new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false)
    .setMaxRowGroupSize(65_536)
    .setMaxRowGroupBytes(TABLE_DEFAULTS.stripeBytes)
    .setCreatedBy('granary bench')
    .build();
}

async function writeParquetFiles(dir: string, scale: Scale): Promise<{ files: string[]; seconds: number; generateSeconds: number }> {
  const start = process.hrtime.bigint();
  const generation = { seconds: 0 };
  const files: string[] = [];
  for (let p = 0; p < scale.partitions; p++) {
    const file = join(dir, `${partitionSpec(p)}.parquet`);
    await writeParquetFile(file, timedItems(partitionBatches(p, scale.rowsPerPartition), generation), writerProperties());
    files.push(file);
  }
  return { files, seconds: secondsSince(start), generateSeconds: generation.seconds };
}

// ---------------------------------------------------------------- reading

interface ScanResult {
  readonly rows: number;
  readonly listValues: number;
  readonly floatSum: number;
}

/** Everything summed inside DuckDB: each float, each list's length and each id. */
async function aggregateOnce(connection: DuckDBConnection, sql: string): Promise<ScanResult> {
  const reader = await connection.runAndReadAll(sql);
  const row = reader.getRows()[0] ?? [];
  return { rows: Number(row[0]), floatSum: Number(row[1]), listValues: Number(row[2]) };
}

/** A FLOAT vector's values and validity (DuckDB's 64-bit mask words are Arrow's LSB-first bits). */
function copyFloats(vector: bindings.Vector, rows: number): { values: Float32Array; valid: Uint8Array | null } {
  const values = new Float32Array(rows);
  const raw = bindings.vector_get_data(vector, rows * 4);
  values.set(new Float32Array(raw.buffer, raw.byteOffset, rows));
  // No mask at all when every value is valid.
  const mask = bindings.vector_get_validity(vector, Math.ceil(rows / 64) * 8) as Uint8Array | null;
  return { values, valid: mask === null ? null : mask.slice(0, Math.ceil(rows / 8)) };
}

/**
 * A LIST(BIGINT) vector as Arrow-style offsets and ids. Entries are (offset, length) uint64 pairs;
 * both fit in 32 bits within a chunk, so they are read as the low halves (no BigInt per row). The
 * ids are copied in one piece when the entries are contiguous, as DuckDB's scans make them.
 */
function copyList(vector: bindings.Vector, rows: number): { offsets: Int32Array; ids: BigInt64Array } {
  const raw = bindings.vector_get_data(vector, rows * 16);
  const entries = new Uint32Array(raw.buffer, raw.byteOffset, rows * 4);
  const child = bindings.list_vector_get_child(vector);
  const childRaw = bindings.vector_get_data(child, bindings.list_vector_get_size(vector) * 8);
  const childIds = new BigInt64Array(childRaw.buffer, childRaw.byteOffset, childRaw.byteLength / 8);
  const offsets = new Int32Array(rows + 1);
  let contiguous = true;
  for (let i = 0; i < rows; i++) {
    offsets[i + 1] = (offsets[i] as number) + (entries[4 * i + 2] as number);
    contiguous &&= (entries[4 * i] as number) === (entries[0] as number) + (offsets[i] as number);
  }
  const count = offsets[rows] as number;
  const ids = new BigInt64Array(count);
  if (contiguous) {
    const from = rows === 0 ? 0 : (entries[0] as number);
    ids.set(childIds.subarray(from, from + count));
  } else {
    for (let i = 0; i < rows; i++) {
      const from = entries[4 * i] as number;
      ids.set(childIds.subarray(from, from + (entries[4 * i + 2] as number)), offsets[i] as number);
    }
  }
  return { offsets, ids };
}

function sumValid(values: Float32Array, valid: Uint8Array | null): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) if (valid === null || ((valid[i >> 3] as number) & (1 << (i & 7))) !== 0) sum += values[i] as number;
  return sum;
}

/** Streams the result chunk by chunk and copies every column into typed arrays; sums only when `check`. */
async function streamOnce(connection: DuckDBConnection, sql: string, check: boolean): Promise<ScanResult> {
  const result = await connection.stream(sql);
  let rows = 0;
  let listValues = 0;
  let floatSum = 0;
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const n = chunk.rowCount;
    for (let c = 0; c < FLOAT_COLUMNS.length; c++) {
      const { values, valid } = copyFloats(bindings.data_chunk_get_vector(chunk.chunk, c), n);
      if (check) floatSum += sumValid(values, valid);
    }
    for (let c = 0; c < LIST_COLUMNS.length; c++) listValues += copyList(bindings.data_chunk_get_vector(chunk.chunk, FLOAT_COLUMNS.length + c), n).ids.length;
    rows += n;
  }
  return { rows, listValues, floatSum };
}

function checkSame(name: string, got: ScanResult, expected: ScanResult): void {
  if (got.rows !== expected.rows || got.listValues !== expected.listValues) {
    throw new Error(`${name} read ${got.rows} rows / ${got.listValues} ids, expected ${expected.rows} / ${expected.listValues}`);
  }
  if (Math.abs(got.floatSum - expected.floatSum) > 1e-6 * Math.max(1, Math.abs(expected.floatSum))) {
    throw new Error(`${name} float sum ${got.floatSum}, expected ${expected.floatSum}`);
  }
}

/** One untimed (checked) run, then whole runs for at least `seconds`. */
async function measure(
  once: (check: boolean) => Promise<ScanResult>,
  seconds: number,
  usefulBytesPerScan: number,
  granaryBytesPerSecond: number | null,
): Promise<{ figures: DuckdbPeerCase; first: ScanResult }> {
  const first = await once(true);
  let scans = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const r = await once(false);
    if (r.rows !== first.rows) throw new Error(`DuckDB read ${first.rows} rows, then ${r.rows}`);
    scans++;
    elapsed = secondsSince(start);
  } while (elapsed < seconds);
  const usefulBytesPerSecond = (usefulBytesPerScan * scans) / elapsed;
  return {
    first,
    figures: {
      scans,
      seconds: elapsed,
      usefulBytesPerSecond,
      rowsPerSecond: (first.rows * scans) / elapsed,
      granaryOverDuckdb: granaryBytesPerSecond === null ? null : granaryBytesPerSecond / usefulBytesPerSecond,
    },
  };
}

/** Row groups and the job's column sizes in `files`, from their footers. */
async function parquetLayout(connection: DuckDBConnection, files: readonly string[]): Promise<{ rowGroups: number; uncompressed: number; compressed: number }> {
  const meta = (
    await connection.runAndReadAll(
      `SELECT file_name, row_group_id, path_in_schema, total_compressed_size, total_uncompressed_size FROM parquet_metadata([${files.map(sqlString).join(', ')}])`,
    )
  ).getRows();
  const groups = new Set<string>();
  const wanted = new Set(JOB_COLUMNS);
  let uncompressed = 0;
  let compressed = 0;
  for (const [file, group, path, compressedSize, uncompressedSize] of meta) {
    groups.add(`${String(file)}#${String(group)}`);
    if (wanted.has(/^[A-Za-z0-9_]+/.exec(String(path))?.[0] ?? '')) {
      compressed += Number(compressedSize);
      uncompressed += Number(uncompressedSize);
    }
  }
  return { rowGroups: groups.size, uncompressed, compressed };
}

function printPeer(f: DuckdbPeerFigures, scale: Scale): void {
  const vs = (c: DuckdbPeerCase) => (c.granaryOverDuckdb === null ? '' : `${c.granaryOverDuckdb.toFixed(2)}x`);
  printTable(
    `DuckDB ${f.duckdb.version} peer (${f.duckdb.threads} threads): the job's ${JOB_COLUMNS.length} columns of ${f.parquet.filesRead.length} of ${scale.partitions} local Parquet files ` +
      `(${mib(f.parquet.fileBytes)} in all, ${f.parquet.rowGroups} row groups, plain, uncompressed; the job's columns ${mib(f.parquet.readColumnsUncompressedBytes)}); ` +
      `useful bytes/scan ${mib(f.usefulBytesPerScan)} (${f.usefulBytesSource})`,
    [
      ['case', 'scans', 'useful', 'rows/s', 'granary / duckdb'],
      ...(f.granaryScanUsefulBytesPerSecond === null ? [] : [['granary scan (coalesced, 9-node cluster)', '', mbps(f.granaryScanUsefulBytesPerSecond), '', '1.00x']]),
      ['duckdb aggregate (sum floats, list lengths, ids)', String(f.aggregate.scans), mbps(f.aggregate.usefulBytesPerSecond), f.aggregate.rowsPerSecond.toFixed(0), vs(f.aggregate)],
      ['duckdb streamed into JS typed arrays', String(f.streamed.scans), mbps(f.streamed.usefulBytesPerSecond), f.streamed.rowsPerSecond.toFixed(0), vs(f.streamed)],
      [`(generation + parquet-wasm write of ${f.parquet.files.length} files, not counted)`, '', `${f.parquet.writeSeconds.toFixed(2)} s`, '', `gen ${f.parquet.generateSeconds.toFixed(2)} s`],
    ],
  );
}

export async function benchDuckdbPeer(options: DuckdbPeerOptions): Promise<DuckdbPeerFigures> {
  const { scale, seconds, granary } = options;
  const scratch = await makeTempDir('bench-duckdb-peer');
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  try {
    const written = await writeParquetFiles(scratch.path, scale);
    const filesRead = jobPartitions(scale).map((p) => written.files[p] as string);
    const fileBytes = (await Promise.all(written.files.map((file) => stat(file)))).reduce((sum, s) => sum + s.size, 0);

    instance = await DuckDBInstance.create(':memory:');
    connection = await instance.connect();
    const settings = (await connection.runAndReadAll(`SELECT version(), current_setting('threads')`)).getRows()[0] ?? [];
    const layout = await parquetLayout(connection, filesRead);

    const usefulBytesPerScan = granary?.bytesNeededPerScan ?? layout.uncompressed;
    const granaryBytesPerSecond = granary?.usefulBytesPerSecond ?? null;
    const source = `read_parquet([${filesRead.map(sqlString).join(', ')}])`;
    const sum = (columns: readonly string[], of: (c: string) => string) => columns.map((c) => `coalesce(sum(${of(quote(c))}), 0)`).join(' + ');
    const aggregateSql = `SELECT count(*), ${sum(FLOAT_COLUMNS, (c) => c)}, ${sum(LIST_COLUMNS, (c) => `len(${c})`)}, ${sum(LIST_COLUMNS, (c) => `list_sum(${c})`)} FROM ${source}`;
    const streamSql = `SELECT ${[...FLOAT_COLUMNS, ...LIST_COLUMNS].map(quote).join(', ')} FROM ${source}`;

    const conn = connection;
    const aggregate = await measure(() => aggregateOnce(conn, aggregateSql), seconds, usefulBytesPerScan, granaryBytesPerSecond);
    const streamed = await measure((check) => streamOnce(conn, streamSql, check), seconds, usefulBytesPerScan, granaryBytesPerSecond);
    const expected = granary?.totals ?? aggregate.first;
    checkSame('DuckDB aggregate', aggregate.first, expected);
    checkSame('DuckDB streamed', streamed.first, expected);

    const figures: DuckdbPeerFigures = {
      duckdb: { version: String(settings[0]), threads: Number(settings[1]) },
      parquet: {
        files: written.files.map((file) => file.slice(scratch.path.length + 1)),
        filesRead: filesRead.map((file) => file.slice(scratch.path.length + 1)),
        fileBytes,
        writeSeconds: written.seconds,
        generateSeconds: written.generateSeconds,
        rowGroups: layout.rowGroups,
        readColumnsUncompressedBytes: layout.uncompressed,
        readColumnsCompressedBytes: layout.compressed,
      },
      rowsPerScan: aggregate.first.rows,
      usefulBytesPerScan,
      usefulBytesSource: granary === undefined ? 'parquet uncompressed column sizes' : 'granary bytesNeeded',
      granaryScanUsefulBytesPerSecond: granaryBytesPerSecond,
      aggregate: aggregate.figures,
      streamed: streamed.figures,
    };
    printPeer(figures, scale);
    return figures;
  } finally {
    connection?.closeSync();
    instance?.closeSync();
    await scratch.remove();
  }
}
