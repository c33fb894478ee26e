/**
 * What the replicated catalog costs a write and a plan: commit and scan-planning latency of the
 * metadata service on etcd (a 1-member cluster, the store's own fsync per transaction) as ratios
 * to the same on LevelDB (`sync` batches), measured in one process and one run, because the
 * machine is shared and only ratios measured side by side mean anything.
 *
 * Both services run in this process (MetadataService + its fastify app on a loopback port, auth
 * off, no storage nodes: nodes registered without a receipt key skip receipt checks), so the
 * figures are the service plus its store and one HTTP hop, without other processes. Not
 * `inject()`: light-my-request turns every response into a string, and for a plan's megabytes
 * of msgpack that took more CPU than planning. The etcd store is unfenced (no election): what
 * is measured is the store, not leadership. Both stores keep their data on the same file system
 * (temp dirs).
 *
 *   commit: N times, alternating which store goes first: open a session, allocate one block,
 *           commit a manifest of C columns x S stripes (test/helpers/manifests.ts), the commit
 *           timed (the open and the allocation are timed apart). Small: 100 x 10 (one manifest
 *           piece); big: 500 x 50 (several pieces, written ahead of the commit's batch).
 *   plan:   every page of POST /v1/tables/:name/scan of all columns of the table, warm (the
 *           service's manifest cache holds every piece: the store is not read) and cold (a second
 *           service over the same store with a manifest cache of 0 bytes: every piece is read
 *           from the store and decoded on every plan).
 *
 *   npx tsx bench/metadata-store.ts                     # 200 small commits, 20 big, 20 plans per case (~1 min)
 *   npx tsx bench/metadata-store.ts --quick             # 40 small, 6 big, 6 plans
 *   npx tsx bench/metadata-store.ts --commits N --big-commits B --plans P
 *
 * Results go to bench/results/metadata-store-<timestamp>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { unpack } from 'msgpackr';
import { request } from 'undici';
import { startLocalEtcd } from '../deploy/local-etcd.js';
import { CapabilityIssuer } from '../metadata/capabilities.js';
import { MetadataDb, MetadataService, MetadataState, buildMetadataServer } from '../metadata/index.js';
import { EtcdStore } from '../metadata/store/etcd-store.js';
import type { KvStore } from '../metadata/store/kv-store.js';
import { LevelStore } from '../metadata/store/level-store.js';
import type { BlockPlacement, ScanPlan } from '../protocol/index.js';
import { manifestFor } from '../test/helpers/manifests.js';
import { seededRandom } from '../test/helpers/seeded-random.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { positive } from './flags.js';
import { machineInfo, printTable } from './measure.js';
import { Cleanups } from './cleanups.js';

type StoreKind = 'level' | 'etcd';
const KINDS: readonly StoreKind[] = ['level', 'etcd'];
/** RS 6+3 places 9 shards on 9 distinct nodes. */
const NODES = 9;
const DOMAINS = 3;
/** Commits spread over this many partitions (a day's worth of ingest sessions each). */
const PARTITIONS = 10;

interface Shape {
  readonly name: 'small' | 'big';
  readonly table: string;
  readonly columns: number;
  readonly stripes: number;
}
const SMALL: Shape = { name: 'small', table: 'narrow', columns: 100, stripes: 10 };
const BIG: Shape = { name: 'big', table: 'wide', columns: 500, stripes: 50 };

// ---------------------------------------------------------------- services, cleaned up on every path

const cleanups = new Cleanups('stopping etcd and removing the temp dirs');

/** The base URL of a service listening on loopback. */
type Endpoint = string;

/** Smaller than either table's manifest pieces (6.5 and 16 MB), so a scan misses on every piece. */
const COLD_CACHE_BYTES = 5 * 1024 * 1024;

