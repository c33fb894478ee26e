/**
 * Feature maps flattened at ingest (client/cli/formats/shape/feature-maps.ts) against the same
 * values already flattened, in the same run: the cost of spreading a map column into feature
 * columns, as a ratio of ingest throughputs.
 *
 * DuckDB writes two Parquet files of the same rows (zstd, row groups of 65,536 rows):
 *   map:  id, feats MAP(BIGINT, FLOAT) of 200 features (ids 1000..1199, each present in a row
 *         with probability 0.8), lists MAP(BIGINT, BIGINT[]) of 4 id-list features (ids
 *         5000..5003, present with probability 0.7, 0..19 ids each);
 *   flat: id, f_1000 .. f_1199 FLOAT and ids_5000 .. ids_5003 BIGINT[], null where the map has
 *         no entry.
 * Both are read into the same 205-column table (feature columns with those featureIds) through
 * `readInput` (Parquet decoded on its own thread, then conformed, and for the map file spread),
 * alone and followed by the writer's encode of every column of every batch
 * (`encodeStoredStream`, the table default: auto encodings, zstd level 1). Rounds alternate
 * between the files; each figure is the best of its rounds (the machine is shared). A third case
 * times only the fitting of already decoded batches to the table (planConform + conformBatch: the
 * spread against the flat file's zero-copy columns), which the Parquet decode otherwise hides.
 * Every column's null count and value sum must agree between the two files, or the bench fails.
 *
 *   npx tsx bench/feature-maps.ts [--quick] [--rows N] [--rounds R]
 */
import { openAsBlob } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { conformBatch, planConform } from '../client/cli/formats/conform.js';
import { readInput } from '../client/cli/formats/input.js';
import { FeatureTally } from '../client/cli/formats/shape/feature-tally.js';
import type { TableColumn } from '../client/cli/formats/shape/options.js';
import { encodeStoredStream } from '../client/format/index.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { positive } from './flags.js';
import { machineInfo, mib, printTable, secondsSince } from './measure.js';

export interface FeatureMapsOptions {
  readonly rows: number;
  /** Rounds per file and case; the best is kept. */
  readonly rounds: number;
}

export const FEATURE_MAPS_DEFAULT: FeatureMapsOptions = { rows: 200_000, rounds: 3 };
export const FEATURE_MAPS_QUICK: FeatureMapsOptions = { rows: 40_000, rounds: 2 };

const FLOAT_FEATURES = 200;
const FLOAT_FEATURE_FIRST = 1000;
const LIST_FEATURES = 4;
const LIST_FEATURE_FIRST = 5000;
const FLOAT_PRESENT_TENTHS = 8;
const LIST_PRESENT_TENTHS = 7;
const LIST_LENGTH_MAX = 20;
const ROW_GROUP_ROWS = 65_536;

export interface FeatureMapsCase {
  readonly mapRowsPerSecond: number;
  readonly flatRowsPerSecond: number;
  /** Map-file throughput over flat-file throughput (1: spreading costs nothing). */
  readonly mapOverFlat: number;
}

export interface FeatureMapsFigures {
  readonly rows: number;
  readonly floatFeatures: number;
  readonly listFeatures: number;
  readonly fileBytes: { readonly map: number; readonly flat: number };
  readonly read: FeatureMapsCase;
  readonly readAndEncode: FeatureMapsCase;
  /** Fitting already decoded batches to the table only (the spread against zero-copy columns). */
  readonly conformOnly: FeatureMapsCase;
}

const COLUMNS: readonly TableColumn[] = [
  { name: 'id', type: 'int64' },
  ...Array.from({ length: FLOAT_FEATURES }, (_, k): TableColumn => ({ name: `f_${FLOAT_FEATURE_FIRST + k}`, type: 'float', featureId: FLOAT_FEATURE_FIRST + k })),
  ...Array.from({ length: LIST_FEATURES }, (_, k): TableColumn => ({ name: `ids_${LIST_FEATURE_FIRST + k}`, type: 'id_list', featureId: LIST_FEATURE_FIRST + k })),
];

