/**
 * The client library end to end on a local 9-node cluster (RS 6+3, 3 domains, real processes on
 * loopback), with the workload of bench/workload.ts, each figure as a ratio to a ceiling measured
 * in the same run (bench/ceilings.ts).
 *
 *   write:    every partition through its own writer, one after another, columns laid out by
 *             popularity; useful bytes (the commits' `bytes`) per second, vs a raw file write +
 *             fsync of 1.5x those bytes (the erasure overhead). Rows are generated ahead of the
 *             writer (up to 1 GiB at a time) so that generation is timed apart.
 *   read:     the training job (51 columns, every partition but the first) via `scan`; useful
 *             bytes = stream bytes the scan needed, delivered as Arrow batches; vs the loopback
 *             HTTP ceiling at the scan's mean request size and concurrency, a page-cache file read
 *             and a memcpy of the same bytes. With and without coalescing.
 *   degraded: the same read with 1, then 3 storage nodes killed (SIGKILL; the nodes the job reads
 *             most from), vs the healthy read; the values must be those of the healthy read.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { xxh64 } from '../erasure/index.js';
import { type CoalescingOptions, GranaryClient, NO_COALESCING, type ScanStats, defaultScanThreads, newScanStats } from '../client/index.js';
import { type CommitResult, NO_BLOCK, type PlannedBlock, decodeStreamEntry } from '../protocol/index.js';
import { type Cluster, startCluster } from '../test/helpers/cluster.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { fileReadCeiling, fileWriteCeiling, httpCeiling, memcpyCeiling } from './ceilings.js';
import { type Throughput, mbps, mib, pct, printTable, ratio, secondsSince } from './measure.js';
import {
  BATCH_ROWS,
  COLUMNS,
  JOB_COLUMNS,
  JOB_FLOATS,
  JOB_ID_LISTS,
  JOB_POPULARITY_SHARE,
  LAYOUT_ORDER,
  POPULARITY_ORDER,
  type Scale,
  TABLE,
  ZIPF_EXPONENT,
  idListValues,
  jobColumnsInTop,
  jobPartitionFilter,
  jobPartitions,
  partitionBatches,
  partitionSpec,
} from './workload.js';

/** Batched requests the scan keeps in flight (its default), and the HTTP ceiling's concurrency. */
const CONCURRENCY = 16;
/**
 * Rows generated ahead of the writer, so that generation is timed apart from writing: a whole
 * partition at the default scale; larger partitions pause writing once per GiB to generate more.
 */
const GENERATED_AHEAD_BYTES = 1024 * 1024 * 1024;
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

/** What a scan returned, summed, so another reader of the same data can be checked against it. */
export interface ScanTotals {
  readonly rows: number;
  readonly floatSum: number;
  readonly listValues: number;
}

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
  /** Bytes the first scan asked of each storage node. */
  readonly bytesByNode: Readonly<Record<string, number>>;
}

type HealthyRead = ReadFigures & { readonly ratioToHttpCeiling: number; readonly ratioToFileRead: number; readonly ratioToMemcpy: number };
type DegradedRead = ReadFigures & { readonly ratioToHealthy: number };

export interface WriteFigures {
  readonly rows: number;
  readonly usefulBytes: number;
  /** Wall time of all writers, generation included. */
  readonly wallSeconds: number;
  readonly generateSeconds: number;
  /** Time spent opening writers, writing and committing: what the figures below use. */
  readonly seconds: number;
  readonly usefulBytesPerSecond: number;
  readonly rowsPerSecond: number;
  readonly ceilingBytes: number;
  readonly ceilingSeconds: number;
  /** Useful bytes / time to write and fsync 1.5x the useful bytes to one file. */
  readonly ceilingUsefulBytesPerSecond: number;
  readonly ratio: number;
}

