/**
 * The metadata process: with the embedded store (the default) it opens its LevelDB, loads the
 * catalog and serves it; with `--store etcd` it is one replica of several (metadata/replica.ts).
 * Either way it shuts down cleanly on SIGTERM/SIGINT (bin/service-runner.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent } from 'undici';
import { loadServerTls, loadTlsCa } from '../protocol/tls.js';
import { CAPABILITY_TTL_MS_DEFAULT, CapabilityIssuer } from './capabilities.js';
import { openCatalogRuntime } from './catalog-runtime.js';
import { MetadataDb } from './db.js';
import { INVENTORY_DEFAULTS } from './inventory.js';
import { REPAIR_DEFAULTS } from './repair.js';
import type { EtcdTlsFiles } from './store/etcd-tls.js';
import { levelPath } from './store/open-store.js';
import type { Quotas } from './tables.js';

/**
 * Where a replica keeps the catalog: the etcd cluster (and the TLS files it is reached with,
 * `--etcd-ca/--etcd-cert/--etcd-key`) and how it takes part in the election.
 */
export interface EtcdStoreConfig extends EtcdTlsFiles {
  readonly kind: 'etcd';
  /** Client URLs of the etcd members: all http://, or all https:// (TLS). */
  readonly endpoints: readonly string[];
  /** Key prefix of this catalog in etcd. */
  readonly prefix: string;
  /** The URL other replicas forward requests to; default the URL this process listens on. */
  readonly advertiseUrl?: string;
  /** Lease of the leader key in seconds: a dead leader is replaced after at most this long. */
  readonly leaderTtlSeconds: number;
}

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
  /**
   * Bytes of decoded manifest pieces kept in memory (metadata/manifests/cache.ts): with the small
   * per-file and per-block records, what bounds the service's heap however large the catalog.
   */
  readonly manifestCacheBytes?: number;
  /** Half-life of column popularity (metadata/popularity.ts). */
  readonly popularityHalfLifeMs?: number;
  /** How long a job's read accounting is kept after its last read (metadata/job-accounts.ts). */
  readonly jobRetentionMs?: number;
  /** How long re-laid-out blocks stay readable before GC (metadata/relayout.ts). */
  readonly relayoutGraceMs?: number;
  /** Serve HTTPS with this PEM certificate and key (both or neither); plain HTTP without. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** PEM CA bundle the storage nodes' certificates are verified against (GC deletes); default Node's roots. */
  readonly tlsCaFile?: string;
  /** Absent: the embedded LevelDB in DATA/catalog, one process. Etcd: a replica (metadata/replica.ts). */
  readonly store?: EtcdStoreConfig;
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
export const CAPABILITY_KEY_FILE = 'capability-signing.key';


export interface RunningMetadata {
  /** The app whose logger the process writes its lifecycle lines with. */
  readonly app: FastifyInstance;
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startMetadata(config: MetadataConfig): Promise<RunningMetadata> {
  checkLiveness(config);
  if (config.store !== undefined) {
    const { startReplica } = await import('./replica.js');
    return startReplica({ ...config, store: config.store });
  }
  // Bad TLS files stop the service before it touches its data.
  const https = loadServerTls(config.tlsCertFile, config.tlsKeyFile);
  const ca = loadTlsCa(config.tlsCaFile);
  await mkdir(config.dataDir, { recursive: true });
  const db = new MetadataDb(levelPath(config.dataDir));
  // A directory another process holds is refused with a clear error (metadata/store/level-store.ts).
  await db.open();
  // Node calls (GC deletes, checks of readers' damage reports) verify the nodes' certificates
  // against the configured CA. It holds no sockets until used.
  const nodeAgent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  const adminTokenFile = config.adminTokenFile ?? join(config.dataDir, ADMIN_TOKEN_FILE);
  let runtime: Awaited<ReturnType<typeof openCatalogRuntime>> | undefined;
  try {
    runtime = await openCatalogRuntime({
      config,
      db,
      // Kept with the catalog: nodes hold its public key, so it must outlive restarts.
      capabilities: await CapabilityIssuer.fromKeyFile(join(config.dataDir, CAPABILITY_KEY_FILE), config.capabilityTtlMs),
      ...(nodeAgent === undefined ? {} : { nodeAgent }),
      adminTokenFile,
      ...(https === undefined ? {} : { https }),
      health: () => ({ role: 'leader', leader: null, store: 'level' }),
    });
    await runtime.app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await runtime?.stop();
    await nodeAgent?.close();
    await db.close();
    throw error;
  }
  const { app, service } = runtime;
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  lifecycleLog(app).info(
    { host: config.host, port, tls: https !== undefined, dataDir: config.dataDir, store: 'level', tables: service.state.tablesByName.size, nodes: service.state.nodes.size },
    'metadata ready',
  );
  logAuth(app, config.auth, adminTokenFile, runtime.adminTokenCreated);
  let stopping: Promise<void> | undefined;
  const serving = runtime;
  return {
    app,
    port,
    url: serviceUrl(https !== undefined, config.host, port),
    stop() {
      stopping ??= (async () => {
        try {
          await serving.stop();
          await nodeAgent?.close();
        } finally {
          await db.close();
        }
      })();
      return stopping;
    },
  };
}

function checkLiveness(config: MetadataConfig): void {
  if (!(config.deadAfterMs > config.suspectAfterMs && config.suspectAfterMs > 0)) {
    throw new Error(`dead-after (${config.deadAfterMs} ms) must be longer than suspect-after (${config.suspectAfterMs} ms), both positive`);
  }
}

export function serviceUrl(tls: boolean, host: string, port: number): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function logAuth(app: FastifyInstance, auth: 'on' | 'off', adminTokenFile: string, created: boolean): void {
  if (auth === 'off') {
    app.log.warn('authentication is off (--auth off): anyone who can reach this port can read, change or delete everything');
  } else {
    lifecycleLog(app).info({ adminTokenFile, created }, `admin token in ${adminTokenFile}: use it with --token-file ${adminTokenFile} (or GRANARY_TOKEN_FILE)`);
  }
}

/** Start and stop lines are written at any log level: scripts and tests wait for them. */
export function lifecycleLog(app: FastifyInstance): FastifyInstance['log'] {
  return app.log.child({}, { level: 'info' });
}
