/**
 * The metadata API through app.inject() on a real LevelDB: catalog, sessions and commits, scans,
 * nodes, repair and GC, and a restart on the same directory.
 */
import { manifestFor } from '../../helpers/manifests.js';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BlockPlacement,
  type CommitManifest,
  NO_BLOCK,
  type ScanPlan,
  decodeStreamEntry,
  type RepairStatus,
} from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const SCHEMA = {
  name: 'events',
  columns: [
    { name: 'label', type: 'float', featureId: 1 },
    { name: 'age', type: 'int64', featureId: 2 },
    { name: 'ids', type: 'id_list', featureId: 3 },
  ],
  partitionBy: ['ds'],
  ec: '6+3',
};

let meta: MetadataApp;
beforeEach(async () => {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 12, 3);
});
afterEach(async () => {
  await meta.close();
});

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: response.statusCode, body: (String(response.headers['content-type'] ?? '').includes('msgpack') ? unpack(response.rawPayload) : response.json()) as T };
}

async function createTable(spec: object = SCHEMA): Promise<void> {
  const created = await call('POST', '/v1/tables', spec);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

async function openSession(partition = 'ds=2026-11-25', leaseMs?: number): Promise<string> {
  const opened = await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition, ...(leaseMs === undefined ? {} : { leaseMs }) });
  expect(opened.status).toBe(201);
  return opened.body.sessionId;
}

