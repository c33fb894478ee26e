/**
 * Builds the metadata service's HTTP API over a MetadataService. Kept apart from process
 * concerns so tests can drive it with `app.inject()`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { unpack } from 'msgpackr';
import { GranaryError, MSGPACK } from '../protocol/index.js';
import { installErrorHandlers } from '../protocol/http-errors.js';
import type { ServerTls } from '../protocol/tls.js';
import { MetadataMetrics } from './metrics.js';
import { catalogRoutes } from './routes/catalog-routes.js';
import { nodeRoutes } from './routes/node-routes.js';
import { writeRoutes } from './routes/write-routes.js';
import type { MetadataService } from './service.js';

/** What the server is built with beyond the service; all optional, so tests build it bare. */
export interface MetadataServerOptions {
  /** Serve HTTPS with this certificate and key (protocol/tls.ts); plain HTTP without. */
  readonly https?: ServerTls;
}

export async function buildMetadataServer(
  service: MetadataService,
  logger: FastifyServerOptions['logger'],
  options: MetadataServerOptions = {},
): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger,
    ...(options.https === undefined ? {} : { https: options.https }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // Unknown fields are refused, not silently dropped: a misspelt option must not vanish.
    ajv: { customOptions: { removeAdditional: false } },
    keepAliveTimeout: 75_000,
    bodyLimit: 16 * 1024 * 1024,
    routerOptions: { maxParamLength: 1024 },
  });
  installErrorHandlers(app);
  const metrics = new MetadataMetrics(service);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  // No bodyLimit here: a parser's limit would override the 16 MiB default on every route; the
  // commit route sets its own larger one.
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, unpack(body as Buffer));
    } catch (error) {
      done(new GranaryError('GRN_BAD_REQUEST', `request body is not valid msgpack: ${(error as Error).message}`), undefined);
    }
  });

  app.get('/health', async () => {
    const nodes = service.nodes.list();
    return {
      status: 'ok',
      startedAt: startedAt.toISOString(),
      tables: service.state.tablesByName.size,
      blocks: [...service.state.blocks.values()].filter((block) => block.state === 'committed').length,
      nodes: {
        total: nodes.length,
        alive: nodes.filter((n) => n.state === 'alive').length,
        suspect: nodes.filter((n) => n.state === 'suspect').length,
        dead: nodes.filter((n) => n.state === 'dead').length,
        draining: nodes.filter((n) => n.state === 'draining').length,
      },
    };
  });
  await app.register(catalogRoutes, { service });
  await app.register(writeRoutes, { service });
  await app.register(nodeRoutes, { service });
  return app;
}
