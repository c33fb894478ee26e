/**
 * Issue 14's targets on a local cluster of real processes (one metadata service and 9 storage
 * nodes from dist/, RS 6+3, 3 failure domains), with the bench table of bench/workload.ts (400
 * float and 100 id_list features, a label and a time; ~10% of the bytes are the training job's
 * 51 columns, drawn Zipf-popular):
 *
 *   A) the DSI paper's Table 12: disk reads per useful MiB and throughput of a scan of the job's
 *      columns, on the same rows laid out four ways:
 *        (a) schema order (`columnOrder: 'schema'`), `coalescing: NO_COALESCING`;
 *        (b) the same partitions, coalescing (the scan's default);
 *        (c) coalescing, partitions written fresh with the job's columns first (a second table);
 *        (d) coalescing, (b)'s partitions after `client.relayout(table)`, once enough training
 *            epochs of the job were recorded that the cost model says rewriting every file pays
 *            (falls back to `{ force: true }`, and says so, if it does not within EPOCHS_MAX epochs).
 *      Reads are ScanStats.readSizes.length (one entry per disk range read), useful bytes
 *      ScanStats.bytesNeeded. The page cache is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`)
 *      before every timed scan, so reads come from the disk, as in a warehouse where the data is
 *      far larger than memory; throughput is the best of a few such cold scans.
 *      The ideal (what (d) is held to): the reads a scan would make if each block's needed bytes
 *      were one contiguous range, placed from the start of a data shard. A block's bytes are cut
 *      into k shards on k nodes (erasure/layout.ts, contiguous layout), so a contiguous range
 *      longer than a shard is still several reads; per block: floor(N / S) * ceil(S / 4 MiB) +
 *      ceil((N mod S) / 4 MiB), N the block's needed bytes, S its shard bytes, 4 MiB the largest
 *      read readers make (COALESCING_DEFAULTS.maxReadBytes). Where N <= S (every block here) it
 *      is ceil(N / 4 MiB). Also printed, not a target: the same bytes contiguous within each data
 *      shard the writer's layout puts them in (protocol/block-layout.ts layoutBlock),
 *      and the reads the client's own read planner (client/reader/read-plan.ts) makes of each
 *      layout, from the scan plan, without reading (a cross-check of the measured counts).
 *   B) the hot-column cache on a three-epoch training job: the storage nodes restarted with
 *      `--hot-cache-bytes` sized to hold the job's columns (1.25x the most any node serves of one
 *      epoch) under `--hot-cache-policy declared`, then again under `lru` with the same memory
 *      (`--trials` times, alternating). The job registers its columns (`metadata.declareJob`).
 *      Before each epoch another job exports other columns (purpose `export`, more than any
 *      node's cache), as other tenants would (the first also warms the restarted nodes); then
 *      the bench waits for every node to hold the hot set (`declarations().hotPending` false,
 *      then each node's `granary_storage_hot_cache{kind="version"}` at `hotVersion`), drops the
 *      page cache, and runs the epoch: one scan. Bytes served from the caches are read from the
 *      nodes' metrics, and each job's `cacheBytes` from `metadata.job(id)` once the nodes'
 *      heartbeats delivered them. CPU seconds of the client, nodes and metadata service are
 *      printed per scan: on one machine the client's decoding is what bounds most figures.
 *
 *   Disks: by default the nodes read this machine's disk, which is fast at random reads (a cold
 *   64 KiB read takes ~0.2 ms), so CPU rather than disk bounds most figures. `--disk-iops N
 *   --disk-mbps M` gives every node a disk of its own of N reads and M MB/s (bench/disk-throttle.ts,
 *   cgroup blkio; root), the regime of the hard disks the targets are about.
 *
 *   npx tsx bench/learning.ts [--quick] [--rows-per-partition N] [--partitions P] [--runs R]
 *                             [--trials T] [--no-drop-caches] [--disk-iops N --disk-mbps M] [--json FILE]
 *
 * The metadata service and the nodes run from dist/ (build it first); the client from source.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { realpath, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as arrow from 'apache-arrow';
import { COALESCING_DEFAULTS, type CoalescingOptions, GranaryClient, NO_COALESCING, type ScanStats, newScanStats } from '../client/index.js';
import { type StreamNeed, planReads } from '../client/reader/read-plan.js';
import { contiguousLayout, shardPieces } from '../erasure/index.js';
import { NO_BLOCK, type ScanPurpose, decodeStreamEntry } from '../protocol/index.js';
import type { RelayoutPlan, RelayoutResult } from '../protocol/relayout-types.js';
import { type Cluster, nodeCredentialArgs, startCluster } from '../test/helpers/cluster.js';
import { pollUntil } from '../test/helpers/poll.js';
import { startNodeProcess } from '../test/helpers/storage-node-process.js';
import { Cleanups } from './cleanups.js';
import { DiskThrottle } from './disk-throttle.js';
import { machineInfo, mbps, mib, printTable } from './measure.js';
import { writeWorkloadTable } from './write-table.js';
import { COLUMNS, JOB_COLUMNS, type Scale } from './workload.js';

const NODES = 9;
const DOMAINS = 3;
const EC = '6+3';
/** Heartbeats carry hot sets to the nodes and their per-job counts back; 1 s keeps 9 idle nodes cheap. */
const HEARTBEAT_INTERVAL_MS = 1_000;
const MiB = 1024 * 1024;
const READ_BYTES_MAX = COALESCING_DEFAULTS.maxReadBytes;
/** The same rows twice: schema order for (a), (b), (d); the job's columns first for (c) and part B. */
const TABLE_SCHEMA = 'learn_schema';
const TABLE_FRESH = 'learn_fresh';
const TRAINING_JOB = 'ctr-model';
/** Training epochs recorded at most before re-layout is forced. */
const EPOCHS_MAX = 16;
/** The hot cache holds this much more than the most one node serves of an epoch. */
const CACHE_HEADROOM = 1.25;
/** Other id_list columns the export reads: ~5x the job's bytes, so more than any node's cache. */
const EXPORT_ID_LISTS = 50;
/** Nodes restarting, hot sets reaching them, heartbeats delivering per-job counts. */
const DEADLINE_MS = 60_000;