/** A manifest with `stripes` stripes of `rows` rows, every column's stream laid out in one block. */
async function writePartition(partition: string, stripes = 3, rows = 100, stats?: (stripe: number) => { min: number; max: number }) {
  const sessionId = await openSession(partition);
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`);
  const commit = await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(block.body, ['label', 'age', 'ids'], stripes, rows, (stripe, column) => (column === 'age' ? stats?.(stripe) : undefined)));
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
  return { sessionId, block: block.body, commit: commit.body };
}

async function scan(body: object): Promise<ScanPlan> {
  const response = await call<ScanPlan>('POST', '/v1/tables/events/scan', body);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

describe('metadata catalog', () => {
  it('creates, lists, describes, alters and drops tables', async () => {
    await createTable();
    expect((await call('POST', '/v1/tables', SCHEMA)).body).toMatchObject({ code: 'GRN_TABLE_EXISTS' });
    const described = await call<{ columns: { name: string }[]; ec: string; schemaVersion: number }>('GET', '/v1/tables/events');
    expect(described.body.columns.map((c) => c.name)).toEqual(['label', 'age', 'ids']);
    expect(described.body.ec).toBe('6+3');
    const altered = await call<{ columns: { name: string }[]; schemaVersion: number }>('PATCH', '/v1/tables/events', {
      addColumns: [{ name: 'score', type: 'double' }],
      dropColumns: ['ids'],
    });
    expect(altered.body.columns.map((c) => c.name)).toEqual(['label', 'age', 'score']);
    expect(altered.body.schemaVersion).toBe(2);
    const list = await call<{ tables: { name: string; columns: number }[] }>('GET', '/v1/tables');
    expect(list.body.tables).toEqual([expect.objectContaining({ name: 'events', columns: 3 })]);
    expect((await call('DELETE', '/v1/tables/events')).status).toBe(200);
    expect((await call('GET', '/v1/tables/events')).body).toMatchObject({ code: 'GRN_TABLE_NOT_FOUND' });
  });

  it('rejects bad schemas and unplaceable policies, storing nothing', async () => {
    const cases: [object, RegExp][] = [
      [{ ...SCHEMA, columns: [{ name: 'a', type: 'float' }, { name: 'a', type: 'float' }] }, /declared twice/],
      [{ ...SCHEMA, columns: [{ name: 'a', type: 'complex' }] }, /type/],
      [{ ...SCHEMA, name: '9lives' }, /must match/],
      [{ ...SCHEMA, ec: '10+4' }, /needs 14 alive storage nodes, the cluster has 12/],
      [{ ...SCHEMA, extra: true }, /additional properties/],
      [{ name: 'x' }, /columns/],
    ];
    for (const [spec, pattern] of cases) {
      const response = await call<{ code: string; message: string }>('POST', '/v1/tables', spec);
      expect(response.status, JSON.stringify(spec)).toBe(400);
      expect(response.body.message).toMatch(pattern);
    }
    expect((await call<{ tables: unknown[] }>('GET', '/v1/tables')).body.tables).toEqual([]);
  });
});

describe('write sessions', () => {
  beforeEach(async () => {
    await createTable();
  });

  it('places k+m distinct nodes over the failure domains', async () => {
    const sessionId = await openSession();
    const block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
    expect(block.chunks).toHaveLength(9);
    expect(new Set(block.chunks.map((c) => c.nodeId)).size).toBe(9);
    const racks = block.chunks.map((c) => Number(c.nodeId.split('-')[1]) % 3);
    expect([0, 1, 2].map((r) => racks.filter((x) => x === r).length)).toEqual([3, 3, 3]);
    expect(block.chunks[4]?.chunkId).toBe(`${block.blockId}.4`);
    const replaced = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks/${block.blockId}/replace`, { shard: 4 })).body;
    expect(replaced.chunks[4]?.nodeId).not.toBe(block.chunks[4]?.nodeId);
    expect(new Set(replaced.chunks.map((c) => c.nodeId)).size).toBe(9);
    // Aborted, the block's chunks go to GC on the current nodes and on the replaced one.
    await call('POST', `/v1/sessions/${sessionId}/abort`);
    const [queued] = (await call<{ blocks: { chunks: { chunkId: string; nodeId: string }[] }[] }>('GET', '/v1/gc')).body.blocks;
    expect(queued?.chunks).toHaveLength(10);
    expect(queued?.chunks).toContainEqual({ chunkId: `${block.blockId}.4`, nodeId: block.chunks[4]?.nodeId });
  });

  it('makes a partition visible only through an atomic, idempotent commit', async () => {
    const sessionId = await openSession();
    const block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
    expect((await call<{ partitions: unknown[] }>('GET', '/v1/tables/events/partitions')).body.partitions).toEqual([]);
    expect((await scan({})).stripes).toEqual([]);

    const manifest = manifestFor(block, ['label', 'age', 'ids'], 4, 250);
    const first = await call<{ fileIds: string[]; rows: number; alreadyCommitted: boolean }>('POST', `/v1/sessions/${sessionId}/commit`, manifest);
    expect(first.body).toMatchObject({ rows: 1000, alreadyCommitted: false });
    const again = await call<{ fileIds: string[]; alreadyCommitted: boolean }>('POST', `/v1/sessions/${sessionId}/commit`, manifest);
    expect(again.body).toMatchObject({ fileIds: first.body.fileIds, alreadyCommitted: true });
    const partitions = (await call<{ partitions: { partition: string; rows: number; files: number; stripes: number; bytes: number }[] }>('GET', '/v1/tables/events/partitions')).body.partitions;
    expect(partitions).toEqual([expect.objectContaining({ partition: 'ds=2026-11-25', rows: 1000, files: 1, stripes: 4, bytes: 12_000 })]);
    const detail = await call<{ fileList: unknown[] }>('GET', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-25')}`);
    expect(detail.body.fileList).toHaveLength(1);
    expect((await call('POST', `/v1/sessions/${sessionId}/blocks`)).body).toMatchObject({ code: 'GRN_SESSION_CLOSED' });
  });

  it('rejects a manifest that does not match the session, and stores nothing', async () => {
    const sessionId = await openSession();
    const block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
    const good = manifestFor(block, ['label', 'age', 'ids'], 2, 10);
    const goodBlock = good.blocks[0] as CommitManifest['blocks'][number];
    const goodFile = good.files[0] as CommitManifest['files'][number];
    const bad: [CommitManifest, RegExp][] = [
      [{ ...good, blocks: [{ ...goodBlock, blockId: 'bnotmine' }] }, /not allocated to session/],
      [{ ...good, blocks: [{ ...goodBlock, shardBytes: 8 }] }, /make \d+-byte shards, manifest says 8/],
      [{ ...good, files: [{ ...goodFile, columns: ['label', 'age', 'nope'] }] }, /column nope is not in table/],
      [{ ...good, files: [{ ...goodFile, stripes: [{ rows: 10, streams: goodFile.stripes[0]?.streams.slice(1) ?? [] }] }] }, /2 streams for 3 columns/],
      [{ ...good, blocks: [{ ...goodBlock, blockBytes: 100, shardBytes: 24 }] }, /outside block/],
    ];
    for (const [manifest, pattern] of bad) {
      const response = await call<{ message: string }>('POST', `/v1/sessions/${sessionId}/commit`, manifest);
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(pattern);
      expect(response.body.message).toMatch(/nothing was stored/);
    }
    expect((await call<{ partitions: unknown[] }>('GET', '/v1/tables/events/partitions')).body.partitions).toEqual([]);
    expect((await call('POST', `/v1/sessions/${sessionId}/commit`, good)).status).toBe(200);
  });

  it('sends the blocks of aborted and expired sessions to garbage collection', async () => {
    const aborted = await openSession();
    const blockA = (await call<BlockPlacement>('POST', `/v1/sessions/${aborted}/blocks`)).body;
    expect((await call<{ state: string }>('POST', `/v1/sessions/${aborted}/abort`)).body.state).toBe('aborted');
    expect((await call('POST', `/v1/sessions/${aborted}/commit`, manifestFor(blockA, ['label'], 1, 1))).body).toMatchObject({
      code: 'GRN_SESSION_CLOSED',
    });

    const expiring = await openSession('ds=2026-11-26', 1000);
    const blockB = (await call<BlockPlacement>('POST', `/v1/sessions/${expiring}/blocks`)).body;
    expect(await meta.service.writes.expireLeases(Date.now() + 1500)).toBe(1);
    expect((await call<{ state: string }>('GET', `/v1/sessions/${expiring}`)).body.state).toBe('expired');
    expect((await call('POST', `/v1/sessions/${expiring}/renew`)).body).toMatchObject({ code: 'GRN_SESSION_CLOSED' });
    // A day later closed sessions are forgotten (commit retries are long over).
    await meta.service.writes.expireLeases(Date.now() + 25 * 60 * 60 * 1000);
    expect((await call('GET', `/v1/sessions/${aborted}`)).body).toMatchObject({ code: 'GRN_SESSION_NOT_FOUND' });

    const gc = (await call<{ blocks: { blockId: string; chunks: unknown[]; reason: string }[] }>('GET', '/v1/gc')).body.blocks;
    expect(gc.map((b) => b.blockId).sort()).toEqual([blockA.blockId, blockB.blockId].sort());
    expect(gc[0]?.chunks).toHaveLength(9);
  });

  it('lets several writers commit to one partition', async () => {
    const sessions = await Promise.all([openSession(), openSession(), openSession()]);
    const blocks = await Promise.all(sessions.map(async (s) => (await call<BlockPlacement>('POST', `/v1/sessions/${s}/blocks`)).body));
    const results = await Promise.all(sessions.map((s, i) => call('POST', `/v1/sessions/${s}/commit`, manifestFor(blocks[i] as BlockPlacement, ['label', 'age', 'ids'], 2, 50))));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const [partition] = (await call<{ partitions: { rows: number; files: number }[] }>('GET', '/v1/tables/events/partitions')).body.partitions;
    expect(partition).toMatchObject({ rows: 300, files: 3 });
    expect((await scan({})).stripes).toHaveLength(6);
  });
});

