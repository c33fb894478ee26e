/**
 * Scans on read worker threads (client/reader/scan-workers.ts) against a real metadata service and
 * nine storage nodes (RS 6+3): the same rows as the calling-thread reader, in order or as a
 * multiset unordered; reuse: true batches right when taken one at a time (and recycled after);
 * a stream whose node serves wrong bytes repaired and reported; an early break that leaves no
 * work behind; a worker that dies failing the scan with a clear error; the built (dist/) worker
 * loading in a plain node process; and a node SIGKILLed mid-scan read around.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, type ScanOptions, closeReadWorkers, newScanStats, recordBatchToRows } from '../../client/index.js';
import { readWorkerPool } from '../../client/reader/read-workers.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { makeChunkLie } from '../helpers/lying-chunk.js';
import { pollUntil } from '../helpers/poll.js';

const run = promisify(execFile);
const DIST_CLIENT = new URL('../../dist/client/index.js', import.meta.url).href;

const COLUMNS = [
  { name: 'label', type: 'float' },
  { name: 'user_id', type: 'int64' },
  { name: 'clicked', type: 'bool' },
  { name: 'country', type: 'string' },
  { name: 'ids', type: 'id_list', featureId: 2001 },
  { name: 'embedding', type: 'float_list', featureId: 4001 },
] as const;
const ROWS_COUNT = 4000;
/** One stripe per group: 8 groups, so that both workers get work and groups finish out of order. */
const ONE_STRIPE_PER_GROUP = { groupBytes: 1, threads: 2 } as const;

function makeRows(count: number): Record<string, unknown>[] {
  let x = 7;
  const rand = (): number => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  return Array.from({ length: count }, (_, i) => ({
    label: i % 17 === 0 ? null : Math.fround(rand()),
    user_id: Math.floor(rand() * 1e12),
    clicked: rand() < 0.5,
    country: ['se', 'fr', 'jp', 'ünïcödé', ''][i % 5],
    ids: Array.from({ length: Math.floor(rand() * 30) }, () => Math.floor(rand() * 1e9)),
    embedding: i % 3 === 0 ? [] : Array.from({ length: 8 }, () => Math.fround(rand())),
  }));
}

const ROWS = makeRows(ROWS_COUNT);
let cluster: Cluster;
let client: GranaryClient;

async function readAll(table: string, options: ScanOptions): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan(table, options)) rows.push(...recordBatchToRows(batch));
  return rows;
}

const key = (row: Record<string, unknown>): string => JSON.stringify(row);

beforeAll(async () => {
  cluster = await startCluster({ nodes: 9, domains: 3, metadataArgs: ['--suspect-after-ms', '1000', '--dead-after-ms', '600000', '--gc-interval-ms', '200'] });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: 'events', columns: COLUMNS, ec: '6+3', stripeRows: 500, blockBytes: 1024 * 1024 });
  const writer = await client.openWriter('events', 'ds=2026-11-25');
  await writer.write(ROWS);
  expect((await writer.commit()).rows).toBe(ROWS_COUNT);
});

afterAll(async () => {
  await client?.close();
  await closeReadWorkers();
  await cluster?.stop();
});

