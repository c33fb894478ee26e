/**
 * SortedKeys and the maps built on it against a plain sorted array, through enough random adds
 * and deletes that runs split, empty and merge many times.
 */
import { describe, expect, it } from 'vitest';
import { GcQueueMap } from '../../../metadata/gc-queue-map.js';
import { PartitionMap } from '../../../metadata/partition-map.js';
import { SortedKeys } from '../../../metadata/sorted-keys.js';
import { SortedMap } from '../../../metadata/sorted-map.js';
import type { PartitionRecord } from '../../../metadata/records.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const OPERATIONS = 40_000;

function pageAll(keys: SortedKeys, limit: number): string[] {
  const seen: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages <= keys.size + 1; pages++) {
    const page = keys.after(after, limit);
    seen.push(...page);
    if (page.length < limit) return seen;
    after = page[page.length - 1];
  }
  throw new Error('paging did not end');
}

describe('SortedKeys', () => {
  it('keeps every key once in code-unit order through random adds and deletes', () => {
    const random = seededRandom(7);
    const keys = new SortedKeys();
    const reference = new Set<string>();
    for (let i = 0; i < OPERATIONS; i++) {
      // Mostly adds early, mostly deletes late: runs grow, split, then thin out and merge.
      const key = `k${Math.floor(random() * 6_000).toString(36)}`;
      if (random() < (i < OPERATIONS / 2 ? 0.8 : 0.25)) {
        expect(keys.add(key)).toBe(!reference.has(key));
        reference.add(key);
      } else {
        expect(keys.delete(key)).toBe(reference.has(key));
        reference.delete(key);
      }
      expect(keys.has(key)).toBe(reference.has(key));
      expect(keys.size).toBe(reference.size);
    }
    const sorted = [...reference].sort();
    expect([...keys]).toEqual(sorted);
    expect(pageAll(keys, 7)).toEqual(sorted);
    expect(pageAll(keys, 1000)).toEqual(sorted);
    // A cursor between keys, before all, and past all.
    const middle = sorted[Math.floor(sorted.length / 2)] as string;
    expect(keys.after(`${middle}\u0000`, 3)).toEqual(sorted.filter((key) => key > `${middle}\u0000`).slice(0, 3));
    expect(keys.after('', 2)).toEqual(sorted.slice(0, 2));
    expect(keys.after('zzz', 5)).toEqual([]);
    for (const key of sorted) keys.delete(key);
    expect(keys.size).toBe(0);
    expect(keys.after(undefined, 10)).toEqual([]);
  });

  it('orders by code unit, as the rest of the catalog compares ids', () => {
    const keys = new SortedKeys();
    for (const key of ['b', 'B', 'a', 'a_1', 'a-1', 'é', '10', '9']) keys.add(key);
    expect([...keys]).toEqual(['10', '9', 'B', 'a', 'a-1', 'a_1', 'b', 'é']);
  });
});

describe('sorted maps', () => {
  it('a SortedMap is a Map whose keys page in order and whose version counts changes', () => {
    const map = new SortedMap<number>();
    for (const key of ['c', 'a', 'b']) map.set(key, key.charCodeAt(0));
    const before = map.version;
    map.set('a', 0);
    expect(map.delete('missing')).toBe(false);
    expect(map.version).toBe(before + 1);
    map.delete('b');
    expect(map.keysAfter(undefined, 10)).toEqual(['a', 'c']);
    expect([...map.keys()]).toEqual(['c', 'a']);
    map.clear();
    expect(map.keysAfter(undefined, 10)).toEqual([]);
  });

  it('a PartitionMap keeps its table totals through replace and delete', () => {
    const partitions = new PartitionMap();
    const partition = (spec: string, rows: number): PartitionRecord => ({ tableId: 't', spec, values: {}, createdAt: 0, files: 1, stripes: 1, rows, bytes: rows * 10 });
    partitions.set('ds=1', partition('ds=1', 5));
    partitions.set('ds=2', partition('ds=2', 7));
    partitions.set('ds=1', partition('ds=1', 2));
    expect([partitions.rows, partitions.bytes]).toEqual([9, 90]);
    partitions.delete('ds=2');
    partitions.delete('ds=2');
    expect([partitions.rows, partitions.bytes, partitions.size]).toEqual([2, 20, 1]);
  });

  it('a GcQueueMap counts chunks and records waiting for a retry', () => {
    const queue = new GcQueueMap();
    const chunks = [{ chunkId: 'b1.0', nodeId: 'n0' }, { chunkId: 'b1.1', nodeId: 'n1' }];
    queue.set('b1', { blockId: 'b1', chunks, reason: 'test', queuedAt: 0 });
    queue.set('b2', { blockId: 'b2', chunks: chunks.slice(0, 1), reason: 'test', queuedAt: 0 });
    queue.set('b1', { blockId: 'b1', chunks: chunks.slice(1), reason: 'test', queuedAt: 0, attempts: 1, nextAttemptAt: 5 });
    expect([queue.size, queue.chunks, queue.retrying]).toEqual([2, 2, 1]);
    queue.delete('b1');
    expect([queue.size, queue.chunks, queue.retrying]).toEqual([1, 1, 0]);
  });
});
