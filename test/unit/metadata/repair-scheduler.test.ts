/**
 * The repair scheduler in process, in milliseconds: tasks handed out in heartbeat answers, most
 * endangered blocks first, targets away from the block's other nodes, locations switched only by
 * a successful report and only if the shard has not moved, old copies and failed targets queued
 * for deletion, expired tasks undone, a task persisted across a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockPlacement, CommitManifest, HeartbeatAnswer, RepairStatus, RepairTask } from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';
import { pollUntil } from '../../helpers/poll.js';

const NODES = 8;
const LOAD = { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 };

let meta: MetadataApp;
afterEach(async () => {
  await meta?.close();
});

async function call<T>(method: 'GET' | 'POST', url: string, payload?: object): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  return { status: response.statusCode, body: response.json() as T };
}

async function heartbeat(nodeId: string, slots = 0, running: readonly string[] = []): Promise<HeartbeatAnswer> {
  const answer = await call<HeartbeatAnswer>('POST', `/v1/nodes/${nodeId}/heartbeat`, { ...LOAD, repairSlotsFree: slots, repairsRunning: running });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body;
}

/** Commits one block (no chunks are stored: the scheduler only reads the catalog). */
async function commitBlock(partition: string): Promise<BlockPlacement> {
  await Promise.all(Array.from({ length: NODES }, (_, i) => heartbeat(`node-${i}`)));
  const session = await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition });
  const block = (await call<BlockPlacement>('POST', `/v1/sessions/${session.body.sessionId}/blocks`)).body;
  const manifest: CommitManifest = {
    files: [{ columns: ['x'], stripes: [{ rows: 10, streams: [{ block: block.blockId, offset: 0, length: 4000, checksum: '0'.repeat(16), encoding: 1 }] }] }],
    blocks: [{ blockId: block.blockId, blockBytes: 4000, shardBytes: 1000, codec: block.codec, shardChecksums: Array.from({ length: 6 }, (_, i) => String(i).repeat(16)) }],
  };
  const commit = await call('POST', `/v1/sessions/${session.body.sessionId}/commit`, manifest);
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
  return block;
}

/** A cluster whose nodes heartbeat only when the test says so; `dead` nodes are the ones it stops calling. */
async function setUp(liveness = { suspectAfterMs: 30_000, deadAfterMs: 60_000 }): Promise<string[]> {
  meta = await makeMetadataApp({ ...liveness, repair: { rateBytesPerSecond: 8 * 1024 * 1024, tasksMax: 4, taskLeaseMinMs: 200 } });
  const ids = await registerNodes(meta.app, NODES, 4);
  expect((await call('POST', '/v1/tables', { name: 'events', columns: [{ name: 'x', type: 'int64' }], ec: '4+2' })).status).toBe(201);
  return ids;
}

async function untilDead(alive: readonly string[], dead: string): Promise<void> {
  await pollUntil(`${dead} dead`, async () => {
    await Promise.all(alive.map((id) => heartbeat(id)));
    const nodes = (await call<{ nodes: { nodeId: string; state: string }[] }>('GET', '/v1/nodes')).body.nodes;
    return nodes.find((node) => node.nodeId === dead)?.state === 'dead' ? true : undefined;
  }, 10_000, 20);
}

