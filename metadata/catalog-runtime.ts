/**
 * The catalog served over one opened store: state loaded from the store, the service, its HTTP
 * app and the background work (lease expiry, GC, repair expiry, orphan sweeps, retention,
 * popularity flushes). A single LevelDB process runs one for its whole life; a replica on etcd
 * runs one per term as leader (metadata/replica.ts), so everything here stops cleanly and leaves
 * the store open for the next term.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Agent } from 'undici';
import type { ServerTls } from '../protocol/tls.js';
import type { CapabilityIssuer } from './capabilities.js';
import type { MetadataDb } from './db.js';
import type { MetadataConfig } from './main.js';
import { GcWorker } from './gc-worker.js';
import { REPAIR_DEFAULTS } from './repair.js';
import { type HealthExtra, buildMetadataServer } from './server.js';
import { MetadataService } from './service.js';
import { MetadataState } from './state.js';

/** What one term of serving needs from the process's configuration. */
export type CatalogRuntimeConfig = Pick<
  MetadataConfig,
  | 'suspectAfterMs'
  | 'deadAfterMs'
  | 'leaseCheckIntervalMs'
  | 'gcIntervalMs'
  | 'repairRateBytesPerSecond'
  | 'repairTasksMax'
  | 'inventoryIntervalMs'
  | 'orphanGraceMs'
  | 'logLevel'
  | 'auth'
  | 'quotas'
  | 'manifestCacheBytes'
  | 'popularityHalfLifeMs'
  | 'jobRetentionMs'
  | 'relayoutGraceMs'
>;

export interface CatalogRuntimeOptions {
  readonly config: CatalogRuntimeConfig;
  readonly db: MetadataDb;
  readonly capabilities: CapabilityIssuer;
  /** Calls to storage nodes (GC deletes, damage report checks) through this, when TLS names a CA. */
  readonly nodeAgent?: Agent;
  /** The bootstrap admin token is written here (when auth is on and the file holds no admin token). */
  readonly adminTokenFile: string;
  readonly https?: ServerTls;
  /** Set by a replica: requests come from its own server, the app never listens. */
  readonly serverFactory?: FastifyServerOptions['serverFactory'];
  /** Fields /health adds: the replica's role and the store. */
  readonly health: () => HealthExtra;
}

export interface CatalogRuntime {
  readonly app: FastifyInstance;
  readonly service: MetadataService;
  readonly adminTokenCreated: boolean;
  /** Stops background work and the app; the store stays open. */
  stop(): Promise<void>;
}

const POPULARITY_FLUSH_INTERVAL_MS = 5_000;
const GC_RECORDS_PER_PASS = 64;
const RETENTION_CHECK_INTERVAL_MS = 60_000;
const GC_REQUEST_TIMEOUT_MS = 10_000;
/** How often expired repair tasks are given up and orphans past their grace are queued. */
const REPAIR_CHECK_INTERVAL_MS = 1_000;

/**
 * A catalog built but not loaded: the service and its app, ready to take requests once `start`
 * has loaded the state. Building the app (route schemas compiled, plugins registered) takes up to
 * a second on a busy machine; a replica prepares its next term while it follows, so an election
 * waits only for the load.
 */
export interface PreparedCatalog {
  readonly app: FastifyInstance;
  readonly service: MetadataService;
  /** Loads the catalog from the store and starts the background work; call once. */
  start(): Promise<CatalogRuntime>;
  /** Drops a prepared catalog that will not serve (the replica stopped, or the key changed). */
  discard(): Promise<void>;
}

export async function prepareCatalogRuntime(options: CatalogRuntimeOptions): Promise<PreparedCatalog> {
  const { config, db, nodeAgent } = options;
  const state = new MetadataState(db);
  const service = new MetadataService(
    state,
    {
      liveness: { suspectAfterMs: config.suspectAfterMs, deadAfterMs: config.deadAfterMs },
      repair: { rateBytesPerSecond: config.repairRateBytesPerSecond, tasksMax: config.repairTasksMax, taskLeaseMinMs: REPAIR_DEFAULTS.taskLeaseMinMs },
      inventory: { intervalMs: config.inventoryIntervalMs, orphanGraceMs: config.orphanGraceMs },
      ...(config.quotas === undefined ? {} : { quotas: config.quotas }),
      ...(config.manifestCacheBytes === undefined ? {} : { manifestCacheBytes: config.manifestCacheBytes }),
      ...(config.popularityHalfLifeMs === undefined ? {} : { popularityHalfLifeMs: config.popularityHalfLifeMs }),
      ...(config.jobRetentionMs === undefined ? {} : { jobRetentionMs: config.jobRetentionMs }),
      ...(config.relayoutGraceMs === undefined ? {} : { relayoutGraceMs: config.relayoutGraceMs }),
      auth: config.auth,
      capabilities: options.capabilities,
      ...(nodeAgent === undefined ? {} : { nodeDispatcher: nodeAgent }),
    },
    Date.now(),
  );
  const app = await buildMetadataServer(service, { level: config.logLevel }, {
    ...(options.https === undefined ? {} : { https: options.https }),
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
    health: options.health,
  });
  service.onBackgroundError = (error) => app.log.error({ err: error }, 'metadata background work failed');
  let started = false;
  return {
    app,
    service,
    discard: () => app.close(),
    async start() {
      if (started) throw new Error('a prepared catalog starts once');
      started = true;
      try {
        await state.load();
        await service.load();
        // Silence before the term began is not held against any node.
        service.nodes.beginGrace(Date.now());
        const adminTokenCreated = config.auth === 'on' ? await service.tokens.ensureAdminTokenFile(options.adminTokenFile) : false;
        return startBackground(config, nodeAgent, app, service, adminTokenCreated);
      } catch (error) {
        await app.close();
        throw error;
      }
    },
  };
}

export async function openCatalogRuntime(options: CatalogRuntimeOptions): Promise<CatalogRuntime> {
  return (await prepareCatalogRuntime(options)).start();
}

function startBackground(
  config: CatalogRuntimeConfig,
  nodeAgent: Agent | undefined,
  app: FastifyInstance,
  service: MetadataService,
  adminTokenCreated: boolean,
): CatalogRuntime {
  const { state } = service;
  const logError = (error: unknown): void => app.log.error({ err: error }, 'metadata background task failed');
  // Sessions whose lease ran out while the service was down (or had no leader) expire on the first check.
  const leaseTimer = setInterval(() => {
    service.writes.expireLeases().then((count) => {
      if (count > 0) app.log.info({ count }, 'write sessions expired');
    }, logError);
  }, config.leaseCheckIntervalMs);
  const flushTimer = setInterval(() => {
    service.scans.flush().catch(logError);
    service.flushJobs().catch(logError);
  }, POPULARITY_FLUSH_INTERVAL_MS);
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
  let stopping: Promise<void> | undefined;
  return {
    app,
    service,
    adminTokenCreated,
    stop() {
      stopping ??= (async () => {
        clearInterval(leaseTimer);
        clearInterval(flushTimer);
        clearInterval(retentionTimer);
        clearInterval(repairTimer);
        await gcWorker.stop();
        await app.close();
        // The last counts of a deposed leader are refused by the fence: popularity is advisory.
        await service.scans.flush().catch((error: unknown) => app.log.warn({ err: error }, 'column popularity not flushed'));
        await service.flushJobs().catch((error: unknown) => app.log.warn({ err: error }, 'job accounting not flushed'));
      })();
      return stopping;
    },
  };
}
