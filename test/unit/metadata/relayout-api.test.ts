/**
 * The re-layout routes through app.inject() on a real store: the plan and a file's layout, a
 * commit refused whole (nothing changes) for every kind of bad body, and a good one that puts the
 * new block in place of the old in the same position, keeps it across a restart, and answers a
 * retry with the stored result.
 */
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlockPlacement, type ScanPlan, decodeStreamEntry } from '../../../protocol/index.js';
import { relayStreams } from '../../../protocol/block-layout.js';
import type { FileLayout, RelayoutCommit, RelayoutPlan } from '../../../protocol/relayout-types.js';
import { contiguousLayout } from '../../../erasure/index.js';
import type { FilePage } from '../../../protocol/page-types.js';
import { manifestFor } from '../../helpers/manifests.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const COLUMNS = ['label', 'age', 'ids'];
const PARTITION = 'ds=2026-11-25';
const PARTITION_URL = encodeURIComponent(PARTITION);

let meta: MetadataApp;
beforeEach(async () => {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 12, 3);
  await call('POST', '/v1/tables', { name: 'events', columns: [{ name: 'label', type: 'float' }, { name: 'age', type: 'int64' }, { name: 'ids', type: 'id_list' }], partitionBy: ['ds'], ec: '6+3' });
});
afterEach(async () => {
  await meta.close();
});

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  const type = String(response.headers['content-type'] ?? '');
  return { status: response.statusCode, body: (type.includes('msgpack') ? unpack(response.rawPayload) : response.payload === '' ? undefined : response.json()) as T };
}

