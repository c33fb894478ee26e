/**
 * Builds the storage node's HTTP service from a chunk store. Kept apart from process concerns
 * (flags, signals) so tests can drive it with `app.inject()`.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { installErrorHandlers } from '../protocol/http-errors.js';
import type { ChunkStore } from './chunk-store.js';
import type { NodeMetrics } from './metrics.js';
import { adminRoutes } from './routes/admin-routes.js';
import { batchReadRoute } from './routes/batch-read-route.js';
import { chunkRoutes } from './routes/chunk-routes.js';
import type { Scrubber } from './scrubber.js';

export interface StorageServerDeps {
  readonly nodeId: string;
  readonly store: ChunkStore;
  readonly metrics: NodeMetrics;
  readonly scrubber: Scrubber;
  readonly logger: FastifyServerOptions['logger'];
}

export async function buildStorageServer(deps: StorageServerDeps): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // Unknown fields are refused, not silently dropped: a misspelt option must not vanish.
    ajv: { customOptions: { removeAdditional: false } },
    keepAliveTimeout: 75_000,
    // Long ids get our own clear error, not a bare 414.
    routerOptions: { maxParamLength: 512 },
  });

  installErrorHandlers(app, (error) => deps.metrics.errors.inc({ code: error.code }));

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, status: String(reply.statusCode) });
    deps.metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  const onError = (error: unknown): void => app.log.error({ err: error }, 'storage node error');
  await app.register(chunkRoutes, { store: deps.store, metrics: deps.metrics });
  await app.register(batchReadRoute, { store: deps.store, metrics: deps.metrics, onError });
  await app.register(adminRoutes, { ...deps, startedAt });
  return app;
}
