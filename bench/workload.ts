/**
 * The benchmark workload: a synthetic recommendation table shaped like Meta's published training
 * data (DSI paper: hundreds of dense float features, ~100 id_list features with a long-tailed
 * length, a label, a timestamp), partitioned by day, and the "training job" that reads it.
 *
 * Table: f_0..f_399 (float, ~1% null), ids_0..ids_99 (id_list of 40-bit ids; length a mixture of
 * geometric laws: 9/10 mean 14, 1/10 mean 74, capped at 200: mean 19.5 with a long tail), label
 * (float 0/1, 10% ones) and ts (int64 ms). Partitions ds=2026-11-01, ds=2026-11-02, ...
 *
 * Popularity: a seeded permutation gives each of the 500 features a rank; a feature of rank r is
 * read with probability proportional to 1 / r^ZIPF_EXPONENT (s = 1.1: the top 10 features take
 * about half of all reads). The job reads ~10% of the features, drawn without replacement
 * weighted by popularity (so mostly popular ones, with a tail), floats and id_lists drawn
 * separately to keep the table's 4:1 mix (40 + 10), plus the label, from every partition but the
 * first. Writers lay columns out label first, then by popularity (Meta's feature reordering).
 *
 * Generation builds Arrow batches straight from typed arrays. Every column of every batch has its
 * own PRNG seeded from (SEED, partition, batch, column), so a batch is the same whatever else is
 * generated, in whatever order. A column's ids are a window of a seeded pool (see ID_POOL).
 */
import * as arrow from 'apache-arrow';
import { arrowSchemaOf } from '../client/index.js';
import type { ColumnSpec, PartitionPredicate } from '../protocol/index.js';
import { seededRandom } from '../test/helpers/seeded-random.js';

export const SEED = 20261125;
export const TABLE = 'recsys';
export const FLOAT_FEATURES = 400;
export const ID_LIST_FEATURES = 100;
export const JOB_FLOATS = 40;
export const JOB_ID_LISTS = 10;
export const ZIPF_EXPONENT = 1.1;
/** Rows per generated batch; part of a batch's identity, so fixed. */
export const BATCH_ROWS = 4096;
export const FLOAT_NULL_RATE = 0.01;
export const LABEL_POSITIVE_RATE = 0.1;
export const ID_LIST_CAP = 200;
const ID_LIST_SHORT_MEAN = 14;
const ID_LIST_LONG_MEAN = 74;
const ID_LIST_LONG_SHARE = 0.1;
const ID_BITS = 40;
const FIRST_DAY = Date.UTC(2026, 10, 1);
const DAY_MS = 86_400_000;
/** Seeds of the non-data draws, apart from any (partition, batch, column) triple. */
const POPULARITY_STREAM = 0x7fff_0001;
const JOB_STREAM = 0x7fff_0002;
/** Seed of a list column's ids, apart from its lengths. */
const IDS_STREAM = 0x7fff_0003;

export const COLUMNS: readonly ColumnSpec[] = [
  ...Array.from({ length: FLOAT_FEATURES }, (_, i): ColumnSpec => ({ name: `f_${i}`, type: 'float', featureId: 1000 + i })),
  ...Array.from({ length: ID_LIST_FEATURES }, (_, i): ColumnSpec => ({ name: `ids_${i}`, type: 'id_list', featureId: 5000 + i })),
  { name: 'label', type: 'float' },
  { name: 'ts', type: 'int64' },
];

/** Built by the client's own mapping, so batches pass the writer's type check unchanged. */
export const SCHEMA: arrow.Schema = arrowSchemaOf(COLUMNS);

const FEATURES: readonly ColumnSpec[] = COLUMNS.filter((c) => c.featureId !== undefined);

/** A 32-bit avalanche mix (murmur3 finalizer), to derive independent seeds from small integers. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b + 1, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * mulberry32, as in test/helpers/seeded-random.ts, but returning its raw signed 32-bit output:
 * the hot loops store integers, and a detour through a [0, 1) double costs more than the draw.
 */