const EXPORT_COLUMNS: readonly string[] = COLUMNS.filter((c) => c.type === 'id_list' && !JOB_COLUMNS.includes(c.name))
  .slice(0, EXPORT_ID_LISTS)
  .map((c) => c.name);

// ---------------------------------------------------------------- page cache

let dropWorked: boolean | undefined;
let dropEnabled = true;

/** Drops the page cache (root only); remembers whether it worked. */
function dropPageCache(): boolean {
  if (!dropEnabled) return false;
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    dropWorked ??= true;
    return true;
  } catch (error) {
    if (dropWorked === undefined) console.log(`  (could not drop the page cache: ${(error as Error).message.split('\n')[0]}; reads may come from memory)`);
    dropWorked = false;
    return false;
  }
}

// ---------------------------------------------------------------- CPU time

/** The service processes whose CPU time a scan is charged with; set once the cluster runs. */
let servicePids: () => { readonly metadata: number; readonly nodes: readonly number[] } = () => ({ metadata: 0, nodes: [] });

/** The nodes' emulated disks, when `--disk-iops` asks for them. */
let diskThrottle: DiskThrottle | undefined;

/** Puts each node process on its own emulated disk (the same disk for the same node id across restarts). */
function throttleNodes(cluster: Cluster): void {
  if (diskThrottle === undefined) return;
  for (const node of cluster.nodes) diskThrottle.place(node.nodeId, node.pid);
}

function processCpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is the first, utime the 12th, stime the 13th (USER_HZ ticks).
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds so far of this process, the metadata service and the storage nodes. */
function cpuNow(): { client: number; metadata: number; nodes: number } {
  const usage = process.cpuUsage();
  const pids = servicePids();
  return { client: (usage.user + usage.system) / 1e6, metadata: processCpuSeconds(pids.metadata), nodes: pids.nodes.reduce((s, pid) => s + processCpuSeconds(pid), 0) };
}

interface CpuSeconds {
  readonly client: number;
  readonly metadata: number;
  readonly nodes: number;
}

// ---------------------------------------------------------------- scanning

interface ScanRun {
  readonly stats: ScanStats;
  readonly seconds: number;
  /** What the scan returned, to check that every layout reads the same values. */
  readonly check: string;
  /** CPU seconds the scan cost the client, the metadata service and the nodes (with anything else they did meanwhile). */
  readonly cpu: CpuSeconds;
}

interface ScanArgs {
  readonly columns: readonly string[];
  readonly job: string;
  readonly epoch?: number;
  readonly purpose: ScanPurpose;
  readonly coalescing?: CoalescingOptions;
}

