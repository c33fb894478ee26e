/**
 * How long writes stop when the metadata leader dies: a real replicated cluster (an etcd of 1 or
 * 3 members, 3 metadata replicas with `--store etcd`, 3 storage nodes, processes from dist/), the
 * leader SIGKILLed, and the time from the kill to the first data commit that succeeds, over
 * several trials. Failover cannot beat the leader lease (a dead leader's key lives until its lease
 * runs out), so each figure is also printed as a ratio to `--leader-ttl`.
 *
 * Each trial: find the leader through /health, SIGKILL it, then at once (a) write 100 rows into a
 * table of RS 2+1 through a GranaryClient given every replica's URL (open writer, write, commit,
 * retried on error, as an ingest job would; the client's own failover pauses 100 ms doubling to
 * 1 s between passes over the replicas, so it can see a new leader up to ~1 s late), and (b) poll
 * the survivors' /health every 50 ms for the new leader (elected, catalog loaded), which splits
 * the time into the election and what the client adds. Then the killed replica is restarted on
 * its port and data directory and the trial waits until it reports itself a follower.
 *
 *   npm run build && npx tsx bench/metadata-failover.ts              # 10 trials, TTL 3 s and 5 s (the service's default), 3 etcd members
 *   npx tsx bench/metadata-failover.ts --trials 5 --ttl 5 --etcd-members 1
 *
 * Results go to bench/results/metadata-failover-<timestamp>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { GranaryClient } from '../client/index.js';
import type { EtcdMemberCount } from '../deploy/etcd-flags.js';
import { type HaCluster, replicaHealth, startHaCluster } from '../test/helpers/ha-cluster.js';
import { pollUntil } from '../test/helpers/poll.js';
import { positive } from './flags.js';
import { machineInfo, printTable } from './measure.js';

const REPLICAS = 3;
const NODES = 3;
const TABLE = 'failover';
const ROWS = 100;
/** How often the survivors' /health and the leader key in etcd are polled. */
const HEALTH_POLL_MS = 50;
/** The replicas' leader key (`--etcd-prefix`'s default `granary`, metadata/store/etcd-store.ts leaderKey). */
const LEADER_KEY = 'granary/_leader';
/** A trial whose commit has not succeeded this long after the kill is a failure (the client's own deadline is 20 s per call). */
const COMMIT_DEADLINE_MS = 60_000;
const CLUSTER_STARTS_MAX = 3;
/** How long a restarted replica may take to report itself a follower. */
const REJOIN_DEADLINE_MS = 60_000;

interface Trial {
  readonly ttlSeconds: number;
  readonly trial: number;
  readonly killed: number;
  /** Kill -> the dead leader's key is gone from etcd (its lease ran out). */
  readonly leaseGoneMs: number;
  /** Kill -> a survivor has put its own leader key (won the election, before loading the catalog). */
  readonly keyTakenMs: number;
  /** Kill -> a survivor's /health says it leads (catalog loaded). */
  readonly electedMs: number;
  readonly newLeader: number;
  /** Kill -> the first commit of 100 rows that succeeded. */
  readonly commitMs: number;
  /** Write attempts that failed before it (each after the client's own failover gave up). */
  readonly failedAttempts: number;
  /** Restart of the killed replica -> it reports itself a follower. */
  readonly rejoinMs: number;
}

let cluster: HaCluster | undefined;
let client: GranaryClient | undefined;

