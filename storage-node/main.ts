/**
 * The storage-node process: opens the chunk store (recovering from any crash), serves HTTP,
 * scrubs in the background, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { publicKeyFromText, publicKeyToText } from '../protocol/capability.js';
import { loadOrCreateKeyFile } from '../protocol/secret-files.js';
import { CapabilityGuard } from './capability-guard.js';
import { DEFAULT_PAGE_BYTES } from '../erasure/index.js';
import { DiskChunkStore } from './disk-chunk-store.js';
import { GranaryError, HttpPools, type InventoryPageAnswer } from '../protocol/index.js';
import { loadServerTls, loadTlsCa } from '../protocol/tls.js';
import { InventorySender } from './inventory-sender.js';
import { MetadataLink } from './metadata-link.js';
import type { Replay } from '../protocol/metadata-failover.js';
import { RepairRunner } from './repair-runner.js';
import { NodeMetrics } from './metrics.js';
import { type ScrubEstimate, describeScrubEstimate } from './scrub-estimate.js';
import { Scrubber } from './scrubber.js';
import { READ_MEMORY_DEFAULTS } from './routes/batch-read-route.js';
import { buildStorageServer } from './server.js';
import { JobCounts } from './job-counts.js';
import { HotCache, type HotCachePolicy } from './hot-cache.js';

export interface StorageNodeConfig {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port; the chosen one is logged with "storage node ready". */
  readonly port: number;
  /** Kept in the data directory after the first start; generated when not given. */
  readonly nodeId?: string;
  readonly pageBytes: number;
  readonly chunkBytesMax: number;
  readonly reserveBytes: number;
  readonly openFilesMax: number;
  readonly scrubRateBytesPerSecond: number;
  /** 0 disables periodic scrubbing (a pass can still be requested over HTTP). */
  readonly scrubIntervalMs: number;
  readonly logLevel: string;
  /**
   * Base URL of the metadata service, or of each of its replicas (the link fails over along the
   * list); without it the node runs alone (no heartbeats).
   */
  readonly metadataUrl?: string | readonly string[];
  /** Failure domain (rack, zone) told to the metadata service; must match DOMAIN_PATTERN. */
  readonly domain: string;
  /** URL clients use to reach this node; defaults to `http://host:port` it listens on. */
  readonly advertiseUrl?: string;
  readonly heartbeatIntervalMs: number;
  /** Repair tasks this node runs at once for the metadata service (0: none). */
  readonly repairSlots: number;
  /** Batch-read bytes held ahead of sockets across all requests (READ_MEMORY_DEFAULTS.bytesMax when not given). */
  readonly readMemoryBytesMax?: number;
  /** Memory for the hot-column cache (storage-node/hot-cache.ts; 0: none), and its admission policy. */
  readonly hotCacheBytes?: number;
  readonly hotCachePolicy?: HotCachePolicy;
  /** Serve HTTPS with this PEM certificate and key (both or neither); plain HTTP without. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** PEM CA bundle the metadata service's and peer nodes' certificates are verified against; default Node's roots. */
  readonly tlsCaFile?: string;
  /** The node token (role node, for this node id) the metadata service knows it by. */
  readonly token?: string;
  /**
   * The metadata service's capability public key (base64 SPKI DER, as in the registration
   * answer), pinned: the node then checks capabilities against it whatever the service answers.
   */
  readonly capabilityKey?: string;
}

export const STORAGE_NODE_DEFAULTS = {
  host: '127.0.0.1',
  port: 7101,
  pageBytes: DEFAULT_PAGE_BYTES,
  chunkBytesMax: 256 * 1024 * 1024,
  reserveBytes: 256 * 1024 * 1024,
  openFilesMax: 512,
  scrubRateBytesPerSecond: 32 * 1024 * 1024,
  scrubIntervalMs: 24 * 60 * 60 * 1000,
  logLevel: 'info',
  domain: 'default',
  heartbeatIntervalMs: 2_000,
  repairSlots: 2,
  readMemoryBytesMax: READ_MEMORY_DEFAULTS.bytesMax,
  hotCacheBytes: 128 * 1024 * 1024,
  hotCachePolicy: 'declared',
} as const;

