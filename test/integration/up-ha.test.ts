/**
 * `granary up --ha`: a local three-member etcd, three metadata replicas and the storage nodes.
 * A replica is elected leader; the CLI, given every replica's URL, creates a table, ingests and
 * reads rows; the leader replica is SIGKILLed and writes work again within a deadline (another
 * replica takes over, `up` restarts the dead one); a SIGTERM of `up` stops every child, etcd
 * members included.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HA_PORT_OFFSETS, HA_REPLICAS } from '../../deploy/local-ha.js';
import { pollUntil } from '../helpers/poll.js';
import { type CliResult, flagValue, granaryCommand, runGranary, useUpCluster } from '../helpers/up-process.js';

const NODES = 3;
const EC = '2+1';
const READY_DEADLINE_MS = 150_000;
/** The leader's lease (5 s) runs out, another replica takes over, and the CLI's failover finds it. */
const FAILOVER_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 45_000;

const cluster = useUpCluster({
  name: 'up-ha',
  nodes: NODES,
  portOffsets: HA_PORT_OFFSETS,
  args: (root, port) => ['--ha', '--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', EC, '--no-sample'],
  readyDeadlineMs: READY_DEADLINE_MS,
  stopDeadlineMs: STOP_DEADLINE_MS,
});

/** The replicas' URLs, on P, P+1, ... */
const replicaUrls = (): string[] => Array.from({ length: HA_REPLICAS }, (_, i) => `http://127.0.0.1:${cluster.port + i}`);

/** The pid of the replica that advertises `url`. */
async function replicaPid(url: string): Promise<number | undefined> {
  return cluster.up.pidOf((args) => granaryCommand(args) === 'metadata' && flagValue(args, '--advertise-url') === url);
}

/** The CLI as a user runs it against `up --ha`: every replica named with --metadata. */
async function granary(args: readonly string[]): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GRANARY_')));
  return runGranary([...args, '--metadata', replicaUrls().join(','), '--token-file', join(cluster.root, 'admin.token')], {
    cwd: cluster.dir,
    maxBuffer: 64 * 1024 * 1024,
    env,
  });
}

/** The replica whose /health says it leads, if one does now. */
async function leader(): Promise<string | undefined> {
  for (const url of replicaUrls()) {
    try {
      const answer = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      const health = (await answer.json()) as { role?: string };
      if (health.role === 'leader') return url;
    } catch {
      // Down or restarting: ask the next.
    }
  }
  return undefined;
}

describe('granary up --ha', () => {
  it('elects a leader, serves the CLI over every replica URL, and takes writes again after the leader replica is SIGKILLed', async () => {
    expect(cluster.up.output()).toContain(`export GRANARY_METADATA=${replicaUrls().join(',')}`);
    const children = await cluster.up.children();
    expect(children.filter(({ args }) => args[0]?.endsWith('etcd') === true)).toHaveLength(3);
    expect(children.filter(({ args }) => granaryCommand(args) === 'metadata')).toHaveLength(HA_REPLICAS);

    const first = await pollUntil('a leader replica', leader, 30_000, 100);
    const schema = join(cluster.dir, 'schema.json');
    await writeFile(schema, JSON.stringify({ columns: [{ name: 'id', type: 'int64' }, { name: 'name', type: 'string' }] }));
    const rows = (from: number): string =>
      Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: from + i, name: `row-${from + i}` })).join('\n') + '\n';
    await writeFile(join(cluster.dir, 'a.jsonl'), rows(0));
    await writeFile(join(cluster.dir, 'b.jsonl'), rows(100));

    const created = await granary(['table', 'create', 'ha', '--schema', schema, '--ec', EC]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const ingested = await granary(['ingest', 'ha', '--partition', 'ds=2026-12-01', join(cluster.dir, 'a.jsonl')]);
    expect(ingested.stderr).toBe('');
    expect(ingested.code).toBe(0);
    const read = await granary(['read', 'ha', '--format', 'jsonl', '--columns', 'id']);
    expect(read.code).toBe(0);
    expect(read.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);

    const leaderPid = await replicaPid(first);
    expect(leaderPid).toBeDefined();
    process.kill(leaderPid as number, 'SIGKILL');
    const killedAt = Date.now();
    // Writes work again: the CLI fails over along the list while another replica takes over.
    await pollUntil('an ingest after the leader died', async () => {
      const again = await granary(['ingest', 'ha', '--partition', 'ds=2026-12-02', join(cluster.dir, 'b.jsonl')]);
      return again.code === 0 ? true : undefined;
    }, FAILOVER_DEADLINE_MS, 250);
    expect(Date.now() - killedAt).toBeLessThan(FAILOVER_DEADLINE_MS);
    const after = await granary(['read', 'ha', '--format', 'jsonl', '--columns', 'id']);
    expect(after.code).toBe(0);
    expect(after.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104]);

    // `up` restarted the dead replica, as it restarts any child.
    await pollUntil('up to restart the replica', async () => {
      const pid = await replicaPid(first);
      return cluster.up.output().includes('restarted') && pid !== undefined && pid !== leaderPid ? true : undefined;
    }, FAILOVER_DEADLINE_MS, 100);
    expect(cluster.up.output()).toMatch(/metadata replica metadata-\d exited with code none \(signal SIGKILL\); restarting in 1 s/);
    expect(await pollUntil('a leader replica', leader, 30_000, 100)).toBeDefined();
  }, FAILOVER_DEADLINE_MS * 3);

  it('stops every child, etcd members included, on SIGTERM', async () => {
    const children = await cluster.up.children();
    // Three etcd members, three replicas, the storage nodes, the re-layout worker, the gateway.
    expect(children.length).toBe(3 + HA_REPLICAS + NODES + 2);
    expect(children.filter(({ args }) => granaryCommand(args) === 'relayout')).toHaveLength(1);
    expect(children.filter(({ args }) => granaryCommand(args) === 'gateway')).toHaveLength(1);
    expect(await cluster.up.stop(STOP_DEADLINE_MS)).toBe(0);
    expect(cluster.up.output()).toMatch(/stopped/);
    for (const { pid } of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, STOP_DEADLINE_MS);
});
