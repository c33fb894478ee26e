/**
 * Builds the storage node's HTTP service from a chunk store. Kept apart from process concerns
 * (flags, signals) so tests can drive it with `app.inject()`.
 */
import type { KeyObject } from 'node:crypto';
import type { CapabilityGuard } from './capability-guard.js';
import { installNodeAuth } from './node-auth.js';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { GranaryError } from '../protocol/index.js';
import { installErrorHandlers } from '../protocol/http-errors.js';
import type { ServerTls } from '../protocol/tls.js';
import type { ChunkStore } from './chunk-store.js';
import type { NodeMetrics } from './metrics.js';
import { adminRoutes } from './routes/admin-routes.js';
import type { JobCounts } from './job-counts.js';
import type { HotCache } from './hot-cache.js';
import { type BatchAnswerFaults, type ReadMemoryOptions, batchReadRoute } from './routes/batch-read-route.js';
import { chunkRoutes } from './routes/chunk-routes.js';
import type { Scrubber } from './scrubber.js';

export interface StorageServerDeps {
  readonly nodeId: string;
  readonly store: ChunkStore;
  readonly metrics: NodeMetrics;
  readonly scrubber: Scrubber;
  readonly logger: FastifyServerOptions['logger'];
  /** Checks the capability of every chunk request (storage-node/node-auth.ts). */
  readonly guard: CapabilityGuard;
  /** The node's own Ed25519 key: it signs a receipt for every chunk stored (protocol/receipt.ts). */
  readonly receiptKey: KeyObject;
  /** Test hooks that make the node misbehave at the HTTP level (MemoryChunkStore.serverFaults). */
  readonly faults?: ServerFaults;
  /** Bounds of batch-read memory (READ_MEMORY_DEFAULTS where not given). */
  readonly readMemory?: Partial<ReadMemoryOptions>;
  /** Serve HTTPS with this certificate and key (protocol/tls.ts); plain HTTP without. */
  readonly https?: ServerTls;
  /** Counts batch reads per job for the heartbeats (storage-node/job-counts.ts). */
  readonly jobCounts?: JobCounts;
  /** Serves and keeps hot ranges in memory (storage-node/hot-cache.ts). */
  readonly hotCache?: HotCache;
}

/** `refuse`: every request is answered 503; `reset`: its connection is destroyed unanswered. */
export type NodeRefusal = 'refuse' | 'reset';

export interface ServerFaults extends BatchAnswerFaults {
  refusal(): NodeRefusal | undefined;
}

export async function buildStorageServer(deps: StorageServerDeps): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger: deps.logger,
    ...(deps.https === undefined ? {} : { https: deps.https }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // Unknown fields are refused, not silently dropped: a misspelt option must not vanish.
    ajv: { customOptions: { removeAdditional: false } },
    keepAliveTimeout: 75_000,
    // Chunk bodies stream through their own parser and a batch read sets its own limit; any other
    // body is a few bytes, and every byte accepted is parsed before a handler can refuse it.
    bodyLimit: 64 * 1024,
    // fastify's defaults, stated: a JSON body with a __proto__ or constructor.prototype key is
    // refused (400, protocol/http-errors.ts).
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Long ids get our own clear error, not a bare 414.
    routerOptions: { maxParamLength: 512 },
  });

  installErrorHandlers(app, (error) => deps.metrics.errors.inc({ code: error.code }));
  installNodeAuth(app, deps.guard, deps.nodeId);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, status: String(reply.statusCode) });
    deps.metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  const faults = deps.faults;
  if (faults !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      const refusal = faults.refusal();
      if (refusal === 'refuse') throw new GranaryError('GRN_UNAVAILABLE', 'this node refuses every request (injected fault); read from other nodes');
      if (refusal === 'reset') {
        reply.hijack();
        request.raw.socket.destroy();
      }
    });
  }

  const onError = (error: unknown): void => app.log.error({ err: error }, 'storage node error');
  await app.register(chunkRoutes, { store: deps.store, metrics: deps.metrics, receiptKey: deps.receiptKey });
  await app.register(batchReadRoute, { store: deps.store, metrics: deps.metrics, onError, ...(faults === undefined ? {} : { faults }), ...(deps.readMemory === undefined ? {} : { readMemory: deps.readMemory }), ...(deps.jobCounts === undefined ? {} : { jobCounts: deps.jobCounts }), ...(deps.hotCache === undefined ? {} : { hotCache: deps.hotCache }) });
  await app.register(adminRoutes, { ...deps, startedAt });
  return app;
}
