import { describe, expect, it } from 'vitest';
import { SHARD_RUN_BYTES, layoutBlock, relayStreams } from '../../../protocol/block-layout.js';
import { contiguousLayout } from '../../../erasure/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';
import { READ_BYTES_MAX, READ_COST_BYTES, READ_GAP_BYTES, blockReads, hotColumns, judgeFile, popularityOrder, type ModelBlock } from '../../../metadata/relayout-model.js';

/** A block of `stripes` stripes of `columns` columns of `bytes` each, laid out in schema order. */
function schemaBlock(columns: number, stripes: number, bytes: number, dataShards: number): ModelBlock {
  const lengths = Array.from({ length: stripes }, () => Array.from({ length: columns }, () => bytes));
  const layout = layoutBlock(lengths, Array.from({ length: columns }, (_, c) => c), 1);
  return {
    dataShards,
    parityShards: 1,
    blockBytes: layout.bytes,
    streams: lengths.flatMap((row, s) => row.map((length, c) => ({ stripe: s, column: c, offset: (layout.offsets[s] as number[])[c] as number, length }))),
  };
}

describe('block layout', () => {
  it('lays columns out in order, stripes side by side, on 8-byte boundaries, with no overlap', () => {
    const layout = layoutBlock([[3, 10, undefined], [5, 0, 9]], [2, 0, 1], 1);
    // Column 2 (stripe 1 only: 9 bytes, 16 aligned), then column 0 of both stripes, then column 1.
    expect(layout.offsets).toEqual([[16, 32, 0], [24, 48, 0]]);
    expect(layout.bytes).toBe(48);
  });

  it('gives the first shard the most read columns up to a run, then the next shard from its first byte', () => {
    const MiB = 1024 * 1024;
    // 12 columns of 1 MiB each (one stripe), 3 data shards of 4 MiB: runs of 4 columns.
    const lengths = [Array.from({ length: 12 }, () => MiB)];
    const order = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    const layout = layoutBlock(lengths, order, 3);
    const shardBytes = contiguousLayout({ dataShards: 3, parityShards: 1 }, layout.bytes).shardBytes;
    expect(shardBytes).toBe(4 * MiB);
    const at = (column: number): number => (layout.offsets[0] as number[])[column] as number;
    expect(order.slice(0, 4).map(at)).toEqual([0, MiB, 2 * MiB, 3 * MiB]);
    expect(at(7)).toBe(shardBytes);
    expect(at(3)).toBe(2 * shardBytes);
    expect(SHARD_RUN_BYTES).toBe(4 * MiB);
  });

  it('lays out any streams without overlap, on 8-byte boundaries, in shards contiguousLayout cuts where it meant', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 200; trial++) {
      const columns = 1 + Math.floor(random() * 40);
      const stripes = 1 + Math.floor(random() * 5);
      const k = 1 + Math.floor(random() * 8);
      const lengths = Array.from({ length: stripes }, () => Array.from({ length: columns }, () => (random() < 0.1 ? undefined : Math.floor(random() ** 3 * 300_000))));
      const order = Array.from({ length: columns }, (_, c) => c).sort(() => random() - 0.5);
      const layout = layoutBlock(lengths, order, k);
      const placed = lengths.flatMap((row, s) => row.flatMap((length, c) => (length === undefined ? [] : [{ at: (layout.offsets[s] as number[])[c] as number, length }])));
      // An empty stream may share its offset with the stream after it.
      placed.sort((x, y) => x.at - y.at || x.length - y.length);
      let end = 0;
      for (const { at, length } of placed) {
        expect(at % 8).toBe(0);
        expect(at).toBeGreaterThanOrEqual(end);
        end = at + length;
      }
      expect(end).toBeLessThanOrEqual(layout.bytes);
      const data = placed.reduce((sum, p) => sum + Math.ceil(p.length / 8) * 8, 0);
      // The gaps between shards stay small next to the data, or the streams go in order, gapless.
      expect(layout.bytes).toBeLessThanOrEqual(Math.max(1, data * 1.02 + 8 * k));
    }
  });

  it('lays existing streams out again: every stream kept, in the new order, within the new block', () => {
    const streams = [
      { stripe: 4, column: 0, length: 7 },
      { stripe: 4, column: 1, length: 0 },
      { stripe: 5, column: 1, length: 12 },
      { stripe: 5, column: 0, length: 1 },
    ];
    const { offsets, bytes } = relayStreams(streams, [1, 0], 1);
    // Column 1 first (an empty stream takes no room), then column 0.
    expect(offsets).toEqual([16, 0, 0, 24]);
    expect(bytes).toBe(32);
  });
});

