/**
 * Replicated metadata with real processes: a 3-member etcd, 3 metadata replicas, storage nodes
 * given every replica's URL. The leader is SIGKILLed during concurrent ingests, paused past its
 * lease, and an etcd member is killed; nothing acknowledged may be lost, nothing may land twice
 * or half, and writes must come back within seconds.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, recordBatchToRows } from '../../client/index.js';
import { GranaryError } from '../../protocol/index.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { type HaCluster, replicaHealth, startHaCluster } from '../helpers/ha-cluster.js';
import { pollUntil } from '../helpers/poll.js';

const ROWS_PER_BATCH = 200;
const WRITERS = 6;
/** The bar: writes work again this soon after the leader is killed. */
const WRITES_BACK_WITHIN_MS = 10_000;

let cluster: HaCluster;
let client: GranaryClient;

beforeAll(async () => {
  cluster = await startHaCluster({ replicas: 3, etcdMembers: 3, nodes: 3, leaderTtlSeconds: 3 });
  client = new GranaryClient({ metadataUrl: cluster.urls, token: cluster.adminToken });
  await client.metadata.createTable({
    name: 'events',
    columns: [
      { name: 'batch', type: 'string' },
      { name: 'seq', type: 'int64' },
    ],
    ec: '2+1',
  });
}, 180_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

function batchRows(batch: string): Record<string, unknown>[] {
  return Array.from({ length: ROWS_PER_BATCH }, (_, seq) => ({ batch, seq }));
}

/** Rows per batch id in the whole table. */
async function countByBatch(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const recordBatch of client.scan('events', { columns: ['batch'] })) {
    for (const row of recordBatchToRows(recordBatch)) counts.set(row.batch as string, (counts.get(row.batch as string) ?? 0) + 1);
  }
  return counts;
}

async function writeBatch(writerClient: GranaryClient, partition: string, batch: string): Promise<void> {
  const writer = await writerClient.openWriter('events', partition);
  await writer.write(batchRows(batch));
  await writer.commit();
}