describe('scans on read worker threads', () => {
  it('yields exactly the rows of the calling-thread reader, in order, and the same multiset unordered', async () => {
    const inline = await readAll('events', { threads: 1 });
    expect(inline.length).toBe(ROWS_COUNT);
    const stats = newScanStats();
    expect(await readAll('events', { ...ONE_STRIPE_PER_GROUP, stats })).toEqual(inline);
    expect(stats.rows).toBe(ROWS_COUNT);
    expect(stats.stripes).toBe(8);
    expect(stats.requests).toBeGreaterThan(0);
    // Counts made on the workers reach the scan's stats.
    expect(stats.bytesNeeded).toBeGreaterThan(0);
    expect(Object.keys(stats.bytesByNode).length).toBeGreaterThan(0);
    const unordered = await readAll('events', { ...ONE_STRIPE_PER_GROUP, ordered: false });
    expect(unordered.map(key).sort()).toEqual(inline.map(key).sort());
    // Columns in the order asked, with a filter on a column not asked for.
    const where = [{ column: 'user_id', op: '<', value: 5e11 }] as const;
    const subset = { columns: ['ids', 'country'], where } as const;
    const filtered = await readAll('events', { ...subset, threads: 1 });
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.length).toBeLessThan(ROWS_COUNT);
    expect(await readAll('events', { ...subset, ...ONE_STRIPE_PER_GROUP })).toEqual(filtered);
  });

  it('with reuse: true, batches are right when taken one at a time, and recycled once past', async () => {
    const inline = await readAll('events', { threads: 1 });
    const rows: Record<string, unknown>[] = [];
    let previous: arrow.RecordBatch | undefined;
    let recycled = 0;
    for await (const batch of client.scan('events', { ...ONE_STRIPE_PER_GROUP, reuse: true })) {
      // The batch before this one was valid until this one was asked for: its arena went back.
      if (previous !== undefined && (previous.getChild('user_id')?.data[0]?.values.byteLength ?? 0) === 0) recycled++;
      rows.push(...recordBatchToRows(batch));
      previous = batch;
    }
    expect(rows).toEqual(inline);
    expect(recycled).toBeGreaterThan(0);
  });

  it('stops the workers\' work when the consumer breaks out early', async () => {
    const pool = readWorkerPool();
    let taken = 0;
    for await (const batch of client.scan('events', { ...ONE_STRIPE_PER_GROUP, prefetchGroups: 6 })) {
      taken += batch.numRows;
      break;
    }
    expect(taken).toBeGreaterThan(0);
    // Nothing left in flight for the scan; idle workers hold no reference to the process.
    expect(pool.pendingGroups).toBe(0);
    // And the next scan is whole.
    expect((await readAll('events', ONE_STRIPE_PER_GROUP)).length).toBe(ROWS_COUNT);
  });

  it('loads the built worker in a plain node process (dist/), which exits when done', async () => {
    const script = `
      import { GranaryClient, recordBatchToRows } from ${JSON.stringify(DIST_CLIENT)};
      const client = new GranaryClient({ metadataUrl: ${JSON.stringify(cluster.metadata.url)}, token: ${JSON.stringify(cluster.adminToken)} });
      let rows = 0;
      for await (const batch of client.scan('events', { threads: 2, groupBytes: 1 })) rows += recordBatchToRows(batch).length;
      // An early break too: the process must still exit by itself.
      for await (const batch of client.scan('events', { threads: 2, groupBytes: 1 })) break;
      await client.close();
      process.stdout.write(String(rows));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    expect(Number(stdout)).toBe(ROWS_COUNT);
  });

  it('repairs and reports a stream whose node serves wrong bytes that pass its own page checksums', async () => {
    // A table of its own, never read before: the nodes hold no open handle on its chunk files.
    await client.metadata.createTable({ name: 'lying', columns: COLUMNS, ec: '6+3', stripeRows: 500, blockBytes: 1024 * 1024 });
    const writer = await client.openWriter('lying', 'ds=2026-11-25');
    await writer.write(ROWS);
    await writer.commit();
    await makeChunkLie(client, cluster.root, 'lying', 'ids', 3);
    // Read on the workers first: the report that brings repair can only have come from them.
    const stats = newScanStats();
    const expected = await readAll('lying', { columns: ['ids'], ...ONE_STRIPE_PER_GROUP, stats });
    expect(expected.map((row) => row.ids)).toEqual(ROWS.map((row) => row.ids));
    expect(stats.degradedReads).toBeGreaterThan(0);
    // The report went from the worker to the service: repair restores the chunk, and reads are direct again.
    await pollUntil(
      'a clean read after repair',
      async () => {
        const clean = newScanStats();
        expect(await readAll('lying', { columns: ['ids'], ...ONE_STRIPE_PER_GROUP, stats: clean })).toEqual(expected);
        return clean.degradedReads === 0 ? true : undefined;
      },
      60_000,
      250,
    );
  });

  it('reads around a node SIGKILLed mid-scan, with the same rows', async () => {
    const inline = await readAll('events', { threads: 1 });
    const plan = await client.metadata.plan('events', {});
    const victim = cluster.nodes.find((n) => n.nodeId === plan.blocks[plan.blocks.length - 1]?.chunks[0]?.nodeId);
    const stats = newScanStats();
    const rows: Record<string, unknown>[] = [];
    let killed = false;
    for await (const batch of client.scan('events', { threads: 2, groupBytes: 1, prefetchGroups: 2, stats })) {
      rows.push(...recordBatchToRows(batch));
      if (!killed) {
        await victim?.kill('SIGKILL');
        killed = true;
      }
    }
    expect(killed).toBe(true);
    expect(rows).toEqual(inline);
    expect(stats.degradedReads).toBeGreaterThan(0);
  });

  it('fails the scan with a clear error when a worker dies, and the next scan starts a new one (last: it cuts requests off mid-answer)', async () => {
    const pool = readWorkerPool();
    const scan = client.scan('events', { ...ONE_STRIPE_PER_GROUP, prefetchGroups: 8 });
    const first = await scan.next();
    expect(first.done).toBe(false);
    await Promise.all(pool.workers.map((worker) => worker.terminate()));
    const drain = async (): Promise<void> => {
      for (;;) if ((await scan.next()).done === true) return;
    };
    await expect(drain()).rejects.toMatchObject({ code: 'GRN_INTERNAL', message: expect.stringMatching(/read worker thread exited/) });
    expect((await readAll('events', ONE_STRIPE_PER_GROUP)).length).toBe(ROWS_COUNT);
  });

});
