/**
 * What authentication costs on the write and selective-read paths: two clusters of real processes
 * side by side (metadata service + 6 storage nodes, RS 4+2, loopback, temp dirs), one with
 * `--auth on` (bearer tokens on every metadata route, node tokens, Ed25519 read capabilities in
 * every batch-read body, a write capability on every chunk put) and one with `--auth off` (nodes
 * check nothing), measured in the same run as ratios on / off.
 *
 *   write: the same generated partitions written into both clusters, alternating which goes first
 *          (on/off, off/on, ...), a writer token on the auth-on cluster; useful bytes / s per partition.
 *   read:  the training job of bench/workload.ts (51 columns, every partition but the first) via
 *          scan() with a reader token, in rounds interleaved between the clusters (on, off, off,
 *          on, ...); useful bytes / s per round. Each round also times the scan plan (first page,
 *          client-side) and reads the route latencies from both services' /metrics.
 *   CPU:   the CPU seconds of the client, the metadata service and the storage nodes (from /proc)
 *          per measurement: steadier than throughput on a shared machine.
 *
 *   npm run build && npx tsx bench/auth-cost.ts            # 6 partitions x 3,000 rows (~320 MB per cluster)
 *   npx tsx bench/auth-cost.ts --quick                     # 3 partitions x 1,500 rows, fewer rounds
 *   npx tsx bench/auth-cost.ts --rows-per-partition N --partitions P --rounds R --block-mib B
 *   npx tsx bench/auth-cost.ts --control                   # A/A: both clusters --auth off (the noise floor)
 *
 *   npx tsx bench/auth-cost.ts --profile-dir DIR           # each service writes DIR/auth-{on,off}/<name>.cpuprofile
 *
 * The table has 8 MiB blocks and stripes (--block-mib; the bench's default is 64 MiB): a few
 * hundred MB then make ~40 blocks, so the two clusters' random placements spread the job's reads
 * over their nodes alike (with 64 MiB blocks the job read 5 blocks from 6 nodes).
 *
 * Storage nodes verify each distinct capability once (CapabilityGuard caches it) and the metadata
 * service reuses a block's read capability for half its life, so steady-state scans verify no
 * signature: they carry and look up the capabilities. With `--auth off` the service still signs
 * capabilities and puts them in plans and placements (the nodes ignore them), and put receipts
 * are signed and checked at commit whatever `--auth` says: the ratios leave those out, and the
 * per-call costs of each step, measured in this process, are printed to size them. Results go
 * to bench/results/auth-cost-<timestamp>.json.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, createPublicKey, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type * as arrow from 'apache-arrow';
import { request } from 'undici';
import { GranaryClient } from '../client/index.js';
import { COALESCING_DEFAULTS, planReads, groupByNode } from '../client/reader/read-plan.js';
import { type PlannedBlock, STREAM_ENTRY_BYTES, type ScanPlan, type ScanRequest, decodeStreamEntry } from '../protocol/index.js';
import { openCapability, signCapability } from '../protocol/capability.js';
import { receiptVerifies, signReceipt } from '../protocol/receipt.js';
import { CapabilityGuard } from '../storage-node/capability-guard.js';
import { adminTokenOf, listNodes, nodeCredentialArgs } from '../test/helpers/cluster.js';
import { type GranaryProcess, startGranaryProcess } from '../test/helpers/granary-process.js';
import { pollUntil } from '../test/helpers/poll.js';
import { type NodeProcess, startNodeProcess } from '../test/helpers/storage-node-process.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { type ReadContext, scanOnce } from './client.js';
import { positive } from './flags.js';
import { machineInfo, mbps, mib, printTable, secondsSince } from './measure.js';
import { COLUMNS, JOB_COLUMNS, LAYOUT_ORDER, type Scale, TABLE, jobPartitionFilter, jobPartitions, partitionBatches, partitionSpec } from './workload.js';
import { Cleanups } from './cleanups.js';

const NODES = 6;
const DOMAINS = 3;
const EC = '4+2';
/** Batch reads scan() keeps in flight (scanOnce's setting), recorded with the results. */
const CONCURRENCY = 16;
const DEFAULT_SCALE: Scale = { rowsPerPartition: 3_000, partitions: 6 };
const QUICK_SCALE: Scale = { rowsPerPartition: 1_500, partitions: 3 };
/** /proc reports CPU times in USER_HZ ticks, 100 per second on Linux. */
const TICKS_PER_SECOND = 100;

type Auth = 'on' | 'off';
const AUTHS: readonly Auth[] = ['on', 'off'];

// ---------------------------------------------------------------- clusters, cleaned up on every path

