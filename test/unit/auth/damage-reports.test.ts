/**
 * Forged damage reports (issue 11): a reader that claims healthy chunks are corrupt or missing
 * must not send them to repair nor make status call them unavailable. A reader's claim counts
 * only once the node holding the chunk confirms it (metadata/report-verifier.ts); a node's own
 * reports count at once. The node here is a real one listening on loopback, checking
 * capabilities against the metadata service's key.
 */
import { afterEach, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../../erasure/index.js';
import { CAPABILITY_HEADER } from '../../../protocol/capability.js';
import { type BlockPlacement, CHECKSUM_HEADER, REPLACE_HEADER } from '../../../protocol/index.js';
import { CapabilityGuard } from '../../../storage-node/capability-guard.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { type StorageApp, makeStorageApp } from '../../helpers/storage-app.js';
import { expectCall, makeToken, oneBlockManifest, registerNodesWithTokens, tableSpec } from './auth-fixture.js';

let meta: MetadataApp | undefined;
let node: StorageApp | undefined;
afterEach(async () => {
  await meta?.close();
  await node?.close();
  meta = undefined;
  node = undefined;
});

it("counts a reader's damage report only when the node confirms it, and a node's own at once", async () => {
  meta = await makeMetadataApp({ auth: 'on', suspectAfterMs: 10 * 60_000, deadAfterMs: 20 * 60_000 });
  const admin = meta.adminToken;
  const guard = new CapabilityGuard('pending');
  guard.learn(meta.service.capabilities.publicKey);
  node = await makeStorageApp({ nodeId: 'node-0', guard });
  const nodeUrl = await node.app.listen({ host: '127.0.0.1', port: 0 });
  // 4+2 over exactly 6 nodes: every block has one shard on node-0, the real one.
  const nodeTokens = await registerNodesWithTokens(meta.app, admin, 6, (id) => (id === 'node-0' ? { url: nodeUrl } : {}));
  await expectCall(meta.app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('events') });
  await expectCall(meta.app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('other') });
  // Committed with the true checksum of the shard node-0 holds, which the check compares against.
  const bytes = Buffer.alloc(1000, 7);
  const session = await expectCall<{ sessionId: string }>(meta.app, 201, 'POST', '/v1/tables/events/sessions', { token: admin, body: { partition: 'ds=2026-12-01' } });
  const block = await expectCall<BlockPlacement>(meta.app, 201, 'POST', `/v1/sessions/${session.sessionId}/blocks`, { token: admin });
  const shardIndex = block.chunks.findIndex((chunk) => chunk.nodeId === 'node-0');
  expect(shardIndex).toBeGreaterThanOrEqual(0);
  const manifest = oneBlockManifest(block);
  const claims = manifest.blocks.map((claim) => ({
    ...claim,
    shardChecksums: claim.shardChecksums.map((hex, index) => (index === shardIndex ? checksumToHex(xxh64(bytes)) : hex)),
  }));
  await expectCall(meta.app, 200, 'POST', `/v1/sessions/${session.sessionId}/commit`, { token: admin, body: { ...manifest, blocks: claims } });
  const chunkId = (block.chunks[shardIndex] as { chunkId: string }).chunkId;
  const put = (payload: Buffer, replace: boolean) =>
    node!.app.inject({
      method: 'PUT',
      url: `/v1/chunks/${chunkId}`,
      headers: {
        [CHECKSUM_HEADER]: checksumToHex(xxh64(payload)),
        [CAPABILITY_HEADER]: replace ? meta!.service.capabilities.replace(chunkId) : meta!.service.capabilities.write(chunkId),
        'content-type': 'application/octet-stream',
        ...(replace ? { [REPLACE_HEADER]: 'true' } : {}),
      },
      payload,
    });
  expect((await put(bytes, false)).statusCode).toBe(201);

  const reader = (await makeToken(meta.app, admin, { role: 'reader', tables: ['events'] })).token;
  const stranger = (await makeToken(meta.app, admin, { role: 'reader', tables: ['other'] })).token;
  const report = (missing: boolean) => ({ chunks: [{ chunkId, reason: 'a reader says so', ...(missing ? { missing: true } : {}) }] });
  const accepted = async (token: string, missing: boolean): Promise<number> =>
    (await expectCall<{ accepted: number }>(meta!.app, 200, 'POST', '/v1/nodes/node-0/corrupt', { token, body: report(missing) })).accepted;

  // The chunk is there and intact: neither claim holds, and nothing is recorded.
  expect(await accepted(reader, false)).toBe(0);
  expect(await accepted(reader, true)).toBe(0);
  // Outside the reader's tables the claim is not even checked.
  expect(await accepted(stranger, true)).toBe(0);
  expect(meta.service.state.corrupt.has(chunkId)).toBe(false);

  // Other bytes with consistent checksums of their own (a node that checksummed bytes already
  // wrong): its verify passes, but they are not what the commit recorded, so the claim holds.
  expect((await put(Buffer.alloc(1000, 8), true)).statusCode).toBe(201);
  expect(await accepted(stranger, false)).toBe(0);
  expect(await accepted(reader, false)).toBe(1);
  expect(meta.service.state.corrupt.get(chunkId)?.missing).toBeUndefined();
  meta.service.state.corrupt.delete(chunkId);

  // Gone from the node: the same reader's claim is confirmed and counts.
  const deleted = await node.app.inject({ method: 'DELETE', url: `/v1/chunks/${chunkId}`, headers: { [CAPABILITY_HEADER]: meta.service.capabilities.delete(chunkId) } });
  expect(deleted.statusCode).toBe(204);
  expect(await accepted(stranger, true)).toBe(0);
  expect(await accepted(reader, true)).toBe(1);
  expect(meta.service.state.corrupt.get(chunkId)?.missing).toBe(true);

  // A node speaks for its own chunks without a check (its scrubber found them).
  const other = block.chunks.find((chunk) => chunk.nodeId === 'node-1') as { chunkId: string };
  const own = await expectCall<{ accepted: number }>(meta.app, 200, 'POST', '/v1/nodes/node-1/corrupt', {
    token: nodeTokens.get('node-1'),
    body: { chunks: [{ chunkId: other.chunkId, reason: 'scrub: page 0 checksum' }] },
  });
  expect(own.accepted).toBe(1);
});
