/**
 * Re-layout on a real cluster (metadata and storage-node processes): files written in schema
 * order are rewritten in the order training scans read them, only once the reads saved repay the
 * bytes moved; the values read back are the same bit for bit, with fewer disk reads; a scan in
 * flight across the swap finishes with the same rows; the old chunks are deleted after the grace
 * time; a rewrite reads around a dead node; the CLI shows the plan.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, newScanStats, recordBatchToRows } from '../../client/index.js';
import type { ScanOptions } from '../../client/index.js';
import { fanoutOf } from '../../storage-node/data-dir.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { pollUntil } from '../helpers/poll.js';
import { runGranary } from '../helpers/up-process.js';

const COLUMNS = Array.from({ length: 40 }, (_, i) => ({ name: `c_${i}`, type: i % 5 === 4 ? ('int64' as const) : ('double' as const) }));
const HOT = ['c_3', 'c_11', 'c_19', 'c_27', 'c_35'];
const PARTITIONS = ['ds=2026-01-01', 'ds=2026-01-02'];
const ROWS_PER_PARTITION = 20_000;
/** Long enough for a scan in flight to finish its page on the old blocks on a loaded machine. */
const GRACE = '10s';

let cluster: Cluster;
let client: GranaryClient;

/** Values no encoding shrinks much (so each column stream is tens of KiB), with NaN, -0 and nulls. */
function row(r: number, salt: number): Record<string, unknown> {
  return Object.fromEntries(
    COLUMNS.map((column, i) => {
      if ((r + i) % 97 === 0) return [column.name, null];
      if (column.type === 'int64') return [column.name, ((r * 2_654_435_761 + i * 40_503 + salt) % 1_000_000_007) - 500_000_000];
      if ((r + i) % 89 === 0) return [column.name, r % 2 === 0 ? Number.NaN : -0];
      return [column.name, Math.sin(r * 7.3 + i * 1.1 + salt) * 1e6];
    }),
  );
}

async function writeTable(name: string): Promise<void> {
  await client.metadata.createTable({ name, columns: COLUMNS, ec: '2+1', stripeRows: 5000 });
  for (const [p, partition] of PARTITIONS.entries()) {
    const writer = await client.openWriter(name, partition, { columnOrder: 'schema' });
    await writer.write(Array.from({ length: ROWS_PER_PARTITION }, (_, r) => row(r, p)));
    await writer.commit();
  }
}

async function readAll(table: string, options: ScanOptions = {}): Promise<{ rows: Record<string, unknown>[]; reads: number }> {
  const stats = newScanStats();
  const rows: Record<string, unknown>[] = [];
  // Checks read as exports unless told otherwise: they must not make columns popular.
  for await (const batch of client.scan(table, { threads: 0, purpose: 'export', ...options, stats })) rows.push(...recordBatchToRows(batch));
  return { rows, reads: stats.readSizes.length };
}

/** Rows as text that tells NaN, -0 and null apart. */
function exact(rows: readonly Record<string, unknown>[]): string[] {
  return rows.map((r) => JSON.stringify(r, (_key, value: unknown) => (typeof value === 'number' && (Number.isNaN(value) || Object.is(value, -0)) ? `number:${Object.is(value, -0) ? '-0' : 'NaN'}` : typeof value === 'bigint' ? `${value}n` : value)));
}

async function train(table: string, job: string, epochs: number): Promise<void> {
  for (let epoch = 0; epoch < epochs; epoch++) await readAll(table, { columns: HOT, job, epoch, purpose: 'training' });
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 6, domains: 3, metadataArgs: ['--relayout-grace', GRACE, '--gc-interval-ms', '200', '--suspect-after-ms', '1000', '--dead-after-ms', '600000'] });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await writeTable('wide');
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