interface AuthCluster {
  readonly auth: Auth;
  readonly metadata: GranaryProcess;
  readonly nodes: readonly NodeProcess[];
  readonly writer: GranaryClient;
  readonly reader: GranaryClient;
  readonly admin: GranaryClient;
}

/** Everything started, so that any exit (error, Ctrl-C, SIGTERM) can stop and remove it. */
const cleanups = new Cleanups('stopping the clusters and removing their directories');

/** `runAs`: the --auth the cluster really runs with (the control run starts both clusters off). */
/** SIGTERM (a service then exits cleanly, writing its CPU profile if asked), SIGKILL after 10 s. */
async function stopProcess(p: GranaryProcess): Promise<void> {
  const killer = setTimeout(() => void p.kill('SIGKILL'), 10_000);
  try {
    await p.kill('SIGTERM');
  } finally {
    clearTimeout(killer);
  }
}

async function startAuthCluster(auth: Auth, runAs: Auth, blockBytes: number): Promise<AuthCluster> {
  const dir = await makeTempDir(`auth-cost-${auth}`);
  cleanups.push(dir.remove);
  const processes: GranaryProcess[] = [];
  cleanups.push(async () => {
    await Promise.all(processes.map((p) => stopProcess(p)));
  });
  // With --profile-dir, every service writes a V8 CPU profile when it exits (SIGTERM, below).
  const profileArgs = (name: string) => (profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(profileDir, `auth-${auth}`), '--cpu-prof-name', `${name}.cpuprofile`]);
  const metadata = await startGranaryProcess(
    ['metadata', '--data', join(dir.path, 'metadata'), '--port', '0', '--auth', runAs],
    'metadata ready',
    profileArgs('metadata'),
  );
  processes.push(metadata);
  const adminToken = runAs === 'on' ? await adminTokenOf(join(dir.path, 'metadata')) : undefined;
  const credentials = await Promise.all(
    Array.from({ length: NODES }, (_, i) =>
      adminToken === undefined ? ['--node-id', `node-${i}`] : nodeCredentialArgs(metadata.url, adminToken, `node-${i}`),
    ),
  );
  const nodes = await Promise.all(
    Array.from({ length: NODES }, async (_, i) => {
      const node = await startNodeProcess(
        join(dir.path, `node-${i}`),
        [...(credentials[i] as string[]), '--metadata', metadata.url, '--domain', `rack-${i % DOMAINS}`, '--reserve', '0'],
        profileArgs(`node-${i}`),
      );
      processes.push(node);
      return node;
    }),
  );
  await pollUntil(`every storage node of the auth-${auth} cluster to register`, async () => {
    const listed = await listNodes(metadata.url, undefined, adminToken);
    return listed.filter((node) => node.state === 'alive').length === NODES ? true : undefined;
  });
  const admin = new GranaryClient({ metadataUrl: metadata.url, ...(adminToken === undefined ? {} : { token: adminToken }) });
  cleanups.push(() => admin.close());
  await admin.metadata.createTable({ name: TABLE, columns: COLUMNS, partitionBy: ['ds'], ec: EC, blockBytes, stripeBytes: blockBytes });
  // As deployed: ingestion and training jobs hold tokens scoped to their table, not the admin's.
  const tokenOf = async (role: 'writer' | 'reader') =>
    adminToken === undefined ? undefined : (await admin.metadata.createToken({ role, tables: [TABLE], description: `auth-cost ${role}` })).token;
  const writerToken = await tokenOf('writer');
  const readerToken = await tokenOf('reader');
  const writer = new GranaryClient({ metadataUrl: metadata.url, ...(writerToken === undefined ? {} : { token: writerToken }) });
  cleanups.push(() => writer.close());
  const reader = new GranaryClient({ metadataUrl: metadata.url, ...(readerToken === undefined ? {} : { token: readerToken }) });
  cleanups.push(() => reader.close());
  return { auth, metadata, nodes, writer, reader, admin };
}

// ---------------------------------------------------------------- CPU time and /metrics

interface CpuSample {
  readonly client: number;
  readonly metadata: number;
  readonly nodes: number;
}

async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, which may hold spaces): utime is 14th, stime 15th.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

async function cpuSample(cluster: AuthCluster): Promise<CpuSample> {
  const usage = process.cpuUsage();
  const nodes = await Promise.all(cluster.nodes.map((n) => processCpuSeconds(n.pid)));
  return {
    client: (usage.user + usage.system) / 1e6,
    metadata: await processCpuSeconds(cluster.metadata.pid),
    nodes: nodes.reduce((a, b) => a + b, 0),
  };
}

function cpuSince(before: CpuSample, after: CpuSample): CpuSample {
  return { client: after.client - before.client, metadata: after.metadata - before.metadata, nodes: after.nodes - before.nodes };
}

