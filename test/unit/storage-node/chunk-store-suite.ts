/**
 * The chunk store contract, runnable against any implementation through a factory.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import type { ChunkStore } from '../../../storage-node/index.js';

export interface StoreHarness {
  readonly store: ChunkStore;
  close(): Promise<void>;
}

export interface StoreFactoryOptions {
  readonly pageBytes?: number;
  readonly chunkBytesMax?: number;
  readonly reserveBytes?: number;
}

export function bytesOf(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed * 2_654_435_761;
  for (let i = 0; i < length; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Every chunk id of a store, page by page through `list` cursors. */
export function listAll(store: ChunkStore, pageLimit = 10): string[] {
  const seen: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const listing = store.list(after, pageLimit);
    seen.push(...listing.chunks.map((c) => c.id));
    if (listing.next === null) return seen;
    after = listing.next;
  }
  throw new Error('listing did not end');
}

export async function* piecesOf(data: Uint8Array, pieceBytes = 10_000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += pieceBytes) yield data.subarray(i, i + pieceBytes);
}

export function chunkStoreSuite(name: string, factory: (options: StoreFactoryOptions) => Promise<StoreHarness>): void {
  describe(`chunk store ${name}`, () => {
    const harnesses: StoreHarness[] = [];
    const open = async (options: StoreFactoryOptions = {}): Promise<StoreHarness> => {
      const harness = await factory(options);
      harnesses.push(harness);
      return harness;
    };
    afterEach(async () => {
      await Promise.all(harnesses.splice(0).map((h) => h.close()));
    });

    it('reads back any range of any chunk exactly', async () => {
      const { store } = await open({ pageBytes: 512 });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 5000 }),
          fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 8 }),
          async (length, ranges) => {
            const id = `c${n++}`;
            const data = bytesOf(length, n);
            const { info, created } = await store.put(id, piecesOf(data, 777), { expectedChecksum: xxh64(data) });
            expect(created).toBe(true);
            expect(info.dataBytes).toBe(length);
            for (const [a, b] of ranges) {
              const offset = length === 0 ? 0 : a % (length + 1);
              const span = Math.min(b % 2000, length - offset);
              const got = await store.readRange(id, offset, span);
              expect(got.equals(data.subarray(offset, offset + span))).toBe(true);
            }
          },
        ),
        { numRuns: 60 },
      );
    });

    it('refuses a body that does not match its checksum and keeps nothing', async () => {
      const { store } = await open();
      const data = bytesOf(100_000);
      await expect(store.put('bad', piecesOf(data), { expectedChecksum: xxh64(data) + 1n })).rejects.toMatchObject({
        code: 'GRN_CHECKSUM_MISMATCH',
      });
      expect(store.list(undefined, 10).chunks).toEqual([]);
      await expect(store.readRange('bad', 0, 1)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    });

    it('treats a repeated identical put as success and a different one as a conflict', async () => {
      const { store } = await open();
      const data = bytesOf(3000);
      expect((await store.put('same', piecesOf(data), { expectedChecksum: xxh64(data) })).created).toBe(true);
      expect((await store.put('same', piecesOf(data), { expectedChecksum: xxh64(data) })).created).toBe(false);
      const other = bytesOf(3000, 9);
      await expect(store.put('same', piecesOf(other), { expectedChecksum: xxh64(other) })).rejects.toMatchObject({
        code: 'GRN_CHUNK_EXISTS',
      });
      expect((await store.readRange('same', 0, 3000)).equals(data)).toBe(true);
    });

    it('refuses oversize chunks, declared or streamed, and keeps nothing', async () => {
      const { store } = await open({ chunkBytesMax: 50_000 });
      const data = bytesOf(60_000);
      await expect(
        store.put('big', piecesOf(data), { expectedChecksum: xxh64(data), expectedBytes: 60_000 }),
      ).rejects.toMatchObject({ code: 'GRN_PAYLOAD_TOO_LARGE' });
      await expect(store.put('big', piecesOf(data), { expectedChecksum: xxh64(data) })).rejects.toMatchObject({
        code: 'GRN_PAYLOAD_TOO_LARGE',
      });
      expect(store.list(undefined, 10).chunks).toEqual([]);
    });

    it('refuses uploads that would eat into the reserved free space', async () => {
      const { store } = await open({ reserveBytes: Number.MAX_SAFE_INTEGER });
      const data = bytesOf(10);
      await expect(store.put('r', piecesOf(data), { expectedChecksum: xxh64(data) })).rejects.toMatchObject({
        code: 'GRN_DISK_FULL',
      });
      expect(store.list(undefined, 10).chunks).toEqual([]);
    });

    it('keeps nothing when the body stream fails midway', async () => {
      const { store } = await open();
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield bytesOf(2_000_000);
        throw new Error('client went away');
      }
      await expect(store.put('torn', failing(), { expectedChecksum: 0n })).rejects.toThrow(/client went away/);
      expect(store.list(undefined, 10).chunks).toEqual([]);
    });

    it('rejects a concurrent upload of the same id', async () => {
      const { store } = await open();
      const data = bytesOf(10);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      async function* slow(): AsyncGenerator<Uint8Array> {
        await gate;
        yield data;
      }
      const first = store.put('dup', slow(), { expectedChecksum: xxh64(data) });
      await expect(store.put('dup', piecesOf(data), { expectedChecksum: xxh64(data) })).rejects.toMatchObject({
        code: 'GRN_CHUNK_BUSY',
      });
      release();
      expect((await first).created).toBe(true);
    });

    it('deletes chunks and reports ranges outside a chunk', async () => {
      const { store } = await open();
      const data = bytesOf(1000);
      await store.put('d', piecesOf(data), { expectedChecksum: xxh64(data) });
      await expect(store.readRange('d', 900, 101)).rejects.toMatchObject({ code: 'GRN_RANGE_NOT_SATISFIABLE' });
      expect(await store.delete('d')).toBe(true);
      expect(await store.delete('d')).toBe(false);
      await expect(store.readRange('d', 0, 1)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    });

    it('lists every chunk exactly once across pages, in the same order every time', async () => {
      const { store } = await open();
      const ids = Array.from({ length: 57 }, (_, i) => `chunk-${i}.${i % 9}`);
      for (const id of ids) {
        const data = bytesOf(10, id.length);
        await store.put(id, piecesOf(data), { expectedChecksum: xxh64(data) });
      }
      const first = listAll(store);
      expect([...first].sort()).toEqual([...ids].sort());
      expect(listAll(store, 7)).toEqual(first);
      expect(store.list(undefined, 57).next).toBeNull();
      // A cursor stays valid when the chunk it names is deleted.
      const cursor = first[9] as string;
      expect(await store.delete(cursor)).toBe(true);
      expect(store.list(cursor, 100).chunks.map((c) => c.id)).toEqual(first.slice(10));
    });

    it('returns the same bytes from unchecked reads, and describes stored chunks', async () => {
      const { store } = await open({ pageBytes: 4096 });
      const data = bytesOf(20_000, 3);
      await store.put('plain', piecesOf(data), { expectedChecksum: xxh64(data) });
      expect((await store.readRange('plain', 4000, 9000, { verifyPages: false })).equals(data.subarray(4000, 13_000))).toBe(true);
      expect(await store.info('plain')).toEqual({ id: 'plain', dataBytes: 20_000, checksum: xxh64(data), pageBytes: 4096 });
      expect(await store.verify('plain')).toEqual({ ok: true, dataBytes: 20_000 });
      const stats = await store.stats();
      expect(stats).toMatchObject({ chunkCount: 1, corruptChunkCount: 0 });
      expect(stats.chunkFileBytes).toBeGreaterThanOrEqual(20_000);
      expect(stats.freeBytes).toBeLessThanOrEqual(stats.capacityBytes);
      expect(store.corruptChunks()).toEqual([]);
    });

    it('rejects invalid chunk ids before touching storage', async () => {
      const { store } = await open();
      for (const id of ['../etc/passwd', 'a/b', 'UPPER', '', 'x'.repeat(129), '.hidden', 'a..b']) {
        await expect(store.readRange(id, 0, 1)).rejects.toMatchObject({ code: 'GRN_INVALID_CHUNK_ID' });
        await expect(store.put(id, piecesOf(bytesOf(1)), { expectedChecksum: 0n })).rejects.toMatchObject({
          code: 'GRN_INVALID_CHUNK_ID',
        });
      }
    });
  });
}