function int32Random(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  };
}

function columnSeed(partition: number, batch: number, column: number): number {
  return mix(mix(mix(SEED, partition), batch), column);
}

/** `rate` as a threshold on unsigned 32-bit draws. */
const threshold = (rate: number): number => Math.floor(rate * 2 ** 32);

// ---------------------------------------------------------------- popularity and the job

/** Feature name -> popularity rank (1 = most read), from a seeded permutation. */
export const POPULARITY_RANK: ReadonlyMap<string, number> = (() => {
  const rand = seededRandom(mix(SEED, POPULARITY_STREAM));
  const order = FEATURES.map((f) => f.name);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  return new Map(order.map((name, i) => [name, i + 1]));
})();

export function popularity(name: string): number {
  const rank = POPULARITY_RANK.get(name);
  return rank === undefined ? 0 : rank ** -ZIPF_EXPONENT;
}

/** Features, most popular first. */
export const POPULARITY_ORDER: readonly string[] = [...POPULARITY_RANK.keys()].sort(
  (a, b) => (POPULARITY_RANK.get(a) as number) - (POPULARITY_RANK.get(b) as number),
);

/** The writers' column layout: label (every job reads it), then features by popularity; ts follows. */
export const LAYOUT_ORDER: readonly string[] = ['label', ...POPULARITY_ORDER];

/** `count` of `names` without replacement, weighted by popularity (Efraimidis-Spirakis keys u^(1/w)). */
function weightedSample(names: readonly string[], count: number, rand: () => number): string[] {
  return names
    .map((name) => ({ name, key: Math.log(rand()) / popularity(name) }))
    .sort((a, b) => b.key - a.key)
    .slice(0, count)
    .map((k) => k.name)
    .sort((a, b) => popularity(b) - popularity(a));
}

const namesOfType = (type: ColumnSpec['type']) => FEATURES.filter((f) => f.type === type).map((f) => f.name);
const jobRandom = seededRandom(mix(SEED, JOB_STREAM));

/** The training job's columns: floats, then id_lists, each most popular first, then label. */
export const JOB_COLUMNS: readonly string[] = [
  ...weightedSample(namesOfType('float'), JOB_FLOATS, jobRandom),
  ...weightedSample(namesOfType('id_list'), JOB_ID_LISTS, jobRandom),
  'label',
];

/** The share of all feature reads the job's features account for (how "popular" the job is). */
export const JOB_POPULARITY_SHARE: number =
  JOB_COLUMNS.reduce((sum, name) => sum + popularity(name), 0) / FEATURES.reduce((sum, f) => sum + popularity(f.name), 0);

/** Columns of the job's features ranked within the top `n` by popularity. */
export function jobColumnsInTop(n: number): number {
  return JOB_COLUMNS.filter((name) => (POPULARITY_RANK.get(name) ?? Infinity) <= n).length;
}

// ---------------------------------------------------------------- partitions and scale

export interface Scale {
  readonly rowsPerPartition: number;
  readonly partitions: number;
}

export function partitionDay(partition: number): string {
  return new Date(FIRST_DAY + partition * DAY_MS).toISOString().slice(0, 10);
}

export function partitionSpec(partition: number): string {
  return `ds=${partitionDay(partition)}`;
}

/** The partitions the job reads: every one but the first (a real range, so the filter prunes). */
export function jobPartitions(scale: Scale): number[] {
  if (scale.partitions < 2) throw new Error('the job reads all partitions but the first: at least 2 partitions are needed');
  return Array.from({ length: scale.partitions - 1 }, (_, i) => i + 1);
}

export function jobPartitionFilter(scale: Scale): Record<string, PartitionPredicate> {
  return { ds: { gte: partitionDay(jobPartitions(scale)[0] as number) } };
}

// ---------------------------------------------------------------- generation