/** A service over an open store, as test/helpers/metadata-app.ts builds one, without its own store. */
async function serviceOn(db: MetadataDb, dir: string, manifestCacheBytes?: number): Promise<Endpoint> {
  const state = new MetadataState(db);
  await state.load();
  const service = new MetadataService(
    state,
    {
      liveness: { suspectAfterMs: 600_000, deadAfterMs: 3_600_000 },
      auth: 'off',
      capabilities: await CapabilityIssuer.fromKeyFile(join(dir, 'capability-signing.key')),
      ...(manifestCacheBytes === undefined ? {} : { manifestCacheBytes }),
    },
    Date.now(),
    seededRandom(42),
  );
  await service.load();
  const app = await buildMetadataServer(service, false);
  cleanups.push(() => app.close());
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function openStore(kind: StoreKind): Promise<{ db: MetadataDb; dir: string }> {
  const dir = await makeTempDir(`metadata-store-${kind}`);
  cleanups.push(dir.remove);
  let store: KvStore;
  if (kind === 'level') {
    store = await LevelStore.open(join(dir.path, 'catalog'));
  } else {
    const etcd = await startLocalEtcd({ dir: join(dir.path, 'etcd'), members: 1, stopGraceMs: 2_000 });
    cleanups.push(() => etcd.stop());
    store = new EtcdStore({ endpoints: etcd.clientUrls, prefix: 'bench', fenced: false });
  }
  cleanups.push(() => store.close());
  return { db: new MetadataDb(store), dir: dir.path };
}

async function call<T>(app: Endpoint, method: 'GET' | 'POST', url: string, payload?: string): Promise<T> {
  const response = await request(`${app}${url}`, {
    method,
    ...(payload === undefined ? {} : { body: payload, headers: { 'content-type': 'application/json' } }),
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${body.toString('utf8').slice(0, 300)}`);
  const type = String(response.headers['content-type'] ?? '');
  return (type.includes('msgpack') ? unpack(body) : JSON.parse(body.toString('utf8'))) as T;
}

async function setUp(app: Endpoint): Promise<void> {
  for (let i = 0; i < NODES; i++) {
    await call(
      app,
      'POST',
      '/v1/nodes/register',
      JSON.stringify({ nodeId: `node-${i}`, url: `http://127.0.0.1:${20_000 + i}`, domain: `rack-${i % DOMAINS}`, capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 }),
    );
  }
  for (const shape of [SMALL, BIG]) {
    const columns = Array.from({ length: shape.columns }, (_, c) => ({ name: `f${c}`, type: 'float', featureId: c }));
    await call(app, 'POST', '/v1/tables', JSON.stringify({ name: shape.table, columns, partitionBy: ['ds'], ec: '6+3' }));
  }
}

// ---------------------------------------------------------------- measurements

interface CommitSample {
  /** Session open + block allocation, ms. */
  readonly prepareMs: number;
  readonly commitMs: number;
}

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function commitOnce(app: Endpoint, shape: Shape, index: number): Promise<CommitSample> {
  const columns = Array.from({ length: shape.columns }, (_, c) => `f${c}`);
  const partition = `ds=2026-11-${String(1 + (index % PARTITIONS)).padStart(2, '0')}`;
  const started = process.hrtime.bigint();
  const { sessionId } = await call<{ sessionId: string }>(app, 'POST', `/v1/tables/${shape.table}/sessions`, JSON.stringify({ partition }));
  const block = await call<BlockPlacement>(app, 'POST', `/v1/sessions/${sessionId}/blocks`, '{}');
  const prepareMs = msSince(started);
  // Serialised before the clock starts: what is timed is the service parsing, checking and storing.
  const body = JSON.stringify(manifestFor(block, columns, shape.stripes));
  const committing = process.hrtime.bigint();
  await call(app, 'POST', `/v1/sessions/${sessionId}/commit`, body);
  return { prepareMs, commitMs: msSince(committing) };
}

/** Every page of a plan of all columns; ms, and the stripes and pages it returned. */
async function planOnce(app: Endpoint, table: string): Promise<{ ms: number; stripes: number; pages: number }> {
  const started = process.hrtime.bigint();
  let stripes = 0;
  let pages = 0;
  let after: string | undefined;
  do {
    const page: ScanPlan = await call<ScanPlan>(app, 'POST', `/v1/tables/${table}/scan${after === undefined ? '' : `?after=${encodeURIComponent(after)}`}`, '{}');
    stripes += page.stripes.length;
    pages++;
    after = page.next;
  } while (after !== undefined);
  return { ms: msSince(started), stripes, pages };
}

/** The q-quantile, nearest rank; q = 0.5 of an even count is the mean of the middle two. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (q === 0.5 && sorted.length % 2 === 0 && sorted.length > 0) return ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

interface Summary {
  readonly median: number;
  readonly p95: number;
  readonly samples: number;
}
const summary = (values: readonly number[]): Summary => ({ median: quantile(values, 0.5), p95: quantile(values, 0.95), samples: values.length });

type PerStore<T> = Record<StoreKind, T>;

/** Runs `once` for both stores `rounds` times, alternating which goes first, so drift in the machine's load hits both. */
async function interleaved<T>(rounds: number, once: (kind: StoreKind, round: number) => Promise<T>): Promise<PerStore<T[]>> {
  const out: PerStore<T[]> = { level: [], etcd: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? KINDS : [...KINDS].reverse();
    for (const kind of order) out[kind].push(await once(kind, round));
  }
  return out;
}

const ms = (value: number): string => `${value.toFixed(1)} ms`;

function rowsOf(name: string, values: PerStore<readonly number[]>): string[] {
  const level = summary(values.level);
  const etcd = summary(values.etcd);
  return [name, ms(level.median), ms(level.p95), ms(etcd.median), ms(etcd.p95), `${(etcd.median / level.median).toFixed(2)}x`, `${(etcd.p95 / level.p95).toFixed(2)}x`];
}

// ---------------------------------------------------------------- main

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    commits: { type: 'string' },
    'big-commits': { type: 'string' },
    plans: { type: 'string' },
  },
});
const quick = values.quick === true;
const commits = positive('commits', values.commits, quick ? 40 : 200, true);
const bigCommits = positive('big-commits', values['big-commits'], quick ? 6 : 20, true);
const plans = positive('plans', values.plans, quick ? 6 : 20, true);
const startedAt = new Date().toISOString();
const loadBefore = loadavg();