async function writeFiles(dir: string, rows: number): Promise<{ map: string; flat: string }> {
  const map = join(dir, 'map.parquet');
  const flat = join(dir, 'flat.parquet');
  const floats = Array.from({ length: FLOAT_FEATURES }, (_, k) => {
    const seed = `hash(i, ${k})`;
    return `CASE WHEN ${seed} % 10 < ${FLOAT_PRESENT_TENTHS} THEN ((${seed} >> 8) % 1000003)::FLOAT / 1000003 - 0.5 END AS f_${FLOAT_FEATURE_FIRST + k}`;
  });
  const lists = Array.from({ length: LIST_FEATURES }, (_, k) => {
    const seed = `hash(i, ${1000 + k})`;
    return `CASE WHEN ${seed} % 10 < ${LIST_PRESENT_TENTHS} THEN list_transform(range(((${seed} >> 8) % ${LIST_LENGTH_MAX})::BIGINT), x -> (hash(i, x, ${k}) % 1099511627776)::BIGINT) END AS ids_${LIST_FEATURE_FIRST + k}`;
  });
  const entries = (names: readonly string[], first: number): string =>
    `map_from_entries(list_filter([${names.map((name, k) => `{'key': ${first + k}::BIGINT, 'value': ${name}}`).join(', ')}], e -> e.value IS NOT NULL))`;
  const floatNames = COLUMNS.filter((column) => column.type === 'float').map((column) => column.name);
  const listNames = COLUMNS.filter((column) => column.type === 'id_list').map((column) => column.name);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`CREATE TABLE base AS SELECT i::BIGINT AS id, ${[...floats, ...lists].join(', ')} FROM range(${rows}) t(i)`);
    const options = `(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`;
    await connection.run(`COPY (SELECT * FROM base ORDER BY id) TO '${flat}' ${options}`);
    await connection.run(`COPY (SELECT id, ${entries(floatNames, FLOAT_FEATURE_FIRST)} AS feats, ${entries(listNames, LIST_FEATURE_FIRST)} AS lists FROM base ORDER BY id) TO '${map}' ${options}`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return { map, flat };
}

/** Per column: nulls and a sum of the values (floats) or of list lengths and ids. */
type Totals = Map<string, { nulls: number; sum: number }>;

function addTotals(totals: Totals, batch: arrow.RecordBatch): void {
  batch.schema.fields.forEach((field, c) => {
    const data = batch.data.children[c] as arrow.Data;
    const entry = totals.get(field.name) ?? { nulls: 0, sum: 0 };
    entry.nulls += data.nullCount;
    if (field.name.startsWith('ids_')) {
      const offsets = data.valueOffsets as Int32Array;
      const ids = (data.children[0] as arrow.Data).values as BigInt64Array;
      const start = offsets[0] as number;
      const end = offsets[data.length] as number;
      entry.sum += end - start;
      for (let i = start; i < end; i += 97) entry.sum += Number(ids[i]);
    } else {
      const values = data.values as Float32Array | BigInt64Array;
      const bits = data.nullBitmap as Uint8Array | undefined;
      for (let r = 0; r < data.length; r++) {
        if (data.nullCount > 0 && bits !== undefined && ((bits[(data.offset + r) >> 3] as number) & (1 << ((data.offset + r) & 7))) === 0) continue;
        entry.sum += Number(values[r]);
      }
    }
    totals.set(field.name, entry);
  });
}

/** One pass over `path` into the table: rows per second, and the totals when asked. */
async function pass(path: string, encode: boolean, totals?: Totals): Promise<number> {
  const features = new FeatureTally();
  const start = process.hrtime.bigint();
  let rows = 0;
  for await (const batch of readInput(path, 'parquet', COLUMNS, undefined, { shape: { features } })) {
    rows += batch.numRows;
    if (encode) {
      for (const [c, column] of COLUMNS.entries()) await encodeStoredStream(column.type, batch.data.children[c] as arrow.Data, { encoding: 'auto', compressionLevel: 1 });
    }
    if (totals !== undefined) addTotals(totals, batch);
  }
  const seconds = secondsSince(start);
  if (features.distinct > 0) throw new Error(`${path}: ${features.distinct} unknown features; the bench's table has a column for every one`);
  return rows / seconds;
}

/** The file's batches as parquet-wasm decodes them, in memory (what readInput's thread hands over). */
async function decodedBatches(path: string): Promise<arrow.RecordBatch[]> {
  const file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  const batches: arrow.RecordBatch[] = [];
  const stream = (await file.stream({ batchSize: 8192 })) as unknown as AsyncIterable<parquet.RecordBatch>;
  for await (const batch of stream) batches.push(...arrow.tableFromIPC(batch.intoIPCStream()).batches);
  return batches;
}

