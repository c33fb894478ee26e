/**
 * One metadata replica over etcd (docs/design.md, "The metadata store"). Every replica listens
 * on its own port all the time, through one long-lived HTTP server that hands each request to
 * whichever app the replica runs now:
 *
 * - as a follower, metadata/follower-app.ts: /health, and everything else forwarded to the leader;
 * - as the leader, the full catalog (metadata/catalog-runtime.ts), loaded from etcd when the
 *   term begins and dropped when it ends, with the background work only a leader does.
 *
 * Swapping apps behind one server keeps the port bound across terms, so a client's connection
 * never meets a closed port because the replica changed role.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { Agent } from 'undici';
import { GranaryError } from '../protocol/index.js';
import { loadServerTls, loadTlsCa } from '../protocol/tls.js';
import { CapabilityIssuer } from './capabilities.js';
import { type CatalogRuntime, type PreparedCatalog, prepareCatalogRuntime } from './catalog-runtime.js';
import { publicKeyToText } from '../protocol/capability.js';
import { MetadataDb } from './db.js';
import { buildFollowerApp } from './follower-app.js';
import { type LeaderInfo, Leadership } from './leadership.js';
import { ADMIN_TOKEN_FILE, type EtcdStoreConfig, type MetadataConfig, type RunningMetadata, lifecycleLog, logAuth, serviceUrl } from './main.js';
import { EtcdStore } from './store/etcd-store.js';
import { loadEtcdTls } from './store/etcd-tls.js';

/** Reserved space for what every replica must share besides the catalog (the capability signing key). */
export const SECRETS_SPACE = 'secrets';
/** The key of the signing key in SECRETS_SPACE (a restore into etcd puts a backup's key there). */
export const CAPABILITY_KEY = 'capability-signing-key';
/** How often a follower looks for a free leader key, and a leader checks it still holds it. */
const LEADER_POLL_MS = 500;
/**
 * A follower re-reads the leader key at most this often while forwarding: short, because a
 * request forwarded to a leader that has just been replaced (or is frozen) waits for its timeout.
 * One etcd read per 100 ms of traffic costs nothing next to the requests.
 */
const LEADER_CACHE_MS = 100;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** Captures the request handler of a fastify app built with it; the app never listens itself. */
function handlerSlot(): { factory: FastifyServerOptions['serverFactory']; handler(): Handler } {
  let captured: Handler | undefined;
  return {
    factory: (handler) => {
      captured = handler as Handler;
      // Fastify decorates this server and never listens on it: requests come from ours.
      return createServer();
    },
    handler: () => {
      if (captured === undefined) throw new Error('app built without its server factory');
      return captured;
    },
  };
}

