/**
 * The client library end to end on a local 9-node cluster (RS 6+3, 3 domains, real processes on
 * loopback), each figure as a ratio to a ceiling measured in the same run.
 *
 * Table: a synthetic recommendation table of 400 `float` features (f_0..f_399), 100 `id_list`
 * features (ids_0..ids_99; lengths geometric-ish with a long tail, mean about 20, capped at 200),
 * a `float` label and an `int64` ts. Rows come from a seeded PRNG, 2,000 at a time, as Arrow
 * record batches (rowsToRecordBatch), into one partition through the client's writer.
 *
 *   write:    useful bytes (encoded stream bytes, the commit's `bytes`) per second, vs a raw file
 *             write + fsync of 1.5x those bytes (the erasure overhead) to a temp file.
 *   read:     10% of the columns (40 floats + 10 id_lists, mostly the first, "popular" ones) of
 *             every stripe via `scan`, useful bytes = stream bytes the scan needed, vs a bare
 *             node:http server (own process) serving the scan's mean request size from memory to
 *             an undici client at the scan's concurrency. With and without coalescing.
 *   degraded: the same read with 1, then 3 storage nodes killed (SIGKILL), vs the healthy read.
 */
import { spawn } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as arrow from 'apache-arrow';
import { Pool } from 'undici';
import { xxh64 } from '../erasure/index.js';
import { type CoalescingOptions, GranaryClient, NO_COALESCING, type ScanStats, newScanStats, rowsToRecordBatch } from '../client/index.js';
import { COALESCING_DEFAULTS, type StreamNeed, planReads } from '../client/reader/read-plan.js';
import { type ColumnSpec, NO_BLOCK, type PlannedBlock, decodeStreamEntry } from '../protocol/index.js';
import { type Cluster, startCluster } from '../test/helpers/cluster.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { startBareServer } from './storage-node-read.js';
import { concurrently, printTable, ratio } from './measure.js';
import { seededRandom } from '../test/helpers/seeded-random.js';

const FLOATS = 400;
const ID_LISTS = 100;
const CHUNK_ROWS = 2000;
const SEED = 20261125;
const ID_LIST_CAP = 200;
/** Batched requests the scan keeps in flight (its default), and the ceiling's concurrency. */
const CONCURRENCY = 16;
const TABLE = 'recsys';
const PARTITION = 'ds=2026-11-25';
const ERASURE_OVERHEAD = 1.5;
const HISTOGRAM_BUCKETS: readonly { label: string; max: number }[] = [
  { label: '<=4K', max: 4 * 1024 },
  { label: '<=16K', max: 16 * 1024 },
  { label: '<=64K', max: 64 * 1024 },
  { label: '<=256K', max: 256 * 1024 },
  { label: '<=1M', max: 1024 * 1024 },
  { label: '<=4M', max: 4 * 1024 * 1024 },
  { label: '>4M', max: Number.POSITIVE_INFINITY },
];

export const READ_COLUMNS: readonly string[] = [
  // 40 floats: the first 30, then a sparse spread over the rest.
  ...Array.from({ length: 30 }, (_, i) => `f_${i}`),
  ...Array.from({ length: 9 }, (_, i) => `f_${40 * (i + 1)}`),
  'f_399',
  // 10 id_lists: the first 7, and three further out.
  ...Array.from({ length: 7 }, (_, i) => `ids_${i}`),
  'ids_25',
  'ids_50',
  'ids_99',
];

export interface ReadFigures {
  readonly scans: number;
  readonly seconds: number;
  readonly rowsPerScan: number;
  readonly bytesNeededPerScan: number;
  readonly usefulBytesPerSecond: number;
  readonly requestsPerScan: number;
  readonly bytesFetchedPerScan: number;
  readonly fetchedOverNeeded: number;
  readonly degradedReadsPerScan: number;
  readonly histogram: Readonly<Record<string, number>>;
}