try {
  const stores: PerStore<{ db: MetadataDb; dir: string }> = { level: await openStore('level'), etcd: await openStore('etcd') };
  const apps: PerStore<Endpoint> = {
    level: await serviceOn(stores.level.db, stores.level.dir),
    etcd: await serviceOn(stores.etcd.db, stores.etcd.dir),
  };
  for (const kind of KINDS) await setUp(apps[kind]);
  // Warm-up: JIT, the etcd client's connection; not counted.
  await interleaved(3, (kind, round) => commitOnce(apps[kind], SMALL, commits + round));

  console.log(`metadata store: ${commits} commits of ${SMALL.columns} x ${SMALL.stripes}, ${bigCommits} of ${BIG.columns} x ${BIG.stripes}, ${plans} plans per case; load ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`);
  const small = await interleaved(commits, (kind, round) => commitOnce(apps[kind], SMALL, round));
  const big = await interleaved(bigCommits, (kind, round) => commitOnce(apps[kind], BIG, round));

  // Cold: a second service over each store whose manifest cache is far smaller than either
  // table's pieces, so a plan's walk evicts every piece before the next plan wants it and each
  // plan reads every piece from the store; large enough to read ahead (metadata/scans.ts).
  const coldApps: PerStore<Endpoint> = {
    level: await serviceOn(stores.level.db, stores.level.dir, COLD_CACHE_BYTES),
    etcd: await serviceOn(stores.etcd.db, stores.etcd.dir, COLD_CACHE_BYTES),
  };
  const planCases = [SMALL, BIG].flatMap((shape) => [
    { name: `plan ${shape.table} warm`, shape, apps },
    { name: `plan ${shape.table} cold`, shape, apps: coldApps },
  ]);
  const planResults: { name: string; times: PerStore<number[]>; stripes: number; pages: number }[] = [];
  for (const planCase of planCases) {
    // One plan first: it fills the warm cache, and checks both stores plan the same stripes.
    const first = await interleaved(1, (kind) => planOnce(planCase.apps[kind], planCase.shape.table));
    const [level, etcd] = [first.level[0], first.etcd[0]];
    if (level === undefined || etcd === undefined || level.stripes !== etcd.stripes) throw new Error(`${planCase.name}: the stores planned different stripes`);
    const runs = await interleaved(plans, (kind) => planOnce(planCase.apps[kind], planCase.shape.table));
    planResults.push({ name: planCase.name, times: { level: runs.level.map((r) => r.ms), etcd: runs.etcd.map((r) => r.ms) }, stripes: level.stripes, pages: level.pages });
  }

  const pick = (samples: PerStore<CommitSample[]>, field: keyof CommitSample): PerStore<number[]> => ({
    level: samples.level.map((s) => s[field]),
    etcd: samples.etcd.map((s) => s[field]),
  });
  const table: string[][] = [
    ['', 'level median', 'level p95', 'etcd median', 'etcd p95', 'etcd/level median', 'etcd/level p95'],
    rowsOf(`commit ${SMALL.columns}x${SMALL.stripes}`, pick(small, 'commitMs')),
    rowsOf(`  open + allocate`, pick(small, 'prepareMs')),
    rowsOf(`commit ${BIG.columns}x${BIG.stripes}`, pick(big, 'commitMs')),
    rowsOf(`  open + allocate`, pick(big, 'prepareMs')),
    ...planResults.map((p) => rowsOf(`${p.name} (${p.stripes} stripes, ${p.pages} pages)`, p.times)),
  ];
  printTable('Commit and plan latency, etcd (1 member) / LevelDB, in-process', table);
  const loadAfter = loadavg();
  console.log(`\nload average before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')}`);

  const perStore = (samples: PerStore<number[]>) => ({ level: summary(samples.level), etcd: summary(samples.etcd), ratio: summary(samples.etcd).median / summary(samples.level).median });
  const results = {
    startedAt,
    machine: machineInfo(),
    loadavg: { before: loadBefore, after: loadAfter },
    settings: { commits, bigCommits, plans, small: SMALL, big: BIG, etcdMembers: 1 },
    commit: {
      small: { commitMs: perStore(pick(small, 'commitMs')), prepareMs: perStore(pick(small, 'prepareMs')) },
      big: { commitMs: perStore(pick(big, 'commitMs')), prepareMs: perStore(pick(big, 'prepareMs')) },
    },
    plan: planResults.map((p) => ({ name: p.name, stripes: p.stripes, pages: p.pages, ms: perStore(p.times) })),
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/metadata-store-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${file.pathname}`);
} finally {
  await cleanups.run();
}
