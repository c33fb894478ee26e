import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PageChecksummer,
  checksumFromHex,
  checksumToHex,
  createXxh64,
  pageChecksums,
  xxh64,
} from '../../../erasure/index.js';

describe('checksums', () => {
  it('page tables built from arbitrary pieces equal the one-shot table', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(512, 1024, 4096),
        (data, cuts, pageBytes) => {
          const summer = new PageChecksummer(pageBytes);
          let offset = 0;
          let cut = 0;
          while (offset < data.length) {
            const size = cuts[cut++ % cuts.length] as number;
            summer.update(data.subarray(offset, offset + size));
            offset += size;
          }
          const { pages, whole } = summer.finish();
          expect([...pages]).toEqual([...pageChecksums(data, pageBytes)]);
          expect(whole).toBe(xxh64(data));
          expect(summer.bytes).toBe(data.length);
        },
      ),
    );
  });

  it('streaming and one-shot xxh64 agree; hex round-trips', () => {
    const data = new Uint8Array(100_000).map((_, i) => i * 7);
    const stream = createXxh64();
    stream.update(data.subarray(0, 33_333));
    stream.update(data.subarray(33_333));
    expect(stream.digest()).toBe(xxh64(data));
    const hex = checksumToHex(xxh64(data));
    expect(hex).toMatch(/^[0-9a-f]{16}$/);
    expect(checksumFromHex(hex.toUpperCase())).toBe(xxh64(data));
    expect(checksumToHex(5n)).toBe('0000000000000005');
    expect(() => checksumFromHex('xyz')).toThrow(/16 hex digits/);
  });

  it('refuses page sizes out of range', () => {
    expect(() => new PageChecksummer(10)).toThrow(/page size/);
  });
});