async function scanOnce(client: GranaryClient, table: string, args: ScanArgs, expectedRows: number): Promise<ScanRun> {
  const stats = newScanStats();
  let rows = 0;
  let listValues = 0;
  let labelSum = 0;
  const cpuBefore = cpuNow();
  const start = process.hrtime.bigint();
  for await (const batch of client.scan(table, {
    columns: args.columns,
    stats,
    job: args.job,
    purpose: args.purpose,
    ...(args.epoch === undefined ? {} : { epoch: args.epoch }),
    ...(args.coalescing === undefined ? {} : { coalescing: args.coalescing }),
  })) {
    rows += batch.numRows;
    for (const field of batch.schema.fields) {
      for (const data of batch.getChild(field.name)?.data ?? []) {
        if (arrow.DataType.isList(field.type)) {
          const offsets = data.valueOffsets as Int32Array;
          listValues += (offsets[data.length] as number) - (offsets[0] as number);
        } else if (field.name === 'label') {
          for (const value of data.values as Float32Array) labelSum += value;
        }
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuAfter = cpuNow();
  const cpu = { client: cpuAfter.client - cpuBefore.client, metadata: cpuAfter.metadata - cpuBefore.metadata, nodes: cpuAfter.nodes - cpuBefore.nodes };
  if (rows !== expectedRows) throw new Error(`scan of ${table} read ${rows} rows, ${expectedRows} were written`);
  return { stats, seconds, check: `${rows} rows, ${listValues} ids, label sum ${labelSum}`, cpu };
}

// ---------------------------------------------------------------- the plan, read without reading

interface LayoutModel {
  readonly blocks: number;
  readonly neededBytes: number;
  /** Needed bytes contiguous in each block from a shard's start (the target's ideal). */
  readonly idealReads: number;
  /** Needed bytes contiguous within each data shard the layout puts them on. */
  readonly perShardReads: number;
  /** What the client's read planner makes of the layout, with and without coalescing. */
  readonly plannedReads: number;
  readonly plannedReadsUncoalesced: number;
}

/** Walks the scan plan of the job's columns (purpose export: counts toward nothing). */
async function layoutModel(client: GranaryClient, table: string): Promise<LayoutModel> {
  const byBlock = new Map<string, { needed: number; shardBytes: number; onShard: Map<number, number> }>();
  let plannedReads = 0;
  let plannedReadsUncoalesced = 0;
  for await (const page of client.metadata.planPages(table, { columns: JOB_COLUMNS, purpose: 'export', job: 'bench-layout-model' })) {
    const needs: StreamNeed[] = [];
    for (const stripe of page.stripes) {
      for (let c = 0; c < page.columns.length; c++) {
        const entry = decodeStreamEntry(stripe.streams, c);
        if (entry.blockRef === NO_BLOCK || entry.length === 0) continue;
        needs.push({ blockRef: entry.blockRef, offset: entry.offset, length: entry.length });
        const block = page.blocks[entry.blockRef];
        if (block === undefined) throw new Error(`plan of ${table} names block ref ${entry.blockRef}, the page has ${page.blocks.length}`);
        const layout = contiguousLayout({ dataShards: block.dataShards, parityShards: block.parityShards }, block.blockBytes);
        let figures = byBlock.get(block.blockId);
        if (figures === undefined) {
          figures = { needed: 0, shardBytes: layout.shardBytes, onShard: new Map() };
          byBlock.set(block.blockId, figures);
        }
        figures.needed += entry.length;
        for (const piece of shardPieces(layout, entry.offset, entry.length)) figures.onShard.set(piece.shard, (figures.onShard.get(piece.shard) ?? 0) + piece.length);
      }
    }
    plannedReads += planReads(page.blocks, needs, COALESCING_DEFAULTS).length;
    plannedReadsUncoalesced += planReads(page.blocks, needs, NO_COALESCING).length;
  }
  let neededBytes = 0;
  let idealReads = 0;
  let perShardReads = 0;
  for (const { needed, shardBytes, onShard } of byBlock.values()) {
    neededBytes += needed;
    const fullShards = Math.floor(needed / shardBytes);
    idealReads += fullShards * Math.ceil(shardBytes / READ_BYTES_MAX) + Math.ceil((needed - fullShards * shardBytes) / READ_BYTES_MAX);
    for (const bytes of onShard.values()) perShardReads += Math.ceil(bytes / READ_BYTES_MAX);
  }
  return { blocks: byBlock.size, neededBytes, idealReads, perShardReads, plannedReads, plannedReadsUncoalesced };
}

// ---------------------------------------------------------------- part A

interface CaseFigures {
  readonly name: string;
  readonly table: string;
  readonly runs: number;
  readonly cold: boolean;
  readonly reads: number;
  readonly requests: number;
  readonly bytesNeeded: number;
  readonly bytesFetched: number;
  readonly readsPerUsefulMiB: number;
  readonly bestBytesPerSecond: number;
  readonly medianBytesPerSecond: number;
  /** The same scan again with its blocks in the page cache (best of `runs`): what the disk adds. */
  readonly warmBestBytesPerSecond: number;
  readonly secondsPerRun: readonly number[];
  /** Mean CPU seconds per cold run. */
  readonly cpu: CpuSeconds;
  readonly check: string;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

function meanCpu(list: readonly CpuSeconds[]): CpuSeconds {
  const n = list.length;
  return { client: list.reduce((s, c) => s + c.client, 0) / n, metadata: list.reduce((s, c) => s + c.metadata, 0) / n, nodes: list.reduce((s, c) => s + c.nodes, 0) / n };
}

const cpuText = (cpu: CpuSeconds, seconds: number): string => `${cpu.client.toFixed(2)} / ${cpu.nodes.toFixed(2)} / ${cpu.metadata.toFixed(2)} (${((cpu.client + cpu.nodes + cpu.metadata) / seconds).toFixed(2)} cores)`;

/** `runs` cold scans of the job's columns (page cache dropped before each); best and median throughput. */
async function measureCase(client: GranaryClient, name: string, table: string, coalescing: CoalescingOptions | undefined, runs: number, expectedRows: number): Promise<CaseFigures> {
  const results: ScanRun[] = [];
  let cold = true;
  for (let r = 0; r < runs; r++) {
    cold = dropPageCache() && cold;
    results.push(await scanOnce(client, table, { columns: JOB_COLUMNS, job: `table12-${name}`, purpose: 'export', ...(coalescing === undefined ? {} : { coalescing }) }, expectedRows));
  }
  const first = results[0] as ScanRun;
  for (const run of results) {
    if (run.check !== first.check) throw new Error(`case ${name}: scans of ${table} returned different values (${run.check} vs ${first.check})`);
    if (run.stats.readSizes.length !== first.stats.readSizes.length) console.log(`  note: case ${name} read ${run.stats.readSizes.length} ranges in one run, ${first.stats.readSizes.length} in the first`);
  }
  const rates = results.map((run) => run.stats.bytesNeeded / run.seconds);
  let warmBestBytesPerSecond = 0;
  for (let r = 0; r < runs; r++) {
    const warm = await scanOnce(client, table, { columns: JOB_COLUMNS, job: `table12-${name}`, purpose: 'export', ...(coalescing === undefined ? {} : { coalescing }) }, expectedRows);
    warmBestBytesPerSecond = Math.max(warmBestBytesPerSecond, warm.stats.bytesNeeded / warm.seconds);
  }
  return {
    name,
    table,
    runs,
    cold,
    reads: first.stats.readSizes.length,
    requests: first.stats.requests,
    bytesNeeded: first.stats.bytesNeeded,
    bytesFetched: first.stats.bytesFetched,
    readsPerUsefulMiB: first.stats.readSizes.length / (first.stats.bytesNeeded / MiB),
    bestBytesPerSecond: Math.max(...rates),
    medianBytesPerSecond: median(rates),
    warmBestBytesPerSecond,
    secondsPerRun: results.map((run) => Math.round(run.seconds * 1000) / 1000),
    cpu: meanCpu(results.map((run) => run.cpu)),
    check: first.check,
  };
}

function printPlan(title: string, plan: RelayoutPlan): void {
  printTable(title, [
    ['file', 'partition', 'blocks', 'MiB', 'reads now', 'reads after', 'MiB moved', 'MiB saved', 'pays', 'reason'],
    ...plan.files.map((f) => [
      f.fileId.slice(0, 12),
      f.partition,
      String(f.blocks),
      (f.bytes / MiB).toFixed(1),
      String(f.readsNow),
      String(f.readsAfter),
      (f.bytesToRewrite / MiB).toFixed(1),
      (f.bytesSaved / MiB).toFixed(1),
      f.pays ? 'yes' : 'no',
      f.reason,
    ]),
  ]);
  console.log(
    `  hot columns: ${plan.hotColumns.length} (${plan.hotColumns.slice(0, 6).join(', ')}, ...); order head: ${plan.order.slice(0, 6).join(', ')}, ...; ` +
      `scans expected ${plan.scansExpected}; a read costs ${mib(plan.readCostBytes)}`,
  );
}

interface PartA {
  readonly cases: readonly CaseFigures[];
  readonly models: Readonly<Record<string, LayoutModel>>;
  readonly epochsRecorded: number;
  readonly forced: boolean;
  readonly planBefore: RelayoutPlan;
  readonly relaidFiles: readonly RelayoutResult[];
  readonly relayoutSeconds: number;
  readonly idealReadsPerUsefulMiB: number;
  readonly perShardReadsPerUsefulMiB: number;
  readonly dOverIdeal: number;
  readonly dOverB: number;
}

async function partA(client: GranaryClient, runs: number, expectedRows: number): Promise<PartA> {
  // Untimed: JIT and connections warm, and the reference values.
  await scanOnce(client, TABLE_SCHEMA, { columns: JOB_COLUMNS, job: 'table12-warmup', purpose: 'export' }, expectedRows);
  const models: Record<string, LayoutModel> = { schema: await layoutModel(client, TABLE_SCHEMA), fresh: await layoutModel(client, TABLE_FRESH) };
  const a = await measureCase(client, 'a', TABLE_SCHEMA, NO_COALESCING, runs, expectedRows);
  const b = await measureCase(client, 'b', TABLE_SCHEMA, undefined, runs, expectedRows);
  const c = await measureCase(client, 'c', TABLE_FRESH, undefined, runs, expectedRows);

  // Training epochs of the job until the cost model says re-laying every schema-order file pays
  // (files differ by a few bytes, so one may pay an epoch before the others).
  let plan = await client.metadata.relayoutPlan(TABLE_SCHEMA);
  let epochs = 0;
  while (!plan.files.every((f) => f.pays) && epochs < EPOCHS_MAX) {
    epochs++;
    await scanOnce(client, TABLE_SCHEMA, { columns: JOB_COLUMNS, job: TRAINING_JOB, epoch: epochs, purpose: 'training' }, expectedRows);
    plan = await client.metadata.relayoutPlan(TABLE_SCHEMA);
  }
  const forced = !plan.files.every((f) => f.pays);
  printPlan(`Re-layout plan of ${TABLE_SCHEMA} after ${epochs} training epochs of ${TRAINING_JOB}${forced ? ' (NOT EVERY FILE PAYS: forced)' : ''}`, plan);
  const relayStart = Date.now();
  const run = await client.relayout(TABLE_SCHEMA, forced ? { force: true } : {});
  const relayoutSeconds = (Date.now() - relayStart) / 1000;
  console.log(
    `  re-laid ${run.results.length} of ${plan.files.length} files (${mib(run.results.reduce((s, r) => s + r.bytes, 0))}) in ${relayoutSeconds.toFixed(1)} s` +
      `${run.results.length < plan.files.length ? `; left: ${plan.files.length - run.results.length} that do not pay` : ''}`,
  );
  models.relaid = await layoutModel(client, TABLE_SCHEMA);
  const d = await measureCase(client, 'd', TABLE_SCHEMA, undefined, runs, expectedRows);
  for (const other of [a, b, c]) if (other.check !== d.check) throw new Error(`case ${other.name} read ${other.check}, case d ${d.check}`);

  const model = models.relaid;
  const idealReadsPerUsefulMiB = model.idealReads / (model.neededBytes / MiB);
  return {
    cases: [a, b, c, d],
    models,
    epochsRecorded: epochs,
    forced,
    planBefore: plan,
    relaidFiles: run.results,
    relayoutSeconds,
    idealReadsPerUsefulMiB,
    perShardReadsPerUsefulMiB: model.perShardReads / (model.neededBytes / MiB),
    dOverIdeal: d.readsPerUsefulMiB / idealReadsPerUsefulMiB,
    dOverB: d.bestBytesPerSecond / b.bestBytesPerSecond,
  };
}

function printPartA(fig: PartA): void {
  const [a, b, c, d] = fig.cases as [CaseFigures, CaseFigures, CaseFigures, CaseFigures];
  const layouts: Record<string, string> = {
    a: 'schema order, no coalescing',
    b: 'schema order, coalescing',
    c: 'job columns first (fresh), coalescing',
    d: `schema order re-laid${fig.forced ? ' (forced)' : ''}, coalescing`,
  };
  const planned: Record<string, number> = {
    a: (fig.models.schema as LayoutModel).plannedReadsUncoalesced,
    b: (fig.models.schema as LayoutModel).plannedReads,
    c: (fig.models.fresh as LayoutModel).plannedReads,
    d: (fig.models.relaid as LayoutModel).plannedReads,
  };
  const model = fig.models.relaid as LayoutModel;
  printTable(
    `Table 12 on the bench table: a scan of the job's ${JOB_COLUMNS.length} columns, ${model.blocks} blocks; ` +
      `${a.runs} runs per case, page cache ${a.cold && b.cold && c.cold && d.cold ? 'dropped before each' : 'NOT dropped (reads may come from memory)'}`,
    [
      ['case', 'layout', 'reads/scan', 'planner', 'useful/scan', 'reads per useful MiB', 'vs ideal', 'fetched/needed', 'HTTP requests', 'best', 'median', 'best vs (b)', 'warm best', 'CPU s client / nodes / metadata'],
      ...[a, b, c, d].map((k) => [
        `(${k.name})`,
        layouts[k.name] as string,
        String(k.reads),
        String(planned[k.name]),
        mib(k.bytesNeeded),
        k.readsPerUsefulMiB.toFixed(2),
        `${(k.readsPerUsefulMiB / fig.idealReadsPerUsefulMiB).toFixed(2)}x`,
        `${(k.bytesFetched / k.bytesNeeded).toFixed(2)}x`,
        String(k.requests),
        mbps(k.bestBytesPerSecond),
        mbps(k.medianBytesPerSecond),
        `${(k.bestBytesPerSecond / b.bestBytesPerSecond).toFixed(2)}x`,
        mbps(k.warmBestBytesPerSecond),
        cpuText(k.cpu, k.secondsPerRun.reduce((x, y) => x + y, 0) / k.secondsPerRun.length),
      ]),
      ['ideal', "each block's needed bytes contiguous", String(model.idealReads), '', mib(model.neededBytes), fig.idealReadsPerUsefulMiB.toFixed(2), '1.00x', '', '', '', '', '', '', ''],
      [
        '',
        'contiguous within each data shard used',
        String(model.perShardReads),
        '',
        '',
        fig.perShardReadsPerUsefulMiB.toFixed(2),
        `${(fig.perShardReadsPerUsefulMiB / fig.idealReadsPerUsefulMiB).toFixed(2)}x`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ],
    ],
  );
  console.log(`  best, median: cold scans (page cache dropped before each); warm best: ${a.runs} more with the page cache kept; CPU: mean of the cold scans, and cores busy while they ran`);
  console.log(`  seconds per cold run: ${[a, b, c, d].map((k) => `(${k.name}) ${k.secondsPerRun.join(', ')}`).join('; ')}`);
  // Context, not a target: what the reads would cost on the hard disks the cost model assumes.
  const seekMs = 8;
  console.log(
    `  at ${seekMs} ms a read (a hard disk's seek, metadata/relayout-model.ts READ_COST_BYTES), disk time per scan summed over the nodes: ` +
      [a, b, c, d].map((k) => `(${k.name}) ${((k.reads * seekMs) / 1000).toFixed(2)} s`).join(', '),
  );
  console.log(`  every case read the same values: ${d.check}; "planner": client/reader/read-plan.ts planReads over the scan plan, one figure per plan page`);
}

// ---------------------------------------------------------------- part B

async function nodeCacheFigures(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const figures: Record<string, number> = {};
  for (const match of text.matchAll(/^granary_storage_hot_cache\{kind="([a-z_]+)"\} (\S+)$/gm)) figures[match[1] as string] = Number(match[2]);
  return figures;
}

async function cacheTotals(cluster: Cluster): Promise<{ hitBytes: number; bytes: number; perNode: Record<string, number>[] }> {
  const perNode = await Promise.all(cluster.nodes.map((node) => nodeCacheFigures(node.url)));
  return { hitBytes: perNode.reduce((s, f) => s + (f.hit_bytes ?? 0), 0), bytes: perNode.reduce((s, f) => s + (f.bytes ?? 0), 0), perNode };
}

/** Every node restarted on its data directory with `extraArgs`; waits until the service lists each at its new address. */
async function restartNodes(cluster: Cluster, extraArgs: readonly string[]): Promise<void> {
  await Promise.all(cluster.nodes.map((node) => node.kill('SIGTERM')));
  const started = await Promise.all(
    cluster.nodes.map(async (node, i) => {
      const credentials = await nodeCredentialArgs(cluster.metadata.url, cluster.adminToken, node.nodeId);
      const restarted = await startNodeProcess(join(cluster.root, node.nodeId), [
        ...credentials,
        '--metadata',
        cluster.metadata.url,
        '--domain',
        `rack-${i % DOMAINS}`,
        '--heartbeat-interval-ms',
        String(HEARTBEAT_INTERVAL_MS),
        '--reserve',
        '0',
        ...extraArgs,
      ]);
      // In the cluster's list at once, so that cleanup stops it even if another node fails to start.
      cluster.nodes[i] = restarted;
      return restarted;
    }),
  );
  const monitor = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  try {
    await pollUntil(
      'every restarted node listed alive at its new address',
      async () => {
        const listed = new Map((await monitor.metadata.listNodes()).map((n) => [n.nodeId, n]));
        return started.every((node) => listed.get(node.nodeId)?.state === 'alive' && listed.get(node.nodeId)?.url === node.url) ? true : undefined;
      },
      DEADLINE_MS,
      100,
    );
  } finally {
    await monitor.close();
  }
  throttleNodes(cluster);
}

/** Polls the service until its hot sets are computed, then every node's metrics until each holds that version. */
async function waitForHotSets(client: GranaryClient, cluster: Cluster): Promise<{ version: number; waitedMs: number }> {
  const start = Date.now();
  const version = await pollUntil(
    'every node to hold the current hot set',
    async () => {
      const declared = await client.metadata.declarations();
      if (declared.hotPending) return undefined;
      const held = await Promise.all(cluster.nodes.map(async (node) => (await nodeCacheFigures(node.url)).version));
      return held.every((v) => v === declared.hotVersion) ? declared.hotVersion : undefined;
    },
    DEADLINE_MS,
    100,
  );
  return { version, waitedMs: Date.now() - start };
}

interface EpochFigures {
  readonly epoch: number;
  readonly seconds: number;
  readonly bytesNeeded: number;
  readonly bytesFetched: number;
  readonly bytesPerSecond: number;
  /** Bytes the nodes answered from their hot caches during the epoch (their metrics). */
  readonly cacheHitBytes: number;
  readonly cold: boolean;
  readonly cpu: CpuSeconds;
}

interface PolicyRun {
  readonly policy: 'declared' | 'lru';
  readonly trial: number;
  readonly job: string;
  readonly exportJob: string;
  readonly epochs: readonly EpochFigures[];
  readonly exportBytesFetched: number;
  /** Least any node the job reads from served of one export, against the cache bytes per node. */
  readonly exportMinNodeBytes: number;
  readonly hotWaitsMs: readonly number[];
  readonly jobCacheBytes: number | null;
  readonly jobNodeBytesServed: number | null;
  readonly exportJobCacheBytes: number | null;
}

async function runPolicy(
  client: GranaryClient,
  cluster: Cluster,
  policy: 'declared' | 'lru',
  cacheBytes: number,
  jobNodes: readonly string[],
  trial: number,
  expectedRows: number,
): Promise<PolicyRun> {
  await restartNodes(cluster, ['--hot-cache-bytes', String(cacheBytes), '--hot-cache-policy', policy]);
  const job = `train-${policy}-${trial}`;
  const exportJob = `export-${policy}-${trial}`;
  await client.metadata.declareJob(TABLE_FRESH, { job, columns: JOB_COLUMNS });
  const hotWaitsMs: number[] = [];
  const epochs: EpochFigures[] = [];
  let exportBytesFetched = 0;
  let exportMinNodeBytes = Number.POSITIVE_INFINITY;
  let jobFetched = 0;
  let exportHitBytes = 0;
  for (let epoch = 1; epoch <= 3; epoch++) {
    // Another tenant's one-off export of other columns, larger than the caches: before epoch 1
    // it also warms the restarted nodes (JIT, connections), so epoch 1 is not their first read.
    const exportBefore = await cacheTotals(cluster);
    const exported = await scanOnce(client, TABLE_FRESH, { columns: EXPORT_COLUMNS, job: exportJob, epoch, purpose: 'export' }, expectedRows);
    exportHitBytes += (await cacheTotals(cluster)).hitBytes - exportBefore.hitBytes;
    exportBytesFetched += exported.stats.bytesFetched;
    // Only nodes the job reads from have job ranges in their caches to lose.
    exportMinNodeBytes = Math.min(exportMinNodeBytes, ...jobNodes.map((nodeId) => exported.stats.bytesByNode[nodeId] ?? 0));
    hotWaitsMs.push((await waitForHotSets(client, cluster)).waitedMs);
    const before = await cacheTotals(cluster);
    const cold = dropPageCache();
    const run = await scanOnce(client, TABLE_FRESH, { columns: JOB_COLUMNS, job, epoch, purpose: 'training' }, expectedRows);
    const after = await cacheTotals(cluster);
    jobFetched += run.stats.bytesFetched;
    epochs.push({
      epoch,
      seconds: run.seconds,
      bytesNeeded: run.stats.bytesNeeded,
      bytesFetched: run.stats.bytesFetched,
      bytesPerSecond: run.stats.bytesNeeded / run.seconds,
      cacheHitBytes: after.hitBytes - before.hitBytes,
      cold,
      cpu: run.cpu,
    });
  }
  // The nodes' per-job counts travel with their heartbeats: wait until they cover what was read.
  const jobHits = epochs.reduce((s, e) => s + e.cacheHitBytes, 0);
  let jobCacheBytes: number | null = null;
  let jobNodeBytesServed: number | null = null;
  let exportJobCacheBytes: number | null = null;
  try {
    const [jobDetail, exportDetail] = await pollUntil(
      `the nodes' heartbeats to deliver ${job}'s and ${exportJob}'s counts`,
      async () => {
        const [j, x] = await Promise.all([client.metadata.job(job), client.metadata.job(exportJob)]);
        return j.nodeBytesServed >= jobFetched && j.cacheBytes >= jobHits && x.nodeBytesServed >= exportBytesFetched && x.cacheBytes >= exportHitBytes ? [j, x] : undefined;
      },
      DEADLINE_MS,
      250,
    );
    jobCacheBytes = jobDetail.cacheBytes;
    jobNodeBytesServed = jobDetail.nodeBytesServed;
    exportJobCacheBytes = exportDetail.cacheBytes;
  } catch (error) {
    console.log(`  ${(error as Error).message}`);
  }
  return { policy, trial, job, exportJob, epochs, exportBytesFetched, exportMinNodeBytes, hotWaitsMs, jobCacheBytes, jobNodeBytesServed, exportJobCacheBytes };
}

interface PartB {
  readonly cacheBytesPerNode: number;
  readonly epochMaxNodeBytes: number;
  readonly trials: number;
  /** Declared then lru, trial after trial (so drifts of the machine's load touch both). */
  readonly runs: readonly PolicyRun[];
  /** Per policy and epoch: useful bytes over seconds, summed over the trials. */
  readonly rates: Readonly<Record<'declared' | 'lru', readonly number[]>>;
  /** min over epochs 2 and 3 of declared / declared epoch 1, and of declared / lru. */
  readonly declaredOverEpoch1: number;
  readonly declaredOverLru: number;
}

async function partB(client: GranaryClient, cluster: Cluster, trials: number, expectedRows: number): Promise<PartB> {
  // What one epoch asks of each node: the cache is sized to hold the busiest node's share.
  const sizing = await scanOnce(client, TABLE_FRESH, { columns: JOB_COLUMNS, job: 'bench-cache-sizing', purpose: 'export' }, expectedRows);
  const epochMaxNodeBytes = Math.max(...Object.values(sizing.stats.bytesByNode));
  const cacheBytesPerNode = Math.ceil((epochMaxNodeBytes * CACHE_HEADROOM) / MiB) * MiB;
  const jobNodes = Object.keys(sizing.stats.bytesByNode);
  const runs: PolicyRun[] = [];
  for (let trial = 1; trial <= trials; trial++) {
    for (const policy of ['declared', 'lru'] as const) runs.push(await runPolicy(client, cluster, policy, cacheBytesPerNode, jobNodes, trial, expectedRows));
  }
  const rates = { declared: [] as number[], lru: [] as number[] };
  for (const policy of ['declared', 'lru'] as const) {
    for (let epoch = 1; epoch <= 3; epoch++) {
      const epochs = runs.filter((run) => run.policy === policy).map((run) => run.epochs[epoch - 1] as EpochFigures);
      rates[policy].push(epochs.reduce((s, e) => s + e.bytesNeeded, 0) / epochs.reduce((s, e) => s + e.seconds, 0));
    }
  }
  const [d1, d2, d3] = rates.declared as [number, number, number];
  const [, l2, l3] = rates.lru as [number, number, number];
  return { cacheBytesPerNode, epochMaxNodeBytes, trials, runs, rates, declaredOverEpoch1: Math.min(d2, d3) / d1, declaredOverLru: Math.min(d2 / l2, d3 / l3) };
}

function printPartB(fig: PartB): void {
  const rows: string[][] = [['policy', 'trial', 'epoch', 'seconds', 'useful', 'throughput', 'from node caches', 'vs its epoch 1', 'page cache', 'CPU s client / nodes / metadata']];
  for (const run of fig.runs) {
    const first = run.epochs[0] as EpochFigures;
    for (const e of run.epochs) {
      rows.push([
        run.policy,
        String(run.trial),
        String(e.epoch),
        e.seconds.toFixed(3),
        mib(e.bytesNeeded),
        mbps(e.bytesPerSecond),
        `${mib(e.cacheHitBytes)} (${((100 * e.cacheHitBytes) / e.bytesFetched).toFixed(0)}% of fetched)`,
        `${(e.bytesPerSecond / first.bytesPerSecond).toFixed(2)}x`,
        e.cold ? 'dropped' : 'NOT dropped',
        cpuText(e.cpu, e.seconds),
      ]);
    }
  }
  printTable(
    `Hot-column cache, a three-epoch training job on ${TABLE_FRESH}: --hot-cache-bytes ${mib(fig.cacheBytesPerNode)} per node ` +
      `(${CACHE_HEADROOM}x the ${mib(fig.epochMaxNodeBytes)} the busiest node serves of an epoch); before epoch 1 and between epochs an export of ${EXPORT_COLUMNS.length} other id_list columns`,
    rows,
  );
  const { declared, lru } = fig.rates;
  printTable(`Over ${fig.trials} trial(s): useful bytes / seconds per epoch`, [
    ['epoch', 'declared', 'lru', 'declared vs its epoch 1', 'lru vs its epoch 1', 'declared vs lru'],
    ...[0, 1, 2].map((i) => [
      String(i + 1),
      mbps(declared[i] as number),
      mbps(lru[i] as number),
      `${((declared[i] as number) / (declared[0] as number)).toFixed(2)}x`,
      `${((lru[i] as number) / (lru[0] as number)).toFixed(2)}x`,
      `${((declared[i] as number) / (lru[i] as number)).toFixed(2)}x`,
    ]),
  ]);
  for (const run of fig.runs) {
    console.log(
      `  ${run.policy} trial ${run.trial}: each export fetched ${mib(run.exportBytesFetched / 3)} (the least from a node the job reads: ${mib(run.exportMinNodeBytes)}, ` +
        `${(run.exportMinNodeBytes / fig.cacheBytesPerNode).toFixed(1)}x its cache); waits for the hot set on every node: ${run.hotWaitsMs.map((ms) => `${ms} ms`).join(', ')}`,
    );
  }
  printTable("Jobs as the metadata service counted them (metadata.job(id), from the nodes' heartbeats)", [
    ['job', 'bytes nodes served', 'cacheBytes'],
    ...fig.runs.flatMap((run) => [
      [run.job, run.jobNodeBytesServed === null ? '(not delivered)' : mib(run.jobNodeBytesServed), run.jobCacheBytes === null ? '(not delivered)' : mib(run.jobCacheBytes)],
      [run.exportJob, '', run.exportJobCacheBytes === null ? '(not delivered)' : mib(run.exportJobCacheBytes)],
    ]),
  ]);
}

// ---------------------------------------------------------------- targets and main

interface TargetRow {
  readonly target: string;
  readonly measured: number;
  readonly comparison: '<=' | '>=';
  readonly bound: number;
  readonly pass: boolean;
}

function targetRow(target: string, measured: number, comparison: '<=' | '>=', bound: number): TargetRow {
  return { target, measured, comparison, bound, pass: comparison === '<=' ? measured <= bound : measured >= bound };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'rows-per-partition': { type: 'string' },
      partitions: { type: 'string' },
      runs: { type: 'string' },
      trials: { type: 'string' },
      'no-drop-caches': { type: 'boolean', default: false },
      'disk-iops': { type: 'string' },
      'disk-mbps': { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const scale: Scale = {
    // Quick: 2 x 10,000 rows, so that a node's share of an epoch (its cache) is above the 4 MiB
    // reads readers make; a cache smaller than a read admits none of it, and an export then
    // cannot flush an LRU cache.
    rowsPerPartition: Number(values['rows-per-partition'] ?? (quick ? 10_000 : 25_000)),
    partitions: Number(values.partitions ?? (quick ? 2 : 3)),
  };
  const runs = Number(values.runs ?? (quick ? 3 : 5));
  const trials = Number(values.trials ?? (quick ? 1 : 2));
  if (!(scale.rowsPerPartition > 0 && scale.partitions > 0 && runs > 0 && trials > 0)) throw new Error('--rows-per-partition, --partitions, --runs and --trials want positive numbers');
  dropEnabled = values['no-drop-caches'] !== true;
  if ((values['disk-iops'] === undefined) !== (values['disk-mbps'] === undefined)) throw new Error('--disk-iops and --disk-mbps go together');
  const diskLimits = values['disk-iops'] === undefined ? undefined : { iops: Number(values['disk-iops']), bytesPerSecond: Number(values['disk-mbps']) * 1e6 };
  const expectedRows = scale.rowsPerPartition * scale.partitions;
  const startedAt = new Date();
  console.log(
    `Granary learning bench (issue 14): ${scale.partitions} partitions x ${scale.rowsPerPartition} rows${quick ? ' (quick)' : ''}, written twice; ` +
      `${NODES} nodes, RS ${EC}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
  );

  const cleanups = new Cleanups('stopping the learning bench cluster');
  try {
    const cluster = await startCluster({ nodes: NODES, domains: DOMAINS, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, metadataArgs: [], nodeArgs: ['--hot-cache-bytes', '0'] });
    // Runs after the cluster stops (cleanups run last first): a cgroup with members cannot go.
    if (diskLimits !== undefined) {
      const throttle = DiskThrottle.open(cluster.root, diskLimits);
      cleanups.push(async () => throttle.close());
      diskThrottle = throttle;
      throttleNodes(cluster);
      console.log(`  disks: ${throttle.describe()}`);
    }
    cleanups.push(() => cluster.stop());
    servicePids = () => ({ metadata: cluster.metadata.pid, nodes: cluster.nodes.map((node) => node.pid) });
    const client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    cleanups.push(() => client.close());

    const schema = await writeWorkloadTable(client, TABLE_SCHEMA, scale, 'schema', EC);
    const fresh = await writeWorkloadTable(client, TABLE_FRESH, scale, JOB_COLUMNS, EC);
    console.log(`  wrote ${mib(schema.bytes)} in schema order (${schema.seconds.toFixed(1)} s) and ${mib(fresh.bytes)} with the job's columns first (${fresh.seconds.toFixed(1)} s)`);

    const a = await partA(client, runs, expectedRows);
    printPartA(a);
    const b = await partB(client, cluster, trials, expectedRows);
    printPartB(b);

    const targets = [
      targetRow('(d) reads per useful MiB vs ideal (contiguous)', a.dOverIdeal, '<=', 1.2),
      targetRow('(d) throughput vs (b), best cold runs', a.dOverB, '>=', 1.5),
      targetRow('declared cache: epochs 2-3 vs epoch 1 (lower)', b.declaredOverEpoch1, '>=', 2),
      targetRow('declared vs lru, epochs 2-3 (lower)', b.declaredOverLru, '>=', 1.5),
    ];
    printTable(`Targets (issue 14): ${targets.filter((t) => t.pass).length} of ${targets.length} met`, [
      ['target', 'measured', 'bound', 'result'],
      ...targets.map((t) => [t.target, `${t.measured.toFixed(2)}x`, `${t.comparison} ${t.bound.toFixed(1)}x`, t.pass ? 'PASS' : 'MISS']),
    ]);
    const seconds = (Date.now() - startedAt.getTime()) / 1000;
    console.log(
      `\npage cache drops: ${dropWorked === true ? 'worked' : dropWorked === false ? 'FAILED (reads may come from memory)' : dropEnabled ? 'not tried' : 'off (--no-drop-caches)'}; ` +
        `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${seconds.toFixed(0)} s`,
    );
    if (values.json !== undefined) {
      const results = { startedAt: startedAt.toISOString(), machine: machineInfo(), scale, quick, runs, trials, dropWorked, writes: { schema, fresh }, partA: a, partB: b, targets };
      await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
      console.log(`figures written to ${values.json}`);
    }
  } finally {
    await cleanups.run();
  }
}

const entry = process.argv[1];
if (entry !== undefined && (await realpath(entry).catch(() => entry)) === fileURLToPath(import.meta.url)) await main();