export interface ClientFigures {
  readonly workload: {
    readonly rowsPerPartition: number;
    readonly partitions: readonly string[];
    readonly batchRows: number;
    readonly columns: number;
    readonly stripes: number;
    readonly meanIdListLength: number;
    readonly zipfExponent: number;
    readonly popularityTop10: readonly string[];
    readonly layoutOrderHead: readonly string[];
    readonly job: {
      readonly columns: readonly string[];
      readonly partitions: readonly string[];
      readonly floats: number;
      readonly idLists: number;
      /** Share of all feature reads (by Zipf weight) the job's features make up. */
      readonly popularityShare: number;
      readonly featuresInTop50: number;
    };
  };
  readonly ceilings: {
    readonly memcpy: Throughput;
    readonly fileRead: Throughput;
    readonly fileWriteFsync: Throughput;
    readonly http: Throughput & { readonly requestBytes: number; readonly concurrency: number };
  };
  readonly write: WriteFigures;
  readonly read: {
    /** Read worker threads of every scan (ScanOptions.threads; 0 or 1: the calling thread). */
    readonly threads: number;
    /** ScanOptions.reuse of every scan. */
    readonly reuse: boolean;
    readonly totals: ScanTotals;
    readonly coalesced: HealthyRead;
    readonly uncoalesced: HealthyRead;
    /** Nodes killed, in order, with their share of the healthy scan's read bytes. */
    readonly killed: readonly { readonly nodeId: string; readonly shareOfHealthyReadBytes: number }[];
    readonly oneNodeDown: DegradedRead;
    readonly threeNodesDown: DegradedRead;
  };
}

export interface BenchClientOptions {
  readonly scale: Scale;
  /** Minimum seconds per read measurement and per ceiling. */
  readonly seconds: number;
  /** Read worker threads per scan (default: the scan's default, GRANARY_SCAN_THREADS or cores - 1). */
  readonly threads?: number;
  /** Scans with reuse: true (default: GRANARY_SCAN_REUSE=1). */
  readonly reuse?: boolean;
}

// ---------------------------------------------------------------- write

export interface PartitionWritten {
  readonly commit: CommitResult;
  /** Opening the writer, writing the batches and committing, generation excluded. */
  readonly writeSeconds: number;
  readonly generateSeconds: number;
  readonly listValues: number;
  readonly lists: number;
}

/** The next batches of `batches`, up to about `bytes` of Arrow data. */
function takeBatches(batches: Iterator<arrow.RecordBatch>, bytes: number): arrow.RecordBatch[] {
  const taken: arrow.RecordBatch[] = [];
  for (let total = 0; total < bytes; ) {
    const next = batches.next();
    if (next.done === true) break;
    taken.push(next.value);
    total += next.value.data.byteLength;
  }
  return taken;
}

/** Generates up to GENERATED_AHEAD_BYTES, then writes it, and so on: the two are timed apart. */
async function writePartition(client: GranaryClient, partition: number, rows: number): Promise<PartitionWritten> {
  const batches = partitionBatches(partition, rows);
  let generateSeconds = 0;
  let writeSeconds = 0;
  let listValues = 0;
  let lists = 0;
  let start = process.hrtime.bigint();
  const writer = await client.openWriter(TABLE, partitionSpec(partition), { columnOrder: LAYOUT_ORDER });
  writeSeconds += secondsSince(start);
  try {
    for (;;) {
      start = process.hrtime.bigint();
      const ahead = takeBatches(batches, GENERATED_AHEAD_BYTES);
      generateSeconds += secondsSince(start);
      if (ahead.length === 0) break;
      start = process.hrtime.bigint();
      for (const batch of ahead) await writer.write(batch);
      writeSeconds += secondsSince(start);
      for (const batch of ahead) {
        const counted = idListValues(batch);
        listValues += counted.values;
        lists += counted.lists;
      }
    }
    start = process.hrtime.bigint();
    const commit = await writer.commit();
    writeSeconds += secondsSince(start);
    if (commit.rows !== rows) throw new Error(`commit of ${partitionSpec(partition)} says ${commit.rows} rows, ${rows} were written`);
    return { commit, writeSeconds, generateSeconds, listValues, lists };
  } finally {
    await writer.close();
  }
}

export async function writeTable(client: GranaryClient, scale: Scale): Promise<{ written: PartitionWritten[]; wallSeconds: number }> {
  const start = process.hrtime.bigint();
  const written = await profiled('write', async () => {
    const done: PartitionWritten[] = [];
    for (let p = 0; p < scale.partitions; p++) done.push(await writePartition(client, p, scale.rowsPerPartition));
    return done;
  });
  return { written, wallSeconds: secondsSince(start) };
}

