import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COALESCING_DEFAULTS, NO_COALESCING, groupByNode, planReads } from '../../../client/reader/read-plan.js';
import { contiguousLayout } from '../../../erasure/index.js';
import type { PlannedBlock } from '../../../protocol/index.js';

function block(blockBytes: number, k = 6, m = 3): PlannedBlock {
  const layout = contiguousLayout({ dataShards: k, parityShards: m }, blockBytes);
  return {
    blockId: 'b1',
    dataShards: k,
    parityShards: m,
    codec: 'rs-wasm-v1',
    blockBytes,
    shardBytes: layout.shardBytes,
    chunks: Array.from({ length: k + m }, (_, shard) => ({ shard, chunkId: `b1.${shard}`, nodeId: `n${shard}`, url: `http://n${shard}`, nodeState: 'alive' })),
  };
}

describe('read planning', () => {
  it('covers every byte of every stream exactly once, with or without coalescing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 200_000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 20_000 })), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        (blockBytes, raw, coalesce) => {
          const blocks = [block(blockBytes)];
          const needs = raw.map(([a, len]) => {
            const offset = a % blockBytes;
            return { blockRef: 0, offset, length: Math.min(len, blockBytes - offset) };
          });
          const reads = planReads(blocks, needs, coalesce ? COALESCING_DEFAULTS : NO_COALESCING);
          const covered = needs.map((n) => new Uint8Array(n.length));
          const shardBytes = blocks[0]?.shardBytes as number;
          for (const read of reads) {
            expect(read.offset + read.length).toBeLessThanOrEqual(shardBytes);
            for (const piece of read.pieces) {
              expect(piece.readOffset + piece.length).toBeLessThanOrEqual(read.length);
              const need = needs[piece.stream] as { offset: number };
              // The piece's bytes in the block are where the stream says.
              expect(read.shard * shardBytes + read.offset + piece.readOffset).toBe(need.offset + piece.streamOffset);
              for (let i = 0; i < piece.length; i++) (covered[piece.stream] as Uint8Array)[piece.streamOffset + i]! += 1;
            }
          }
          for (const c of covered) expect(c.every((x) => x === 1)).toBe(true);
        },
      ),
    );
  });

  it('merges neighbouring streams of one shard into one read, within the gap and size limits', () => {
    const blocks = [block(6 * 1_000_000)];
    const needs = [
      { blockRef: 0, offset: 0, length: 1000 },
      { blockRef: 0, offset: 1000 + 10_000, length: 1000 }, // 10 KB gap: merged
      { blockRef: 0, offset: 500_000, length: 1000 }, // far: separate read
      { blockRef: 0, offset: 2_000_000, length: 1000 }, // another shard
    ];
    const reads = planReads(blocks, needs, COALESCING_DEFAULTS);
    expect(reads.map((r) => [r.shard, r.offset, r.length, r.pieces.length])).toEqual([
      [0, 0, 12_000, 2],
      [0, 500_000, 1000, 1],
      [2, 0, 1000, 1],
    ]);
    expect(planReads(blocks, needs, NO_COALESCING)).toHaveLength(4);
    const tight = planReads(blocks, needs, { ...COALESCING_DEFAULTS, maxReadBytes: 5000 });
    expect(tight).toHaveLength(4);
    const requests = groupByNode(blocks, reads, COALESCING_DEFAULTS);
    expect(requests.map((r) => [r.nodeUrl, r.reads.length])).toEqual([
      ['http://n0', 2],
      ['http://n2', 1],
    ]);
    expect(groupByNode(blocks, reads, { ...COALESCING_DEFAULTS, maxRangesPerRequest: 1 })).toHaveLength(3);
  });
});