/** Rows per second of planConform + conformBatch over decoded batches, best of `rounds`. */
function conformRate(batches: readonly arrow.RecordBatch[], rounds: number): number {
  let best = 0;
  for (let round = 0; round <= rounds; round++) {
    const start = process.hrtime.bigint();
    let rows = 0;
    const plan = planConform((batches[0] as arrow.RecordBatch).schema, COLUMNS, 'bench', { features: new FeatureTally() });
    for (const batch of batches) rows += conformBatch(plan, batch, rows).numRows;
    // Round 0 warms the JIT up.
    if (round > 0) best = Math.max(best, rows / secondsSince(start));
  }
  return best;
}

async function measure(files: { map: string; flat: string }, rounds: number, encode: boolean): Promise<FeatureMapsCase> {
  let map = 0;
  let flat = 0;
  for (let round = 0; round < rounds; round++) {
    flat = Math.max(flat, await pass(files.flat, encode));
    map = Math.max(map, await pass(files.map, encode));
  }
  return { mapRowsPerSecond: map, flatRowsPerSecond: flat, mapOverFlat: map / flat };
}

function sameTotals(map: Totals, flat: Totals): void {
  for (const [name, expected] of flat) {
    const actual = map.get(name);
    if (actual === undefined || actual.nulls !== expected.nulls || actual.sum !== expected.sum) {
      throw new Error(`column ${name}: the map file gives ${JSON.stringify(actual)}, the flat file ${JSON.stringify(expected)}`);
    }
  }
}

export async function benchFeatureMaps(options: FeatureMapsOptions): Promise<FeatureMapsFigures> {
  const dir = await makeTempDir('bench-feature-maps');
  try {
    const files = await writeFiles(dir.path, options.rows);
    const mapTotals: Totals = new Map();
    const flatTotals: Totals = new Map();
    await pass(files.map, false, mapTotals);
    await pass(files.flat, false, flatTotals);
    sameTotals(mapTotals, flatTotals);
    const read = await measure(files, options.rounds, false);
    const readAndEncode = await measure(files, options.rounds, true);
    const mapBatches = await decodedBatches(files.map);
    const flatBatches = await decodedBatches(files.flat);
    const conformRounds = options.rounds * 3;
    const mapConform = conformRate(mapBatches, conformRounds);
    const flatConform = conformRate(flatBatches, conformRounds);
    const conformOnly = { mapRowsPerSecond: mapConform, flatRowsPerSecond: flatConform, mapOverFlat: mapConform / flatConform };
    const fileBytes = { map: (await stat(files.map)).size, flat: (await stat(files.flat)).size };
    const figures: FeatureMapsFigures = { rows: options.rows, floatFeatures: FLOAT_FEATURES, listFeatures: LIST_FEATURES, fileBytes, read, readAndEncode, conformOnly };
    printFeatureMaps(figures);
    return figures;
  } finally {
    await dir.remove();
  }
}

export function printFeatureMaps(figures: FeatureMapsFigures): void {
  const row = (name: string, figure: FeatureMapsCase): string[] => [
    name,
    `${Math.round(figure.mapRowsPerSecond).toLocaleString('en-US')} rows/s`,
    `${Math.round(figure.flatRowsPerSecond).toLocaleString('en-US')} rows/s`,
    `${figure.mapOverFlat.toFixed(2)}x`,
  ];
  printTable(
    `Feature maps: ${figures.rows.toLocaleString('en-US')} rows, one map of ${figures.floatFeatures} float features + one of ${figures.listFeatures} id lists (${mib(figures.fileBytes.map)}) vs the same as ${figures.floatFeatures + figures.listFeatures} plain columns (${mib(figures.fileBytes.flat)})`,
    [
      ['ingest path', 'map file', 'flat file', 'map / flat'],
      row('readInput', figures.read),
      row('readInput + encode', figures.readAndEncode),
      // The flat file's columns are taken zero copy, so a ratio says little: the spread's cost per row does.
      [...row('conform only (decoded batches)', figures.conformOnly).slice(0, 3), `${(1e6 / figures.conformOnly.mapRowsPerSecond).toFixed(1)} µs/row to spread`],
    ],
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, rows: { type: 'string' }, rounds: { type: 'string' } }, strict: true });
  const base = values.quick === true ? FEATURE_MAPS_QUICK : FEATURE_MAPS_DEFAULT;
  const options = { rows: positive('rows', values.rows, base.rows, true), rounds: positive('rounds', values.rounds, base.rounds, true) };
  console.log(`Granary feature-maps bench: ${options.rows} rows, best of ${options.rounds} rounds; ${JSON.stringify(machineInfo())}`);
  await benchFeatureMaps(options);
}

const entry = process.argv[1];
if (entry !== undefined && (await realpath(entry).catch(() => entry)) === fileURLToPath(import.meta.url)) await main();
