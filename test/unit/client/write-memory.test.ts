import { contiguousLayout } from '../../../erasure/index.js';
import { describe, expect, it } from 'vitest';
import { encodeStream, rowsToRecordBatch } from '../../../client/format/index.js';
import { BlockBuilder, type EncodedStripe } from '../../../client/writer/block-builder.js';
import { BlockSpacePool, SLAB_BYTES, SlabPool, StripeMemory } from '../../../client/writer/write-memory.js';
import type { ColumnType } from '../../../protocol/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const COLUMNS: readonly { name: string; type: ColumnType }[] = [
  { name: 'f', type: 'float' },
  { name: 'ids', type: 'id_list' },
  { name: 's', type: 'string' },
];

function stripeRows(count: number, seed: number): Record<string, unknown>[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => ({
    f: random() < 0.1 ? null : random(),
    ids: Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * 1e6)),
    s: i % 3 === 0 ? null : 'x'.repeat(Math.floor(random() * 9)),
  }));
}

function encodeStripe(rows: Record<string, unknown>[], alloc?: (bytes: number) => Uint8Array): EncodedStripe {
  const batch = rowsToRecordBatch(COLUMNS, rows);
  return { rows: rows.length, streams: COLUMNS.map((c) => encodeStream(c.type, batch.getChild(c.name) as never, alloc)) };
}

describe('writer memory reuse', () => {
  it('encodes streams into reused, dirty memory exactly as into fresh memory', () => {
    const pool = new SlabPool(4 * SLAB_BYTES);
    for (let round = 0; round < 4; round++) {
      const memory = new StripeMemory(pool);
      const rows = stripeRows(300 + round * 7, round);
      const pooled = encodeStripe(rows, memory.alloc);
      const fresh = encodeStripe(rows);
      pooled.streams.forEach((stream, c) => {
        expect(Buffer.from(stream.bytes).equals(Buffer.from((fresh.streams[c] as typeof stream).bytes))).toBe(true);
        expect(stream.checksum).toBe((fresh.streams[c] as typeof stream).checksum);
        expect(stream.bytes.byteOffset % 8).toBe(0);
      });
      // Scribble over the memory before giving it back, as a finished stripe's bytes would be.
      for (const stream of pooled.streams) stream.bytes.fill(0xee);
      memory.release();
    }
  });

  it('lays a block out in reused space exactly as in a fresh buffer, zero after the block', () => {
    const stripes = [encodeStripe(stripeRows(100, 1)), encodeStripe(stripeRows(57, 2))];
    const fresh = new BlockBuilder();
    const reused = new BlockBuilder();
    for (const stripe of stripes) {
      fresh.add(stripe);
      reused.add(stripe);
    }
    const size = reused.bytes;
    const target = new Uint8Array(size + 100).fill(0xab);
    const a = fresh.build([2, 0, 1]);
    const b = reused.build([2, 0, 1], target);
    expect(Buffer.from(b.block.bytes).equals(Buffer.from(a.block.bytes))).toBe(true);
    expect(b.block.offsets).toEqual(a.block.offsets);
    expect(target.subarray(size).every((byte) => byte === 0)).toBe(true);
    const small = new BlockBuilder();
    small.add(stripes[0] as EncodedStripe);
    expect(() => small.build([0, 1, 2], new Uint8Array(8))).toThrow(/needs/);
  });

  it('lays the first columns of the order out together from shard 0, and starts every shard on its first byte', () => {
    const rows = stripeRows(400, 3);
    const batch = rowsToRecordBatch(COLUMNS, rows);
    // Nine copies of the float column: equal sizes, three to a shard.
    const stream = encodeStream('float', batch.getChild('f') as never);
    const builder = new BlockBuilder();
    builder.add({ rows: rows.length, streams: Array.from({ length: 9 }, () => stream) });
    const planned = builder.layout([8, 7, 6, 5, 4, 3, 2, 1, 0], 3);
    const { block } = builder.build([8, 7, 6, 5, 4, 3, 2, 1, 0], undefined, 3, planned);
    const offsets = block.offsets[0] as number[];
    const shardBytes = contiguousLayout({ dataShards: 3, parityShards: 2 }, block.bytes.length).shardBytes;
    const streamBytes = Math.ceil(stream.bytes.length / 8) * 8;
    // The most wanted columns (8, 7, 6) side by side in shard 0: a job wanting them reads one range.
    expect([8, 7, 6].map((c) => offsets[c])).toEqual([0, streamBytes, 2 * streamBytes]);
    // The next ones open shard 1 and shard 2 exactly.
    expect(offsets[5]).toBe(shardBytes);
    expect(offsets[2]).toBe(2 * shardBytes);
    expect(new Set(offsets).size).toBe(9);
    // One shard: the order as given.
    const plain = new BlockBuilder();
    plain.add({ rows: rows.length, streams: Array.from({ length: 9 }, () => stream) });
    const laid = plain.build([8, 7, 6, 5, 4, 3, 2, 1, 0]).block.offsets[0] as number[];
    expect(laid[8]).toBe(0);
    expect([...laid].sort((a, b) => a - b)).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0].map((c) => laid[c]));
  });

  it('hands out shared block spaces, reusing the smallest that fits and keeping a bounded number', () => {
    const spaces = new BlockSpacePool(2);
    const first = spaces.take(1000);
    expect(first.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(first.length).toBe(1000);
    const second = spaces.take(5000);
    spaces.give(first);
    spaces.give(second);
    expect(spaces.take(900).buffer === first.buffer).toBe(true);
    expect(spaces.take(2000).buffer === second.buffer).toBe(true);
    expect(spaces.take(10).buffer === first.buffer).toBe(false);
  });

  it('keeps at most its bound of free slab bytes', () => {
    const pool = new SlabPool(SLAB_BYTES);
    const a = pool.take(10);
    const b = pool.take(10);
    pool.give(a);
    pool.give(b);
    // Identity, not toBe: a failing toBe would diff two 8 MiB arrays.
    expect(pool.take(10) === a).toBe(true);
    expect(pool.take(10) === b).toBe(false);
    expect(pool.take(SLAB_BYTES * 2).length).toBe(SLAB_BYTES * 2);
  });
});
