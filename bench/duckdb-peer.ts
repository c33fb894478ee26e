/**
 * Peer: the client scan's column choice read by DuckDB from a local Parquet file of the same
 * synthetic table, in the same run, as a point of comparison for the Granary scan.
 *
 * The table (bench/client.ts's generator, same seed, same rows) is written once to a Parquet file
 * in a temp dir through `openOutput('parquet', ...)` (parquet-wasm, Snappy, row groups of at most
 * 65,536 rows or 128 MiB). DuckDB (in-memory instance, its default thread count) then reads the
 * same 10% of the columns (READ_COLUMNS: 40 floats + 10 id_lists) two ways:
 *
 *   aggregate: sum of every float, sum of every list's length and of its ids, inside DuckDB;
 *   streamed:  result chunks (DuckDB data chunks of up to 2,048 rows) copied column by column
 *              through the vector API into JS typed arrays (Float32Array values + Uint8Array
 *              validity per float column; Int32Array offsets + BigInt64Array ids per id_list).
 *
 * Useful bytes per scan are the Granary scan's `bytesNeeded` for those columns (the encoded
 * stream bytes) when the caller passes the Granary figures; otherwise the Parquet file's
 * uncompressed column-chunk sizes of those columns (parquet_metadata()).
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { DuckDBBigIntVector, type DuckDBConnection, DuckDBFloatVector, DuckDBInstance, DuckDBListVector } from '@duckdb/node-api';
import { rowsToRecordBatch } from '../client/index.js';
import { type OutputWriter, openOutput } from '../client/cli/formats/output.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { COLUMNS, READ_COLUMNS, makeRows } from './client.js';
import { printTable } from './measure.js';

const CHUNK_ROWS = 2000;

/** The Granary scan measured in the same run (bench/client.ts's healthy coalesced read). */
export interface GranaryScanFigure {
  readonly usefulBytesPerSecond: number;
  readonly bytesNeededPerScan: number;
  readonly rowsPerScan: number;
}

export interface DuckdbPeerOptions {
  readonly rows: number;
  /** Minimum seconds per measurement; default 3. */
  readonly seconds?: number;
  /** The Granary scan's figures from the same run, for the ratio and the useful-bytes figure. */
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
  readonly rows: number;
  readonly duckdb: { readonly version: string; readonly threads: number };
  readonly parquet: {
    readonly fileBytes: number;
    /** Seconds to generate the rows and write the file (parquet-wasm), not counted. */
    readonly writeSeconds: number;
    readonly rowGroups: number;
    readonly rowsPerRowGroup: readonly number[];
    /** The chosen columns' column chunks: uncompressed (page data + headers) and compressed bytes. */
    readonly readColumnsUncompressedBytes: number;
    readonly readColumnsCompressedBytes: number;
  };
  readonly usefulBytesPerScan: number;
  readonly usefulBytesSource: 'granary bytesNeeded' | 'parquet uncompressed column sizes';
  readonly granaryScanUsefulBytesPerSecond: number | null;
  readonly aggregate: DuckdbPeerCase;
  readonly streamed: DuckdbPeerCase;
}

const FLOAT_COLUMNS = READ_COLUMNS.filter((c) => c.startsWith('f_'));
const LIST_COLUMNS = READ_COLUMNS.filter((c) => c.startsWith('ids_'));

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

