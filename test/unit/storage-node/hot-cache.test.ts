import { describe, expect, it } from 'vitest';
import { HotCache } from '../../../storage-node/hot-cache.js';

const bytes = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

describe('the hot-column cache', () => {
  it('admits only reads inside a hot extent, and serves any range inside what it holds', () => {
    const cache = new HotCache(1000);
    cache.setHot(1, [{ chunkId: 'b.0', offset: 100, length: 200, priority: 5 }]);
    cache.offer('b.0', 0, bytes(50, 1));
    cache.offer('b.0', 250, bytes(100, 2));
    expect(cache.bytes).toBe(0);
    const data = Buffer.from(Array.from({ length: 150 }, (_, i) => i));
    cache.offer('b.0', 120, data);
    expect(cache.bytes).toBe(150);
    // A copy: the reader's buffer goes back to its pool.
    data.fill(0);
    expect([...(cache.lookup('b.0', 130, 5) ?? [])]).toEqual([10, 11, 12, 13, 14]);
    expect(cache.lookup('b.0', 260, 20)).toBeUndefined();
    expect(cache.lookup('b.1', 130, 5)).toBeUndefined();
    expect(cache.counters).toMatchObject({ hits: 1, hitBytes: 5, misses: 2, admitted: 1, rejected: 2 });
  });

  it('makes room from the lowest priority first and never evicts a range worth more than the newcomer', () => {
    const cache = new HotCache(300);
    cache.setHot(1, [
      { chunkId: 'hot.0', offset: 0, length: 1000, priority: 100 },
      { chunkId: 'warm.0', offset: 0, length: 1000, priority: 10 },
      { chunkId: 'cold.0', offset: 0, length: 1000, priority: 1 },
    ]);
    cache.offer('warm.0', 0, bytes(100, 1));
    cache.offer('hot.0', 0, bytes(100, 2));
    cache.offer('hot.0', 100, bytes(100, 3));
    expect(cache.bytes).toBe(300);
    // A cold read finds only better ranges: it is turned away.
    cache.offer('cold.0', 0, bytes(100, 4));
    expect(cache.lookup('cold.0', 0, 100)).toBeUndefined();
    expect(cache.lookup('warm.0', 0, 100)).toBeDefined();
    // A hot one evicts the warm range.
    cache.offer('hot.0', 200, bytes(100, 5));
    expect(cache.lookup('warm.0', 0, 100)).toBeUndefined();
    expect(cache.lookup('hot.0', 250, 10)?.[0]).toBe(5);
    expect(cache.counters.evicted).toBe(1);
    // Ranges that are no longer hot leave when the set changes; a changed chunk leaves at once.
    cache.setHot(2, [{ chunkId: 'hot.0', offset: 0, length: 200, priority: 100 }]);
    expect(cache.bytes).toBe(200);
    expect(cache.version).toBe(2);
    cache.evictChunk('hot.0');
    expect(cache.bytes).toBe(0);
  });

  it('under lru admits every read and evicts the least recently used; a zero budget holds nothing', () => {
    const lru = new HotCache(200, 'lru');
    lru.offer('a.0', 0, bytes(100, 1));
    lru.offer('b.0', 0, bytes(100, 2));
    expect(lru.lookup('a.0', 0, 10)).toBeDefined();
    lru.offer('c.0', 0, bytes(100, 3));
    expect(lru.lookup('b.0', 0, 10)).toBeUndefined();
    expect(lru.lookup('a.0', 0, 10)).toBeDefined();
    expect(lru.lookup('c.0', 0, 10)).toBeDefined();
    const none = new HotCache(0, 'lru');
    none.offer('a.0', 0, bytes(10, 1));
    expect(none.lookup('a.0', 0, 10)).toBeUndefined();
    expect(() => new HotCache(-1)).toThrow(/whole number/);
  });
});
