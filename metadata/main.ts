/**
 * The metadata process: opens its LevelDB, loads the catalog, serves HTTP, expires write leases
 * and flushes column popularity in the background, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent } from 'undici';
import { loadServerTls, loadTlsCa } from '../protocol/tls.js';
import { CAPABILITY_TTL_MS_DEFAULT, CapabilityIssuer } from './capabilities.js';
import { MetadataDb } from './db.js';
import { GcWorker } from './gc-worker.js';
import { INVENTORY_DEFAULTS } from './inventory.js';
import { REPAIR_DEFAULTS } from './repair.js';
import { buildMetadataServer } from './server.js';
import { MetadataService } from './service.js';
import { MetadataState } from './state.js';
import type { Quotas } from './tables.js';

export interface MetadataConfig {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port; the chosen one is logged with "metadata ready". */
  readonly port: number;
  readonly suspectAfterMs: number;
  readonly deadAfterMs: number;
  /** How often expired write leases are closed. */
  readonly leaseCheckIntervalMs: number;
  /** How often garbage chunks are deleted from storage nodes. */
  readonly gcIntervalMs: number;
  /** Bytes per second all repair tasks together may read. */
  readonly repairRateBytesPerSecond: number;
  /** Repair tasks in flight in the whole cluster. */
  readonly repairTasksMax: number;
  /** Time between two full chunk inventories of a node. */
  readonly inventoryIntervalMs: number;
  /** How long a chunk referenced by nothing is kept before it is deleted. */
  readonly orphanGraceMs: number;
  readonly logLevel: string;
  /**
   * 'on': every route but /health and /metrics needs a bearer token, and nodes check chunk
   * capabilities. 'off' only for a trusted loopback (benchmarks): anyone who reaches a port can
   * do anything.
   */
  readonly auth: 'on' | 'off';
  /** Where the bootstrap admin token is kept (created with mode 0600 on first start); default DATA/admin.token. */
  readonly adminTokenFile?: string;
  /** How long read and write capabilities stay valid. */
  readonly capabilityTtlMs: number;
  /** Catalog and write quotas (metadata/tables.ts); each one left out keeps its default. */
  readonly quotas?: Partial<Quotas>;
  /** Serve HTTPS with this PEM certificate and key (both or neither); plain HTTP without. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** PEM CA bundle the storage nodes' certificates are verified against (GC deletes); default Node's roots. */
  readonly tlsCaFile?: string;
}

export const METADATA_DEFAULTS = {
  host: '127.0.0.1',
  port: 7070,
  suspectAfterMs: 10_000,
  // Minutes, as HDFS (10.5 min) and Ceph (down-out 10 min) wait: a reboot or a rolling restart
  // must not trigger a copy of everything the node holds. Local clusters set it shorter.
  deadAfterMs: 10 * 60_000,
  leaseCheckIntervalMs: 1_000,
  gcIntervalMs: 5_000,
  repairRateBytesPerSecond: REPAIR_DEFAULTS.rateBytesPerSecond,
  repairTasksMax: REPAIR_DEFAULTS.tasksMax,
  inventoryIntervalMs: INVENTORY_DEFAULTS.intervalMs,
  orphanGraceMs: INVENTORY_DEFAULTS.orphanGraceMs,
  auth: 'on',
  capabilityTtlMs: CAPABILITY_TTL_MS_DEFAULT,
  logLevel: 'info',
} as const;

/** The bootstrap admin token and the capability signing key, in the data directory. */
export const ADMIN_TOKEN_FILE = 'admin.token';
const CAPABILITY_KEY_FILE = 'capability-signing.key';

const POPULARITY_FLUSH_INTERVAL_MS = 5_000;
const GC_RECORDS_PER_PASS = 64;
const RETENTION_CHECK_INTERVAL_MS = 60_000;
const GC_REQUEST_TIMEOUT_MS = 10_000;
/** How often expired repair tasks are given up and orphans past their grace are queued. */
const REPAIR_CHECK_INTERVAL_MS = 1_000;