async function writeParquet(file: string, rows: number): Promise<number> {
  const stream = createWriteStream(file);
  let output: OutputWriter | undefined;
  const listLengths = { total: 0, count: 0 };
  const start = process.hrtime.bigint();
  try {
    for (let from = 0; from < rows; from += CHUNK_ROWS) {
      const batch = rowsToRecordBatch(COLUMNS, makeRows(from, Math.min(CHUNK_ROWS, rows - from), listLengths));
      output ??= openOutput('parquet', stream, batch.schema);
      await output.write(batch);
    }
    await output?.close();
  } finally {
    stream.end();
    await finished(stream);
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

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

/** Streams the result chunk by chunk and copies every column into typed arrays. */
async function streamOnce(connection: DuckDBConnection, sql: string): Promise<ScanResult> {
  const result = await connection.stream(sql);
  let rows = 0;
  let listValues = 0;
  let floatSum = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    for (let c = 0; c < FLOAT_COLUMNS.length; c++) {
      const vector = chunk.getColumnVector(c);
      if (!(vector instanceof DuckDBFloatVector)) throw new Error(`column ${FLOAT_COLUMNS[c]} is not FLOAT`);
      const values = new Float32Array(n);
      const valid = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = vector.getItem(i);
        if (v !== null) {
          values[i] = v;
          valid[i] = 1;
          floatSum += v;
        }
      }
    }
    for (let c = 0; c < LIST_COLUMNS.length; c++) {
      const vector = chunk.getColumnVector(FLOAT_COLUMNS.length + c);
      if (!(vector instanceof DuckDBListVector)) throw new Error(`column ${LIST_COLUMNS[c]} is not a LIST`);
      const child = vector.childVector;
      if (!(child instanceof DuckDBBigIntVector)) throw new Error(`column ${LIST_COLUMNS[c]} is not a LIST of BIGINT`);
      const offsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) offsets[i + 1] = (offsets[i] as number) + vector.getEntryLength(i);
      const total = offsets[n] as number;
      const ids = new BigInt64Array(total);
      let k = 0;
      for (let i = 0; i < n; i++) {
        const at = vector.getEntryOffset(i);
        const length = vector.getEntryLength(i);
        for (let j = 0; j < length; j++) ids[k++] = child.getItem(at + j) ?? 0n;
      }
      listValues += total;
    }
    rows += n;
  }
  return { rows, listValues, floatSum };
}

/** One untimed (checked) run, then whole runs for at least `seconds`. */
async function measure(
  once: () => Promise<ScanResult>,
  seconds: number,
  usefulBytesPerScan: number,
  expected: ScanResult | undefined,
  granaryBytesPerSecond: number | null,
): Promise<{ figures: DuckdbPeerCase; first: ScanResult }> {
  const first = await once();
  if (expected !== undefined) {
    if (first.rows !== expected.rows || first.listValues !== expected.listValues) {
      throw new Error(`DuckDB read ${first.rows} rows / ${first.listValues} ids, expected ${expected.rows} / ${expected.listValues}`);
    }
    if (Math.abs(first.floatSum - expected.floatSum) > 1e-3 * Math.max(1, Math.abs(expected.floatSum))) {
      throw new Error(`DuckDB float sums differ: ${first.floatSum} vs ${expected.floatSum}`);
    }
  }
  let scans = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const r = await once();
    if (r.rows !== first.rows) throw new Error(`DuckDB read ${r.rows} rows, then ${first.rows}`);
    scans++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
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

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function mbps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
}

