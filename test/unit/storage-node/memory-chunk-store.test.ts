import { afterEach, describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import { MemoryChunkStore, type MemoryChunkStoreOptions, Scrubber } from '../../../storage-node/index.js';
import { NodeMetrics } from '../../../storage-node/metrics.js';
import { bytesOf, chunkStoreSuite, piecesOf } from './chunk-store-suite.js';

const PAGE_BYTES = 4096;
/** A slow read's delay: long enough to measure, short enough for a unit test. */
const SLOW_MS = 60;

chunkStoreSuite('memory', async (overrides) => {
  const store = new MemoryChunkStore({ pageBytes: 64 * 1024, ...overrides });
  return { store, close: () => store.close() };
});

describe('memory chunk store faults', () => {
  const stores: MemoryChunkStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function storeWith(ids: readonly string[], options: Partial<MemoryChunkStoreOptions> = {}): Promise<{ store: MemoryChunkStore; data: Buffer }> {
    const store = new MemoryChunkStore({ pageBytes: PAGE_BYTES, ...options });
    stores.push(store);
    const data = bytesOf(40_000, 7);
    for (const id of ids) await store.put(id, piecesOf(data), { expectedChecksum: xxh64(data) });
    return { store, data };
  }

  it('missing: reads, info and verification answer not found; the listing still names the chunk', async () => {
    const { store } = await storeWith(['gone', 'kept']);
    store.setChunkFaults('gone', { missing: true });
    await expect(store.readRange('gone', 0, 10)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND', details: { chunk: 'gone' } });
    await expect(store.readRange('gone', 0, 10, { verifyPages: false })).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    await expect(store.info('gone')).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    await expect(store.verify('gone')).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    expect((await store.readRange('kept', 0, 10)).length).toBe(10);
    expect(store.list(undefined, 10).chunks.map((c) => c.id)).toEqual(['gone', 'kept']);
    // Deleting a vanished chunk forgets it and says there was none, as on a disk.
    expect(await store.delete('gone')).toBe(false);
    expect(store.chunkIds()).toEqual(['kept']);
  });

  it('corrupt: checked reads fail on the touched page only; unchecked reads return the flipped byte', async () => {
    const { store, data } = await storeWith(['rot']);
    store.setChunkFaults('rot', { corrupt: { atByte: 10_000 } });
    await expect(store.readRange('rot', 9000, 2000)).rejects.toMatchObject({ code: 'GRN_CHUNK_CORRUPT', details: { chunk: 'rot', page: 2 } });
    expect((await store.readRange('rot', 0, 8192)).equals(data.subarray(0, 8192))).toBe(true);
    expect((await store.readRange('rot', 12_288, 20_000)).equals(data.subarray(12_288, 32_288))).toBe(true);
    const unchecked = await store.readRange('rot', 9000, 2000, { verifyPages: false });
    expect(unchecked.equals(data.subarray(9000, 11_000))).toBe(false);
    expect(differingOffsets(unchecked, data.subarray(9000, 11_000))).toEqual([1000]);
    expect(store.corruptChunks().map((c) => c.id)).toEqual(['rot']);
    expect(await store.verify('rot')).toMatchObject({ ok: false, badPages: [2] });
  });

  it('corrupt everywhere: every page has a flipped byte, so any read of the chunk meets it', async () => {
    const { store, data } = await storeWith(['rot']);
    store.setChunkFaults('rot', { corrupt: true });
    for (const [offset, length] of [[0, 1], [4096, 100], [39_000, 1000]] as const) {
      await expect(store.readRange('rot', offset, length)).rejects.toMatchObject({ code: 'GRN_CHUNK_CORRUPT' });
    }
    const unchecked = await store.readRange('rot', 0, 40_000, { verifyPages: false });
    // The middle of each 4096-byte page; the last page holds 40_000 - 9 * 4096 = 3136 bytes.
    expect(differingOffsets(unchecked, data)).toEqual([...Array.from({ length: 9 }, (_, p) => p * 4096 + 2048), 9 * 4096 + 1568]);
    expect(await store.verify('rot')).toMatchObject({ ok: false, badPages: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    // Clearing the fault is the bytes being good again; verification clears the finding.
    store.clearFaults();
    expect(await store.verify('rot')).toEqual({ ok: true, dataBytes: 40_000 });
    expect(store.corruptChunks()).toEqual([]);
  });

  it('eio: every read fails as corrupt, checked or not, and the chunk is listed corrupt', async () => {
    const { store } = await storeWith(['bad', 'good']);
    store.setChunkFaults('bad', { eio: true });
    for (const verifyPages of [true, false]) {
      await expect(store.readRange('bad', 0, 100, { verifyPages })).rejects.toMatchObject({ code: 'GRN_CHUNK_CORRUPT', message: /EIO/ });
    }
    expect(store.corruptChunks()).toMatchObject([{ id: 'bad', reason: /EIO/ }]);
    expect(await store.verify('bad')).toMatchObject({ ok: false, reason: /EIO/ });
    expect(await store.verify('good')).toEqual({ ok: true, dataBytes: 40_000 });
  });

  it('slow: every read of the chunk waits, others do not; a fault change or closing releases a waiting read', async () => {
    const { store } = await storeWith(['slow', 'fast']);
    store.setChunkFaults('slow', { slowMs: SLOW_MS });
    const startedMs = performance.now();
    await store.readRange('fast', 0, 100);
    expect(performance.now() - startedMs).toBeLessThan(SLOW_MS);
    await store.readRange('slow', 0, 100);
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(SLOW_MS - 1);

    // A node that stops being slow answers the reads that were waiting, with what it holds now.
    store.setChunkFaults('slow', { slowMs: 60_000 });
    const waiting = store.readRange('slow', 0, 100);
    const releasedAtMs = performance.now();
    store.setChunkFaults('slow', { missing: true });
    await expect(waiting).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    expect(performance.now() - releasedAtMs).toBeLessThan(1000);

    store.setChunkFaults('slow', { slowMs: 60_000 });
    const pending = store.readRange('slow', 0, 100);
    const closedAtMs = performance.now();
    await store.close();
    await expect(pending).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE' });
    expect(performance.now() - closedAtMs).toBeLessThan(1000);
  });

  it('store-wide faults apply to every chunk; a chunk\'s own settings win field by field', async () => {
    const { store } = await storeWith(['a.0', 'b.0', 'c.0']);
    store.setFaults({ missing: true });
    store.setChunkFaults('b.0', { missing: false });
    store.setChunkFaults('c.0', { eio: true });
    await expect(store.readRange('a.0', 0, 1)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    expect((await store.readRange('b.0', 0, 1)).length).toBe(1);
    await expect(store.readRange('c.0', 0, 1)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    expect(store.faultsOf('c.0')).toEqual({ missing: true, eio: true });
    store.clearFaults();
    expect((await store.readRange('a.0', 0, 1)).length).toBe(1);
  });

  it('short and unavailable are the server\'s to carry out: the store only answers what it was told', async () => {
    const { store } = await storeWith(['cut.0']);
    expect(store.serverFaults.refusal()).toBeUndefined();
    store.setChunkFaults('cut.0', { short: true });
    store.setUnavailable('reset');
    expect(store.serverFaults.cutsAnswerAt({ chunk: 'cut.0', offset: 0, length: 1 })).toBe(true);
    expect(store.serverFaults.cutsAnswerAt({ chunk: 'other.0', offset: 0, length: 1 })).toBe(false);
    expect(store.serverFaults.refusal()).toBe('reset');
    // The store itself still reads: the node's answer is what breaks.
    expect((await store.readRange('cut.0', 0, 10)).length).toBe(10);
  });

  it('a put replaces a rotten copy (and its faults); an intact different copy only with replace', async () => {
    const { store, data } = await storeWith(['rot.0', 'eio.0', 'kept.0']);
    store.setChunkFaults('rot.0', { corrupt: { atByte: 5 }, slowMs: 1 });
    store.setChunkFaults('eio.0', { eio: true });
    for (const id of ['rot.0', 'eio.0']) {
      expect((await store.put(id, piecesOf(data), { expectedChecksum: xxh64(data) })).created).toBe(true);
      expect((await store.readRange(id, 0, 40_000)).equals(data)).toBe(true);
    }
    expect(store.faultsOf('rot.0')).toEqual({ slowMs: 1 });
    expect(store.corruptChunks()).toEqual([]);
    expect(store.chunkIds()).toEqual(['eio.0', 'kept.0', 'rot.0']);
    expect((await store.stats()).chunkCount).toBe(3);
    const other = bytesOf(40_000, 8);
    await expect(store.put('kept.0', piecesOf(other), { expectedChecksum: xxh64(other) })).rejects.toMatchObject({ code: 'GRN_CHUNK_EXISTS' });
    expect((await store.put('kept.0', piecesOf(data), { expectedChecksum: xxh64(data) })).created).toBe(false);
    // Repair's put replaces even an intact copy that differs.
    expect((await store.put('kept.0', piecesOf(other), { expectedChecksum: xxh64(other), replace: true })).created).toBe(true);
    expect((await store.readRange('kept.0', 0, 40_000)).equals(other)).toBe(true);
    expect((await store.stats()).chunkCount).toBe(3);
  });

  it('reports its configured capacity and refuses what does not fit, declared or streamed', async () => {
    const { store } = await storeWith([], { capacityBytes: 100_000, reserveBytes: 10_000 });
    const data = bytesOf(50_000);
    await store.put('first', piecesOf(data), { expectedChecksum: xxh64(data) });
    const stats = await store.stats();
    expect(stats.capacityBytes).toBe(100_000);
    // Data plus 8 bytes of page checksum per 4096-byte page.
    expect(stats.chunkFileBytes).toBe(50_000 + 13 * 8);
    expect(stats.freeBytes).toBe(100_000 - stats.chunkFileBytes);
    await expect(store.put('declared', piecesOf(data), { expectedChecksum: xxh64(data), expectedBytes: 50_000 })).rejects.toMatchObject({
      code: 'GRN_DISK_FULL',
    });
    await expect(store.put('streamed', piecesOf(data), { expectedChecksum: xxh64(data) })).rejects.toMatchObject({ code: 'GRN_DISK_FULL' });
    expect(store.chunkIds()).toEqual(['first']);
  });

  it('is scrubbed like a disk store: a corrupt chunk is found and listed', async () => {
    const { store } = await storeWith(['a.0', 'b.0', 'c.0']);
    store.setChunkFaults('b.0', { corrupt: { atByte: 123 } });
    const scrubber = new Scrubber(store, new NodeMetrics(store), { rateBytesPerSecond: 1e12, intervalMs: 0, onError: () => undefined });
    try {
      const report = await scrubber.runPass();
      expect(report.chunksChecked).toBe(3);
      expect(report.corrupt.map((c) => c.id)).toEqual(['b.0']);
      expect(store.corruptChunks().map((c) => c.id)).toEqual(['b.0']);
    } finally {
      await scrubber.stop();
    }
  });
});

function differingOffsets(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