export async function startReplica(config: MetadataConfig & { readonly store: EtcdStoreConfig }): Promise<RunningMetadata> {
  const https = loadServerTls(config.tlsCertFile, config.tlsKeyFile);
  const ca = loadTlsCa(config.tlsCaFile);
  await mkdir(config.dataDir, { recursive: true });
  const store = new EtcdStore({ endpoints: config.store.endpoints, prefix: config.store.prefix, fenced: true, tls: loadEtcdTls(config.store) });
  const db = new MetadataDb(store);
  const nodeAgent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  const adminTokenFile = config.adminTokenFile ?? join(config.dataDir, ADMIN_TOKEN_FILE);

  let leaderRuntime: { readonly runtime: CatalogRuntime; readonly handler: Handler } | undefined;
  let followerHandler: Handler | undefined;
  const dispatch: Handler = (request, response) => {
    let leading = leaderRuntime;
    if (leading !== undefined && leadership?.leadsSafely() === false) {
      // Not sure of its lease any more (it was paused, or etcd is slow to confirm): this
      // replica's memory may be stale, so its term ends (deposed stops the runtime) and this
      // request goes the follower's way.
      leadership.endTerm('its lease was not confirmed in time (the process was paused, or etcd is unreachable)');
      leading = undefined;
    }
    const handler = leading?.handler ?? followerHandler;
    if (handler !== undefined) return handler(request, response);
    response.statusCode = 503;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(new GranaryError('GRN_UNAVAILABLE', 'metadata replica is starting; retry in a moment').toBody()));
  };
  const server: Server = https === undefined ? createServer(dispatch) : createHttpsServer(https, dispatch);
  server.keepAliveTimeout = 75_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const selfUrl = (config.store.advertiseUrl ?? serviceUrl(https !== undefined, config.host, port)).replace(/\/+$/, '');

  let leaderCache: { readonly at: number; readonly leader: LeaderInfo | undefined } | undefined;
  let leadership: Leadership | undefined;
  const currentLeader = async (): Promise<LeaderInfo | undefined> => {
    if (leaderCache !== undefined && Date.now() - leaderCache.at < LEADER_CACHE_MS) return leaderCache.leader;
    const leader = await (leadership as Leadership).leader();
    leaderCache = { at: Date.now(), leader };
    return leader;
  };
  const followerSlot = handlerSlot();
  let follower: FastifyInstance;
  try {
    follower = await buildFollowerApp({
      selfUrl,
      leader: currentLeader,
      forgetLeader: () => {
        leaderCache = undefined;
      },
      logLevel: config.logLevel,
      serverFactory: followerSlot.factory,
      ...(nodeAgent === undefined ? {} : { dispatcher: nodeAgent }),
    });
    await follower.ready();
  } catch (error) {
    server.close();
    await store.close();
    throw error;
  }
  followerHandler = followerSlot.handler();
  const log = lifecycleLog(follower);

  /** A catalog built ahead for this replica's next term as leader (catalog-runtime.ts, PreparedCatalog). */
  interface Term {
    readonly catalog: PreparedCatalog;
    readonly handler: Handler;
    readonly keyText: string;
    readonly preparedAt: number;
  }
  const buildTerm = async (key: KeyObject): Promise<Term> => {
    const slot = handlerSlot();
    const capabilities = new CapabilityIssuer(key, config.capabilityTtlMs);
    const catalog = await prepareCatalogRuntime({
      config,
      db,
      capabilities,
      ...(nodeAgent === undefined ? {} : { nodeAgent }),
      adminTokenFile,
      serverFactory: slot.factory,
      health: () => ({ role: 'leader', leader: selfUrl, store: 'etcd' }),
    });
    try {
      await catalog.app.ready();
    } catch (error) {
      await catalog.discard();
      throw error;
    }
    return { catalog, handler: slot.handler(), keyText: capabilities.publicKeyText, preparedAt: Date.now() };
  };
  let nextTerm: Promise<Term | undefined> | undefined;
  const prepareNextTerm = (): void => {
    // One prepared at a time: an election that failed before using it leaves it for the next.
    if (nextTerm !== undefined) return;
    nextTerm = (async () => {
      // Before the first leader made the key there is nothing to sign with: built at election.
      const key = await storedSigningKey(db);
      return key === undefined ? undefined : buildTerm(key);
    })().catch((error: unknown) => {
      log.warn({ err: error }, 'metadata replica could not prepare its next term ahead; it will when elected');
      return undefined;
    });
  };
  prepareNextTerm();

  leadership = new Leadership(
    store,
    { advertiseUrl: selfUrl, ttlSeconds: config.store.leaderTtlSeconds, pollMs: LEADER_POLL_MS },
    {
      elected: async () => {
        const startedAt = Date.now();
        leaderCache = undefined;
        const key = await sharedSigningKey(db);
        let term = await nextTerm;
        nextTerm = undefined;
        // Prepared under another key (none existed yet, or a restore replaced it): built again.
        if (term !== undefined && term.keyText !== publicKeyToText(createPublicKey(key))) {
          await term.catalog.discard();
          term = undefined;
        }
        term ??= await buildTerm(key);
        const runtime = await term.catalog.start();
        leaderRuntime = { runtime, handler: term.handler };
        log.info(
          { url: selfUrl, loadMs: Date.now() - startedAt, prepared: term.preparedAt < startedAt, tables: runtime.service.state.tablesByName.size, nodes: runtime.service.state.nodes.size },
          'metadata leader: serving the catalog',
        );
        logAuth(runtime.app, config.auth, adminTokenFile, runtime.adminTokenCreated);
      },
      deposed: async (reason) => {
        const ending = leaderRuntime;
        leaderRuntime = undefined;
        leaderCache = undefined;
        if (ending !== undefined) {
          log.warn({ url: selfUrl, reason }, 'metadata leader no more: following');
          await ending.runtime.stop();
        }
        prepareNextTerm();
      },
      error: (error) => log.warn({ err: error }, 'metadata election: etcd call failed; trying again'),
    },
  );
  leadership.start();
  log.info({ host: config.host, port, url: selfUrl, tls: https !== undefined, store: 'etcd', etcd: config.store.endpoints, prefix: config.store.prefix, dataDir: config.dataDir }, 'metadata ready');

  let stopping: Promise<void> | undefined;
  const elected = leadership;
  return {
    app: follower,
    port,
    url: selfUrl,
    stop() {
      stopping ??= (async () => {
        try {
          // Resigning first lets another replica take over without waiting for the lease.
          await elected.stop();
          const unused = await nextTerm;
          nextTerm = undefined;
          await unused?.catalog.discard();
          await follower.close();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          });
          await nodeAgent?.close();
        } finally {
          await store.close();
        }
      })();
      return stopping;
    },
  };
}

/**
 * The capability signing key every replica signs with: nodes pin the public key they learnt, so
 * it must be one key for the whole cluster and outlive every replica. Kept in the store's
 * reserved space (backups carry it, so a backup is a secret), created by the first leader.
 */
async function sharedSigningKey(db: MetadataDb): Promise<KeyObject> {
  const stored = await storedSigningKey(db);
  if (stored !== undefined) return stored;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Fenced like every write: only the leader creates it, so two replicas never make two keys.
  await db.store.write([{ type: 'put', space: SECRETS_SPACE, key: CAPABILITY_KEY, value: Buffer.from(pem) }]);
  return privateKey;
}

/** The shared signing key if a leader has made it yet (read by followers preparing a term too). */
async function storedSigningKey(db: MetadataDb): Promise<KeyObject | undefined> {
  const stored = await db.store.get(SECRETS_SPACE, CAPABILITY_KEY);
  return stored === undefined ? undefined : createPrivateKey(Buffer.from(stored).toString('utf8'));
}