/** Route -> { sum seconds, count } of a `*_request_duration_seconds` histogram. */
type RouteLatencies = Map<string, { sum: number; count: number }>;

async function routeLatencies(url: string): Promise<RouteLatencies> {
  const response = await request(`${url}/metrics`);
  const text = await response.body.text();
  const routes: RouteLatencies = new Map();
  for (const line of text.split('\n')) {
    const match = /^granary_\w+_request_duration_seconds_(sum|count)\{route="([^"]*)"\} (\S+)$/.exec(line);
    if (match === null) continue;
    const [, kind, route, value] = match as unknown as [string, 'sum' | 'count', string, string];
    const entry = routes.get(route) ?? { sum: 0, count: 0 };
    entry[kind] += Number(value);
    routes.set(route, entry);
  }
  return routes;
}

/** Every node's latencies summed by route. */
async function nodeLatencies(cluster: AuthCluster): Promise<RouteLatencies> {
  const all: RouteLatencies = new Map();
  for (const routes of await Promise.all(cluster.nodes.map((n) => routeLatencies(n.url)))) {
    for (const [route, { sum, count }] of routes) {
      const entry = all.get(route) ?? { sum: 0, count: 0 };
      all.set(route, { sum: entry.sum + sum, count: entry.count + count });
    }
  }
  return all;
}

/** Mean ms of `route` between two scrapes, and how many requests it answered. */
function meanMs(before: RouteLatencies, after: RouteLatencies, route: string): { meanMs: number; requests: number } {
  const a = after.get(route) ?? { sum: 0, count: 0 };
  const b = before.get(route) ?? { sum: 0, count: 0 };
  const requests = a.count - b.count;
  return { meanMs: requests === 0 ? Number.NaN : (1000 * (a.sum - b.sum)) / requests, requests };
}

const ROUTES = {
  plan: 'POST /v1/tables/:name/scan',
  allocate: 'POST /v1/sessions/:id/blocks',
  commit: 'POST /v1/sessions/:id/commit',
  batchRead: 'POST /v1/chunks/read',
  put: 'PUT /v1/chunks/:id',
} as const;
const routeUrl = (key: keyof typeof ROUTES): string => ROUTES[key].slice(ROUTES[key].indexOf(' ') + 1);

// ---------------------------------------------------------------- statistics

function median(values: readonly number[]): number {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

interface Paired {
  readonly on: number;
  readonly off: number;
  /** median(on) / median(off). */
  readonly ratio: number;
  /** Median, min and max of the per-pair ratios (each on measurement over the off one next to it). */
  readonly pairedRatio: { readonly median: number; readonly min: number; readonly max: number };
}

function paired(on: readonly number[], off: readonly number[]): Paired {
  const ratios = on.map((value, i) => value / (off[i] as number)).filter((r) => Number.isFinite(r));
  return {
    on: median(on),
    off: median(off),
    ratio: median(on) / median(off),
    pairedRatio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  };
}

// ---------------------------------------------------------------- write

interface WriteSample {
  readonly partition: string;
  readonly bytes: number;
  readonly rows: number;
  readonly seconds: number;
  readonly bytesPerSecond: number;
  readonly cpu: CpuSample;
  readonly first: boolean;
}

async function writePartition(cluster: AuthCluster, partition: number, batches: readonly arrow.RecordBatch[], rows: number, first: boolean): Promise<WriteSample> {
  const cpuBefore = await cpuSample(cluster);
  const start = process.hrtime.bigint();
  const writer = await cluster.writer.openWriter(TABLE, partitionSpec(partition), { columnOrder: LAYOUT_ORDER });
  try {
    for (const batch of batches) await writer.write(batch);
    const commit = await writer.commit();
    const seconds = secondsSince(start);
    const cpu = cpuSince(cpuBefore, await cpuSample(cluster));
    if (commit.rows !== rows) throw new Error(`auth ${cluster.auth}: commit of ${partitionSpec(partition)} says ${commit.rows} rows, ${rows} were written`);
    return { partition: partitionSpec(partition), bytes: commit.bytes, rows: commit.rows, seconds, bytesPerSecond: commit.bytes / seconds, cpu, first };
  } finally {
    await writer.close();
  }
}

// ---------------------------------------------------------------- read

interface ReadSample {
  readonly round: number;
  readonly first: boolean;
  readonly scans: number;
  readonly seconds: number;
  readonly bytesNeeded: number;
  readonly bytesPerSecond: number;
  readonly requests: number;
  /** CPU seconds per scan. */
  readonly cpuPerScan: CpuSample;
  /** Client-side time to the first plan page, median of the round's plans, ms. */
  readonly planMs: number;
  readonly servicePlanMs: number;
  readonly nodeBatchReadMs: number;
}

const jobRequest = (scale: Scale): ScanRequest => ({ columns: [...JOB_COLUMNS], partitions: jobPartitionFilter(scale) });

async function measureRound(cluster: AuthCluster, context: ReadContext, round: number, first: boolean, seconds: number, scansMin: number, plans: number): Promise<ReadSample> {
  const metaBefore = await routeLatencies(cluster.metadata.url);
  const planTimes: number[] = [];
  for (let i = 0; i < plans; i++) {
    const start = process.hrtime.bigint();
    await cluster.reader.metadata.plan(TABLE, jobRequest(context.scale));
    planTimes.push(secondsSince(start) * 1000);
  }
  const nodesBefore = await nodeLatencies(cluster);
  const cpuBefore = await cpuSample(cluster);
  let scans = 0;
  let bytesNeeded = 0;
  let requests = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const stats = await scanOnce(context, undefined);
    bytesNeeded += stats.bytesNeeded;
    requests += stats.requests;
    scans++;
    elapsed = secondsSince(start);
  } while (elapsed < seconds || scans < scansMin);
  const cpu = cpuSince(cpuBefore, await cpuSample(cluster));
  const [metaAfter, nodesAfter] = await Promise.all([routeLatencies(cluster.metadata.url), nodeLatencies(cluster)]);
  return {
    round,
    first,
    scans,
    seconds: elapsed,
    bytesNeeded,
    bytesPerSecond: bytesNeeded / elapsed,
    requests: requests / scans,
    cpuPerScan: { client: cpu.client / scans, metadata: cpu.metadata / scans, nodes: cpu.nodes / scans },
    planMs: median(planTimes),
    // Includes the scans' own plans (one page each here) as well as the timed ones.
    servicePlanMs: meanMs(metaBefore, metaAfter, routeUrl('plan')).meanMs,
    nodeBatchReadMs: meanMs(nodesBefore, nodesAfter, routeUrl('batchRead')).meanMs,
  };
}

