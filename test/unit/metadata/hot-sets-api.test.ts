/**
 * Declarations and hot sets through the metadata API (app.inject() on a real store): what jobs
 * declare (registered, or from their first training plan), refused bad declarations, and the hot
 * extents each node is handed with its heartbeats.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlockPlacement, HeartbeatAnswer } from '../../../protocol/index.js';
import type { DeclaredJob } from '../../../protocol/hot-cache-types.js';
import { manifestFor } from '../../helpers/manifests.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

let meta: MetadataApp;
let block: BlockPlacement;
beforeEach(async () => {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 9, 3);
  await call('POST', '/v1/tables', { name: 'events', columns: [{ name: 'label', type: 'float' }, { name: 'age', type: 'int64' }, { name: 'ids', type: 'id_list' }], partitionBy: ['ds'], ec: '6+3' });
  const { sessionId } = (await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition: 'ds=2026-11-25' })).body;
  block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
  expect((await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(block, ['label', 'age', 'ids'], 3))).status).toBe(200);
});
afterEach(async () => {
  await meta.close();
});

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: response.statusCode, body: response.json() as T };
}

async function heartbeat(nodeId: string, hotVersion?: number): Promise<HeartbeatAnswer> {
  const answer = await call<HeartbeatAnswer>('POST', `/v1/nodes/${nodeId}/heartbeat`, { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0, ...(hotVersion === undefined ? {} : { hotVersion }) });
  expect(answer.status).toBe(200);
  return answer.body;
}

describe('job declarations and hot sets', () => {
  it('hands each node the ranges of the declared columns it holds, once per version', async () => {
    const declared = await call<DeclaredJob>('POST', '/v1/tables/events/declarations', { job: 'ctr', columns: ['ids'], ttlMs: 3_600_000 });
    expect(declared.status).toBe(201);
    expect(declared.body).toMatchObject({ job: 'ctr', table: 'events', columns: ['ids'], source: 'register' });
    await meta.service.hotSets.refresh();
    // manifestFor lays 1000-byte streams out stripe by stripe: `ids` is bytes 2000-3000, 5000-6000
    // and 8000-9000 of the 9000-byte block, in shards of 1504 bytes.
    const held = new Map<string, number>();
    let version = 0;
    for (const chunk of block.chunks) {
      const answer = await heartbeat(chunk.nodeId);
      version = answer.hot?.version ?? version;
      for (const extent of answer.hot?.extents ?? []) {
        expect(extent.chunkId.startsWith(`${block.blockId}.`)).toBe(true);
        expect(extent.priority).toBeGreaterThanOrEqual(1);
        held.set(extent.chunkId, (held.get(extent.chunkId) ?? 0) + extent.length);
      }
    }
    expect([...held.values()].reduce((sum, n) => sum + n, 0)).toBe(3000);
    expect([...held.keys()].sort()).toEqual([1, 3, 5].map((shard) => `${block.blockId}.${shard}`).sort());
    // A node holding the current version is sent nothing.
    expect((await heartbeat(block.chunks[1]?.nodeId as string, version)).hot).toBeUndefined();
    expect((await heartbeat(block.chunks[1]?.nodeId as string, version - 1)).hot?.version).toBe(version);
  });

  it('declares a job from its first training plan, never over what it registered, and refuses bad declarations', async () => {
    expect((await call('POST', '/v1/tables/events/scan?format=json', { columns: ['label'], job: 'auto', epoch: 0 })).status).toBe(200);
    expect((await call('POST', '/v1/tables/events/scan?format=json', { columns: ['age'], job: 'export-job', purpose: 'export' })).status).toBe(200);
    await call('POST', '/v1/tables/events/declarations', { job: 'mine', columns: ['age'] });
    expect((await call('POST', '/v1/tables/events/scan?format=json', { columns: ['label', 'ids'], job: 'mine', epoch: 0 })).status).toBe(200);
    const list = (await call<{ declarations: DeclaredJob[] }>('GET', '/v1/declarations')).body.declarations;
    expect(list.map(({ job, columns, source }) => ({ job, columns, source }))).toEqual([
      { job: 'mine', columns: ['age'], source: 'register' },
      { job: 'auto', columns: ['label'], source: 'first-epoch' },
    ]);
    const bad: [unknown, string, number, RegExp][] = [
      [{ job: 'x', columns: ['nosuch'] }, 'events', 400, /no column nosuch/],
      [{ job: 'x' }, 'nosuch', 404, /no table/],
      [{ job: 'x', ttlMs: 365 * 86_400_000 }, 'events', 400, /ttlMs/],
      [{ job: 'not a job' }, 'events', 400, /job/],
      [{ job: 'x', extra: 1 }, 'events', 400, /extra|additional/],
    ];
    for (const [body, table, status, message] of bad) {
      const answer = await call<{ message: string }>('POST', `/v1/tables/${table}/declarations`, body);
      expect(answer.status, JSON.stringify(body)).toBe(status);
      expect(answer.body.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await call<{ declarations: DeclaredJob[] }>('GET', '/v1/declarations')).body.declarations).toHaveLength(2);
  });
});