export async function benchDuckdbPeer(options: DuckdbPeerOptions): Promise<DuckdbPeerFigures> {
  const seconds = options.seconds ?? 3;
  const granary = options.granary;
  if (granary !== undefined && granary.rowsPerScan !== options.rows) {
    throw new Error(`the Granary scan read ${granary.rowsPerScan} rows, the peer table has ${options.rows}`);
  }
  const scratch = await makeTempDir('bench-duckdb-peer');
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  try {
    const file = join(scratch.path, 'recsys.parquet');
    const writeSeconds = await writeParquet(file, options.rows);
    const fileBytes = (await stat(file)).size;

    instance = await DuckDBInstance.create(':memory:');
    connection = await instance.connect();
    const settings = (await connection.runAndReadAll(`SELECT version(), current_setting('threads')`)).getRows()[0] ?? [];
    const duckdb = { version: String(settings[0]), threads: Number(settings[1]) };

    // Row groups and the chosen columns' sizes, from the file's footer.
    const meta = (
      await connection.runAndReadAll(
        `SELECT row_group_id, row_group_num_rows, path_in_schema, total_compressed_size, total_uncompressed_size FROM parquet_metadata(${sqlString(file)})`,
      )
    ).getRows();
    const rowGroupRows = new Map<number, number>();
    const wanted = new Set(READ_COLUMNS);
    let uncompressed = 0;
    let compressed = 0;
    for (const [group, groupRows, path, compressedSize, uncompressedSize] of meta) {
      rowGroupRows.set(Number(group), Number(groupRows));
      const column = /^[A-Za-z0-9_]+/.exec(String(path))?.[0] ?? '';
      if (wanted.has(column)) {
        compressed += Number(compressedSize);
        uncompressed += Number(uncompressedSize);
      }
    }
    const rowsPerRowGroup = [...rowGroupRows.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);

    const usefulBytesPerScan = granary?.bytesNeededPerScan ?? uncompressed;
    const granaryBytesPerSecond = granary?.usefulBytesPerSecond ?? null;
    const source = `read_parquet(${sqlString(file)})`;
    const aggregateSql = `SELECT count(*), ${FLOAT_COLUMNS.map((c) => `coalesce(sum(${quote(c)}), 0)`).join(' + ')}, ${LIST_COLUMNS.map((c) => `coalesce(sum(len(${quote(c)})), 0)`).join(' + ')}, ${LIST_COLUMNS.map((c) => `coalesce(sum(list_sum(${quote(c)})), 0)`).join(' + ')} FROM ${source}`;
    const streamSql = `SELECT ${READ_COLUMNS.map(quote).join(', ')} FROM ${source}`;

    const conn = connection;
    const aggregate = await measure(() => aggregateOnce(conn, aggregateSql), seconds, usefulBytesPerScan, undefined, granaryBytesPerSecond);
    if (aggregate.first.rows !== options.rows) throw new Error(`DuckDB counted ${aggregate.first.rows} rows, ${options.rows} were written`);
    const streamed = await measure(() => streamOnce(conn, streamSql), seconds, usefulBytesPerScan, aggregate.first, granaryBytesPerSecond);

    const figures: DuckdbPeerFigures = {
      rows: options.rows,
      duckdb,
      parquet: {
        fileBytes,
        writeSeconds,
        rowGroups: rowsPerRowGroup.length,
        rowsPerRowGroup,
        readColumnsUncompressedBytes: uncompressed,
        readColumnsCompressedBytes: compressed,
      },
      usefulBytesPerScan,
      usefulBytesSource: granary === undefined ? 'parquet uncompressed column sizes' : 'granary bytesNeeded',
      granaryScanUsefulBytesPerSecond: granaryBytesPerSecond,
      aggregate: aggregate.figures,
      streamed: streamed.figures,
    };

    const vs = (c: DuckdbPeerCase) => (c.granaryOverDuckdb === null ? '' : `${c.granaryOverDuckdb.toFixed(2)}x`);
    printTable(
      `DuckDB ${duckdb.version} peer (${duckdb.threads} threads): ${READ_COLUMNS.length} columns (40 float + 10 id_list) of ${options.rows} rows from a local Parquet file ` +
        `(${mib(fileBytes)}, ${rowsPerRowGroup.length} row group(s) of ${rowsPerRowGroup.join('/')} rows; those columns ${mib(uncompressed)} uncompressed, ${mib(compressed)} compressed); ` +
        `useful bytes/scan ${mib(usefulBytesPerScan)} (${figures.usefulBytesSource})`,
      [
        ['case', 'scans', 'useful', 'rows/s', 'granary / duckdb'],
        ...(granaryBytesPerSecond === null ? [] : [['granary scan (coalesced, 9-node cluster)', '', mbps(granaryBytesPerSecond), '', '1.00x']]),
        ['duckdb aggregate (sum floats, list lengths, ids)', String(aggregate.figures.scans), mbps(aggregate.figures.usefulBytesPerSecond), aggregate.figures.rowsPerSecond.toFixed(0), vs(aggregate.figures)],
        ['duckdb streamed into JS typed arrays', String(streamed.figures.scans), mbps(streamed.figures.usefulBytesPerSecond), streamed.figures.rowsPerSecond.toFixed(0), vs(streamed.figures)],
        ['(row generation + parquet-wasm write, not counted)', '', '', '', `${writeSeconds.toFixed(2)} s`],
      ],
    );
    return figures;
  } finally {
    connection?.closeSync();
    instance?.closeSync();
    await scratch.remove();
  }
}
