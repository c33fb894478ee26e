/**
 * The hot-column cache on a real cluster (metadata and storage-node processes): a registered
 * job's columns are handed to the nodes, its first epoch fills their caches, and its later epochs
 * are served from memory, counted per job; a one-off export of the other columns, larger than the
 * caches, passes through without evicting them.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, newScanStats, recordBatchToRows } from '../../client/index.js';
import type { ScanOptions } from '../../client/index.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { pollUntil } from '../helpers/poll.js';

const COLUMNS = Array.from({ length: 40 }, (_, i) => ({ name: `c_${i}`, type: 'double' as const }));
const HOT = ['c_3', 'c_11', 'c_19', 'c_27', 'c_35'];
const COLD = COLUMNS.map((c) => c.name).filter((name) => !HOT.includes(name));
const ROWS = 20_000;
/** Each node's cache: far more than its share of the hot columns, far less than the cold ones. */
const CACHE = '1MiB';

let cluster: Cluster;
let client: GranaryClient;

async function read(options: ScanOptions): Promise<{ rows: string[]; bytesFetched: number }> {
  const stats = newScanStats();
  const rows: string[] = [];
  for await (const batch of client.scan('train', { threads: 0, ...options, stats })) for (const row of recordBatchToRows(batch)) rows.push(JSON.stringify(row));
  return { rows, bytesFetched: stats.bytesFetched };
}

/** The hot-set version each node holds, from its metrics. */
async function nodeVersions(): Promise<number[]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const text = await (await request(`${node.url}/metrics`)).body.text();
      return Number(/granary_storage_hot_cache\{kind="version"\} (-?\d+)/.exec(text)?.[1] ?? Number.NaN);
    }),
  );
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 6, domains: 3, nodeArgs: ['--hot-cache-bytes', CACHE] });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: 'train', columns: COLUMNS, ec: '2+1', stripeRows: 5000 });
  for (const [p, partition] of ['ds=2026-01-01', 'ds=2026-01-02'].entries()) {
    const writer = await client.openWriter('train', partition, { columnOrder: 'schema' });
    await writer.write(Array.from({ length: ROWS }, (_, r) => Object.fromEntries(COLUMNS.map((c, i) => [c.name, Math.sin(r * 3.7 + i + p) * 1e6]))));
    await writer.commit();
  }
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

describe('hot-column cache', () => {
  it('serves a registered job\'s later epochs from memory, and a one-off export of other columns does not flush it', async () => {
    const declared = await client.metadata.declareJob('train', { job: 'ctr', columns: HOT });
    expect(declared.source).toBe('register');
    // Every node holds the sets computed for the declaration before the first epoch.
    const version = await pollUntil('the hot sets computed', async () => {
      const state = await client.metadata.declarations();
      return state.hotPending ? undefined : state.hotVersion;
    }, 30_000, 50);
    await pollUntil(`every node holding hot set ${version}`, async () => ((await nodeVersions()).every((v) => v === version) ? true : undefined), 30_000, 100);

    const expected = (await read({ columns: HOT, purpose: 'export', job: 'reference' })).rows;
    const epochs = [];
    for (let epoch = 0; epoch < 3; epoch++) epochs.push(await read({ columns: HOT, job: 'ctr', epoch }));
    for (const epoch of epochs) expect(epoch.rows).toEqual(expected);
    const epochBytes = (epochs[0] as { bytesFetched: number }).bytesFetched;
    // The reference read (another job) came from disk and filled the caches; every epoch after it from memory.
    const job = await pollUntil('the nodes\' counts of ctr', async () => {
      const detail = await client.metadata.job('ctr').catch(() => undefined);
      return detail !== undefined && detail.nodeBytesServed === 3 * epochBytes ? detail : undefined;
    }, 30_000, 100);
    expect(job.cacheBytes).toBe(3 * epochBytes);
    expect(job.cacheHits).toBeGreaterThan(0);
    const reference = await pollUntil('the reference read counted', async () => {
      const detail = await client.metadata.job('reference').catch(() => undefined);
      return detail !== undefined && detail.nodeBytesServed === epochBytes ? detail : undefined;
    }, 30_000, 100);
    expect(reference.cacheBytes).toBe(0);

    // Every other column, more bytes than all the caches hold: read from disk, never admitted.
    const cold = await read({ columns: COLD, purpose: 'export', job: 'one-off' });
    expect(cold.bytesFetched).toBeGreaterThan(6 * 1024 * 1024);
    expect((await read({ columns: HOT, job: 'ctr', epoch: 3 })).rows).toEqual(expected);
    const after = await pollUntil('epoch 3 counted', async () => {
      const detail = await client.metadata.job('ctr');
      return detail.nodeBytesServed === 4 * epochBytes ? detail : undefined;
    }, 30_000, 100);
    expect(after.cacheBytes).toBe(4 * epochBytes);
    const oneOff = await pollUntil('the export counted', async () => {
      const detail = await client.metadata.job('one-off').catch(() => undefined);
      return detail !== undefined && detail.nodeBytesServed === cold.bytesFetched ? detail : undefined;
    }, 30_000, 100);
    expect(oneOff.cacheBytes).toBe(0);
  });
});