describe('the re-layout cost model', () => {
  it('ranks columns by decayed bytes, then scans, then file order, and calls hot what half the scans read', () => {
    const scores = [
      { bytes: 10, scans: 1 },
      { bytes: 500, scans: 10 },
      { bytes: 500, scans: 12 },
      { bytes: 0, scans: 0 },
      { bytes: 90, scans: 5 },
    ];
    expect(popularityOrder(scores)).toEqual([2, 1, 4, 0, 3]);
    expect([...hotColumns(scores)].sort()).toEqual([1, 2]);
    expect(hotColumns([{ bytes: 0, scans: 0 }]).size).toBe(0);
  });

  it('counts reads per data shard the way readers coalesce them', () => {
    // Three streams of one column per stripe, adjacent: one read; a gap past READ_GAP_BYTES splits it.
    const block: ModelBlock = {
      dataShards: 1,
      parityShards: 1,
      blockBytes: 10 * 1024 * 1024,
      streams: [
        { stripe: 0, column: 0, offset: 0, length: 1000 },
        { stripe: 1, column: 0, offset: 1000 + READ_GAP_BYTES, length: 1000 },
        { stripe: 2, column: 0, offset: 2000 + READ_GAP_BYTES + READ_GAP_BYTES + 1, length: 1000 },
        { stripe: 0, column: 1, offset: 5 * 1024 * 1024, length: READ_BYTES_MAX },
      ],
    };
    expect(blockReads(block, new Set([0]), (s) => s.offset)).toBe(2);
    expect(blockReads(block, new Set([0, 1]), (s) => s.offset)).toBe(3);
    expect(blockReads(block, new Set([2]), (s) => s.offset)).toBe(0);
  });

  it('rewrites a file in schema order when its hot columns lie apart, only when enough scans repay the bytes moved', () => {
    // 40 columns of 64 KiB per stripe, 4 stripes, two data shards; 5 hot columns scattered.
    const block = schemaBlock(40, 4, 64 * 1024, 2);
    const scores = Array.from({ length: 40 }, (_, c) => ([3, 11, 19, 27, 35].includes(c) ? { bytes: 1e6, scans: 9 } : { bytes: 0, scans: 0 }));
    const order = popularityOrder(scores);
    const hot = hotColumns(scores);
    const few = judgeFile([block], order, hot, 1);
    expect(few.readsNow).toBe(5);
    expect(few.readsAfter).toBeLessThan(few.readsNow);
    expect(few.pays).toBe(false);
    expect(few.reason).toMatch(/do not repay/);
    const scansToPay = Math.ceil(few.bytesToRewrite / ((few.readsNow - few.readsAfter) * READ_COST_BYTES));
    const many = judgeFile([block], order, hot, scansToPay);
    expect(many.pays).toBe(true);
    expect(many.bytesSaved).toBeGreaterThanOrEqual(many.bytesToRewrite);
    // Laid out in that order already: nothing to gain.
    const relaid = relayStreams(block.streams, order, 2);
    const done: ModelBlock = { ...block, blockBytes: relaid.bytes, streams: block.streams.map((s, i) => ({ ...s, offset: relaid.offsets[i] as number })) };
    expect(judgeFile([done], order, hot, 1e6)).toMatchObject({ pays: false, reason: 'already laid out for the hot columns' });
  });
});
