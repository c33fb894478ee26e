/**
 * The faults a memory-backed node carries out at the HTTP level, seen through the client's real
 * batched-read path: an answer cut off mid-frame, a node that answers 503, a node that drops
 * every connection; and the store's faults as the frame statuses a reader gets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpPools, type PlannedBlock, type RangeRequest, readRanges } from '../../../protocol/index.js';
import type { MemoryChunkStore } from '../../../storage-node/index.js';
import { type MemoryNodes, type WrittenBlock, startMemoryNodes } from '../../helpers/memory-nodes.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const BLOCK_BYTES = 200_000;
const POLICY = { dataShards: 6, parityShards: 3 };

function randomBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

describe('memory nodes', () => {
  let nodes: MemoryNodes;
  let http: HttpPools;
  let bytes: Uint8Array;
  let block: WrittenBlock;
  beforeAll(async () => {
    nodes = await startMemoryNodes(9);
    http = new HttpPools();
    bytes = randomBytes(BLOCK_BYTES, 1);
    block = await nodes.writeBlock('blk', POLICY, bytes, 2);
  });
  afterEach(() => {
    nodes.reset();
  });
  afterAll(async () => {
    await nodes.close();
    await http.close();
  });

  /** Shard 1 of the block: its node, its store, two ranges of it and its bytes. */
  function shardOne(): { url: string; store: MemoryChunkStore; ranges: RangeRequest[]; shard: Uint8Array } {
    const chunk = block.chunks[1] as PlannedBlock['chunks'][number];
    const store = nodes.nodes.find((node) => node.nodeId === chunk.nodeId)?.store as MemoryChunkStore;
    const ranges = [
      { chunk: chunk.chunkId, offset: 0, length: 10_000 },
      { chunk: chunk.chunkId, offset: 20_000, length: 10_000 },
    ];
    return { url: chunk.url, store, ranges, shard: bytes.subarray(block.shardBytes, 2 * block.shardBytes) };
  }

  it('hold a written block shard by shard, placed from the first node given, with its checksums', async () => {
    expect(block.chunks.map((c) => c.nodeId)).toEqual(['mem-2', 'mem-3', 'mem-4', 'mem-5', 'mem-6', 'mem-7', 'mem-8', 'mem-0', 'mem-1']);
    expect(block.chunks.map((c) => c.chunkId)).toEqual(Array.from({ length: 9 }, (_, i) => `blk.${i}`));
    expect(block.shardChecksums).toHaveLength(9);
    const { url, shard } = shardOne();
    const frames = await readRanges(http, url, [{ chunk: 'blk.1', offset: 0, length: block.shardBytes }]);
    expect(frames[0]?.status).toBe('ok');
    expect(Buffer.from(frames[0]?.data as Uint8Array).equals(shard)).toBe(true);
  });

  it('short: the answer breaks off inside the chunk\'s frame and the read fails as a lost node', async () => {
    const { url, store, ranges, shard } = shardOne();
    store.setChunkFaults('blk.1', { short: true });
    await expect(readRanges(http, url, ranges, { verifyPages: false })).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE' });
    // Once the fault is gone the same node answers whole again, on a fresh connection.
    store.clearFaults();
    const frames = await readRanges(http, url, ranges);
    expect(frames.map((f) => f.status)).toEqual(['ok', 'ok']);
    expect(Buffer.from(frames[1]?.data as Uint8Array).equals(shard.subarray(20_000, 30_000))).toBe(true);
  });

  it('refuse: every request is answered 503 GRN_UNAVAILABLE until the node is back', async () => {
    const { url, store, ranges } = shardOne();
    store.setUnavailable('refuse');
    await expect(readRanges(http, url, ranges)).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE', message: /refuses every request/ });
    const health = await http.pool(url).request({ method: 'GET', path: '/health' });
    await health.body.dump();
    expect(health.statusCode).toBe(503);
    store.setUnavailable(undefined);
    expect((await readRanges(http, url, ranges)).map((f) => f.status)).toEqual(['ok', 'ok']);
  });

  it('reset: every connection is dropped unanswered until the node is back', async () => {
    const { url, store, ranges } = shardOne();
    store.setUnavailable('reset');
    await expect(readRanges(http, url, ranges)).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE' });
    store.setUnavailable(undefined);
    expect((await readRanges(http, url, ranges)).map((f) => f.status)).toEqual(['ok', 'ok']);
  });

  it('store faults show as frame statuses: missing, corrupt (checked reads only), eio', async () => {
    const { url, store, ranges, shard } = shardOne();
    store.setChunkFaults('blk.1', { missing: true });
    expect((await readRanges(http, url, ranges)).map((f) => f.status)).toEqual(['missing', 'missing']);
    store.setChunkFaults('blk.1', { corrupt: true });
    expect((await readRanges(http, url, ranges)).map((f) => f.status)).toEqual(['corrupt', 'corrupt']);
    const unchecked = await readRanges(http, url, ranges, { verifyPages: false });
    expect(unchecked.map((f) => f.status)).toEqual(['ok', 'ok']);
    expect(Buffer.from(unchecked[0]?.data as Uint8Array).equals(shard.subarray(0, 10_000))).toBe(false);
    store.setChunkFaults('blk.1', { eio: true });
    expect((await readRanges(http, url, ranges, { verifyPages: false })).map((f) => f.status)).toEqual(['corrupt', 'corrupt']);
  });
});
