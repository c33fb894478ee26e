import { describe, expect, it } from 'vitest';
import { SpareBuffers } from '../../../erasure/index.js';

describe('spare buffers', () => {
  it('reuses given-back buffers by size class and keeps only what its bounds allow', () => {
    const spare = new SpareBuffers({ keepBytes: 16_384, minBytes: 4096, maxBytes: 8192 });
    const small = spare.take(10);
    expect(small.byteLength).toBe(4096);
    const mid = spare.take(5000);
    expect(mid.byteLength).toBe(8192);
    spare.give(small);
    spare.give(mid);
    expect(spare.take(4000) === small).toBe(true);
    expect(spare.take(8000) === mid).toBe(true);
    // Too large for a class, odd-sized, or shared: never kept.
    const large = spare.take(10_000);
    spare.give(large);
    spare.give(new ArrayBuffer(5000));
    spare.give(new SharedArrayBuffer(4096));
    expect(spare.take(10_000) === large).toBe(false);
    expect(spare.take(4096).byteLength).toBe(4096);
  });
});
