/** An in-process storage node (real disk store in a temp dir) for `app.inject()` tests. */
import { openAuth } from './open-auth.js';
import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { CapabilityGuard } from '../../storage-node/capability-guard.js';
import { DiskChunkStore, Scrubber, buildStorageServer } from '../../storage-node/index.js';
import { NodeMetrics } from '../../storage-node/metrics.js';
import { makeTempDir } from './temp-dir.js';

export interface StorageApp {
  readonly app: FastifyInstance;
  readonly store: DiskChunkStore;
  readonly scrubber: Scrubber;
  close(): Promise<void>;
}

export interface StorageAppOptions {
  chunkBytesMax?: number;
  pageBytes?: number;
  /** Default 'test-node'. */
  nodeId?: string;
  /** Checks capabilities as given (default: an open guard, which checks nothing). */
  guard?: CapabilityGuard;
  /** Signs put receipts (default: a fresh key). */
  receiptKey?: KeyObject;
}

export async function makeStorageApp(overrides: StorageAppOptions = {}): Promise<StorageApp> {
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
  const open = openAuth();
  const app = await buildStorageServer({
    nodeId: overrides.nodeId ?? 'test-node',
    store,
    metrics,
    scrubber,
    logger: false,
    guard: overrides.guard ?? open.guard,
    receiptKey: overrides.receiptKey ?? open.receiptKey,
  });
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