/**
 * Read capabilities a scan carries to each node, from the job's plan: the blocks whose chunks the
 * scan reads on that node (coalesced reads, as scan() plans them). Each node verifies each one
 * once, then finds it in its cache; a scan sends them in `requests` batch-read bodies.
 */
interface CapabilityCounts {
  readonly byNode: Record<string, number>;
  readonly capabilityBytes: number;
  readonly blocks: number;
  /** Batch-read requests of one scan if it were planned over whole pages (scan() groups stripes, so it sends a few more). */
  readonly requests: number;
  readonly capabilitiesPerRequest: number;
  readonly rangesPerRequest: number;
}

async function capabilitiesPerNode(cluster: AuthCluster, scale: Scale): Promise<CapabilityCounts> {
  const byNode: Record<string, Set<string>> = {};
  let capabilityBytes = 0;
  let blocks = 0;
  let requests = 0;
  let capabilitiesSent = 0;
  let ranges = 0;
  for await (const page of cluster.reader.metadata.planPages(TABLE, jobRequest(scale))) {
    const plan: ScanPlan = page;
    blocks += plan.blocks.length;
    const streams = plan.stripes.flatMap((stripe) =>
      Array.from({ length: stripe.streams.byteLength / STREAM_ENTRY_BYTES }, (_, i) => {
        const entry = decodeStreamEntry(stripe.streams, i);
        return { blockRef: entry.blockRef, offset: entry.offset, length: entry.length };
      }),
    );
    const reads = planReads(plan.blocks, streams, COALESCING_DEFAULTS);
    for (const request of groupByNode(plan.blocks, reads, COALESCING_DEFAULTS)) {
      requests++;
      ranges += request.reads.length;
      capabilitiesSent += new Set(request.reads.map((read) => read.blockRef)).size;
      for (const read of request.reads) {
        const block = plan.blocks[read.blockRef] as PlannedBlock;
        const nodeId = block.chunks[read.shard]?.nodeId ?? '?';
        (byNode[nodeId] ??= new Set()).add(block.blockId);
        capabilityBytes = Math.max(capabilityBytes, block.capability?.length ?? 0);
      }
    }
  }
  return {
    byNode: Object.fromEntries(Object.entries(byNode).map(([n, s]) => [n, s.size]).sort()),
    capabilityBytes,
    blocks,
    requests,
    capabilitiesPerRequest: capabilitiesSent / Math.max(1, requests),
    rangesPerRequest: ranges / Math.max(1, requests),
  };
}

// ---------------------------------------------------------------- the crypto, in this process

