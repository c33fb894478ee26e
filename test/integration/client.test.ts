/**
 * The client library against a real metadata service and nine real storage nodes (RS 6+3):
 * every column type written and read back value for value, subsets and filters, concurrent
 * writers, a writer killed before its commit, workers sharing a scan through splits, a rotten
 * chunk, and reads through 1, 3 and 4 dead nodes.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataUnavailableError, GranaryClient, type ScanOptions, float32Number, newScanStats, recordBatchToRows } from '../../client/index.js';
import { type RepairStatus, type ScanPlan, decodeStreamEntry } from '../../protocol/index.js';
import { fanoutOf } from '../../storage-node/data-dir.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { makeChunkLie } from '../helpers/lying-chunk.js';
import { pollUntil } from '../helpers/poll.js';
import { EVERY_TYPE_COLUMNS, everyTypeRow } from '../helpers/every-type-columns.js';
import { lcgRandom } from '../helpers/seeded-random.js';

const run = promisify(execFile);
const DIST_CLIENT = new URL('../../dist/client/index.js', import.meta.url).href;

let cluster: Cluster;
let client: GranaryClient;

const COLUMNS = EVERY_TYPE_COLUMNS;

/** Deterministic rows in the JSON Lines shapes, with nulls and empty lists. */
function makeRows(count: number, seed: number): Record<string, unknown>[] {
  const rand = lcgRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const row = everyTypeRow(i, rand);
    // Nulls everywhere, differently per column.
    COLUMNS.forEach((column, c) => {
      if ((i + c) % 11 === 0) row[column.name] = null;
    });
    if (i % 13 === 0) delete row.country;
    return row;
  });
}

async function readAll(table: string, options: ScanOptions = {}): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan(table, options)) rows.push(...recordBatchToRows(batch));
  return rows;
}

/**
 * What reading back should give for `rows`: a missing key reads as null, and float32 values come
 * back in their shortest decimal form (0.1, not 0.10000000149011612).
 */
function expected(rows: readonly Record<string, unknown>[], columns: readonly string[] = COLUMNS.map((c) => c.name)): Record<string, unknown>[] {
  const f32 = (value: unknown) => (typeof value === 'number' ? float32Number(value) : value);
  const shape: Record<string, (value: unknown) => unknown> = {
    label: f32,
    scored: (value) => (value as [number, number][] | null)?.map(([id, score]) => [id, f32(score)]) ?? null,
    embedding: (value) => (value as number[] | null)?.map(f32) ?? null,
  };
  return rows.map((row) => Object.fromEntries(columns.map((name) => [name, row[name] === undefined || row[name] === null ? null : (shape[name] ?? ((v) => v))(row[name])])));
}

const ROWS = makeRows(5000, 7);

function adminHeaders(): Record<string, string> {
  return { authorization: `Bearer ${cluster.adminToken}` };
}

/** Waits until a scan reads `rows` with no degraded read: the chunk it found damaged was repaired. */
async function expectRepairedByReads(table: string, options: ScanOptions, rows: Record<string, unknown>[]): Promise<void> {
  await pollUntil(
    `a clean read of ${table} after repair`,
    async () => {
      const stats = newScanStats();
      expect(await readAll(table, { ...options, stats })).toEqual(rows);
      return stats.degradedReads === 0 ? true : undefined;
    },
    60_000,
    250,
  );
  const status = (await (await request(`${cluster.metadata.url}/v1/repair`, { headers: adminHeaders() })).body.json()) as RepairStatus;
  expect(status.counters.shardsRestored).toBeGreaterThan(0);
}