describe('scan planning', () => {
  beforeEach(async () => {
    await createTable();
  });

  it('returns stream locations for the requested columns, in order, with block locations', async () => {
    const { block } = await writePartition('ds=2026-11-25', 3, 100);
    const plan = await scan({ columns: ['ids', 'label'] });
    expect(plan.columns.map((c) => c.name)).toEqual(['ids', 'label']);
    expect(plan.stripes).toHaveLength(3);
    expect(plan.blocks).toHaveLength(1);
    expect(plan.blocks[0]).toMatchObject({ blockId: block.blockId, dataShards: 6, parityShards: 3, blockBytes: 9000 });
    expect(plan.blocks[0]?.chunks.map((c) => c.url)).toEqual(block.chunks.map((c) => c.url));
    const ids = decodeStreamEntry(plan.stripes[1]?.streams as Uint8Array, 0);
    expect(ids).toMatchObject({ blockRef: 0, offset: (1 * 3 + 2) * 1000, length: 1000, encoding: 1, checksum: BigInt(0x66) });
    const label = decodeStreamEntry(plan.stripes[1]?.streams as Uint8Array, 1);
    expect(label.offset).toBe(3000);
  });

  it('reads a column added after a stripe was written as all-null, and refuses dropped columns', async () => {
    await writePartition('ds=2026-11-25', 2, 100);
    await call('PATCH', '/v1/tables/events', { addColumns: [{ name: 'fresh', type: 'float' }], dropColumns: ['ids'] });
    const plan = await scan({ columns: ['fresh', 'label'] });
    const fresh = decodeStreamEntry(plan.stripes[0]?.streams as Uint8Array, 0);
    expect(fresh).toMatchObject({ blockRef: NO_BLOCK, length: 0, nulls: 100 });
    expect(decodeStreamEntry(plan.stripes[0]?.streams as Uint8Array, 1).blockRef).toBe(0);
    const dropped = await call<{ message: string }>('POST', '/v1/tables/events/scan', { columns: ['ids'] });
    expect(dropped.status).toBe(400);
    expect(dropped.body.message).toMatch(/no column ids/);
  });

  it('filters partitions, stripe ranges and prunes stripes by stats', async () => {
    for (const ds of ['2026-11-23', '2026-11-24', '2026-11-25']) {
      await writePartition(`ds=${ds}`, 4, 10, (s) => ({ min: s * 10, max: s * 10 + 9 }));
    }
    expect((await scan({ partitions: { ds: { eq: '2026-11-24' } } })).stripes.map((s) => s.partition)).toEqual(Array(4).fill('ds=2026-11-24'));
    expect((await scan({ partitions: { ds: { gte: '2026-11-24' } } })).stripes).toHaveLength(8);
    expect((await scan({ partitions: { ds: { in: ['2026-11-23', '2026-11-30'] } } })).stripes).toHaveLength(4);
    const ranged = await scan({ partitions: { ds: { eq: '2026-11-25' } }, stripes: { from: 1, to: 3 } });
    expect(ranged.stripes.map((s) => s.stripe)).toEqual([1, 2]);
    const pruned = await scan({ where: [{ column: 'age', op: 'between', value: [15, 25] }] });
    expect(pruned.stripes.map((s) => s.stripe)).toEqual([1, 2, 1, 2, 1, 2]);
    expect(pruned).toMatchObject({ stripesConsidered: 12, stripesPruned: 6 });
    expect((await scan({ where: [{ column: 'age', op: '>', value: 35 }] })).stripes).toHaveLength(3);
    const badKey = await call<{ message: string }>('POST', '/v1/tables/events/scan', { partitions: { dt: { eq: 'x' } } });
    expect(badKey.body.message).toMatch(/partitioned by ds/);
  });

  it('counts column popularity by bytes read and once per job and epoch, never for exports', async () => {
    await writePartition('ds=2026-11-25');
    const bytesOf = (plan: ScanPlan, c: number): number => plan.stripes.reduce((sum, stripe) => sum + decodeStreamEntry(stripe.streams, c).length, 0);
    // Two workers of one job's epoch (the same plan twice): one scan, both workers' bytes.
    const first = await scan({ columns: ['label'], job: 'ctr-v7', epoch: 0 });
    await scan({ columns: ['label'], job: 'ctr-v7', epoch: 0 });
    // Its next epoch, and another job reading two columns: one scan each.
    await scan({ columns: ['label'], job: 'ctr-v7', epoch: 1 });
    const other = await scan({ columns: ['age', 'label'], job: 'ranker' });
    // An export and a maintenance read count nothing.
    await scan({ columns: ['ids'], purpose: 'export' });
    await scan({ columns: ['ids'], job: 'fsck', purpose: 'maintenance' });
    const label = bytesOf(first, 0);
    const age = bytesOf(other, 0);
    expect(label).toBeGreaterThan(0);
    const answer = (await call<{ columns: { column: string; bytes: number; scans: number }[]; jobs: { job: string; bytes: number; scans: number }[] }>('GET', '/v1/tables/events/popularity')).body;
    // Decayed over milliseconds of a week's half-life: equal to the byte, rounded.
    expect(answer.columns).toEqual([
      { column: 'label', featureId: 1, bytes: 4 * label, scans: 3 },
      { column: 'age', featureId: 2, bytes: age, scans: 1 },
      { column: 'ids', featureId: 3, bytes: 0, scans: 0 },
    ].sort((a, b) => b.bytes - a.bytes));
    expect(answer.jobs.map(({ job, bytes, scans }) => ({ job, bytes, scans }))).toEqual([
      { job: 'ranker', bytes: age + label, scans: 1 },
      { job: 'ctr-v7', bytes: 3 * label, scans: 2 },
    ]);
    // A job id that is not one is refused, and counts nothing.
    expect((await call('POST', '/v1/tables/events/scan', { columns: ['ids'], job: 'no spaces' })).status).toBe(400);
    expect((await call('POST', '/v1/tables/events/scan', { columns: ['ids'], epoch: -1 })).status).toBe(400);
  });

  it('drops partitions past the table retention, by the date in ds', async () => {
    await call('DELETE', '/v1/tables/events');
    await createTable({ ...SCHEMA, retention: '30d' });
    for (const ds of ['2026-10-01', '2026-10-27', '2026-11-20']) await writePartition(`ds=${ds}`, 1, 1);
    const dropped = await meta.service.catalog.enforceRetention(Date.UTC(2026, 10, 26, 12));
    expect(dropped).toEqual([{ table: 'events', partition: 'ds=2026-10-01' }]);
    const left = (await call<{ partitions: { partition: string }[] }>('GET', '/v1/tables/events/partitions')).body.partitions;
    expect(left.map((p) => p.partition)).toEqual(['ds=2026-10-27', 'ds=2026-11-20']);
    expect((await call<{ blocks: unknown[] }>('GET', '/v1/gc')).body.blocks).toHaveLength(1);
  });

  it('drops partitions into garbage collection', async () => {
    const { block } = await writePartition('ds=2026-11-25');
    const dropped = await call('DELETE', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-25')}`);
    expect(dropped.body).toMatchObject({ partition: 'ds=2026-11-25', blocksQueued: 1 });
    expect((await scan({})).stripes).toEqual([]);
    expect((await call<{ blocks: { blockId: string }[] }>('GET', '/v1/gc')).body.blocks.map((b) => b.blockId)).toEqual([block.blockId]);
    expect((await call('DELETE', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-25')}`)).status).toBe(404);
  });

  it('pages committed blocks in id order, by table, and sees drops between pages', async () => {
    const written = [];
    for (const day of [21, 22, 23, 24, 25]) written.push((await writePartition(`ds=2026-11-${day}`)).block.blockId);
    await createTable({ ...SCHEMA, name: 'other' });
    const listAll = async (query: string): Promise<string[]> => {
      const ids: string[] = [];
      let after: string | null = null;
      do {
        const url: string = `/v1/blocks?limit=2${query}${after === null ? '' : `&after=${after}`}`;
        const page = (await call<{ blocks: { blockId: string }[]; next: string | null }>('GET', url)).body;
        expect(page.blocks.length).toBeLessThanOrEqual(2);
        ids.push(...page.blocks.map((block) => block.blockId));
        after = page.next;
      } while (after !== null);
      return ids;
    };
    expect(await listAll('&table=events')).toEqual([...written].sort());
    expect(await listAll('&table=other')).toEqual([]);
    await call('DELETE', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-23')}`);
    expect(await listAll('')).toEqual(written.filter((_, i) => i !== 2).sort());
  });

  it('counts committed blocks for /health from a counter that matches the catalog through commits, drops and restarts', async () => {
    const committed = () => [...meta.service.state.blocks.values()].filter((block) => block.state === 'committed').length;
    const healthBlocks = async () => (await call<{ blocks: number }>('GET', '/health')).body.blocks;
    await writePartition('ds=2026-11-24');
    await writePartition('ds=2026-11-25');
    await openSession('ds=2026-11-26').then((id) => call('POST', `/v1/sessions/${id}/blocks`));
    expect(committed()).toBe(2);
    expect(await healthBlocks()).toBe(2);
    await call('DELETE', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-25')}`);
    expect(await healthBlocks()).toBe(committed());
    meta = await meta.reopen();
    expect(await healthBlocks()).toBe(committed());
    expect(await healthBlocks()).toBeGreaterThan(0);
  });
});

describe('nodes, repair and restart', () => {
  it('tracks drains and corrupt reports as repair work', async () => {
    await createTable();
    const { block } = await writePartition('ds=2026-11-25');
    const drained = block.chunks[0]?.nodeId as string;
    expect((await call<{ state: string }>('POST', `/v1/nodes/${drained}/drain`)).body.state).toBe('draining');
    const corruptNode = block.chunks[5]?.nodeId as string;
    expect((await call('POST', `/v1/nodes/${corruptNode}/corrupt`, { chunks: [{ chunkId: `${block.blockId}.5`, reason: 'page 3' }] })).body).toEqual({ accepted: 1 });
    const repair = (await call<RepairStatus>('GET', '/v1/repair')).body;
    // The draining node still serves its shard: readable, to be copied; the corrupt one is lost.
    expect(repair.blocks).toMatchObject({ total: 1, underReplicated: 1, healthy: 0, unavailable: 0 });
    expect(repair.items).toEqual([
      expect.objectContaining({
        blockId: block.blockId,
        status: 'under-replicated',
        healthyShards: 8,
        nodeFailuresToSpare: 2,
        badShards: [expect.objectContaining({ shard: 0, reason: 'draining' }), expect.objectContaining({ shard: 5, reason: 'corrupt' })],
      }),
    ]);
    expect((await call('POST', `/v1/nodes/${corruptNode}/corrupt`, { chunks: [{ chunkId: 'bnothing.1', reason: 'x' }, { chunkId: `${block.blockId}.0`, reason: 'not mine' }] })).body).toEqual({ accepted: 0 });
    expect((await call('POST', '/v1/nodes/ghost/heartbeat', { capacityBytes: 1, freeBytes: 1, usedBytes: 0, chunkCount: 0 })).body).toMatchObject({ code: 'GRN_NODE_NOT_FOUND' });
  });

  it('marks silent nodes suspect, then dead', async () => {
    const quick = await makeMetadataApp({ suspectAfterMs: 50, deadAfterMs: 150 });
    try {
      await registerNodes(quick.app, 1);
      const stateOf = async () => ((await quick.app.inject({ url: '/v1/nodes' })).json() as { nodes: { state: string }[] }).nodes[0]?.state;
      expect(await stateOf()).toBe('alive');
      const { pollUntil } = await import('../../helpers/poll.js');
      await pollUntil('suspect', async () => ((await stateOf()) === 'suspect' ? true : undefined), 10_000, 5);
      await pollUntil('dead', async () => ((await stateOf()) === 'dead' ? true : undefined), 10_000, 5);
    } finally {
      await quick.close();
    }
  });

  it('keeps tables, partitions, files and open sessions across a restart', async () => {
    await createTable();
    // Several files in one partition, committed within the same millisecond or not: stripe
    // numbers (which splits rely on) must come back in commit order.
    for (let i = 0; i < 4; i++) await writePartition('ds=2026-11-25', 3, 100);
    const open = await openSession('ds=2026-11-26');
    const before = await scan({ columns: ['label', 'age'] });
    meta = await meta.reopen();
    const after = await scan({ columns: ['label', 'age'] });
    expect(after.stripes.map((s) => [s.fileId, s.stripe])).toEqual(before.stripes.map((s) => [s.fileId, s.stripe]));
    expect(after.stripes.map((s) => Buffer.from(s.streams).toString('hex'))).toEqual(before.stripes.map((s) => Buffer.from(s.streams).toString('hex')));
    // Capabilities are signed afresh after a restart (a new expiry); the blocks they open are the same.
    const withoutCapability = (blocks: typeof before.blocks) => blocks.map(({ capability: _capability, ...block }) => block);
    expect(withoutCapability(after.blocks)).toEqual(withoutCapability(before.blocks));
    expect(after.blocks.every((block) => typeof block.capability === 'string')).toBe(true);
    expect((await call<{ state: string }>('GET', `/v1/sessions/${open}`)).body.state).toBe('open');
    expect((await call<BlockPlacement>('POST', `/v1/sessions/${open}/blocks`)).status).toBe(201);
  });
});