export interface ClientFigures {
  readonly rows: number;
  readonly columns: number;
  readonly meanIdListLength: number;
  readonly stripes: number;
  readonly stripeRows: number | 'table default';
  readonly write: {
    readonly usefulBytes: number;
    readonly seconds: number;
    readonly generateSeconds: number;
    readonly usefulBytesPerSecond: number;
    readonly rowsPerSecond: number;
    readonly ceilingBytes: number;
    readonly ceilingSeconds: number;
    /** Useful bytes / time to write and fsync 1.5x the useful bytes to one file. */
    readonly ceilingUsefulBytesPerSecond: number;
    readonly ratio: number;
  };
  readonly read: {
    readonly columns: readonly string[];
    readonly httpCeiling: { readonly requestBytes: number; readonly concurrency: number; readonly bytesPerSecond: number };
    readonly coalesced: ReadFigures & { readonly ratioToHttpCeiling: number };
    readonly uncoalesced: ReadFigures & { readonly ratioToHttpCeiling: number };
    /** Nodes killed, in order, with their share of the healthy scan's read bytes. */
    readonly killed: readonly { readonly nodeId: string; readonly shareOfHealthyReadBytes: number }[];
    readonly oneNodeDown: ReadFigures & { readonly ratioToHealthy: number };
    readonly threeNodesDown: ReadFigures & { readonly ratioToHealthy: number };
  };
}


function geometric(rand: () => number, mean: number): number {
  return Math.floor(Math.log(1 - rand()) / Math.log(1 - 1 / (mean + 1)));
}

export const COLUMNS: readonly ColumnSpec[] = [
  ...Array.from({ length: FLOATS }, (_, i): ColumnSpec => ({ name: `f_${i}`, type: 'float', featureId: 1000 + i })),
  ...Array.from({ length: ID_LISTS }, (_, i): ColumnSpec => ({ name: `ids_${i}`, type: 'id_list', featureId: 5000 + i })),
  { name: 'label', type: 'float' },
  { name: 'ts', type: 'int64' },
];

/** Rows `from`..`from + count` of the synthetic table (each row seeded by its index). */
export function makeRows(from: number, count: number, listLengths: { total: number; count: number }): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = new Array(count);
  for (let r = 0; r < count; r++) {
    const index = from + r;
    const rand = seededRandom(SEED ^ Math.imul(index + 1, 0x9e3779b1));
    const row: Record<string, unknown> = {};
    for (let f = 0; f < FLOATS; f++) row[`f_${f}`] = rand() < 0.01 ? null : rand() * 2 - 1;
    for (let l = 0; l < ID_LISTS; l++) {
      // Mixture: mostly short lists, a tenth long ones (mean ~20 overall), capped.
      const length = Math.min(ID_LIST_CAP, rand() < 0.9 ? geometric(rand, 14) : geometric(rand, 74));
      const ids = new Array<number>(length);
      for (let j = 0; j < length; j++) ids[j] = Math.floor(rand() * 2 ** 40);
      row[`ids_${l}`] = ids;
      listLengths.total += length;
      listLengths.count++;
    }
    row.label = rand() < 0.1 ? 1 : 0;
    row.ts = 1_795_000_000_000 + index;
    rows[r] = row;
  }
  return rows;
}

function histogram(sizes: readonly number[]): Record<string, number> {
  const counts = Object.fromEntries(HISTOGRAM_BUCKETS.map((b) => [b.label, 0])) as Record<string, number>;
  for (const size of sizes) {
    const bucket = HISTOGRAM_BUCKETS.find((b) => size <= b.max) as { label: string };
    counts[bucket.label] = (counts[bucket.label] ?? 0) + 1;
  }
  return counts;
}