async function stopCluster(): Promise<void> {
  await client?.close();
  client = undefined;
  await cluster?.stop();
  cluster = undefined;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the cluster and removing its directory`);
    void stopCluster().finally(() => process.exit(130));
  });
}

async function writeBatch(writer: GranaryClient, batch: string): Promise<void> {
  const session = await writer.openWriter(TABLE, 'ds=2026-12-01');
  await session.write(Array.from({ length: ROWS }, (_, seq) => ({ batch, seq })));
  await session.commit();
}

/** The first survivor whose /health says it leads, polled every HEALTH_POLL_MS (-1: none within COMMIT_DEADLINE_MS). */
async function newLeader(ha: HaCluster, killed: number): Promise<number> {
  const deadline = performance.now() + COMMIT_DEADLINE_MS;
  while (performance.now() < deadline) {
    const answers = await Promise.all(ha.urls.map((url, i) => (i === killed ? undefined : replicaHealth(url))));
    const found = answers.findIndex((health) => health?.role === 'leader');
    if (found >= 0) return found;
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
  return -1;
}

/**
 * When the leader key, holding `before`, disappears and when a new value appears, in ms after
 * `since` (polled every HEALTH_POLL_MS; a gap shorter than that shows as both at once).
 */
async function watchLeaderKey(etcd: Etcd3, before: string, since: number): Promise<{ goneMs: number; takenMs: number }> {
  let goneMs: number | undefined;
  const deadline = since + COMMIT_DEADLINE_MS;
  while (performance.now() < deadline) {
    const value = await etcd.get(LEADER_KEY).string().catch(() => before);
    const at = performance.now() - since;
    if (value !== before) goneMs ??= at;
    if (value !== null && value !== before) return { goneMs: goneMs ?? at, takenMs: at };
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
  return { goneMs: goneMs ?? Number.NaN, takenMs: Number.NaN };
}

async function trialOnce(ha: HaCluster, writer: GranaryClient, etcd: Etcd3, ttlSeconds: number, trial: number): Promise<Trial> {
  // A commit before the kill: the cluster is healthy and the client talks to the current leader.
  await writeBatch(writer, `ttl${ttlSeconds}-t${trial}-before`);
  const killed = await ha.leader();
  const victim = ha.replicas[killed];
  if (victim === undefined) throw new Error(`replica ${killed} leads but is not running`);
  const keyBefore = await etcd.get(LEADER_KEY).string();
  if (keyBefore === null) throw new Error('a replica leads but the leader key is absent');
  const killedAt = performance.now();
  await victim.kill('SIGKILL');
  ha.replicas[killed] = undefined;
  const key = watchLeaderKey(etcd, keyBefore, killedAt);
  const elected = newLeader(ha, killed).then((index) => ({ index, ms: performance.now() - killedAt }));
  let failedAttempts = 0;
  let commitMs: number | undefined;
  while (commitMs === undefined) {
    try {
      await writeBatch(writer, `ttl${ttlSeconds}-t${trial}-a${failedAttempts}`);
      commitMs = performance.now() - killedAt;
    } catch (error) {
      failedAttempts++;
      if (performance.now() - killedAt > COMMIT_DEADLINE_MS) throw new Error(`no commit within ${COMMIT_DEADLINE_MS} ms of the kill: ${(error as Error).message}`);
    }
  }
  const { index: leaderAfter, ms: electedMs } = await elected;
  const { goneMs: leaseGoneMs, takenMs: keyTakenMs } = await key;
  const restartedAt = performance.now();
  await ha.restartReplica(killed);
  const url = ha.urls[killed] as string;
  await pollUntil(`replica ${killed} to follow`, async () => ((await replicaHealth(url))?.role === 'follower' ? true : undefined), REJOIN_DEADLINE_MS, 50);
  const rejoinMs = performance.now() - restartedAt;
  return { ttlSeconds, trial, killed, leaseGoneMs, keyTakenMs, electedMs, newLeader: leaderAfter, commitMs, failedAttempts, rejoinMs };
}

/** The q-quantile, nearest rank; q = 0.5 of an even count is the mean of the middle two. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (q === 0.5 && sorted.length % 2 === 0 && sorted.length > 0) return ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/**
 * The cluster, started again (at most CLUSTER_STARTS_MAX times) when it fails to come up: free
 * ports are picked by binding and releasing them, so an etcd member can lose its peer port to
 * another cluster started on this machine at the same moment (seen once: "incompatible with
 * current running cluster").
 */
async function startCluster(ttlSeconds: number): Promise<HaCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startHaCluster({ replicas: REPLICAS, etcdMembers: etcdMembers as EtcdMemberCount, nodes: NODES, leaderTtlSeconds: ttlSeconds });
    } catch (error) {
      if (attempt >= CLUSTER_STARTS_MAX) throw error;
      console.error(`the cluster did not start (${(error as Error).message.split('\n')[0]}); starting it again`);
    }
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------- main

const { values } = parseArgs({
  options: {
    trials: { type: 'string' },
    ttl: { type: 'string', multiple: true },
    'etcd-members': { type: 'string' },
  },
});
const trials = positive('trials', values.trials, 10, true);
const ttls = (values.ttl ?? ['3', '5']).map((text) => positive('ttl', text, 5, true));
const etcdMembers = positive('etcd-members', values['etcd-members'], 3, true);
if (etcdMembers !== 1 && etcdMembers !== 3) throw new Error('--etcd-members must be 1 or 3');
const startedAt = new Date().toISOString();
const loadBefore = loadavg();
const all: Trial[] = [];
const summaries: Record<string, unknown>[] = [];

try {
  for (const ttlSeconds of ttls) {
    const clusterStart = performance.now();
    cluster = await startCluster(ttlSeconds);
    client = new GranaryClient({ metadataUrl: cluster.urls, token: cluster.adminToken });
    // This bench's own view of the election, beside the replicas'.
    const etcd = new Etcd3({ hosts: [...cluster.etcd.etcd.clientUrls] });
    await client.metadata.createTable({
      name: TABLE,
      columns: [
        { name: 'batch', type: 'string' },
        { name: 'seq', type: 'int64' },
      ],
      ec: '2+1',
    });
    console.log(`\nleader TTL ${ttlSeconds} s: ${REPLICAS} replicas, ${etcdMembers} etcd member(s), ${NODES} nodes, up in ${seconds(performance.now() - clusterStart)}`);
    const rows: string[][] = [['trial', 'killed', 'new leader', 'lease gone', 'key taken', 'elected', 'first commit', '/ TTL', 'failed writes', 'rejoin']];
    const mine: Trial[] = [];
    for (let trial = 1; trial <= trials; trial++) {
      const result = await trialOnce(cluster, client, etcd, ttlSeconds, trial);
      mine.push(result);
      const row = [
        String(trial),
        `replica ${result.killed}`,
        `replica ${result.newLeader}`,
        seconds(result.leaseGoneMs),
        seconds(result.keyTakenMs),
        seconds(result.electedMs),
        seconds(result.commitMs),
        `${(result.commitMs / 1000 / ttlSeconds).toFixed(2)}x`,
        String(result.failedAttempts),
        seconds(result.rejoinMs),
      ];
      rows.push(row);
      console.log(`  ${row.join('  ')}`);
    }
    all.push(...mine);
    const stats = (field: 'leaseGoneMs' | 'keyTakenMs' | 'electedMs' | 'commitMs' | 'rejoinMs') => {
      const values = mine.map((t) => t[field]);
      return { median: quantile(values, 0.5), max: Math.max(...values), min: Math.min(...values) };
    };
    const summary = {
      ttlSeconds,
      leaseGoneMs: stats('leaseGoneMs'),
      keyTakenMs: stats('keyTakenMs'),
      electedMs: stats('electedMs'),
      commitMs: stats('commitMs'),
      rejoinMs: stats('rejoinMs'),
      /** Medians of each step: lease gone -> key taken (follower poll + campaign), key taken -> /health leader (catalog load), elected -> commit (client back-off + the write). */
      steps: {
        campaignMs: quantile(mine.map((t) => t.keyTakenMs - t.leaseGoneMs), 0.5),
        loadMs: quantile(mine.map((t) => t.electedMs - t.keyTakenMs), 0.5),
        clientMs: quantile(mine.map((t) => t.commitMs - t.electedMs), 0.5),
      },
    };
    summaries.push(summary);
    const ofTtl = (ms: number): string => `${(ms / 1000 / ttlSeconds).toFixed(2)}x`;
    for (const which of ['median', 'max'] as const) {
      rows.push([
        which,
        '',
        '',
        seconds(summary.leaseGoneMs[which]),
        seconds(summary.keyTakenMs[which]),
        seconds(summary.electedMs[which]),
        seconds(summary.commitMs[which]),
        ofTtl(summary.commitMs[which]),
        '',
        seconds(summary.rejoinMs[which]),
      ]);
    }
    printTable(`Failover, leader TTL ${ttlSeconds} s (times from the SIGKILL; "/ TTL": first commit over the lease)`, rows);
    console.log(
      `  medians of the steps: lease gone -> key taken ${seconds(summary.steps.campaignMs)}, key taken -> /health leader ${seconds(summary.steps.loadMs)}, leader -> commit ${seconds(summary.steps.clientMs)}`,
    );
    etcd.close();
    await stopCluster();
  }
  const loadAfter = loadavg();
  console.log(`\nload average before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')}`);
  const results = { startedAt, machine: machineInfo(), loadavg: { before: loadBefore, after: loadAfter }, settings: { trials, ttls, etcdMembers, replicas: REPLICAS, nodes: NODES, rows: ROWS }, summaries, trials: all };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/metadata-failover-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${file.pathname}`);
} finally {
  await stopCluster();
}
