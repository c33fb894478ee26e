import { open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import { DiskChunkStore, type DiskChunkStoreOptions } from '../../../storage-node/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { bytesOf, chunkStoreSuite, listAll, piecesOf } from './chunk-store-suite.js';

function options(dataDir: string, overrides: Partial<DiskChunkStoreOptions> = {}): DiskChunkStoreOptions {
  return {
    dataDir,
    pageBytes: 64 * 1024,
    chunkBytesMax: 64 * 1024 * 1024,
    reserveBytes: 0,
    openFilesMax: 8,
    onBackgroundError: (error) => {
      throw error;
    },
    ...overrides,
  };
}

chunkStoreSuite('disk', async (overrides) => {
  const dir = await makeTempDir('store');
  const { store } = await DiskChunkStore.open(options(dir.path, overrides));
  return {
    store,
    async close() {
      await store.close();
      await dir.remove();
    },
  };
});

describe('disk chunk store on-disk behaviour', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function openStore(overrides: Partial<DiskChunkStoreOptions> = {}) {
    const dir = await makeTempDir('disk');
    const opened = await DiskChunkStore.open(options(dir.path, overrides));
    cleanups.push(dir.remove, () => opened.store.close());
    return { dir: dir.path, store: opened.store };
  }

  async function flipByte(path: string, position: number): Promise<void> {
    const handle = await open(path, 'r+');
    try {
      const one = Buffer.alloc(1);
      await handle.read(one, 0, 1, position);
      one[0] = (one[0] as number) ^ 0x40;
      await handle.write(one, 0, 1, position);
    } finally {
      await handle.close();
    }
  }

  it('lists the same chunks in the same order after a restart, and reads them back', async () => {
    const dir = await makeTempDir('restart');
    cleanups.push(dir.remove);
    const first = await DiskChunkStore.open(options(dir.path));
    cleanups.push(() => first.store.close());
    const ids = Array.from({ length: 57 }, (_, i) => `chunk-${i}.${i % 9}`);
    for (const id of ids) {
      const data = bytesOf(10, id.length);
      await first.store.put(id, piecesOf(data), { expectedChecksum: xxh64(data) });
    }
    const before = listAll(first.store);
    await first.store.close();
    const second = await DiskChunkStore.open(options(dir.path));
    cleanups.push(() => second.store.close());
    expect(listAll(second.store)).toEqual(before);
    const id = ids[5] as string;
    expect((await second.store.readRange(id, 0, 10)).equals(bytesOf(10, id.length))).toBe(true);
  });

  it('reports a rotten page as corrupt, never its bytes, while other pages still read', async () => {
    const { store } = await openStore({ pageBytes: 4096 });
    const data = bytesOf(40_000);
    await store.put('rot', piecesOf(data), { expectedChecksum: xxh64(data) });
    await flipByte(store.dataDir.chunkPath('rot'), 10_000); // page 2
    await expect(store.readRange('rot', 9000, 2000)).rejects.toMatchObject({
      code: 'GRN_CHUNK_CORRUPT',
      details: { chunk: 'rot', page: 2 },
    });
    expect((await store.readRange('rot', 0, 8192)).equals(data.subarray(0, 8192))).toBe(true);
    expect((await store.readRange('rot', 12_288, 20_000)).equals(data.subarray(12_288, 32_288))).toBe(true);
    expect(store.corruptChunks().map((c) => c.id)).toEqual(['rot']);
    const verdict = await store.verify('rot');
    expect(verdict).toMatchObject({ ok: false, badPages: [2] });
  });

  it('finds a damaged page table or footer on verification', async () => {
    const { store } = await openStore({ pageBytes: 4096 });
    const data = bytesOf(20_000);
    await store.put('table', piecesOf(data), { expectedChecksum: xxh64(data) });
    await store.put('footer', piecesOf(data), { expectedChecksum: xxh64(data) });
    expect(await store.verify('table')).toEqual({ ok: true, dataBytes: 20_000 });
    await flipByte(store.dataDir.chunkPath('table'), 20_003);
    await flipByte(store.dataDir.chunkPath('footer'), 20_000 + 5 * 8 + 20);
    expect(await store.verify('table')).toMatchObject({ ok: false, reason: /page checksum table/ });
    expect(await store.verify('footer')).toMatchObject({ ok: false, reason: /footer/ });
  });

  it('never serves a deleted chunk from a load that raced the delete', async () => {
    const { store } = await openStore();
    const first = Buffer.alloc(5000, 1);
    const second = Buffer.alloc(5000, 2);
    for (let round = 0; round < 20; round++) {
      const id = `race.${round}`;
      await store.put(id, piecesOf(first), { expectedChecksum: xxh64(first) });
      const reading = store.readRange(id, 0, 10).catch((error: unknown) => error);
      expect(await store.delete(id)).toBe(true);
      await reading;
      await store.put(id, piecesOf(second), { expectedChecksum: xxh64(second) });
      expect((await store.readRange(id, 0, 5000)).equals(second)).toBe(true);
      expect((await store.info(id)).checksum).toBe(xxh64(second));
    }
  });

  it('serves the new copy after a replace that raced reads of the old one', async () => {
    const { store } = await openStore();
    const old = Buffer.alloc(5000, 1);
    const fresh = Buffer.alloc(5000, 2);
    for (let round = 0; round < 10; round++) {
      const id = `swap.${round}`;
      await store.put(id, piecesOf(old), { expectedChecksum: xxh64(old) });
      // Reads keep loading the chunk while the replacing put evicts and renames, as a scan's
      // reads of a chunk being repaired in place do.
      let replaced = false;
      const readers = Array.from({ length: 4 }, async () => {
        while (!replaced) await store.readRange(id, 0, 10);
      });
      await store.put(id, piecesOf(fresh), { expectedChecksum: xxh64(fresh), replace: true });
      replaced = true;
      await Promise.all(readers);
      expect((await store.readRange(id, 0, 5000)).equals(fresh)).toBe(true);
      expect((await store.info(id)).checksum).toBe(xxh64(fresh));
    }
  });

  it('reports a chunk it cannot read as corrupt and goes on verifying the others', async () => {
    const { store } = await openStore();
    for (const id of ['a.0', 'b.0', 'c.0']) await store.put(id, piecesOf(bytesOf(3000)), { expectedChecksum: xxh64(bytesOf(3000)) });
    const { rm, mkdir } = await import('node:fs/promises');
    await rm(store.dataDir.chunkPath('b.0'));
    await mkdir(store.dataDir.chunkPath('b.0'));
    const { Scrubber } = await import('../../../storage-node/index.js');
    const { NodeMetrics } = await import('../../../storage-node/metrics.js');
    const errors: unknown[] = [];
    const scrubber = new Scrubber(store, new NodeMetrics(store), { rateBytesPerSecond: 1e9, intervalMs: 0, onError: (e) => errors.push(e) });
    const report = await scrubber.runPass();
    expect(report.chunksChecked).toBe(3);
    expect(report.corrupt.map((c) => c.id)).toEqual(['b.0']);
    expect(store.corruptChunks().map((c) => c.id)).toEqual(['b.0']);
  });

  it('removes leftover temporaries at start-up and refuses a second process on the same directory', async () => {
    const dir = await makeTempDir('recover');
    cleanups.push(dir.remove);
    const first = await DiskChunkStore.open(options(dir.path));
    await writeFile(join(dir.path, 'tmp', 'half.abc.part'), bytesOf(1234));
    await first.store.close();
    const second = await DiskChunkStore.open(options(dir.path));
    cleanups.push(() => second.store.close());
    expect(second.removedTemporaries).toBe(1);
    expect(await readdir(join(dir.path, 'tmp'))).toEqual([]);
    // The same process reopening is allowed (its own pid); a live foreign pid is not.
    await second.store.close();
    await writeFile(join(dir.path, 'LOCK'), `${process.ppid}\n`);
    await expect(DiskChunkStore.open(options(dir.path))).rejects.toMatchObject({
      code: 'GRN_UNAVAILABLE',
      message: expect.stringMatching(/in use by process/),
    });
  });
});