describe('re-layout of existing partitions', () => {
  it('rewrites files only once the reads they save repay the bytes moved, and reads back the same bytes with fewer reads', async () => {
    const before = await readAll('wide');
    expect(before.rows).toHaveLength(PARTITIONS.length * ROWS_PER_PARTITION);
    const untouched = await client.metadata.relayoutPlan('wide');
    expect(untouched.hotColumns).toEqual([]);
    expect(untouched.files.map((f) => f.reason)).toEqual(PARTITIONS.map(() => 'no training scan of the table recorded: nothing to order by'));

    await train('wide', 'ctr', 2);
    const early = await client.metadata.relayoutPlan('wide');
    expect(early.hotColumns).toEqual(HOT);
    expect(early.order.slice(0, HOT.length).sort()).toEqual([...HOT].sort());
    for (const file of early.files) {
      expect(file.readsAfter).toBeLessThan(file.readsNow);
      expect(file.pays, file.reason).toBe(false);
    }
    // Nothing pays yet: a run rewrites nothing.
    expect((await client.relayout('wide')).results).toEqual([]);

    await train('wide', 'ctr', 12);
    const hotBefore = await readAll('wide', { columns: HOT, job: 'probe' });
    const plan = await client.metadata.relayoutPlan('wide');
    expect(plan.files.every((f) => f.pays)).toBe(true);
    const oldFiles = plan.files.map((f) => f.fileId);
    const oldBlocks = (await client.metadata.listBlocks({ table: 'wide' })).blocks.map((b) => b.blockId);

    const run = await client.relayout('wide');
    expect(run.results.map((r) => r.replacedFileId).sort()).toEqual([...oldFiles].sort());
    expect(run.results.every((r) => !oldFiles.includes(r.fileId))).toBe(true);
    const partitions = await client.metadata.listPartitions('wide');
    expect(partitions.map((p) => [p.partition, p.rows, p.stripes, p.files])).toEqual(PARTITIONS.map((p) => [p, ROWS_PER_PARTITION, 4, 1]));

    const after = await readAll('wide');
    expect(exact(after.rows)).toEqual(exact(before.rows));
    const hotAfter = await readAll('wide', { columns: HOT, job: 'probe' });
    expect(exact(hotAfter.rows)).toEqual(exact(hotBefore.rows));
    expect(hotAfter.reads).toBeLessThan(hotBefore.reads);
    // Laid out for these reads now: nothing more to gain.
    expect((await client.metadata.relayoutPlan('wide')).files.map((f) => f.reason)).toEqual(PARTITIONS.map(() => 'already laid out for the hot columns'));

    // The old blocks wait out the grace time, then their chunks are deleted from the nodes.
    const gone = await pollUntil(
      'the old blocks collected',
      async () => {
        const queued = (await client.metadata.gc()).blocks.map((b) => b.blockId);
        return oldBlocks.some((blockId) => queued.includes(blockId)) ? undefined : true;
      },
      60_000,
      200,
    );
    expect(gone).toBe(true);
    for (const blockId of oldBlocks) {
      for (let shard = 0; shard < 3; shard++) {
        const chunkId = `${blockId}.${shard}`;
        for (const node of cluster.nodes) expect(existsSync(join(cluster.root, node.nodeId, 'chunks', fanoutOf(chunkId), chunkId))).toBe(false);
      }
    }
    expect((await client.metadata.listBlocks({ table: 'wide' })).blocks.map((b) => b.blockId).some((id) => oldBlocks.includes(id))).toBe(false);
  });

  it('finishes a scan in flight across the swap with the same rows, its later pages on the new blocks', async () => {
    await writeTable('inflight');
    await train('inflight', 'ranker', 2);
    const expected = exact((await readAll('inflight')).rows);
    const rows: Record<string, unknown>[] = [];
    // One stripe per plan page: the cursor after the first page names the file being replaced.
    const scan = client.scan('inflight', { threads: 0, purpose: 'export', planPageEntries: COLUMNS.length, prefetchGroups: 1 });
    const first = await scan.next();
    expect(first.done).toBe(false);
    rows.push(...recordBatchToRows(first.value as NonNullable<typeof first.value>));
    const run = await client.relayout('inflight', { force: true });
    expect(run.results).toHaveLength(PARTITIONS.length);
    for await (const batch of { [Symbol.asyncIterator]: () => scan }) rows.push(...recordBatchToRows(batch));
    expect(exact(rows)).toEqual(expected);
  });

  it('reads around a dead node while rewriting, and the CLI shows the plan and runs it', async () => {
    await writeTable('degraded');
    await train('degraded', 'ctr', 2);
    const expected = exact((await readAll('degraded')).rows);
    const [block] = (await client.metadata.listBlocks({ table: 'degraded' })).blocks;
    const victim = cluster.nodes.find((node) => node.nodeId === block?.chunks[0]?.nodeId);
    await victim?.kill('SIGKILL');
    const env = { ...process.env, GRANARY_METADATA: cluster.metadata.url, GRANARY_TOKEN: cluster.adminToken };
    const options = { cwd: cluster.root, env, maxBuffer: 16 * 1024 * 1024 };
    const dry = await runGranary(['relayout', 'degraded', '--dry-run'], options);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^hot columns c_3, c_11, c_19, c_27, c_35$/m);
    expect(dry.stdout).toMatch(/^PARTITION +FILE +BLOCKS +BYTES +READS NOW +AFTER +MOVES +PAYS +WHY$/m);
    expect(dry.stdout).toMatch(/^0 files would be re-laid out$/m);
    const forced = await runGranary(['relayout', 'degraded', '--force', '--rate', '512MiB'], options);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^degraded: 2 of 2 files re-laid out/m);
    expect(exact((await readAll('degraded')).rows)).toEqual(expected);
    const missing = await runGranary(['relayout', 'nosuch'], options);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/GRN_TABLE_NOT_FOUND/);
  });
});