export interface RunningStorageNode {
  readonly nodeId: string;
  readonly app: FastifyInstance;
  /** `http(s)://host:port` the node answers on. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startStorageNode(config: StorageNodeConfig): Promise<RunningStorageNode> {
  // Bad TLS files stop the node before it opens (and recovers) its store.
  const https = loadServerTls(config.tlsCertFile, config.tlsKeyFile);
  const ca = loadTlsCa(config.tlsCaFile);
  const scheme = https === undefined ? 'http' : 'https';
  // Clients would speak plain HTTP to a TLS port and fail every read. (The reverse, a plain node
  // advertising https, is a node behind a TLS-terminating proxy, and allowed.)
  if (https !== undefined && config.advertiseUrl !== undefined && new URL(config.advertiseUrl).protocol !== 'https:') {
    throw new GranaryError('GRN_BAD_REQUEST', `--advertise-url ${config.advertiseUrl} must start with https://: this node serves HTTPS (--tls-cert and --tls-key are set)`);
  }
  const logger = { level: config.logLevel };
  let logError: (error: unknown) => void = (error) => console.error(error);
  const hotCache = new HotCache(config.hotCacheBytes ?? STORAGE_NODE_DEFAULTS.hotCacheBytes, config.hotCachePolicy ?? STORAGE_NODE_DEFAULTS.hotCachePolicy);
  const { store, removedTemporaries } = await DiskChunkStore.open({
    dataDir: config.dataDir,
    pageBytes: config.pageBytes,
    chunkBytesMax: config.chunkBytesMax,
    reserveBytes: config.reserveBytes,
    openFilesMax: config.openFilesMax,
    onBackgroundError: (error) => logError(error),
    onChunkChanged: (id) => hotCache.evictChunk(id),
  });
  try {
    const nodeId = await store.dataDir.nodeId(config.nodeId);
    const metrics = new NodeMetrics(store);
    metrics.hotCacheSource = hotCache;
    const scrubber = new Scrubber(store, metrics, {
      rateBytesPerSecond: config.scrubRateBytesPerSecond,
      intervalMs: config.scrubIntervalMs,
      stateFile: store.dataDir.scrubStatePath,
      onError: (error) => logError(error),
    });
    const readMemory = { bytesMax: config.readMemoryBytesMax ?? READ_MEMORY_DEFAULTS.bytesMax };
    // The node's own key signs put receipts; kept so receipts stay checkable across restarts.
    const receiptKey = await loadOrCreateKeyFile(join(config.dataDir, RECEIPT_KEY_FILE));
    const guard = new CapabilityGuard(
      config.metadataUrl === undefined ? 'open' : 'pending',
      config.capabilityKey === undefined ? undefined : publicKeyFromText(config.capabilityKey, 'the capability key setting'),
    );
    // The key learnt at the last registration: a restarted node checks capabilities at once,
    // rather than refusing every read until the metadata service answers again.
    const learntKeyFile = join(config.dataDir, LEARNT_KEY_FILE);
    const learnt = config.metadataUrl === undefined ? undefined : await readFile(learntKeyFile, 'utf8').catch(() => undefined);
    if (learnt !== undefined) guard.learn(publicKeyFromText(learnt, learntKeyFile));
    const jobCounts = new JobCounts();
    const app = await buildStorageServer({ nodeId, store, metrics, scrubber, logger, readMemory, guard, receiptKey, jobCounts, hotCache, ...(https === undefined ? {} : { https }) });
    logError = (error) => app.log.error({ err: error }, 'storage node background error');
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const url = `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    let link: LinkedWork | undefined;
    try {
      link = config.metadataUrl === undefined ? undefined : metadataLink(config, config.metadataUrl, { nodeId, url, store, app, ca, guard, receiptKey, learntKeyFile, jobCounts, hotCache });
    } catch (error) {
      await app.close();
      throw error;
    }
    const stats = await store.stats();
    lifecycleLog(app).info(
      { nodeId, host: config.host, port, tls: https !== undefined, dataDir: config.dataDir, chunks: stats.chunkCount, removedTemporaries },
      'storage node ready',
    );
    await scrubber.start();
    logScrubPlan(app, scrubber.status().estimate);
    link?.link.start();
    let stopping: Promise<void> | undefined;
    return {
      nodeId,
      app,
      port,
      url,
      stop() {
        stopping ??= (async () => {
          try {
            await link?.stop();
            await scrubber.stop();
            await app.close();
          } finally {
            await store.close();
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The link to the metadata service and the work it hands out (repair tasks, inventory rounds). */
interface LinkedWork {
  readonly link: MetadataLink;
  stop(): Promise<void>;
}

/** The link that registers the node with the metadata service, sends its heartbeats, and takes on the work they answer with. */
function metadataLink(
  config: StorageNodeConfig,
  metadataUrl: string | readonly string[],
  node: {
    readonly learntKeyFile: string;
    readonly nodeId: string;
    readonly url: string;
    readonly store: DiskChunkStore;
    readonly app: FastifyInstance;
    readonly ca: Buffer | undefined;
    readonly guard: CapabilityGuard;
    readonly receiptKey: KeyObject;
    readonly jobCounts: JobCounts;
    readonly hotCache: HotCache;
  },
): LinkedWork {
  const { nodeId, url, store, app, ca, guard, receiptKey, learntKeyFile, jobCounts, hotCache } = node;
  if (config.advertiseUrl === undefined && WILDCARD_HOSTS.has(config.host)) {
    app.log.warn({ url }, 'listening on a wildcard address, which clients cannot dial; set --advertise-url');
  }
  // Repair reads from and writes to peer nodes through its own pools.
  const peers = new HttpPools({ connectionsPerOrigin: PEER_CONNECTIONS_PER_ORIGIN, timeoutMs: PEER_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) });
  let link: MetadataLink | undefined;
  const post = (path: string, payload: unknown, replay?: Replay): Promise<unknown> => (link as MetadataLink).post(path, payload, replay);
  const runner = new RepairRunner({
    nodeId,
    slots: config.repairSlots,
    http: peers,
    report: (taskId, report) => post(`/v1/repairs/${encodeURIComponent(taskId)}/report`, report),
    onTaskEnd: () => link?.tickSoon(),
    logger: app.log,
  });
  const inventory = new InventorySender({
    chunkIds: () => store.chunkIds(),
    // A page sent twice is refused as out of order: sent again only when it surely was not delivered.
    send: async (page) => (await post(`/v1/nodes/${encodeURIComponent(nodeId)}/inventory`, page, 'unsent-only')) as InventoryPageAnswer,
    logger: app.log,
  });
  link = new MetadataLink({
    metadataUrl,
    ...(ca === undefined ? {} : { ca }),
    nodeId,
    url: config.advertiseUrl ?? url,
    domain: config.domain,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    load: async () => {
      const now = await store.stats();
      return { capacityBytes: now.capacityBytes, freeBytes: now.freeBytes, usedBytes: now.chunkFileBytes, chunkCount: now.chunkCount };
    },
    corruptChunks: () => store.corruptChunks(),
    logger: app.log,
    heartbeatExtras: () => ({ repairSlotsFree: runner.slotsFree(), repairsRunning: runner.runningIds(), ...(hotCache.version === undefined ? {} : { hotVersion: hotCache.version }) }),
    jobCounts,
    ...(config.token === undefined ? {} : { token: config.token }),
    receiptKey: publicKeyToText(createPublicKey(receiptKey)),
    onRegistered: (answer) => {
      const before = guard.mode;
      // A service from before capabilities sends no key at all: it checks nothing, like auth off.
      const key = answer.capabilityKey ?? null;
      guard.learn(key === null ? null : publicKeyFromText(key, 'the registration answer\'s capabilityKey'));
      if (guard.mode !== before) {
        if (guard.mode === 'open') app.log.warn('the metadata service runs with auth off: this node checks no capabilities');
        else app.log.info('checking chunk capabilities against the metadata service\'s key');
      }
      const saved = key === null ? rm(learntKeyFile, { force: true }) : writeFile(learntKeyFile, `${key}\n`);
      saved.catch((error: unknown) => app.log.warn({ err: error }, 'could not keep the capability key for the next start'));
    },
    onHeartbeatAnswer: (answer) => {
      if (answer.repairs !== undefined) runner.start(answer.repairs);
      if (answer.inventoryRound !== undefined) inventory.start(answer.inventoryRound);
      if (answer.hot !== undefined) hotCache.setHot(answer.hot.version, answer.hot.extents);
    },
  });
  const started = link;
  return {
    link: started,
    async stop() {
      try {
        await runner.stop();
        await started.stop();
        await inventory.stop();
      } finally {
        await peers.close();
      }
    },
  };
}

/** The node's receipt signing key, in its data directory. */
const RECEIPT_KEY_FILE = 'receipt-signing.key';
/** The metadata service's capability key as the last registration answered it. */
const LEARNT_KEY_FILE = 'capability-key.pub';

/** Connections kept to each peer for repair reads and writes. */
const PEER_CONNECTIONS_PER_ORIGIN = 4;
/** Repair's wait for a peer's answer, and between its body chunks. */
const PEER_TIMEOUT_MS = 30_000;

/** How long a scrub pass takes at the configured rate, and a warning when a full disk outlasts the interval. */
function logScrubPlan(app: FastifyInstance, estimate: ScrubEstimate | null): void {
  if (estimate === null) return;
  const { summary, warning } = describeScrubEstimate(estimate);
  app.log.info({ scrub: estimate }, summary);
  if (warning !== undefined) app.log.warn({ scrub: estimate }, warning);
}

/** Addresses that accept connections on every interface but that no client can dial. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Start and stop lines are written at any log level: scripts and tests wait for them. */
function lifecycleLog(app: FastifyInstance): FastifyInstance['log'] {
  return app.log.child({}, { level: 'info' });
}