async function session(): Promise<{ sessionId: string; block: BlockPlacement }> {
  const opened = await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition: PARTITION });
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${opened.body.sessionId}/blocks`);
  return { sessionId: opened.body.sessionId, block: block.body };
}

/** The partition's files by what a re-layout keeps (all but the id, the session and the commit time). */
async function files(): Promise<{ fileId: string; sequence: number; rows: number; bytes: number; stripes: number }[]> {
  const page = (await call<FilePage>('GET', `/v1/tables/events/partitions/${PARTITION_URL}/files`)).body;
  return page.files.map(({ fileId, sequence, rows, bytes, stripes }) => ({ fileId, sequence, rows, bytes, stripes }));
}

describe('re-layout routes', () => {
  it('plans, serves a layout, refuses bad commits whole, swaps a good one in place, and answers its retry', async () => {
    const { sessionId: writer, block: written } = await session();
    expect((await call('POST', `/v1/sessions/${writer}/commit`, manifestFor(written, COLUMNS, 3))).status).toBe(200);
    const [original] = await files();
    // Training scans read `ids` only: it goes first.
    for (let epoch = 0; epoch < 3; epoch++) expect((await call('POST', '/v1/tables/events/scan', { columns: ['ids'], job: 'ctr', epoch })).status).toBe(200);
    const plan = (await call<RelayoutPlan>('GET', '/v1/tables/events/relayout')).body;
    expect(plan).toMatchObject({ table: 'events', hotColumns: ['ids'], scansExpected: 3 });
    expect(plan.order[0]).toBe('ids');
    expect(plan.files.map((f) => f.fileId)).toEqual([original?.fileId]);
    expect((await call('GET', '/v1/tables/events/relayout?partition=ds%3D1999-01-01')).status).toBe(404);

    const layout = (await call<FileLayout>('GET', `/v1/tables/events/partitions/${PARTITION_URL}/files/${original?.fileId}/layout`)).body;
    expect(layout.order[0]).toBe(2);
    expect(layout.blocks).toHaveLength(1);
    const old = layout.blocks[0] as FileLayout['blocks'][number];
    expect(old.block.blockId).toBe(written.blockId);
    expect(old.streams).toHaveLength(9);
    expect(old.block.capability).toEqual(expect.any(String));
    expect((await call('GET', `/v1/tables/events/partitions/${PARTITION_URL}/files/fnosuch/layout`)).status).toBe(404);

    const { sessionId, block } = await session();
    const relaid = relayStreams(old.streams, layout.order, 6);
    const good: RelayoutCommit = {
      fileId: original?.fileId as string,
      blocks: [
        {
          replaces: written.blockId,
          block: {
            blockId: block.blockId,
            blockBytes: relaid.bytes,
            shardBytes: contiguousLayout({ dataShards: 6, parityShards: 3 }, relaid.bytes).shardBytes,
            codec: block.codec,
            shardChecksums: Array.from({ length: 9 }, (_, shard) => (shard + 16).toString(16).padStart(16, '0')),
          },
          offsets: relaid.offsets,
        },
      ],
    };
    const entry = good.blocks[0] as RelayoutCommit['blocks'][number];
    const bad: [string, RelayoutCommit, number, RegExp][] = [
      ['unknown file', { ...good, fileId: 'fnosuch' }, 404, /no file fnosuch/],
      ['another block replaced', { ...good, blocks: [{ ...entry, replaces: 'bnosuch' }] }, 400, /names each of its 1 blocks once/],
      ['too few offsets', { ...good, blocks: [{ ...entry, offsets: entry.offsets.slice(1) }] }, 400, /holds 9 streams/],
      ['streams over each other', { ...good, blocks: [{ ...entry, offsets: entry.offsets.map(() => 0) }] }, 400, /over another stream/],
      ['past the block', { ...good, blocks: [{ ...entry, offsets: entry.offsets.map((o) => o + relaid.bytes) }] }, 400, /outside the/],
      ['a block of another session', { ...good, blocks: [{ ...entry, block: { ...entry.block, blockId: written.blockId } }] }, 400, /not allocated to session/],
    ];
    for (const [what, body, status, message] of bad) {
      const answer = await call<{ message: string }>('POST', `/v1/sessions/${sessionId}/relayout`, body);
      expect(answer.status, what).toBe(status);
      expect(answer.body.message, what).toMatch(message);
      expect((await files()).map((f) => f.fileId), what).toEqual([original?.fileId]);
    }

    const swapped = await call<{ fileId: string; replacedFileId: string; alreadyCommitted: boolean; blocks: number }>('POST', `/v1/sessions/${sessionId}/relayout`, good);
    expect(swapped.status, JSON.stringify(swapped.body)).toBe(200);
    expect(swapped.body).toMatchObject({ replacedFileId: original?.fileId, blocks: 1, alreadyCommitted: false });
    expect(await files()).toEqual([{ ...original, fileId: swapped.body.fileId }]);
    // Plans now read the new block at the new offsets; lengths and checksums are the old ones.
    const planned = (await call<ScanPlan>('POST', '/v1/tables/events/scan', { columns: COLUMNS, purpose: 'maintenance' })).body;
    expect(planned.blocks.map((b) => b.blockId)).toEqual([block.blockId]);
    for (const stripe of planned.stripes) {
      COLUMNS.forEach((_, c) => {
        const stream = decodeStreamEntry(stripe.streams, c);
        const at = old.streams.findIndex((s) => s.stripe === stripe.stripe && s.column === c);
        expect(stream.offset).toBe(relaid.offsets[at]);
        expect(stream.checksum.toString(16).padStart(16, '0')).toBe(old.streams[at]?.checksum);
      });
    }
    // The old block waits out the grace before GC deletes its chunks.
    const gc = (await call<{ blocks: { blockId: string; nextAttemptAt?: string }[] }>('GET', '/v1/gc')).body.blocks;
    const waiting = gc.find((b) => b.blockId === written.blockId);
    expect(waiting).toBeDefined();
    expect(Date.parse(waiting?.nextAttemptAt ?? '')).toBeGreaterThan(Date.now() + 60_000);

    const retried = await call<{ fileId: string; alreadyCommitted: boolean }>('POST', `/v1/sessions/${sessionId}/relayout`, good);
    expect(retried.body).toMatchObject({ fileId: swapped.body.fileId, alreadyCommitted: true });
    await meta.service.scans.flush();
    meta = await meta.reopen();
    expect(await files()).toEqual([{ ...original, fileId: swapped.body.fileId }]);
    expect((await call<RelayoutPlan>('GET', '/v1/tables/events/relayout')).body.files[0]?.reason).toBe('already laid out for the hot columns');
  });
});
