/**
 * Builds the storage node's HTTP service from a chunk store. Kept apart from process concerns
 * (flags, signals) so tests can drive it with `app.inject()`.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { GranaryError, toGranaryError } from '../protocol/index.js';
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

/** Fastify's own error codes that are the client's fault, with the catalogue code they map to. */
const CLIENT_ERRORS: Readonly<Record<string, GranaryError['code']>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GRN_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'GRN_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GRN_BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GRN_BAD_REQUEST',
};

export async function buildStorageServer(deps: StorageServerDeps): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    keepAliveTimeout: 75_000,
    // Long ids get our own clear error, not a bare 414.
    routerOptions: { maxParamLength: 512 },
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    let granary: GranaryError;
    if (error.validation !== undefined) {
      granary = new GranaryError('GRN_BAD_REQUEST', `invalid request: ${error.message}`);
    } else if (error.code !== undefined && CLIENT_ERRORS[error.code] !== undefined) {
      granary = new GranaryError(CLIENT_ERRORS[error.code] as GranaryError['code'], error.message);
    } else {
      granary = toGranaryError(error);
    }
    deps.metrics.errors.inc({ code: granary.code });
    if (granary.statusCode >= 500) request.log.error({ err: error }, granary.message);
    // An upload refused midway leaves body bytes on the socket: close it rather than keep a
    // connection that can only stall.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(granary.statusCode).send(granary.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new GranaryError('GRN_NO_ROUTE', `no endpoint answers ${request.method} ${request.url}`);
    return reply.code(error.statusCode).send(error.toBody());
  });

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