describe('replicated metadata', () => {
  it('keeps every acknowledged commit when the leader is SIGKILLed during 6 ingests, and takes writes again within 10 s', async () => {
    const leader = await cluster.leader();
    const acknowledged: { batch: string; at: number }[] = [];
    const failed: { batch: string; error: string }[] = [];
    let killedAt: number | undefined;
    const writersBusy: Promise<void>[] = [];
    for (let w = 0; w < WRITERS; w++) {
      writersBusy.push(
        (async () => {
          const own = new GranaryClient({ metadataUrl: cluster.urls, token: cluster.adminToken });
          try {
            // Each writer keeps committing until it has landed three batches after the kill.
            let afterKill = 0;
            for (let attempt = 0; afterKill < 3 && attempt < 60; attempt++) {
              const batch = `w${w}-a${attempt}`;
              try {
                await writeBatch(own, `ds=2026-12-0${1 + (w % 3)}`, batch);
                acknowledged.push({ batch, at: Date.now() });
                if (killedAt !== undefined) afterKill++;
              } catch (error) {
                // A clean failure: retried as a new batch, as an ingest job would.
                failed.push({ batch, error: error instanceof GranaryError ? `${error.code}: ${error.message}` : String(error) });
              }
            }
          } finally {
            await own.close();
          }
        })(),
      );
    }
    await pollUntil('each writer to land a batch before the kill', () => (acknowledged.length >= WRITERS ? true : undefined), 60_000);
    killedAt = Date.now();
    await cluster.replicas[leader]?.kill('SIGKILL');
    await Promise.all(writersBusy);

    const firstAfterKill = acknowledged.filter((entry) => entry.at > (killedAt as number)).sort((a, b) => a.at - b.at)[0];
    expect(firstAfterKill, `no commit after the kill; failures: ${JSON.stringify(failed.slice(0, 5))}`).toBeDefined();
    expect((firstAfterKill as { at: number }).at - (killedAt as number)).toBeLessThan(WRITES_BACK_WITHIN_MS);
    const next = await cluster.leader();
    expect(next).not.toBe(leader);

    const counts = await countByBatch();
    for (const { batch } of acknowledged) expect(counts.get(batch), `acknowledged batch ${batch}`).toBe(ROWS_PER_BATCH);
    // A failed commit left nothing, or (its answer lost) everything: never part of a batch.
    for (const { batch } of failed) expect([undefined, ROWS_PER_BATCH], `failed batch ${batch}`).toContain(counts.get(batch));
    // Nothing but what the writers wrote.
    const written = new Set([...acknowledged, ...failed].map((entry) => entry.batch));
    for (const batch of counts.keys()) expect(written.has(batch), `unknown batch ${batch}`).toBe(true);

    // The killed replica comes back as a follower, and forwards to the leader.
    await cluster.restartReplica(leader);
    const health = await pollUntil('the restarted replica to follow', async () => {
      const answer = await replicaHealth(cluster.urls[leader] as string);
      return answer?.role === 'follower' && answer.leader === cluster.urls[next] ? answer : undefined;
    });
    expect(health.leader).toBe(cluster.urls[next]);
    const viaFollower = new GranaryClient({ metadataUrl: [cluster.urls[leader] as string], token: cluster.adminToken, metadataFailover: { deadlineMs: 0 } });
    try {
      await writeBatch(viaFollower, 'ds=2026-12-09', 'via-follower');
    } finally {
      await viaFollower.close();
    }
    expect((await countByBatch()).get('via-follower')).toBe(ROWS_PER_BATCH);
  }, 240_000);

  it('fences a leader paused past its lease: it cannot commit, and it follows when it wakes', async () => {
    const leader = await cluster.leader();
    const leaderUrl = cluster.urls[leader] as string;
    const replica = cluster.replicas[leader];
    if (replica === undefined) throw new Error('leader replica is down');
    // A session opened and written through the leader alone, committed only after the pause.
    const direct = new GranaryClient({ metadataUrl: [leaderUrl], token: cluster.adminToken, metadataFailover: { deadlineMs: 0 } });
    try {
      const writer = await direct.openWriter('events', 'ds=2026-12-10');
      await writer.write(batchRows('paused'));
      process.kill(replica.pid, 'SIGSTOP');
      let resumed = false;
      try {
        const successor = await pollUntil(
          'another replica to take over from the paused leader',
          async () => {
            for (let i = 0; i < cluster.urls.length; i++) {
              if (i === leader) continue;
              if ((await replicaHealth(cluster.urls[i] as string))?.role === 'leader') return i;
            }
            return undefined;
          },
          30_000,
          100,
        );
        // Writes go on meanwhile, on the successor. The client names the live replicas, the
        // successor first: a request that reaches the frozen replica, directly or forwarded by a
        // follower that read the leader key just before the election, waits for its HTTP
        // timeout (30 s), since a stopped process still accepts connections.
        const live = new GranaryClient({
          metadataUrl: [cluster.urls[successor] as string, ...cluster.urls.filter((_, i) => i !== leader && i !== successor)],
          token: cluster.adminToken,
        });
        try {
          await writeBatch(live, 'ds=2026-12-10', 'during-pause');
        } finally {
          await live.close();
        }
        process.kill(replica.pid, 'SIGCONT');
        resumed = true;
        // The woken replica must not commit under its old term: the commit is refused with
        // nothing changed, or (once it noticed) forwarded to the successor, which commits it once
        // or, if the session's lease ran out while its writer could renew only through the
        // frozen replica, refuses it as closed.
        const outcome = await writer.commit().then(
          () => 'committed',
          (error: unknown) => (error instanceof GranaryError ? error.code : String(error)),
        );
        expect(['committed', 'GRN_NOT_LEADER', 'GRN_NO_LEADER', 'GRN_SESSION_CLOSED']).toContain(outcome);
        const health = await pollUntil('the woken replica to follow', async () => {
          const answer = await replicaHealth(leaderUrl);
          return answer?.role === 'follower' ? answer : undefined;
        });
        expect(health.leader).toBe(cluster.urls[successor]);
        const counts = await countByBatch();
        expect(counts.get('during-pause')).toBe(ROWS_PER_BATCH);
        expect(counts.get('paused')).toBe(outcome === 'committed' ? ROWS_PER_BATCH : undefined);
      } finally {
        if (!resumed) process.kill(replica.pid, 'SIGCONT');
      }
    } finally {
      await direct.close();
    }
  }, 180_000);

  it('reads and writes on while one etcd member of three is killed', async () => {
    const leader = await cluster.leader();
    // Kill the member the leader is least likely to need: any one must do, so take the first.
    await cluster.etcd.etcd.kill(0, 'SIGKILL');
    try {
      for (let i = 0; i < 3; i++) await writeBatch(client, 'ds=2026-12-11', `etcd-down-${i}`);
      const counts = await countByBatch();
      for (let i = 0; i < 3; i++) expect(counts.get(`etcd-down-${i}`)).toBe(ROWS_PER_BATCH);
      // Losing a minority costs no election: the leader is still the leader.
      expect(await cluster.leader()).toBe(leader);
    } finally {
      await cluster.etcd.etcd.restart(0);
    }
    await writeBatch(client, 'ds=2026-12-11', 'etcd-back');
    expect((await countByBatch()).get('etcd-back')).toBe(ROWS_PER_BATCH);
  }, 180_000);

  it('answers granary status through a follower, with the counts the leader keeps', async () => {
    const leader = await cluster.leader();
    const follower = cluster.urls.findIndex((_, i) => i !== leader && cluster.replicas[i] !== undefined);
    const run = promisify(execFile);
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GRANARY_')));
    const { stdout } = await run(process.execPath, [GRANARY_BIN, 'status', '--json', '--metadata', cluster.urls[follower] as string, '--token', cluster.adminToken], { env });
    const status = JSON.parse(stdout) as { role?: string; leader?: string; nodes: { alive: number; total: number } };
    expect(status.role).toBe('follower');
    expect(status.leader).toBe(cluster.urls[leader]);
    expect(status.nodes).toMatchObject({ alive: 3, total: 3 });
  }, 60_000);
});
