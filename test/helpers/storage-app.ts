/** An in-process storage node (real disk store in a temp dir) for `app.inject()` tests. */
import { openAuth } from './open-auth.js';
import type { FastifyInstance } from 'fastify';
import { DiskChunkStore, Scrubber, buildStorageServer } from '../../storage-node/index.js';
import { NodeMetrics } from '../../storage-node/metrics.js';
import { makeTempDir } from './temp-dir.js';

export interface StorageApp {
  readonly app: FastifyInstance;
  readonly store: DiskChunkStore;
  readonly scrubber: Scrubber;
  close(): Promise<void>;
}

export async function makeStorageApp(overrides: { chunkBytesMax?: number; pageBytes?: number } = {}): Promise<StorageApp> {
  const dir = await makeTempDir('app');
  const { store } = await DiskChunkStore.open({
    dataDir: dir.path,
    pageBytes: overrides.pageBytes ?? 4096,
    chunkBytesMax: overrides.chunkBytesMax ?? 16 * 1024 * 1024,
    reserveBytes: 0,
    openFilesMax: 16,
    onBackgroundError: (error) => {
      throw error;
    },
  });
  const metrics = new NodeMetrics(store);
  const scrubber = new Scrubber(store, metrics, { rateBytesPerSecond: 1e9, intervalMs: 0, onError: () => undefined });
  const app = await buildStorageServer({ nodeId: 'test-node', store, metrics, scrubber, logger: false, ...openAuth() });
  return {
    app,
    store,
    scrubber,
    async close() {
      await scrubber.stop();
      await app.close();
      await store.close();
      await dir.remove();
    },
  };
}