/** A digest of what a scan returned (values of valid floats, list lengths and ids), to compare scans. */
function digestBatch(batch: arrow.RecordBatch, into: Map<string, bigint>): void {
  for (const field of batch.schema.fields) {
    const data = batch.getChild(field.name)?.data ?? [];
    let sum = into.get(field.name) ?? 0n;
    for (const chunk of data) {
      if (field.name.startsWith('ids_')) {
        const offsets = chunk.valueOffsets as Int32Array;
        const child = chunk.children[0] as arrow.Data;
        const values = child.values as BigInt64Array;
        const start = offsets[0] as number;
        const end = offsets[chunk.length] as number;
        const bytes = new Uint8Array(values.buffer, values.byteOffset + start * 8, (end - start) * 8);
        sum = (sum * 31n + xxh64(bytes) + BigInt(end - start)) & 0xffff_ffff_ffff_ffffn;
      } else {
        const values = chunk.values as Float32Array;
        const bitmap = chunk.nullBitmap;
        let s = 0;
        for (let i = 0; i < chunk.length; i++) {
          const bit = chunk.offset + i;
          if (bitmap !== undefined && bitmap !== null && bitmap.length > 0 && ((bitmap[bit >> 3] as number) & (1 << (bit & 7))) === 0) continue;
          s += (values[i] as number) * ((i % 7) + 1);
        }
        sum = (sum * 31n + BigInt(Math.round(s * 1e3))) & 0xffff_ffff_ffff_ffffn;
      }
    }
    into.set(field.name, sum);
  }
}

function digestString(digest: Map<string, bigint>): string {
  return [...digest.entries()].map(([name, value]) => `${name}:${value.toString(16)}`).join(',');
}

async function scanOnce(client: GranaryClient, coalescing: Partial<CoalescingOptions> | undefined, digest?: Map<string, bigint>): Promise<ScanStats> {
  const stats = newScanStats();
  let rows = 0;
  for await (const batch of client.scan(TABLE, { columns: READ_COLUMNS, stats, concurrency: CONCURRENCY, ...(coalescing === undefined ? {} : { coalescing }) })) {
    rows += batch.numRows;
    if (digest !== undefined) digestBatch(batch, digest);
  }
  if (rows !== stats.rows) throw new Error(`scan yielded ${rows} rows, its stats say ${stats.rows}`);
  return stats;
}

/** One untimed scan (checked: row count and digest), then whole scans for at least `seconds`. */
async function measureRead(
  client: GranaryClient,
  coalescing: Partial<CoalescingOptions> | undefined,
  seconds: number,
  expectedRows: number,
  expectedDigest: string | undefined,
): Promise<{ figures: ReadFigures; digest: string }> {
  const digest = new Map<string, bigint>();
  const first = await scanOnce(client, coalescing, digest);
  if (first.rows !== expectedRows) throw new Error(`scan read ${first.rows} rows, ${expectedRows} were written`);
  const digestText = digestString(digest);
  if (expectedDigest !== undefined && digestText !== expectedDigest) throw new Error('scan read different values than the healthy scan');
  let scans = 0;
  let bytesNeeded = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const stats = await scanOnce(client, coalescing);
    if (stats.rows !== expectedRows) throw new Error(`scan read ${stats.rows} rows, ${expectedRows} were written`);
    bytesNeeded += stats.bytesNeeded;
    scans++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < seconds);
  return {
    digest: digestText,
    figures: {
      scans,
      seconds: elapsed,
      rowsPerScan: first.rows,
      bytesNeededPerScan: first.bytesNeeded,
      usefulBytesPerSecond: bytesNeeded / elapsed,
      requestsPerScan: first.requests,
      bytesFetchedPerScan: first.bytesFetched,
      fetchedOverNeeded: first.bytesFetched / first.bytesNeeded,
      degradedReadsPerScan: first.degradedReads,
      histogram: histogram(first.readSizes),
    },
  };
}

/**
 * With GRANARY_PROFILE_DIR set, runs `body` under the V8 CPU profiler of this (client) process
 * and writes `<dir>/client-<name>.cpuprofile`.
 */