describe('repair scheduler', () => {
  it('hands out tasks for a dead node, most endangered block first, with targets off the block', async () => {
    const ids = await setUp({ suspectAfterMs: 1_000, deadAfterMs: 1_500 });
    const blocks = [await commitBlock('ds=1'), await commitBlock('ds=2'), await commitBlock('ds=3')];
    // Kill a node holding a shard of every block it can; the block with a corrupt chunk too comes first.
    const victim = blocks[0]?.chunks[0]?.nodeId as string;
    const worst = blocks.find((block) => block.chunks.some((c) => c.nodeId === victim) && block !== blocks[0]) ?? (blocks[0] as BlockPlacement);
    const rotten = worst.chunks.find((c) => c.nodeId !== victim) as BlockPlacement['chunks'][number];
    expect((await call('POST', `/v1/nodes/${rotten.nodeId}/corrupt`, { chunks: [{ chunkId: rotten.chunkId, reason: 'page 0' }] })).body).toEqual({ accepted: 1 });
    const alive = ids.filter((id) => id !== victim);
    await untilDead(alive, victim);
    const executor = alive[0] as string;
    const answer = await heartbeat(executor, 1);
    const [task] = answer.repairs ?? [];
    expect(task).toBeDefined();
    const first = task as RepairTask;
    expect(first.blockId).toBe(worst.blockId);
    expect(first.restores.map((r) => r.shard).sort()).toEqual(worst.chunks.filter((c) => c.nodeId === victim || c === rotten).map((c) => c.shard).sort());
    const staying = worst.chunks.filter((c) => c.nodeId !== victim && c !== rotten).map((c) => c.nodeId);
    for (const restore of first.restores) {
      expect(restore.mode).toBe('rebuild');
      expect(staying).not.toContain(restore.target.nodeId);
      expect(restore.checksum).toBe(String(restore.shard).repeat(16));
    }
    expect(first.sources.length).toBe(4);
    expect(first.rateBytesPerSecond).toBe(2 * 1024 * 1024);
    const status = (await call<RepairStatus>('GET', '/v1/repair')).body;
    expect(status.tasksRunning).toBe(1);
    expect(status.items[0]).toMatchObject({ blockId: worst.blockId, nodeFailuresToSpare: 0, taskId: first.taskId });
    // A block with a task is not handed out twice.
    const more = (await heartbeat(alive[1] as string, 8)).repairs ?? [];
    expect(more.map((t) => t.blockId)).not.toContain(worst.blockId);
  });

  it('switches a restored shard on success, queues the old copy and failed targets for deletion, and answers a retried report the same', async () => {
    const ids = await setUp();
    const block = await commitBlock('ds=1');
    // Draining: copied off while the node still serves it, then its copy is deleted.
    const draining = block.chunks[2]?.nodeId as string;
    await call('POST', `/v1/nodes/${draining}/drain`);
    const executor = ids.find((id) => !block.chunks.some((c) => c.nodeId === id)) as string;
    const [task] = (await heartbeat(executor, 1)).repairs ?? [];
    expect(task?.restores).toEqual([expect.objectContaining({ shard: 2, mode: 'copy', from: expect.objectContaining({ nodeId: draining }) })]);
    const target = task?.restores[0]?.target.nodeId as string;
    const report = { nodeId: executor, results: [{ shard: 2, ok: true }], bytesRead: 1000, bytesWritten: 1000 };
    const answer = await call('POST', `/v1/repairs/${task?.taskId}/report`, report);
    expect(answer.body).toEqual({ switched: [2], discarded: [] });
    expect((await call('POST', `/v1/repairs/${task?.taskId}/report`, report)).body).toEqual({ switched: [2], discarded: [] });
    const listed = (await call<{ blocks: { chunks: { nodeId: string }[] }[] }>('GET', '/v1/blocks')).body.blocks[0];
    expect(listed?.chunks[2]?.nodeId).toBe(target);
    const gc = (await call<{ blocks: { chunks: { chunkId: string; nodeId: string }[] }[] }>('GET', '/v1/gc')).body.blocks;
    expect(gc.flatMap((record) => record.chunks)).toEqual([{ chunkId: `${block.blockId}.2`, nodeId: draining }]);
    const nodes = (await call<{ nodes: { nodeId: string; chunksHeld: number }[] }>('GET', '/v1/nodes')).body.nodes;
    expect(nodes.find((n) => n.nodeId === draining)?.chunksHeld).toBe(0);
    // A report from a node the task was not given to is refused.
    expect((await call('POST', '/v1/repairs/rnothing/report', report)).body).toMatchObject({ code: 'GRN_REPAIR_TASK_NOT_FOUND' });
  });

  it('undoes a failed or expired task: the target copy is garbage, the block waits and is handed out again', async () => {
    const ids = await setUp();
    const block = await commitBlock('ds=1');
    const rotten = block.chunks[1] as BlockPlacement['chunks'][number];
    await call('POST', `/v1/nodes/${rotten.nodeId}/corrupt`, { chunks: [{ chunkId: rotten.chunkId, reason: 'bad page', missing: true }] });
    const executor = ids[0] as string;
    const [task] = (await heartbeat(executor, 1)).repairs ?? [];
    const target = task?.restores[0]?.target.nodeId as string;
    expect(target).not.toBe(rotten.nodeId);
    const failed = await call('POST', `/v1/repairs/${task?.taskId}/report`, {
      nodeId: executor,
      results: [{ shard: 1, ok: false, error: 'GRN_CHECKSUM_MISMATCH' }],
      bytesRead: 4000,
      bytesWritten: 0,
    });
    expect(failed.body).toEqual({ switched: [], discarded: [{ shard: 1, reason: 'GRN_CHECKSUM_MISMATCH' }] });
    const gc = (await call<{ blocks: { chunks: { chunkId: string; nodeId: string }[] }[] }>('GET', '/v1/gc')).body.blocks;
    expect(gc.flatMap((record) => record.chunks)).toEqual([{ chunkId: rotten.chunkId, nodeId: target }]);
    // Backing off: not handed out at once.
    expect((await heartbeat(executor, 1)).repairs ?? []).toEqual([]);
    // After the back-off it is; this time the executor goes silent and the lease runs out.
    const retried = await pollUntil('the block handed out again', async () => {
      return ((await heartbeat(executor, 1)).repairs ?? [])[0];
    }, 10_000, 50);
    // Not back to the target that failed: its copy is still queued for deletion.
    expect(retried.restores[0]?.target.nodeId).not.toBe(target);
    await pollUntil('the task expired', async () => (meta.service.repair.expire().then((count) => (count > 0 ? true : undefined))), 10_000, 50);
    expect(meta.service.state.repairTasks.has(retried.taskId)).toBe(false);
    const status = (await call<RepairStatus>('GET', '/v1/repair')).body;
    expect(status.counters).toMatchObject({ tasksFailed: 1, tasksExpired: 1, shardsRestored: 0 });
    expect(status.blocks.underReplicated).toBe(1);
  });

  it('keeps a running task across a restart, and applies its report afterwards', async () => {
    const ids = await setUp();
    const block = await commitBlock('ds=1');
    const rotten = block.chunks[3] as BlockPlacement['chunks'][number];
    await call('POST', `/v1/nodes/${rotten.nodeId}/corrupt`, { chunks: [{ chunkId: rotten.chunkId, reason: 'bad page' }] });
    const executor = ids[0] as string;
    const [task] = (await heartbeat(executor, 1)).repairs ?? [];
    meta = await meta.reopen();
    expect(meta.service.state.repairTasks.has(task?.taskId as string)).toBe(true);
    const answer = await call('POST', `/v1/repairs/${task?.taskId}/report`, { nodeId: executor, results: [{ shard: 3, ok: true }], bytesRead: 4000, bytesWritten: 1000 });
    expect(answer.body).toEqual({ switched: [3], discarded: [] });
    expect((await call<RepairStatus>('GET', '/v1/repair')).body.blocks).toMatchObject({ healthy: 1, underReplicated: 0 });
    const metrics = (await meta.app.inject({ url: '/metrics' })).payload;
    expect(metrics).toMatch(/^granary_repair_shards_restored_total 1$/m);
    expect(metrics).toMatch(/^granary_repair_written_bytes_total 1000$/m);
    expect(metrics).toMatch(/^granary_blocks\{health="healthy"\} 1$/m);
    expect(metrics).toMatch(/^granary_repair_queued_bytes 0$/m);
    expect(metrics).toMatch(/^granary_nodes\{state="alive"\} 8$/m);
    // The rotten copy, moved off its node, waits for deletion.
    expect(metrics).toMatch(/^granary_gc_backlog\{kind="records"\} 1$/m);
    expect(metrics).toMatch(/granary_metadata_request_duration_seconds_count\{route="\/v1\/repairs\/:task\/report"\} 1/);
  });
});