export interface RunningMetadata {
  readonly app: FastifyInstance;
  readonly service: MetadataService;
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startMetadata(config: MetadataConfig): Promise<RunningMetadata> {
  if (!(config.deadAfterMs > config.suspectAfterMs && config.suspectAfterMs > 0)) {
    throw new Error(`dead-after (${config.deadAfterMs} ms) must be longer than suspect-after (${config.suspectAfterMs} ms), both positive`);
  }
  // Bad TLS files stop the service before it touches its data.
  const https = loadServerTls(config.tlsCertFile, config.tlsKeyFile);
  const ca = loadTlsCa(config.tlsCaFile);
  await mkdir(config.dataDir, { recursive: true });
  const db = new MetadataDb(join(config.dataDir, 'catalog'));
  // A directory another process holds is refused with a clear error (metadata/store/level-store.ts).
  await db.open();
  try {
    const state = new MetadataState(db);
    await state.load();
    // Node calls (GC deletes, checks of readers' damage reports) verify the nodes' certificates
    // against the configured CA. It holds no sockets until used.
    const nodeAgent = ca === undefined ? undefined : new Agent({ connect: { ca } });
    const service = new MetadataService(
      state,
      {
        liveness: { suspectAfterMs: config.suspectAfterMs, deadAfterMs: config.deadAfterMs },
        repair: { rateBytesPerSecond: config.repairRateBytesPerSecond, tasksMax: config.repairTasksMax, taskLeaseMinMs: REPAIR_DEFAULTS.taskLeaseMinMs },
        inventory: { intervalMs: config.inventoryIntervalMs, orphanGraceMs: config.orphanGraceMs },
        ...(config.quotas === undefined ? {} : { quotas: config.quotas }),
        auth: config.auth,
        // Kept with the catalog: nodes hold its public key, so it must outlive restarts.
        capabilities: await CapabilityIssuer.fromKeyFile(join(config.dataDir, CAPABILITY_KEY_FILE), config.capabilityTtlMs),
        ...(nodeAgent === undefined ? {} : { nodeDispatcher: nodeAgent }),
      },
      Date.now(),
    );
    await service.load();
    const adminTokenFile = config.adminTokenFile ?? join(config.dataDir, ADMIN_TOKEN_FILE);
    const adminTokenCreated = config.auth === 'on' ? await service.tokens.ensureAdminTokenFile(adminTokenFile) : false;
    const app = await buildMetadataServer(service, { level: config.logLevel }, https === undefined ? {} : { https });
    const logError = (error: unknown): void => app.log.error({ err: error }, 'metadata background task failed');
    // Sessions whose lease ran out while the service was down expire on the first check.
    const leaseTimer = setInterval(() => {
      service.writes.expireLeases().then((count) => {
        if (count > 0) app.log.info({ count }, 'write sessions expired');
      }, logError);
    }, config.leaseCheckIntervalMs);
    const flushTimer = setInterval(() => service.scans.flush().catch(logError), POPULARITY_FLUSH_INTERVAL_MS);
    const gcWorker = new GcWorker(state, service.nodes, {
      intervalMs: config.gcIntervalMs,
      recordsPerPass: GC_RECORDS_PER_PASS,
      requestTimeoutMs: GC_REQUEST_TIMEOUT_MS,
      onError: logError,
      capabilities: service.capabilities,
      ...(nodeAgent === undefined ? {} : { dispatcher: nodeAgent }),
    });
    gcWorker.start();
    const repairTimer = setInterval(() => {
      service.repair.expire().then((count) => {
        if (count > 0) app.log.warn({ count }, 'repair tasks expired before their node reported; their blocks are queued again');
      }, logError);
      service.inventory.sweepOrphans().then((count) => {
        if (count > 0) app.log.info({ count }, 'orphan chunks queued for deletion');
      }, logError);
    }, REPAIR_CHECK_INTERVAL_MS);
    const retentionTimer = setInterval(() => {
      service.catalog.enforceRetention().then((dropped) => {
        if (dropped.length > 0) app.log.info({ dropped }, 'partitions past retention dropped');
      }, logError);
    }, RETENTION_CHECK_INTERVAL_MS);
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      clearInterval(leaseTimer);
      clearInterval(flushTimer);
      clearInterval(retentionTimer);
      clearInterval(repairTimer);
      await gcWorker.stop();
      await nodeAgent?.close();
      throw error;
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    lifecycleLog(app).info(
      { host: config.host, port, tls: https !== undefined, dataDir: config.dataDir, tables: state.tablesByName.size, nodes: state.nodes.size },
      'metadata ready',
    );
    if (config.auth === 'off') {
      app.log.warn('authentication is off (--auth off): anyone who can reach this port can read, change or delete everything');
    } else {
      lifecycleLog(app).info(
        { adminTokenFile, created: adminTokenCreated },
        `admin token in ${adminTokenFile}: use it with --token-file ${adminTokenFile} (or GRANARY_TOKEN_FILE)`,
      );
    }
    let stopping: Promise<void> | undefined;
    return {
      app,
      service,
      port,
      url: `${https === undefined ? 'http' : 'https'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      stop() {
        stopping ??= (async () => {
          clearInterval(leaseTimer);
          clearInterval(flushTimer);
          clearInterval(retentionTimer);
          clearInterval(repairTimer);
          try {
            await gcWorker.stop();
            await nodeAgent?.close();
            await app.close();
            await service.scans.flush();
          } finally {
            await db.close();
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}

/** Start and stop lines are written at any log level: scripts and tests wait for them. */
function lifecycleLog(app: FastifyInstance): FastifyInstance['log'] {
  return app.log.child({}, { level: 'info' });
}