/**
 * Values uniform in [-1, 1), FLOAT_NULL_RATE of them null: one xorshift32 step per row with its
 * state in a local (a closure's state lives in memory: several times slower in a loop this
 * tight); the null test reads a hash of the draw, so nulls leave no hole in the values.
 */
function floatColumn(seed: number, rows: number, type: arrow.Float32): arrow.Data<arrow.Float32> {
  const values = new Float32Array(rows);
  const bitmap = new Uint8Array(Math.ceil(rows / 8));
  const nullBelow = threshold(FLOAT_NULL_RATE);
  let x = seed | 0 || 1;
  let nulls = 0;
  let bits = 0;
  for (let i = 0; i < rows; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (Math.imul(x, 0x9e3779b1) >>> 0 < nullBelow) {
      nulls++;
    } else {
      values[i] = x * 2 ** -31; // a signed draw scaled to [-1, 1)
      bits |= 1 << (i & 7);
    }
    if ((i & 7) === 7 || i === rows - 1) {
      bitmap[i >> 3] = bits;
      bits = 0;
    }
  }
  return arrow.makeData({ type, length: rows, nullCount: nulls, nullBitmap: bitmap, data: values });
}

function labelColumn(rand: () => number, rows: number, type: arrow.Float32): arrow.Data<arrow.Float32> {
  const values = new Float32Array(rows);
  const positiveBelow = threshold(LABEL_POSITIVE_RATE);
  for (let i = 0; i < rows; i++) values[i] = rand() >>> 0 < positiveBelow ? 1 : 0;
  return arrow.makeData({ type, length: rows, nullCount: 0, data: values });
}

const QUANTILE_BITS = 16;

/**
 * A geometric law of mean `mean`, capped, at each of 2^16 quantiles (its inverse CDF at their
 * midpoints): a lookup per list instead of a logarithm, which was a fifth of generation time.
 */
function lengthQuantiles(mean: number): Uint8Array {
  const quantiles = new Uint8Array(1 << QUANTILE_BITS);
  const scale = 1 / Math.log(1 - 1 / (mean + 1));
  for (let q = 0; q < quantiles.length; q++) {
    quantiles[q] = Math.min(ID_LIST_CAP, Math.floor(Math.log(1 - (q + 0.5) / quantiles.length) * scale));
  }
  return quantiles;
}

const SHORT_LENGTHS = lengthQuantiles(ID_LIST_SHORT_MEAN);
const LONG_LENGTHS = lengthQuantiles(ID_LIST_LONG_MEAN);

/** Cumulative lengths of `rows` lists (the Arrow offsets); one draw a list: high bits the quantile, low bits the law. */
function listOffsets(rand: () => number, rows: number): Int32Array {
  const offsets = new Int32Array(rows + 1);
  const longBelow = Math.floor(ID_LIST_LONG_SHARE * (1 << (32 - QUANTILE_BITS)));
  for (let i = 0; i < rows; i++) {
    const draw = rand();
    const lengths = (draw & 0xffff) < longBelow ? LONG_LENGTHS : SHORT_LENGTHS;
    offsets[i + 1] = (offsets[i] as number) + (lengths[draw >>> (32 - QUANTILE_BITS)] as number);
  }
  return offsets;
}

/**
 * Ids as little-endian 32-bit halves (no BigInt per id), one xorshift32 step per id. The high
 * bits (ids are ID_BITS wide) are hashed from the low ones: ids only need to look random.
 */
function fillIds(halves: Int32Array, seed: number): void {
  let x = seed | 0 || 1;
  for (let j = 0; j < halves.length; j += 2) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    halves[j] = x;
    halves[j + 1] = Math.imul(x, 0x9e3779b1) >>> (64 - ID_BITS);
  }
}

/** Memory every byte of which the caller writes, so not zeroed first. */
function unzeroed(bytes: number): ArrayBuffer {
  return Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
}

