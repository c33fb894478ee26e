import { describe, expect, it } from 'vitest';
import { ReadBufferPool } from '../../../storage-node/read-buffers.js';

describe('read buffer pool', () => {
  it('hands back a buffer only after it was given back, in its power-of-two size class', () => {
    const pool = new ReadBufferPool(16 * 1024 * 1024);
    const first = pool.take(100_000);
    expect(first.length).toBe(100_000);
    expect(first.buffer.byteLength).toBe(128 * 1024);
    const second = pool.take(100_000);
    expect(second.buffer === first.buffer).toBe(false);
    pool.give(first.subarray(10, 20));
    const third = pool.take(70_000);
    expect(third.buffer === first.buffer).toBe(true);
    expect(pool.take(70_000).buffer === first.buffer).toBe(false);
  });

  it('keeps no more free bytes than its bound, and never keeps small or foreign buffers', () => {
    const pool = new ReadBufferPool(256 * 1024);
    const a = pool.take(200_000);
    const b = pool.take(200_000);
    pool.give(a);
    pool.give(b);
    expect(pool.take(200_000).buffer === a.buffer).toBe(true);
    expect(pool.take(200_000).buffer === b.buffer).toBe(false);
    const small = pool.take(100);
    pool.give(small);
    pool.give(Buffer.alloc(100_000));
    expect(pool.take(100_000).buffer.byteLength).toBe(128 * 1024);
  });
});
