/**
 * Garbage collection behind trouble, in process: a dead node's chunks wait with back-off while
 * everything else is collected, records of removed nodes are dropped, passes are bounded, and a
 * copy the catalog uses is never deleted.
 */
import { type Server, createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { GcWorker } from '../../../metadata/gc-worker.js';
import { copyGc } from '../../../metadata/gc.js';
import { put } from '../../../metadata/db.js';
import type { BlockPlacement, CommitManifest } from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { pollUntil } from '../../helpers/poll.js';

const LOAD = { capacityBytes: 1e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 };

interface FakeNode {
  readonly url: string;
  readonly deleted: string[];
  readonly server: Server;
}

let meta: MetadataApp;
const servers: Server[] = [];

afterEach(async () => {
  await meta?.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
});

/** A storage node that answers every DELETE 204 and records it. */
async function fakeNode(): Promise<FakeNode> {
  const deleted: string[] = [];
  const server = createServer((request, response) => {
    if (request.method === 'DELETE') deleted.push(decodeURIComponent((request.url ?? '').split('/').pop() ?? ''));
    response.statusCode = 204;
    response.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  servers.push(server);
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`, deleted, server };
}

async function call<T>(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object): Promise<T> {
  const response = await meta.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  expect(response.statusCode, response.payload).toBeLessThan(300);
  return response.json() as T;
}

async function commitBlock(partition: string): Promise<BlockPlacement> {
  const { sessionId } = await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition });
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`);
  const manifest: CommitManifest = {
    files: [{ columns: ['x'], stripes: [{ rows: 1, streams: [{ block: block.blockId, offset: 0, length: 10, checksum: '0'.repeat(16), encoding: 1 }] }] }],
    blocks: [{ blockId: block.blockId, blockBytes: 10, shardBytes: 8, codec: block.codec, shardChecksums: ['0'.repeat(16), '1'.repeat(16), '2'.repeat(16)] }],
  };
  await call('POST', `/v1/sessions/${sessionId}/commit`, manifest);
  return block;
}

describe('GC worker', () => {
  it('collects everything else while a node is dead, backs off on it, and drops it once the node is removed', async () => {
    meta = await makeMetadataApp({ suspectAfterMs: 200, deadAfterMs: 400 });
    const nodes = await Promise.all([fakeNode(), fakeNode(), fakeNode()]);
    const beat = (indexes: readonly number[]) => Promise.all(indexes.map((i) => call('POST', `/v1/nodes/n${i}/heartbeat`, LOAD)));
    for (const [i, node] of nodes.entries()) {
      await call('POST', '/v1/nodes/register', { nodeId: `n${i}`, url: node.url, domain: `d${i}`, ...LOAD });
    }
    await call('POST', '/v1/tables', { name: 'events', columns: [{ name: 'x', type: 'int64' }], ec: '2+1' });
    const first = await commitBlock('ds=1');
    await call('DELETE', `/v1/tables/events/partitions/${encodeURIComponent('ds=1')}`);
    // n2 goes silent until it is dead; n0 and n1 keep heartbeating.
    await pollUntil('n2 dead', async () => {
      await beat([0, 1]);
      const listed = await call<{ nodes: { nodeId: string; state: string }[] }>('GET', '/v1/nodes');
      return listed.nodes.find((n) => n.nodeId === 'n2')?.state === 'dead' ? true : undefined;
    }, 10_000, 20);
    const worker = new GcWorker(meta.service.state, meta.service.nodes, { intervalMs: 60_000, recordsPerPass: 1, requestTimeoutMs: 5_000, onError: () => undefined, capabilities: meta.service.capabilities });
    const report = await worker.runPass();
    expect(report).toEqual({ chunksDeleted: 2, blocksFinished: 0, chunksDeferred: 1, chunksInUse: 0 });
    expect(nodes[2]?.deleted).toEqual([]);
    const waiting = meta.service.state.gcQueue.get(first.blockId);
    expect(waiting?.chunks.map((chunk) => chunk.nodeId)).toEqual(['n2']);
    expect(waiting?.attempts).toBe(1);
    expect(waiting?.nextAttemptAt ?? 0).toBeGreaterThan(Date.now());
    // New garbage is not stuck behind the waiting record, even one record per pass.
    await beat([0, 1]);
    const copy = copyGc('bother.0', 'n0', 'test', Date.now());
    await meta.service.state.db.write([put(meta.service.state.db.gc, copy.blockId, copy)]);
    meta.service.state.putGc(copy);
    expect(await worker.runPass()).toEqual({ chunksDeleted: 1, blocksFinished: 1, chunksDeferred: 0, chunksInUse: 0 });
    expect(nodes[0]?.deleted).toContain('bother.0');
    // Removed: nothing is left to delete it from.
    await call('POST', '/v1/nodes/n2/remove');
    expect(await worker.runPass(Date.now() + 60 * 60_000)).toEqual({ chunksDeleted: 1, blocksFinished: 1, chunksDeferred: 0, chunksInUse: 0 });
    expect(meta.service.state.gcQueue.size).toBe(0);
    await worker.stop();
  });

  it('never deletes a copy the catalog places on that node', async () => {
    meta = await makeMetadataApp();
    const nodes = await Promise.all([fakeNode(), fakeNode(), fakeNode()]);
    for (const [i, node] of nodes.entries()) await call('POST', '/v1/nodes/register', { nodeId: `n${i}`, url: node.url, domain: `d${i}`, ...LOAD });
    await call('POST', '/v1/tables', { name: 'events', columns: [{ name: 'x', type: 'int64' }], ec: '2+1' });
    const block = await commitBlock('ds=1');
    const live = block.chunks[0] as BlockPlacement['chunks'][number];
    // A stale deletion of a chunk repair has since put back on this node.
    const stale = copyGc(live.chunkId, live.nodeId, 'moved by repair', Date.now());
    await meta.service.state.db.write([put(meta.service.state.db.gc, stale.blockId, stale)]);
    meta.service.state.putGc(stale);
    const worker = new GcWorker(meta.service.state, meta.service.nodes, { intervalMs: 60_000, recordsPerPass: 10, requestTimeoutMs: 5_000, onError: () => undefined, capabilities: meta.service.capabilities });
    expect(await worker.runPass()).toEqual({ chunksDeleted: 0, blocksFinished: 1, chunksDeferred: 0, chunksInUse: 1 });
    for (const node of nodes) expect(node.deleted).toEqual([]);
    await worker.stop();
  });
});