/**
 * Random ids that each column of each batch copies one window of, at a seeded offset. Ids are 90%
 * of the table's bytes: drawing every one (~4 ns each, memory-bound) cost about a sixth of the
 * write it feeds; a copy costs a few percent. Windows overlap, so runs of ids repeat across
 * columns and batches: only deduplication or a compressing codec could tell, and nothing in the
 * benchmark does either (Granary's streams and the peer's Parquet files are plain).
 */
const ID_POOL: BigInt64Array = (() => {
  const ids = new BigInt64Array(1 << 22);
  fillIds(new Int32Array(ids.buffer), mix(SEED, IDS_STREAM));
  return ids;
})();

function idListColumn(seed: number, rows: number, type: arrow.List<arrow.Int64>): arrow.Data<arrow.List<arrow.Int64>> {
  const rand = int32Random(seed);
  const offsets = listOffsets(rand, rows);
  const count = offsets[rows] as number;
  const from = (rand() >>> 0) % (ID_POOL.length - count + 1);
  const ids = new BigInt64Array(unzeroed(count * 8));
  ids.set(ID_POOL.subarray(from, from + count));
  const child = arrow.makeData({ type: type.children[0]?.type as arrow.Int64, length: count, nullCount: 0, data: ids });
  return arrow.makeData({ type, length: rows, nullCount: 0, valueOffsets: offsets, child });
}

function tsColumn(partition: number, firstRow: number, rows: number, type: arrow.Int64): arrow.Data<arrow.Int64> {
  const values = new BigInt64Array(rows);
  const start = BigInt(FIRST_DAY + partition * DAY_MS + firstRow);
  for (let i = 0; i < rows; i++) values[i] = start + BigInt(i);
  return arrow.makeData({ type, length: rows, nullCount: 0, data: values });
}

function columnData(column: ColumnSpec, c: number, partition: number, batch: number, rows: number): arrow.Data {
  const field = SCHEMA.fields[c] as arrow.Field;
  if (column.name === 'ts') return tsColumn(partition, batch * BATCH_ROWS, rows, field.type as arrow.Int64);
  const seed = columnSeed(partition, batch, c);
  if (column.type === 'id_list') return idListColumn(seed, rows, field.type as arrow.List<arrow.Int64>);
  if (column.name === 'label') return labelColumn(int32Random(seed), rows, field.type as arrow.Float32);
  return floatColumn(seed, rows, field.type as arrow.Float32);
}

/** Batch `batch` of partition `partition` (rows BATCH_ROWS * batch onwards), `rows` <= BATCH_ROWS long. */
export function generateBatch(partition: number, batch: number, rows: number): arrow.RecordBatch {
  const children = COLUMNS.map((column, c) => columnData(column, c, partition, batch, rows));
  const struct = arrow.makeData({ type: new arrow.Struct(SCHEMA.fields), length: rows, nullCount: 0, children });
  return new arrow.RecordBatch(SCHEMA, struct);
}

/** A partition's batches, in order; the caller times each step if it wants generation apart. */
export function* partitionBatches(partition: number, rowsPerPartition: number): Generator<arrow.RecordBatch> {
  for (let batch = 0; batch * BATCH_ROWS < rowsPerPartition; batch++) {
    yield generateBatch(partition, batch, Math.min(BATCH_ROWS, rowsPerPartition - batch * BATCH_ROWS));
  }
}

/** Ids and lists in the id_list columns of `batch` (for the mean list length). */
export function idListValues(batch: arrow.RecordBatch): { values: number; lists: number } {
  let values = 0;
  let lists = 0;
  for (const field of SCHEMA.fields) {
    if (!arrow.DataType.isList(field.type)) continue;
    for (const data of batch.getChild(field.name)?.data ?? []) {
      const offsets = data.valueOffsets as Int32Array;
      values += (offsets[data.length] as number) - (offsets[0] as number);
      lists += data.length;
    }
  }
  return { values, lists };
}