/** Microseconds per call of `f`, over at least `minMs` after a warm-up. */
function microsPerCall(f: (i: number) => void, minMs = 300): number {
  for (let i = 0; i < 200; i++) f(i);
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  do {
    for (let i = 0; i < 100; i++) f(calls++);
    elapsedMs = secondsSince(start) * 1000;
  } while (elapsedMs < minMs);
  return (elapsedMs * 1000) / calls;
}

/**
 * What each step of auth costs on one core of this machine (as noisy as the rest): signing and
 * verifying a capability and a put receipt, a bearer token's check (a SHA-256 and a compare), and
 * a node's check of one batch read of the scan's shape with its capabilities already verified.
 */
function cryptoMicros(shape: { capabilitiesPerRequest: number; rangesPerRequest: number; capabilityScope: number }): Record<string, number> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  const expiresAtMs = Date.now() + 3_600_000;
  const blockId = (i: number) => `b${String(i).padStart(Math.max(1, shape.capabilityScope - 1), '0')}`;
  const capability = signCapability({ op: 'read', scope: blockId(0), expiresAtMs }, privateKey);
  const receipt = signReceipt(`${blockId(0)}.0`, 16 << 20, 12345n, privateKey);
  const token = 'x'.repeat(43);
  const expected = createHash('sha256').update(token).digest();
  const guard = new CapabilityGuard('pending');
  guard.learn(publicKey);
  const blocks = Math.max(1, Math.round(shape.capabilitiesPerRequest));
  const capabilities = Array.from({ length: blocks }, (_, b) => signCapability({ op: 'read', scope: blockId(b), expiresAtMs }, privateKey));
  const chunks = Array.from({ length: Math.max(1, Math.round(shape.rangesPerRequest)) }, (_, r) => `${blockId(r % blocks)}.${r % 4}`);
  guard.checkReads(new Set(chunks), capabilities, 'node-0'); // verifies them once: later calls hit the cache
  return {
    signCapability: microsPerCall((i) => signCapability({ op: 'write', scope: `${blockId(i)}.1`, expiresAtMs }, privateKey)),
    verifyCapability: microsPerCall(() => openCapability(capability, publicKey)),
    signReceipt: microsPerCall((i) => signReceipt(`${blockId(i)}.1`, 16 << 20, 12345n, privateKey)),
    verifyReceipt: microsPerCall(() => receiptVerifies(receipt, `${blockId(0)}.0`, 16 << 20, 12345n, publicKey)),
    bearerTokenCheck: microsPerCall(() => timingSafeEqual(createHash('sha256').update(token).digest(), expected)),
    batchReadCheckCached: microsPerCall(() => guard.checkReads(new Set(chunks), capabilities, 'node-0')),
  };
}

// ---------------------------------------------------------------- the benchmark

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'rows-per-partition': { type: 'string' },
    partitions: { type: 'string' },
    rounds: { type: 'string' },
    'block-mib': { type: 'string' },
    control: { type: 'boolean', default: false },
    'profile-dir': { type: 'string' },
  },
  strict: true,
});
const quick = values.quick === true;
const base = quick ? QUICK_SCALE : DEFAULT_SCALE;
const scale: Scale = {
  rowsPerPartition: positive('rows-per-partition', values['rows-per-partition'], base.rowsPerPartition, true),
  partitions: positive('partitions', values.partitions, base.partitions, true),
};
if (scale.partitions < 2) throw new Error('--partitions must be at least 2: the job reads every partition but the first');
const rounds = positive('rounds', values.rounds, quick ? 4 : 12, true);
const blockBytes = positive('block-mib', values['block-mib'], 8, true) * 1024 * 1024;
/** A/A: both clusters run with --auth off, to see what the two clusters differ by with no auth at all. */
const control = values.control === true;
const profileDir = values['profile-dir'];
const secondsPerMeasurement = quick ? 0.5 : 1.5;
const scansMin = quick ? 2 : 3;
const plansPerRound = quick ? 5 : 15;

console.log(
  `Granary auth cost${control ? ' (CONTROL: both clusters --auth off; "on" is the first cluster)' : ''}: ${NODES} nodes, RS ${EC}, ${mib(blockBytes)} blocks and stripes, ${scale.partitions} partitions x ${scale.rowsPerPartition} rows per cluster; ` +
    `${rounds} interleaved read rounds of >= ${secondsPerMeasurement} s and >= ${scansMin} scans per cluster`,
);
const startedAt = new Date().toISOString();
const loadBefore = loadavg();