function writeFigures(written: readonly PartitionWritten[], wallSeconds: number, ceiling: Throughput): WriteFigures {
  const usefulBytes = written.reduce((sum, w) => sum + w.commit.bytes, 0);
  const rows = written.reduce((sum, w) => sum + w.commit.rows, 0);
  const generateSeconds = written.reduce((sum, w) => sum + w.generateSeconds, 0);
  const seconds = written.reduce((sum, w) => sum + w.writeSeconds, 0);
  const ceilingUsefulBytesPerSecond = usefulBytes / ceiling.seconds;
  return {
    rows,
    usefulBytes,
    wallSeconds,
    generateSeconds,
    seconds,
    usefulBytesPerSecond: usefulBytes / seconds,
    rowsPerSecond: rows / seconds,
    ceilingBytes: ceiling.bytes,
    ceilingSeconds: ceiling.seconds,
    ceilingUsefulBytesPerSecond,
    ratio: usefulBytes / seconds / ceilingUsefulBytesPerSecond,
  };
}

// ---------------------------------------------------------------- read

function histogram(sizes: readonly number[]): Record<string, number> {
  const counts = Object.fromEntries(HISTOGRAM_BUCKETS.map((b) => [b.label, 0])) as Record<string, number>;
  for (const size of sizes) {
    const bucket = HISTOGRAM_BUCKETS.find((b) => size <= b.max) as { label: string };
    counts[bucket.label] = (counts[bucket.label] ?? 0) + 1;
  }
  return counts;
}

/** Folds what a scan returned into a per-column digest and totals, to compare scans and readers. */
class ScanDigest {
  private readonly sums = new Map<string, bigint>();
  rows = 0;
  floatSum = 0;
  listValues = 0;

  add(batch: arrow.RecordBatch): void {
    this.rows += batch.numRows;
    for (const field of batch.schema.fields) {
      let sum = this.sums.get(field.name) ?? 0n;
      for (const chunk of batch.getChild(field.name)?.data ?? []) {
        const part = arrow.DataType.isList(field.type) ? this.listPart(chunk) : this.floatPart(chunk as arrow.Data<arrow.Float32>);
        sum = (sum * 31n + part) & 0xffff_ffff_ffff_ffffn;
      }
      this.sums.set(field.name, sum);
    }
  }

  private listPart(chunk: arrow.Data): bigint {
    const offsets = chunk.valueOffsets as Int32Array;
    const values = (chunk.children[0] as arrow.Data).values as BigInt64Array;
    const start = offsets[0] as number;
    const end = offsets[chunk.length] as number;
    this.listValues += end - start;
    return xxh64(new Uint8Array(values.buffer, values.byteOffset + start * 8, (end - start) * 8)) + BigInt(end - start);
  }

  private floatPart(chunk: arrow.Data<arrow.Float32>): bigint {
    const values = chunk.values;
    const bitmap = chunk.nullCount > 0 ? chunk.nullBitmap : undefined;
    let weighted = 0;
    for (let i = 0; i < chunk.length; i++) {
      const bit = chunk.offset + i;
      if (bitmap !== undefined && ((bitmap[bit >> 3] as number) & (1 << (bit & 7))) === 0) continue;
      const value = values[i] as number;
      this.floatSum += value;
      weighted += value * ((i % 7) + 1);
    }
    return BigInt(Math.round(weighted * 1e3));
  }

  text(): string {
    return [...this.sums.entries()].map(([name, value]) => `${name}:${value.toString(16)}`).join(',');
  }

  totals(): ScanTotals {
    return { rows: this.rows, floatSum: this.floatSum, listValues: this.listValues };
  }
}

export interface ReadContext {
  readonly client: GranaryClient;
  readonly scale: Scale;
  readonly seconds: number;
  readonly expectedRows: number;
  /** ScanOptions.threads and reuse; the scan's defaults when absent. */
  readonly threads?: number;
  readonly reuse?: boolean;
}

export async function scanOnce(context: ReadContext, coalescing: Partial<CoalescingOptions> | undefined, digest?: ScanDigest): Promise<ScanStats> {
  const stats = newScanStats();
  let rows = 0;
  const batches = context.client.scan(TABLE, {
    columns: JOB_COLUMNS,
    partitions: jobPartitionFilter(context.scale),
    stats,
    concurrency: CONCURRENCY,
    ...(context.threads === undefined ? {} : { threads: context.threads }),
    ...(context.reuse === undefined ? {} : { reuse: context.reuse }),
    ...(coalescing === undefined ? {} : { coalescing }),
  });
  for await (const batch of batches) {
    rows += batch.numRows;
    digest?.add(batch);
  }
  if (rows !== stats.rows) throw new Error(`scan yielded ${rows} rows, its stats say ${stats.rows}`);
  if (rows !== context.expectedRows) throw new Error(`scan read ${rows} rows, ${context.expectedRows} were written to its partitions`);
  return stats;
}

