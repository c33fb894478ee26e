import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SHARD_ALIGNMENT_BYTES,
  contiguousLayout,
  dataBytesInShard,
  joinShards,
  paddingBytes,
  parsePolicy,
  shardPieces,
  splitBlock,
} from '../../../erasure/index.js';

describe('contiguous layout', () => {
  it('sizes shards to cover the block, aligned, with the padding in the last shards', () => {
    const layout = contiguousLayout({ dataShards: 6, parityShards: 3 }, 64 * 1024 * 1024);
    expect(layout.shardBytes).toBe(11_184_816);
    expect(layout.shardBytes % SHARD_ALIGNMENT_BYTES).toBe(0);
    expect(paddingBytes(layout)).toBe(11_184_816 * 6 - 64 * 1024 * 1024);
    const tiny = contiguousLayout({ dataShards: 6, parityShards: 3 }, 10);
    expect(tiny.shardBytes).toBe(8);
    expect([0, 1, 2, 3, 4, 5].map((s) => dataBytesInShard(tiny, s))).toEqual([8, 2, 0, 0, 0, 0]);
  });

  it('maps every byte of a range to exactly one shard position', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 99_999 }),
        fc.integer({ min: 0, max: 100_000 }),
        (k, blockBytes, rawOffset, rawLength) => {
          const layout = contiguousLayout({ dataShards: k, parityShards: 2 }, blockBytes);
          const offset = rawOffset % blockBytes;
          const length = Math.min(rawLength, blockBytes - offset);
          const pieces = shardPieces(layout, offset, length);
          let cursor = offset;
          for (const piece of pieces) {
            expect(piece.blockOffset).toBe(cursor);
            expect(piece.shard * layout.shardBytes + piece.shardOffset).toBe(cursor);
            expect(piece.length).toBeGreaterThan(0);
            expect(piece.shardOffset + piece.length).toBeLessThanOrEqual(layout.shardBytes);
            cursor += piece.length;
          }
          expect(cursor).toBe(offset + length);
        },
      ),
    );
  });

  it('splits and joins a block losslessly, sharing memory for whole shards', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.uint8Array({ minLength: 1, maxLength: 5000 }), (k, block) => {
        const layout = contiguousLayout({ dataShards: k, parityShards: 1 }, block.length);
        const shards = splitBlock(layout, block);
        expect(shards).toHaveLength(k);
        for (const shard of shards) expect(shard.length).toBe(layout.shardBytes);
        if (layout.shardBytes <= block.length) expect((shards[0] as Uint8Array).buffer).toBe(block.buffer);
        expect(Buffer.from(joinShards(layout, shards)).equals(Buffer.from(block))).toBe(true);
      }),
    );
  });

  it('a small stream inside one shard is one piece', () => {
    const layout = contiguousLayout({ dataShards: 6, parityShards: 3 }, 6 * 1_000_000);
    expect(shardPieces(layout, 2_500_000, 16_384)).toEqual([
      { shard: 2, shardOffset: 500_000, length: 16_384, blockOffset: 2_500_000 },
    ]);
    expect(shardPieces(layout, 999_990, 20)).toEqual([
      { shard: 0, shardOffset: 999_990, length: 10, blockOffset: 999_990 },
      { shard: 1, shardOffset: 0, length: 10, blockOffset: 1_000_000 },
    ]);
  });

  it('rejects ranges past the block and bad policies with clear errors', () => {
    const layout = contiguousLayout({ dataShards: 6, parityShards: 3 }, 100);
    expect(() => shardPieces(layout, 90, 20)).toThrow(/runs past the block's 100 bytes/);
    expect(() => shardPieces(layout, -1, 2)).toThrow(/non-negative/);
    expect(() => contiguousLayout({ dataShards: 6, parityShards: 3 }, 0)).toThrow(/positive integer/);
    expect(() => parsePolicy('6-3')).toThrow(/look like "6\+3"/);
    expect(() => parsePolicy('0+3')).toThrow(/1\.\.32/);
    expect(() => parsePolicy('6+17')).toThrow(/0\.\.16/);
    expect(parsePolicy(' 10+4 ')).toEqual({ dataShards: 10, parityShards: 4 });
  });
});