beforeAll(async () => {
  // Nodes killed here are read around, never declared dead: repair would rebuild their shards
  // onto the others while the test counts on reads past m failing. Rotten chunks are repaired.
  cluster = await startCluster({ nodes: 9, domains: 3, metadataArgs: ['--suspect-after-ms', '1000', '--dead-after-ms', '600000', '--gc-interval-ms', '200'] });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: 'events', columns: COLUMNS, ec: '6+3', stripeRows: 700, blockBytes: 1024 * 1024 });
  const writer = await client.openWriter('events', 'ds=2026-11-25', { columnOrder: ['ids', 'label'] });
  await writer.write(ROWS.slice(0, 3000));
  await writer.write(ROWS.slice(3000));
  const result = await writer.commit();
  expect(result.rows).toBe(5000);
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

describe('client library on a 9-node cluster', () => {
  it('reads back every column type exactly, and any subset of columns', async () => {
    const stats = newScanStats();
    expect(await readAll('events', { stats })).toEqual(expected(ROWS));
    expect(stats.stripes).toBe(Math.ceil(5000 / 700));
    expect(stats.degradedReads).toBe(0);
    expect(Object.keys(stats.bytesByNode).length).toBeGreaterThan(1);
    expect(Object.values(stats.bytesByNode).reduce((sum, bytes) => sum + bytes, 0)).toBe(stats.bytesFetched);
    expect(await readAll('events', { columns: ['scored', 'label'] })).toEqual(expected(ROWS, ['scored', 'label']));
    expect(await readAll('events', { columns: ['embedding'], coalescing: { gapBytes: -1, maxReadBytes: 0 } })).toEqual(expected(ROWS, ['embedding']));
  });

  it('lays new partitions out by the popularity scans have recorded, unless told otherwise', async () => {
    await client.metadata.createTable({ name: 'popular', columns: COLUMNS, ec: '6+3', stripeRows: 500, blockBytes: 1024 * 1024 });
    const write = async (partition: string, columnOrder?: 'schema') => {
      const writer = await client.openWriter('popular', `ds=${partition}`, columnOrder === undefined ? {} : { columnOrder });
      await writer.write(ROWS.slice(0, 1000));
      await writer.commit();
    };
    /** The column whose stream of the partition's first stripe starts its block. */
    const firstInBlock = async (partition: string) => {
      const plan = await client.metadata.plan('popular', { partitions: { ds: { eq: partition } } });
      const stripe = plan.stripes[0] as ScanPlan['stripes'][number];
      return plan.columns.find((_, c) => decodeStreamEntry(stripe.streams, c).offset === 0)?.name;
    };
    await write('2026-11-01');
    expect(await firstInBlock('2026-11-01')).toBe('label');
    for (let i = 0; i < 3; i++) await readAll('popular', { columns: ['embedding'] });
    for (let i = 0; i < 2; i++) await readAll('popular', { columns: ['blob', 'embedding'] });
    await write('2026-11-02');
    expect(await firstInBlock('2026-11-02')).toBe('embedding');
    await write('2026-11-03', 'schema');
    expect(await firstInBlock('2026-11-03')).toBe('label');
    expect(await readAll('popular', { partitions: { ds: { eq: '2026-11-02' } } })).toEqual(expected(ROWS.slice(0, 1000)));
  });

  it('filters rows after pruning stripes', async () => {
    const rows = await readAll('events', { columns: ['age', 'label'], where: [{ column: 'age', op: 'between', value: [20, 29] }] });
    expect(rows).toEqual(expected(ROWS.filter((r) => typeof r.age === 'number' && r.age >= 20 && r.age <= 29), ['age', 'label']));
    expect(rows.length).toBeGreaterThan(100);
  });

  it('cuts stripes by bytes as well as rows, from the first stripe on', async () => {
    await client.metadata.createTable({ name: 'wide', columns: COLUMNS, ec: '6+3', stripeBytes: 256 * 1024 });
    const writer = await client.openWriter('wide', 'ds=2026-11-25');
    await writer.write(ROWS);
    await writer.commit();
    const [partition] = await client.metadata.listPartitions('wide');
    // About 1.3 MB of rows: well over four 256 KiB stripes, though far under the 65536-row target.
    expect(partition?.stripes).toBeGreaterThanOrEqual(4);
    expect(await readAll('wide', { columns: ['ids', 'country'] })).toEqual(expected(ROWS, ['ids', 'country']));
  });

  it('lands every commit of concurrent writers to one partition', async () => {
    const parts = [makeRows(800, 1), makeRows(1200, 2), makeRows(50, 3)];
    await Promise.all(
      parts.map(async (rows) => {
        const writer = await client.openWriter('events', 'ds=2026-11-26');
        await writer.write(rows);
        await writer.commit();
      }),
    );
    const read = await readAll('events', { partitions: { ds: { eq: '2026-11-26' } }, columns: ['user_id', 'ids'] });
    const key = (r: Record<string, unknown>) => JSON.stringify(r);
    expect(read.map(key).sort()).toEqual(expected(parts.flat(), ['user_id', 'ids']).map(key).sort());
  });

  it('shows nothing of a writer killed before its commit', async () => {
    const script = `
      import { GranaryClient } from ${JSON.stringify(DIST_CLIENT)};
      const client = new GranaryClient({ metadataUrl: ${JSON.stringify(cluster.metadata.url)}, token: ${JSON.stringify(cluster.adminToken)} });
      const writer = await client.openWriter('events', 'ds=2026-11-27', { blockBytes: 65536, leaseMs: 1000 });
      const rows = Array.from({ length: 4000 }, (_, i) => ({ label: i, ids: [i, i + 1] }));
      await writer.write(rows);
      process.stdout.write(writer.sessionId + '\\n');
      process.kill(process.pid, 'SIGKILL');
    `;
    const outcome = await run(process.execPath, ['--input-type=module', '-e', script]).catch((error: { stdout: string; signal: string }) => error);
    expect((outcome as { signal?: string }).signal).toBe('SIGKILL');
    const sessionId = (outcome as { stdout: string }).stdout.trim();
    expect(sessionId).toMatch(/^s[0-9a-f]+$/);
    const partitions = await client.metadata.listPartitions('events');
    expect(partitions.map((p) => p.partition)).not.toContain('ds=2026-11-27');
    expect(await readAll('events', { partitions: { ds: { eq: '2026-11-27' } } })).toEqual([]);
    await pollUntil('the killed writer\'s session to expire', async () => {
      const response = await request(`${cluster.metadata.url}/v1/sessions/${sessionId}`, { headers: adminHeaders() });
      return ((await response.body.json()) as { state: string }).state === 'expired' ? true : undefined;
    });
  });

  it('lets two worker processes share a scan through splits, reading every row once, counted as one scan of their job', async () => {
    const options = { partitions: { ds: { eq: '2026-11-25' } }, columns: ['user_id', 'country'] };
    const splits = await client.splits('events', options, 2);
    expect(splits.length).toBeGreaterThan(2);
    const halves = [splits.filter((_, i) => i % 2 === 0), splits.filter((_, i) => i % 2 === 1)];
    const worker = (mine: unknown) => `
      import { GranaryClient, recordBatchToRows } from ${JSON.stringify(DIST_CLIENT)};
      const client = new GranaryClient({ metadataUrl: ${JSON.stringify(cluster.metadata.url)}, token: ${JSON.stringify(cluster.adminToken)} });
      const rows = [];
      for (const split of ${JSON.stringify(mine)}) {
        for await (const batch of client.scan('events', { ...${JSON.stringify(options)}, ...split })) rows.push(...recordBatchToRows(batch));
      }
      await client.close();
      process.stdout.write(JSON.stringify(rows));
    `;
    // Both processes are one job (GRANARY_JOB), in its first epoch.
    const env = { ...process.env, GRANARY_JOB: 'split-share' };
    const outputs = await Promise.all(halves.map((mine) => run(process.execPath, ['--input-type=module', '-e', worker(mine)], { maxBuffer: 64 * 1024 * 1024, env })));
    const [a, b] = outputs.map((o) => JSON.parse(o.stdout) as Record<string, unknown>[]);
    expect((a as unknown[]).length).toBeGreaterThan(0);
    expect((b as unknown[]).length).toBeGreaterThan(0);
    const key = (r: Record<string, unknown>) => JSON.stringify(r);
    expect([...(a ?? []), ...(b ?? [])].map(key).sort()).toEqual(expected(ROWS, ['user_id', 'country']).map(key).sort());
    // Popularity: one scan of the job, with the stream bytes both workers read (a maintenance
    // plan of the same columns, which counts nothing, says how many).
    const whole = await client.metadata.plan('events', { ...options, purpose: 'maintenance' });
    expect(whole.next).toBeUndefined();
    const streamBytes = whole.stripes.reduce((sum, stripe) => sum + decodeStreamEntry(stripe.streams, 0).length + decodeStreamEntry(stripe.streams, 1).length, 0);
    const { jobs } = await client.metadata.popularity('events');
    expect(jobs.filter((job) => job.job === 'split-share').map(({ job, bytes, scans }) => ({ job, bytes, scans }))).toEqual([{ job: 'split-share', bytes: streamBytes, scans: 1 }]);
  });

  it('accounts each job\'s reads: what the scan counted, what the nodes served, on this thread and on read workers', async () => {
    const options = { partitions: { ds: { eq: '2026-11-25' } }, columns: ['ids', 'label', 'country'] } as const;
    for (const [job, threads] of [['acct-calling-thread', 0], ['acct-read-workers', 2]] as const) {
      const stats = newScanStats();
      expect(await readAll('events', { ...options, job, threads, stats })).toEqual(expected(ROWS, ['ids', 'label', 'country']));
      expect(stats.requests).toBeGreaterThan(0);
      // The scan's report goes out as it ends, the nodes' counts with their next heartbeats.
      const detail = await pollUntil(
        `${job} accounted by the scan and by every node it read from`,
        async () => {
          const answer = await client.metadata.job(job).catch(() => undefined);
          return answer !== undefined && answer.scansFinished === 1 && answer.nodeBytesServed === stats.bytesFetched ? answer : undefined;
        },
        30_000,
        100,
      );
      expect(detail).toMatchObject({ tables: ['events'], requests: stats.requests, bytesNeeded: stats.bytesNeeded, bytesFetched: stats.bytesFetched, rows: 5000, degradedReads: 0, rebuildBytes: 0 });
      expect(detail.readSizes.reduce((sum, n) => sum + n, 0)).toBe(stats.readSizes.length);
      expect(detail.amplification).toBeCloseTo(stats.bytesFetched / stats.bytesNeeded, 9);
    }
    const listed = (await client.metadata.jobs()).jobs.map((j) => j.job);
    expect(listed.slice(0, 2)).toEqual(['acct-read-workers', 'acct-calling-thread']);
  });

  it('reads correct data around a rotten chunk and reports it', async () => {
    const plan = await client.metadata.plan('events', { partitions: { ds: { eq: '2026-11-25' } }, columns: ['ids'] });
    const block = plan.blocks[0] as ScanPlan['blocks'][number];
    const chunk = block.chunks[0] as ScanPlan['blocks'][number]['chunks'][number];
    const path = join(cluster.root, chunk.nodeId, 'chunks', fanoutOf(chunk.chunkId), chunk.chunkId);
    const handle = await open(path, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 100);
    await handle.write(Buffer.from([(byte[0] as number) ^ 0xff]), 0, 1, 100);
    await handle.close();
    const stats = newScanStats();
    expect(await readAll('events', { partitions: { ds: { eq: '2026-11-25' } }, columns: ['ids'], stats, job: 'acct-degraded' })).toEqual(expected(ROWS, ['ids']));
    expect(stats.degradedReads).toBeGreaterThan(0);
    // The job's accounting shows the degraded reads and what rebuilding them fetched.
    const degraded = await pollUntil('the degraded scan accounted', async () => (await client.metadata.job('acct-degraded').catch(() => undefined))?.scansFinished === 1 ? client.metadata.job('acct-degraded') : undefined, 30_000, 100);
    expect(degraded).toMatchObject({ degradedReads: stats.degradedReads, rebuildBytes: stats.rebuildBytes });
    expect(degraded.rebuildBytes).toBeGreaterThan(0);
    // Reported, and rewritten by repair (nine nodes for nine shards: in place), so the next tests
    // lose shards only to dead nodes: reads are direct again.
    await expectRepairedByReads('events', { partitions: { ds: { eq: '2026-11-25' } }, columns: ['ids'] }, expected(ROWS, ['ids']));
  });

  it('rebuilds a stream whose node serves wrong bytes that pass its own page checksums', async () => {
    await client.metadata.createTable({ name: 'lying', columns: COLUMNS, ec: '6+3' });
    const writer = await client.openWriter('lying', 'ds=2026-11-25');
    await writer.write(ROWS.slice(0, 500));
    await writer.commit();
    await makeChunkLie(client, cluster.root, 'lying', 'ids', 0);
    const stats = newScanStats();
    expect(await readAll('lying', { columns: ['ids'], stats })).toEqual(expected(ROWS.slice(0, 500), ['ids']));
    expect(stats.degradedReads).toBeGreaterThan(0);
    // Its own checksums pass, but repair replaces it with the bytes the commit recorded.
    await expectRepairedByReads('lying', { columns: ['ids'] }, expected(ROWS.slice(0, 500), ['ids']));
  });

  it('hedges around a node that stops answering', async () => {
    const options = { partitions: { ds: { eq: '2026-11-25' } }, columns: ['ids', 'label'] } as const;
    const plan = await client.metadata.plan('events', options);
    const stalled = cluster.nodes.find((n) => n.nodeId === plan.blocks[0]?.chunks[0]?.nodeId);
    stalled?.child.kill('SIGSTOP');
    try {
      const stats = newScanStats();
      // A fresh client: the shared one may hold pooled connections to the stalled node.
      const hedging = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
      const rows: Record<string, unknown>[] = [];
      for await (const batch of hedging.scan('events', { ...options, hedgeAfterMs: 200, stats })) rows.push(...recordBatchToRows(batch));
      expect(rows).toEqual(expected(ROWS, ['ids', 'label']));
      expect(stats.hedgedRequests).toBeGreaterThan(0);
      stalled?.child.kill('SIGCONT');
      await hedging.close();
    } finally {
      stalled?.child.kill('SIGCONT');
    }
  });

  it('reads through 1 and 3 dead nodes, and refuses with DataUnavailable past m', async () => {
    const plan = await client.metadata.plan('events', { partitions: { ds: { eq: '2026-11-25' } } });
    const block = plan.blocks[0] as ScanPlan['blocks'][number];
    const kill = (shards: number[]) =>
      Promise.all(shards.map((s) => cluster.nodes.find((n) => n.nodeId === block.chunks[s]?.nodeId)?.kill('SIGKILL')));
    await kill([1]);
    expect(await readAll('events', { partitions: { ds: { eq: '2026-11-25' } } })).toEqual(expected(ROWS));
    await kill([2, 3]);
    const stats = newScanStats();
    expect(await readAll('events', { partitions: { ds: { eq: '2026-11-25' } }, stats })).toEqual(expected(ROWS));
    expect(stats.degradedReads).toBeGreaterThan(0);
    await kill([4]);
    const attempt = readAll('events', { partitions: { ds: { eq: '2026-11-25' } } });
    await expect(attempt).rejects.toBeInstanceOf(DataUnavailableError);
    await expect(attempt).rejects.toThrow(new RegExp(`block ${block.blockId} cannot be read`));
  });
});