async function profiled<T>(name: string, body: () => Promise<T>): Promise<T> {
  const dir = process.env.GRANARY_PROFILE_DIR;
  if (dir === undefined) return body();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await body();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(join(dir, `client-${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

/** Writes and fsyncs `bytes` to a fresh file in `dir`; seconds taken. */
async function fileWriteCeiling(dir: string, bytes: number): Promise<number> {
  const piece = Buffer.alloc(8 * 1024 * 1024);
  const rand = seededRandom(SEED);
  for (let i = 0; i < piece.length; i += 4) piece.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
  const file = await open(join(dir, 'ceiling.bin'), 'w');
  try {
    const start = process.hrtime.bigint();
    let written = 0;
    while (written < bytes) {
      const length = Math.min(piece.length, bytes - written);
      await file.write(piece, 0, length);
      written += length;
    }
    await file.sync();
    return Number(process.hrtime.bigint() - start) / 1e9;
  } finally {
    await file.close();
  }
}

/** Node ids by the bytes the healthy coalesced scan reads from them, most first. */
async function nodesByReadBytes(client: GranaryClient): Promise<{ nodeId: string; bytes: number }[]> {
  const plan = await client.metadata.plan(TABLE, { columns: READ_COLUMNS });
  const needs: StreamNeed[] = [];
  for (const stripe of plan.stripes) {
    for (let c = 0; c < plan.columns.length; c++) {
      const entry = decodeStreamEntry(stripe.streams, c);
      if (entry.blockRef !== NO_BLOCK) needs.push({ blockRef: entry.blockRef, offset: entry.offset, length: entry.length });
    }
  }
  const bytes = new Map<string, number>();
  for (const read of planReads(plan.blocks, needs, COALESCING_DEFAULTS)) {
    const nodeId = (plan.blocks[read.blockRef] as PlannedBlock).chunks[read.shard]?.nodeId ?? '';
    bytes.set(nodeId, (bytes.get(nodeId) ?? 0) + read.length);
  }
  return [...bytes.entries()].map(([nodeId, b]) => ({ nodeId, bytes: b })).sort((a, b) => b.bytes - a.bytes);
}

async function httpCeiling(requestBytes: number, seconds: number): Promise<number> {
  const bare = await startBareServer();
  const pool = new Pool(bare.url, { connections: CONCURRENCY });
  try {
    const once = async (): Promise<number> => {
      const response = await pool.request({ method: 'GET', path: `/?size=${requestBytes}` });
      let bytes = 0;
      for await (const piece of response.body) bytes += (piece as Buffer).length;
      return bytes;
    };
    return (await concurrently('bare http', CONCURRENCY, seconds, once)).bytesPerSecond;
  } finally {
    await pool.close();
    bare.stop();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function pct(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(0)}%`;
}

function mbps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
}

export interface BenchClientOptions {
  readonly rows: number;
  /** Minimum seconds per read measurement (and for the HTTP ceiling); default 3. */
  readonly seconds?: number;
  /** Writer stripe row target; default: the table's (65,536 rows, bounded by 64 MiB stripes). */
  readonly stripeRows?: number;
}

export async function benchClient(options: BenchClientOptions): Promise<ClientFigures> {
  const seconds = options.seconds ?? 3;
  const rowsWanted = options.rows;
  const scratch = await makeTempDir('bench-client');
  let cluster: Cluster | undefined;
  let client: GranaryClient | undefined;
  try {
    cluster = await startCluster({ nodes: 9, domains: 3 });
    const granary = new GranaryClient({ metadataUrl: cluster.metadata.url });
    client = granary;
    await client.metadata.createTable({ name: TABLE, columns: COLUMNS, ec: '6+3' });

    // Write: generation is timed separately and left out of the write figures.
    const listLengths = { total: 0, count: 0 };
    let generateSeconds = 0;
    const writeStart = process.hrtime.bigint();
    const writer = await client.openWriter(TABLE, PARTITION, options.stripeRows === undefined ? {} : { stripeRows: options.stripeRows });
    let commit;
    try {
      commit = await profiled('write', async () => {
        for (let from = 0; from < rowsWanted; from += CHUNK_ROWS) {
          const genStart = process.hrtime.bigint();
          const batch = rowsToRecordBatch(COLUMNS, makeRows(from, Math.min(CHUNK_ROWS, rowsWanted - from), listLengths));
          generateSeconds += Number(process.hrtime.bigint() - genStart) / 1e9;
          await writer.write(batch);
        }
        return writer.commit();
      });
    } finally {
      await writer.close();
    }
    const writeSeconds = Number(process.hrtime.bigint() - writeStart) / 1e9 - generateSeconds;
    if (commit.rows !== rowsWanted) throw new Error(`commit says ${commit.rows} rows, ${rowsWanted} were written`);
    const ceilingBytes = Math.round(commit.bytes * ERASURE_OVERHEAD);
    const ceilingSeconds = await fileWriteCeiling(scratch.path, ceilingBytes);
    const write = {
      usefulBytes: commit.bytes,
      seconds: writeSeconds,
      generateSeconds,
      usefulBytesPerSecond: commit.bytes / writeSeconds,
      rowsPerSecond: rowsWanted / writeSeconds,
      ceilingBytes,
      ceilingSeconds,
      ceilingUsefulBytesPerSecond: commit.bytes / ceilingSeconds,
      ratio: ceilingSeconds / writeSeconds,
    };

    // Warm-up (JIT, connections), so the first variant measured is not the slowest by accident.
    const warmUntil = Date.now() + seconds * 1000;
    while (Date.now() < warmUntil) await scanOnce(client, undefined);

    // Healthy reads, then the HTTP ceiling at the coalesced scan's mean request size.
    const coalesced = await profiled('read-coalesced', () => measureRead(granary, undefined, seconds, rowsWanted, undefined));
    const uncoalesced = await profiled('read-uncoalesced', () => measureRead(granary, NO_COALESCING, seconds, rowsWanted, coalesced.digest));
    const requestBytes = Math.max(1, Math.round(coalesced.figures.bytesFetchedPerScan / coalesced.figures.requestsPerScan));
    const ceiling = await httpCeiling(requestBytes, seconds);

    // Degraded: the node the scan reads most from killed, then the next two as well (the worst
    // case for this scan: its reads on them are rebuilt from k other shards).
    const byBytes = await nodesByReadBytes(client);
    const totalReadBytes = byBytes.reduce((sum, n) => sum + n.bytes, 0);
    const victims = byBytes.slice(0, 3);
    const kill = (nodeId: string) => (cluster as Cluster).nodes.find((n) => n.nodeId === nodeId)?.kill('SIGKILL');
    await kill(victims[0]?.nodeId ?? '');
    const oneDown = await profiled('read-1-down', () => measureRead(granary, undefined, seconds, rowsWanted, coalesced.digest));
    await Promise.all(victims.slice(1).map((v) => kill(v.nodeId)));
    const threeDown = await profiled('read-3-down', () => measureRead(granary, undefined, seconds, rowsWanted, coalesced.digest));

    const healthy = coalesced.figures.usefulBytesPerSecond;
    const figures: ClientFigures = {
      rows: rowsWanted,
      columns: COLUMNS.length,
      meanIdListLength: listLengths.total / listLengths.count,
      stripeRows: options.stripeRows ?? 'table default',
      stripes: (await client.metadata.listPartitions(TABLE)).reduce((sum, p) => sum + p.stripes, 0),
      write,
      read: {
        columns: READ_COLUMNS,
        httpCeiling: { requestBytes, concurrency: CONCURRENCY, bytesPerSecond: ceiling },
        coalesced: { ...coalesced.figures, ratioToHttpCeiling: healthy / ceiling },
        uncoalesced: { ...uncoalesced.figures, ratioToHttpCeiling: uncoalesced.figures.usefulBytesPerSecond / ceiling },
        killed: victims.map((v) => ({ nodeId: v.nodeId, shareOfHealthyReadBytes: v.bytes / totalReadBytes })),
        oneNodeDown: { ...oneDown.figures, ratioToHealthy: oneDown.figures.usefulBytesPerSecond / healthy },
        threeNodesDown: { ...threeDown.figures, ratioToHealthy: threeDown.figures.usefulBytesPerSecond / healthy },
      },
    };

    printTable(
      `Client write: ${rowsWanted} rows x ${COLUMNS.length} columns (mean id_list length ${figures.meanIdListLength.toFixed(1)}), one partition of ${figures.stripes} stripe(s), RS 6+3 on 9 nodes`,
      [
        ['case', 'useful bytes', 'seconds', 'throughput', 'rows/s', 'ratio'],
        ['granary writer (excl. row generation)', mib(write.usefulBytes), write.seconds.toFixed(2), mbps(write.usefulBytesPerSecond), write.rowsPerSecond.toFixed(0), ratio(write.usefulBytesPerSecond, write.ceilingUsefulBytesPerSecond)],
        [`file write + fsync of ${mib(ceilingBytes)} (1.5x)`, mib(write.usefulBytes), ceilingSeconds.toFixed(2), mbps(write.ceilingUsefulBytesPerSecond), '', '1.00x'],
        ['(row generation, not counted)', '', generateSeconds.toFixed(2), '', '', ''],
      ],
    );
    const readRows = (name: string, r: ReadFigures, vs: string) => [
      name,
      mib(r.bytesNeededPerScan),
      String(r.scans),
      mbps(r.usefulBytesPerSecond),
      vs,
      String(r.requestsPerScan),
      `${r.fetchedOverNeeded.toFixed(2)}x`,
      String(r.degradedReadsPerScan),
    ];
    printTable(`Client scan of ${READ_COLUMNS.length} columns (40 float + 10 id_list) of every stripe, ${CONCURRENCY} requests in flight`, [
      ['case', 'needed/scan', 'scans', 'useful', 'ratio', 'requests/scan', 'fetched/needed', 'degraded reads/scan'],
      [`bare http (${mib(requestBytes)} / request)`, '', '', mbps(ceiling), '1.00x', '', '', ''],
      readRows('coalesced (default)', coalesced.figures, `${ratio(healthy, ceiling)} of http`),
      readRows('no coalescing', uncoalesced.figures, `${ratio(uncoalesced.figures.usefulBytesPerSecond, ceiling)} of http`),
      readRows(`coalesced, 1 node down (${pct(victims[0]?.bytes ?? 0, totalReadBytes)} of reads)`, oneDown.figures, `${ratio(oneDown.figures.usefulBytesPerSecond, healthy)} of healthy`),
      readRows(`coalesced, 3 nodes down (${pct(victims.reduce((sum, v) => sum + v.bytes, 0), totalReadBytes)} of reads)`, threeDown.figures, `${ratio(threeDown.figures.usefulBytesPerSecond, healthy)} of healthy`),
    ]);
    printTable('Read sizes per scan (histogram)', [
      ['case', ...HISTOGRAM_BUCKETS.map((b) => b.label)],
      ...(
        [
          ['coalesced', coalesced.figures],
          ['no coalescing', uncoalesced.figures],
          ['1 node down', oneDown.figures],
          ['3 nodes down', threeDown.figures],
        ] as const
      ).map(([name, r]) => [name, ...HISTOGRAM_BUCKETS.map((b) => String(r.histogram[b.label] ?? 0))]),
    ]);
    return figures;
  } finally {
    await client?.close();
    await cluster?.stop();
    await scratch.remove();
  }
}