/** Timed scans per measurement at least: a degraded scan takes most of a second. */
const SCANS_MIN = 6;

/** One untimed scan (checked: row count and digest), then whole scans for at least `seconds` (and SCANS_MIN scans). */
export async function measureRead(
  context: ReadContext,
  coalescing: Partial<CoalescingOptions> | undefined,
  expectedDigest: string | undefined,
): Promise<{ figures: ReadFigures; digest: ScanDigest }> {
  const digest = new ScanDigest();
  const first = await scanOnce(context, coalescing, digest);
  if (expectedDigest !== undefined && digest.text() !== expectedDigest) throw new Error('scan read different values than the healthy scan');
  let scans = 0;
  let bytesNeeded = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const stats = await scanOnce(context, coalescing);
    bytesNeeded += stats.bytesNeeded;
    scans++;
    elapsed = secondsSince(start);
  } while (elapsed < context.seconds || scans < SCANS_MIN);
  return {
    digest,
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
      bytesByNode: first.bytesByNode,
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

// ---------------------------------------------------------------- report

function healthy(figures: ReadFigures, ceilings: ClientFigures['ceilings']): HealthyRead {
  const useful = figures.usefulBytesPerSecond;
  return {
    ...figures,
    ratioToHttpCeiling: useful / ceilings.http.bytesPerSecond,
    ratioToFileRead: useful / ceilings.fileRead.bytesPerSecond,
    ratioToMemcpy: useful / ceilings.memcpy.bytesPerSecond,
  };
}

function degraded(figures: ReadFigures, healthyRead: ReadFigures): DegradedRead {
  return { ...figures, ratioToHealthy: figures.usefulBytesPerSecond / healthyRead.usefulBytesPerSecond };
}

function printWorkload(f: ClientFigures): void {
  const w = f.workload;
  const bytes = f.write.usefulBytes;
  printTable('Workload (bench/workload.ts)', [
    ['table', `${w.partitions.length} partitions (${w.partitions[0]} .. ${w.partitions[w.partitions.length - 1]}) x ${w.rowsPerPartition} rows, ${w.columns} columns, ${w.stripes} stripes, ${mib(bytes)} encoded (${mib(bytes * ERASURE_OVERHEAD)} stored)`],
    ['id_list length', `mean ${w.meanIdListLength.toFixed(1)} (9/10 geometric mean 14, 1/10 mean 74, cap 200)`],
    ['popularity', `Zipf s=${w.zipfExponent} over a seeded permutation of the 500 features; top 10: ${w.popularityTop10.join(', ')}`],
    ['job', `${w.job.columns.length} columns (${w.job.floats} float + ${w.job.idLists} id_list + label; ${w.job.featuresInTop50} in the top 50, ${(100 * w.job.popularityShare).toFixed(0)}% of feature reads) of ${w.job.partitions.length} partition(s) (${w.job.partitions.join(', ')})`],
  ]);
}

function printCeilings(f: ClientFigures): void {
  const c = f.ceilings;
  printTable('Ceilings (same run, same volume)', [
    ['ceiling', 'bytes', 'throughput'],
    ['memcpy (Buffer.copy of the job\'s bytes)', mib(f.read.coalesced.bytesNeededPerScan), mbps(c.memcpy.bytesPerSecond)],
    ['file read (the job\'s bytes, from the page cache)', mib(f.read.coalesced.bytesNeededPerScan), mbps(c.fileRead.bytesPerSecond)],
    ['file write + fsync (1.5x the written bytes)', mib(c.fileWriteFsync.bytes), mbps(c.fileWriteFsync.bytesPerSecond)],
    [`bare node:http -> undici (${mib(c.http.requestBytes)} / request, ${c.http.concurrency} in flight)`, '', mbps(c.http.bytesPerSecond)],
  ]);
}

function printWrite(f: ClientFigures): void {
  const w = f.write;
  printTable(`Write: ${f.workload.partitions.length} partitions, one writer each, one after another, RS 6+3 on 9 nodes`, [
    ['case', 'useful bytes', 'seconds', 'throughput', 'rows/s', 'ratio'],
    ['granary writers (excl. generation)', mib(w.usefulBytes), w.seconds.toFixed(2), mbps(w.usefulBytesPerSecond), w.rowsPerSecond.toFixed(0), ratio(w.usefulBytesPerSecond, w.ceilingUsefulBytesPerSecond)],
    [`file write + fsync of ${mib(w.ceilingBytes)} (1.5x)`, mib(w.usefulBytes), w.ceilingSeconds.toFixed(2), mbps(w.ceilingUsefulBytesPerSecond), '', '1.00x'],
    [`(generation ahead of the writers, not counted: ${ratio(w.generateSeconds, w.seconds)} of write time)`, '', w.generateSeconds.toFixed(2), '', '', ''],
  ]);
}

function printRead(f: ClientFigures): void {
  const r = f.read;
  const row = (name: string, x: ReadFigures, vs: readonly string[]) => [
    name,
    mib(x.bytesNeededPerScan),
    String(x.scans),
    mbps(x.usefulBytesPerSecond),
    ...vs,
    String(x.requestsPerScan),
    `${x.fetchedOverNeeded.toFixed(2)}x`,
    String(x.degradedReadsPerScan),
  ];
  const healthyVs = (x: HealthyRead) => [ratio(x.ratioToHttpCeiling, 1), ratio(x.ratioToFileRead, 1), ratio(x.ratioToMemcpy, 1), ''];
  const degradedVs = (x: DegradedRead) => [ratio(x.usefulBytesPerSecond, f.ceilings.http.bytesPerSecond), '', '', ratio(x.ratioToHealthy, 1)];
  const killedShare = (n: number) => pct(r.killed.slice(0, n).reduce((sum, k) => sum + k.shareOfHealthyReadBytes, 0), 1);
  const threads = r.threads <= 1 ? 'on the calling thread' : `on ${r.threads} read worker threads`;
  printTable(`Selective read: the job via scan() ${threads}${r.reuse ? ', reuse: true' : ''}, Arrow batches to the consumer, ${CONCURRENCY} requests in flight; ratios of useful bytes/s`, [
    ['case', 'needed/scan', 'scans', 'useful', 'vs http', 'vs file read', 'vs memcpy', 'vs healthy', 'requests/scan', 'fetched/needed', 'degraded reads/scan'],
    row('coalesced (default)', r.coalesced, healthyVs(r.coalesced)),
    row('no coalescing', r.uncoalesced, healthyVs(r.uncoalesced)),
    row(`coalesced, 1 node down (${killedShare(1)} of reads)`, r.oneNodeDown, degradedVs(r.oneNodeDown)),
    row(`coalesced, 3 nodes down (${killedShare(3)} of reads)`, r.threeNodesDown, degradedVs(r.threeNodesDown)),
  ]);
  printTable('Read sizes per scan (histogram)', [
    ['case', ...HISTOGRAM_BUCKETS.map((b) => b.label)],
    ...(
      [
        ['coalesced', r.coalesced],
        ['no coalescing', r.uncoalesced],
        ['1 node down', r.oneNodeDown],
        ['3 nodes down', r.threeNodesDown],
      ] as const
    ).map(([name, x]) => [name, ...HISTOGRAM_BUCKETS.map((b) => String(x.histogram[b.label] ?? 0))]),
  ]);
}

// ---------------------------------------------------------------- the benchmark

export async function benchClient(options: BenchClientOptions): Promise<ClientFigures> {
  const { scale, seconds } = options;
  const scratch = await makeTempDir('bench-client');
  let cluster: Cluster | undefined;
  let client: GranaryClient | undefined;
  try {
    cluster = await startCluster({ nodes: 9, domains: 3 });
    client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    await client.metadata.createTable({ name: TABLE, columns: COLUMNS, partitionBy: ['ds'], ec: '6+3' });

    const { written, wallSeconds } = await writeTable(client, scale);
    const usefulBytes = written.reduce((sum, w) => sum + w.commit.bytes, 0);
    const fileWriteFsync = await fileWriteCeiling(scratch.path, Math.round(usefulBytes * ERASURE_OVERHEAD));
    const write = writeFigures(written, wallSeconds, fileWriteFsync);

    const expectedRows = scale.rowsPerPartition * jobPartitions(scale).length;
    const threads = options.threads ?? defaultScanThreads();
    const reuse = options.reuse ?? process.env.GRANARY_SCAN_REUSE === '1';
    const context: ReadContext = { client, scale, seconds, expectedRows, threads, reuse };
    // Warm-up (JIT, connections), so the first variant measured is not the slowest by accident.
    const warmUntil = Date.now() + seconds * 1000;
    while (Date.now() < warmUntil) await scanOnce(context, undefined);
    const coalesced = await profiled('read-coalesced', () => measureRead(context, undefined, undefined));
    const healthyDigest = coalesced.digest.text();
    const uncoalesced = await profiled('read-uncoalesced', () => measureRead(context, NO_COALESCING, healthyDigest));

    const jobBytes = coalesced.figures.bytesNeededPerScan;
    const requestBytes = Math.max(1, Math.round(coalesced.figures.bytesFetchedPerScan / coalesced.figures.requestsPerScan));
    const ceilings: ClientFigures['ceilings'] = {
      memcpy: await memcpyCeiling(jobBytes, seconds),
      fileRead: await fileReadCeiling(scratch.path, jobBytes, seconds),
      fileWriteFsync,
      http: { ...(await httpCeiling(requestBytes, CONCURRENCY, seconds)), requestBytes, concurrency: CONCURRENCY },
    };

    // Degraded: the node the job reads most from killed, then the next two as well (the worst
    // case for this job: its reads on them are rebuilt from k other shards).
    const byBytes = Object.entries(coalesced.figures.bytesByNode)
      .map(([nodeId, bytes]) => ({ nodeId, bytes }))
      .sort((a, b) => b.bytes - a.bytes);
    const totalReadBytes = byBytes.reduce((sum, n) => sum + n.bytes, 0);
    const victims = byBytes.slice(0, 3);
    const nodes = cluster.nodes;
    const kill = (nodeId: string) => nodes.find((n) => n.nodeId === nodeId)?.kill('SIGKILL');
    await kill(victims[0]?.nodeId ?? '');
    const oneDown = await profiled('read-1-down', () => measureRead(context, undefined, healthyDigest));
    await Promise.all(victims.slice(1).map((v) => kill(v.nodeId)));
    const threeDown = await profiled('read-3-down', () => measureRead(context, undefined, healthyDigest));

    const listValues = written.reduce((sum, w) => sum + w.listValues, 0);
    const lists = written.reduce((sum, w) => sum + w.lists, 0);
    const figures: ClientFigures = {
      workload: {
        rowsPerPartition: scale.rowsPerPartition,
        partitions: Array.from({ length: scale.partitions }, (_, p) => partitionSpec(p)),
        batchRows: BATCH_ROWS,
        columns: COLUMNS.length,
        stripes: (await client.metadata.listPartitions(TABLE)).reduce((sum, p) => sum + p.stripes, 0),
        meanIdListLength: listValues / lists,
        zipfExponent: ZIPF_EXPONENT,
        popularityTop10: POPULARITY_ORDER.slice(0, 10),
        layoutOrderHead: LAYOUT_ORDER.slice(0, 20),
        job: {
          columns: JOB_COLUMNS,
          partitions: jobPartitions(scale).map(partitionSpec),
          floats: JOB_FLOATS,
          idLists: JOB_ID_LISTS,
          popularityShare: JOB_POPULARITY_SHARE,
          featuresInTop50: jobColumnsInTop(50),
        },
      },
      ceilings,
      write,
      read: {
        threads,
        reuse,
        totals: coalesced.digest.totals(),
        coalesced: healthy(coalesced.figures, ceilings),
        uncoalesced: healthy(uncoalesced.figures, ceilings),
        killed: victims.map((v) => ({ nodeId: v.nodeId, shareOfHealthyReadBytes: v.bytes / totalReadBytes })),
        oneNodeDown: degraded(oneDown.figures, coalesced.figures),
        threeNodesDown: degraded(threeDown.figures, coalesced.figures),
      },
    };
    printWorkload(figures);
    printCeilings(figures);
    printWrite(figures);
    printRead(figures);
    return figures;
  } finally {
    await client?.close();
    await cluster?.stop();
    await scratch.remove();
  }
}