try {
  const clusters = { on: await startAuthCluster('on', control ? 'off' : 'on', blockBytes), off: await startAuthCluster('off', 'off', blockBytes) } satisfies Record<Auth, AuthCluster>;

  // Write: each partition generated once, then written into both clusters, alternating which goes first.
  const writes: Record<Auth, WriteSample[]> = { on: [], off: [] };
  const writeRoutes: Record<Auth, { allocate: number; commit: number; put: number; puts: number }> = {
    on: { allocate: 0, commit: 0, put: 0, puts: 0 },
    off: { allocate: 0, commit: 0, put: 0, puts: 0 },
  };
  const before = {
    on: { meta: await routeLatencies(clusters.on.metadata.url), nodes: await nodeLatencies(clusters.on) },
    off: { meta: await routeLatencies(clusters.off.metadata.url), nodes: await nodeLatencies(clusters.off) },
  };
  let generateSeconds = 0;
  for (let p = 0; p < scale.partitions; p++) {
    const start = process.hrtime.bigint();
    const batches = [...partitionBatches(p, scale.rowsPerPartition)];
    generateSeconds += secondsSince(start);
    const order: readonly Auth[] = p % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const [i, auth] of order.entries()) {
      const sample = await writePartition(clusters[auth], p, batches, scale.rowsPerPartition, i === 0);
      writes[auth].push(sample);
      console.log(`  write ${sample.partition} auth ${auth.padEnd(3)}: ${mib(sample.bytes)} in ${sample.seconds.toFixed(2)} s, ${mbps(sample.bytesPerSecond)}`);
    }
  }
  for (const auth of AUTHS) {
    const meta = await routeLatencies(clusters[auth].metadata.url);
    const nodes = await nodeLatencies(clusters[auth]);
    const put = meanMs(before[auth].nodes, nodes, routeUrl('put'));
    writeRoutes[auth] = {
      allocate: meanMs(before[auth].meta, meta, routeUrl('allocate')).meanMs,
      commit: meanMs(before[auth].meta, meta, routeUrl('commit')).meanMs,
      put: put.meanMs,
      puts: put.requests,
    };
  }

  // Read: warm both (JIT, connections, page cache, the nodes' capability caches), timing the
  // first scan of each (the only one whose capabilities the nodes verify), then interleaved rounds.
  const expectedRows = scale.rowsPerPartition * jobPartitions(scale).length;
  const contexts: Record<Auth, ReadContext> = {
    on: { client: clusters.on.reader, scale, seconds: secondsPerMeasurement, expectedRows },
    off: { client: clusters.off.reader, scale, seconds: secondsPerMeasurement, expectedRows },
  };
  const firstScanSeconds: Record<Auth, number> = { on: 0, off: 0 };
  let bytesNeededPerScan = 0;
  for (const auth of AUTHS) {
    const start = process.hrtime.bigint();
    const stats = await scanOnce(contexts[auth], undefined);
    firstScanSeconds[auth] = secondsSince(start);
    bytesNeededPerScan = stats.bytesNeeded;
    for (let i = 0; i < 2; i++) await scanOnce(contexts[auth], undefined);
  }
  const reads: Record<Auth, ReadSample[]> = { on: [], off: [] };
  for (let round = 0; round < rounds; round++) {
    const order: readonly Auth[] = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    const line: string[] = [];
    for (const [i, auth] of order.entries()) {
      const sample = await measureRound(clusters[auth], contexts[auth], round, i === 0, secondsPerMeasurement, scansMin, plansPerRound);
      reads[auth].push(sample);
      line.push(`${auth} ${mbps(sample.bytesPerSecond)} (${sample.scans} scans, plan ${sample.planMs.toFixed(1)} ms)`);
    }
    console.log(`  read round ${round + 1}/${rounds}: ${line.join(', ')}`);
  }
  const capabilities = await capabilitiesPerNode(clusters.on, scale);
  const offPlan = await clusters.off.reader.metadata.plan(TABLE, jobRequest(scale));
  const offCarriesCapabilities = offPlan.blocks.some((b) => b.capability !== undefined);
  const stripes = sum((await clusters.on.admin.metadata.listPartitions(TABLE)).map((p) => p.stripes));

  // Figures.
  const pick = <T>(samples: Record<Auth, T[]>, f: (s: T) => number) => paired(samples.on.map(f), samples.off.map(f));
  /** The figure as total over total (all samples of a side), the spread still from the pairs. */
  const withTotals = <T>(p: Paired, samples: Record<Auth, T[]>, part: (s: T) => number, whole: (s: T) => number): Paired => {
    const on = sum(samples.on.map(part)) / sum(samples.on.map(whole));
    const off = sum(samples.off.map(part)) / sum(samples.off.map(whole));
    return { ...p, on, off, ratio: on / off };
  };
  const write = {
    bytesPerSecond: pick(writes, (s) => s.bytesPerSecond),
    cpuSecondsPerGB: {
      client: withTotals(pick(writes, (s) => (s.cpu.client / s.bytes) * 1e9), writes, (s) => s.cpu.client, (s) => s.bytes / 1e9),
      metadata: withTotals(pick(writes, (s) => (s.cpu.metadata / s.bytes) * 1e9), writes, (s) => s.cpu.metadata, (s) => s.bytes / 1e9),
      nodes: withTotals(pick(writes, (s) => (s.cpu.nodes / s.bytes) * 1e9), writes, (s) => s.cpu.nodes, (s) => s.bytes / 1e9),
    },
    routeMeanMs: writeRoutes,
    samples: writes,
  };
  const read = {
    bytesNeededPerScan,
    bytesPerSecond: pick(reads, (s) => s.bytesPerSecond),
    planMs: pick(reads, (s) => s.planMs),
    servicePlanMs: pick(reads, (s) => s.servicePlanMs),
    nodeBatchReadMs: pick(reads, (s) => s.nodeBatchReadMs),
    // CPU from /proc ticks (10 ms): per round for the spread, over all rounds for the figure.
    cpuMsPerScan: {
      client: withTotals(pick(reads, (s) => s.cpuPerScan.client * 1000), reads, (s) => s.cpuPerScan.client * s.scans * 1000, (s) => s.scans),
      metadata: withTotals(pick(reads, (s) => s.cpuPerScan.metadata * 1000), reads, (s) => s.cpuPerScan.metadata * s.scans * 1000, (s) => s.scans),
      nodes: withTotals(pick(reads, (s) => s.cpuPerScan.nodes * 1000), reads, (s) => s.cpuPerScan.nodes * s.scans * 1000, (s) => s.scans),
    },
    requestsPerScan: { on: median(reads.on.map((s) => s.requests)), off: median(reads.off.map((s) => s.requests)) },
    firstScanSeconds,
    samples: reads,
  };
  const usefulBytes = sum(writes.on.map((s) => s.bytes));

  const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
  const x = (p: Paired) => `${fmt(p.ratio, 3)}x`;
  const spread = (p: Paired) => `${fmt(p.pairedRatio.median, 3)}x [${fmt(p.pairedRatio.min, 2)}..${fmt(p.pairedRatio.max, 2)}]`;
  printTable(
    `Auth cost${control ? ' (CONTROL: both clusters --auth off)' : ''}: ${scale.partitions} partitions x ${scale.rowsPerPartition} rows (${mib(usefulBytes)} encoded, ${stripes} stripes) per cluster, ` +
      `${NODES} nodes RS ${EC}; medians of ${writes.on.length} write pairs and ${rounds} read rounds, interleaved`,
    [
      ['figure', 'auth on', 'auth off', 'on / off', 'paired ratio [min..max]'],
      ['write MB/s (useful bytes, per partition)', fmt(write.bytesPerSecond.on / 1e6), fmt(write.bytesPerSecond.off / 1e6), x(write.bytesPerSecond), spread(write.bytesPerSecond)],
      ['  nodes CPU s / GB written', fmt(write.cpuSecondsPerGB.nodes.on, 2), fmt(write.cpuSecondsPerGB.nodes.off, 2), x(write.cpuSecondsPerGB.nodes), spread(write.cpuSecondsPerGB.nodes)],
      ['  metadata CPU s / GB written', fmt(write.cpuSecondsPerGB.metadata.on, 3), fmt(write.cpuSecondsPerGB.metadata.off, 3), x(write.cpuSecondsPerGB.metadata), spread(write.cpuSecondsPerGB.metadata)],
      ['  client CPU s / GB written', fmt(write.cpuSecondsPerGB.client.on, 2), fmt(write.cpuSecondsPerGB.client.off, 2), x(write.cpuSecondsPerGB.client), spread(write.cpuSecondsPerGB.client)],
      ['  block allocation, mean ms (service)', fmt(writeRoutes.on.allocate, 2), fmt(writeRoutes.off.allocate, 2), `${fmt(writeRoutes.on.allocate / writeRoutes.off.allocate, 2)}x`, ''],
      ['  commit, mean ms (service)', fmt(writeRoutes.on.commit, 2), fmt(writeRoutes.off.commit, 2), `${fmt(writeRoutes.on.commit / writeRoutes.off.commit, 2)}x`, ''],
      [`  chunk put, mean ms (nodes, ${writeRoutes.on.puts} puts)`, fmt(writeRoutes.on.put, 1), fmt(writeRoutes.off.put, 1), `${fmt(writeRoutes.on.put / writeRoutes.off.put, 2)}x`, ''],
      [`read MB/s (useful bytes, ${mib(bytesNeededPerScan)} / scan)`, fmt(read.bytesPerSecond.on / 1e6), fmt(read.bytesPerSecond.off / 1e6), x(read.bytesPerSecond), spread(read.bytesPerSecond)],
      ['  nodes CPU ms / scan', fmt(read.cpuMsPerScan.nodes.on), fmt(read.cpuMsPerScan.nodes.off), x(read.cpuMsPerScan.nodes), spread(read.cpuMsPerScan.nodes)],
      ['  metadata CPU ms / scan', fmt(read.cpuMsPerScan.metadata.on), fmt(read.cpuMsPerScan.metadata.off), x(read.cpuMsPerScan.metadata), spread(read.cpuMsPerScan.metadata)],
      ['  client CPU ms / scan', fmt(read.cpuMsPerScan.client.on), fmt(read.cpuMsPerScan.client.off), x(read.cpuMsPerScan.client), spread(read.cpuMsPerScan.client)],
      ['  batch read, mean ms (nodes)', fmt(read.nodeBatchReadMs.on, 2), fmt(read.nodeBatchReadMs.off, 2), x(read.nodeBatchReadMs), spread(read.nodeBatchReadMs)],
      ['  requests / scan', fmt(read.requestsPerScan.on, 0), fmt(read.requestsPerScan.off, 0), '', ''],
      ['  first scan after the write, s (capabilities verified)', fmt(firstScanSeconds.on, 3), fmt(firstScanSeconds.off, 3), `${fmt(firstScanSeconds.on / firstScanSeconds.off, 2)}x`, ''],
      ['plan, first page, ms (client)', fmt(read.planMs.on, 2), fmt(read.planMs.off, 2), x(read.planMs), spread(read.planMs)],
      ['plan, mean ms (service /metrics)', fmt(read.servicePlanMs.on, 2), fmt(read.servicePlanMs.off, 2), x(read.servicePlanMs), spread(read.servicePlanMs)],
    ],
  );
  const micros = cryptoMicros({ capabilitiesPerRequest: capabilities.capabilitiesPerRequest, rangesPerRequest: capabilities.rangesPerRequest, capabilityScope: 20 });
  printTable(`Auth steps in this process, us per call (a batch read of the scan's shape: ${fmt(capabilities.capabilitiesPerRequest)} capabilities, ${fmt(capabilities.rangesPerRequest)} ranges)`, [
    ['step', 'us'],
    ...Object.entries(micros).map(([name, us]) => [name, fmt(us, 2)]),
  ]);
  const capabilityCounts = Object.values(capabilities.byNode);
  console.log(
    `\n  read capabilities per scan, by node (blocks the job reads there; each verified once per node, then cached): ` +
      `${Object.entries(capabilities.byNode).map(([n, c]) => `${n} ${c}`).join(', ')} (${capabilities.blocks} blocks planned, ${capabilities.capabilityBytes} B each)` +
      `\n  write capabilities verified per node: one per chunk put, ${fmt(writeRoutes.on.puts / NODES, 0)} on average` +
      (offCarriesCapabilities
        ? '\n  with --auth off the service still signs capabilities and sends them in plans and placements (nodes ignore them): ' +
          'the ratios above leave out signing and carrying them, and put receipts (signed and checked either way)'
        : ''),
  );

  const finishedAt = new Date().toISOString();
  const results = {
    startedAt,
    finishedAt,
    machine: machineInfo(),
    loadAverage: { before: loadBefore, after: loadavg() },
    setup: { control, blockBytes, stripeBytes: blockBytes, nodes: NODES, domains: DOMAINS, ec: EC, concurrency: CONCURRENCY, rounds, secondsPerMeasurement, scansMin, plansPerRound, quick },
    scale,
    workload: { usefulBytesPerCluster: usefulBytes, stripes, jobColumns: JOB_COLUMNS.length, generateSeconds },
    write,
    read,
    cryptoMicros: micros,
    capabilities: { requestShape: { requests: capabilities.requests, capabilitiesPerRequest: capabilities.capabilitiesPerRequest, rangesPerRequest: capabilities.rangesPerRequest }, readPerScanByNode: capabilities.byNode, readPerScanMean: sum(capabilityCounts) / Math.max(1, capabilityCounts.length), readCapabilityBytes: capabilities.capabilityBytes, blocksPlanned: capabilities.blocks, writePutsPerNode: writeRoutes.on.puts / NODES, offPlanCarriesCapabilities: offCarriesCapabilities },
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/auth-cost-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nfigures written to ${file.pathname} (${((Date.parse(finishedAt) - Date.parse(startedAt)) / 1000).toFixed(0)} s)`);
} finally {
  await cleanups.run();
}
// A client's pools or a child's pipes must not keep the process up.
process.exit(process.exitCode ?? 0);
