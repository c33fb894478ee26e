/**
 * Builds the metadata service's HTTP API over a MetadataService. Kept apart from process
 * concerns so tests can drive it with `app.inject()`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { MSGPACK, decodeUntrustedMsgpack, msgpackLimitsForBody } from '../protocol/index.js';
import { installErrorHandlers } from '../protocol/http-errors.js';
import type { ServerTls } from '../protocol/tls.js';
import { MetadataMetrics } from './metrics.js';
import { catalogRoutes } from './routes/catalog-routes.js';
import { nodeRoutes } from './routes/node-routes.js';
import { writeRoutes } from './routes/write-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import { jobRoutes } from './routes/job-routes.js';
import { relayoutRoutes } from './routes/relayout-routes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { consoleRoutes } from './routes/console-routes.js';
import { type ConsoleAssets, ConsoleFilesMissingError, loadConsoleAssets } from './console/console-assets.js';
import { installAuth } from './auth.js';
import type { MetadataService } from './service.js';

/** What the server is built with beyond the service; all optional, so tests build it bare. */
export interface MetadataServerOptions {
  /** Serve HTTPS with this certificate and key (protocol/tls.ts); plain HTTP without. */
  readonly https?: ServerTls;
  /**
   * A replica serves the app from its own long-lived server (metadata/replica.ts): the app gets
   * requests through the handler this factory receives and never listens itself.
   */
  readonly serverFactory?: FastifyServerOptions['serverFactory'];
  /** Fields /health adds (the replica's role and store); a lone LevelDB service is its own leader. */
  readonly health?: () => HealthExtra;
}

/** What /health says about replication, so probes and `granary up --ha` can find the leader. */
export interface HealthExtra {
  readonly role: 'leader' | 'follower';
  /** The leader's URL, null during an election. */
  readonly leader: string | null;
  readonly store: 'level' | 'etcd';
}

/**
 * A request body is refused (413) beyond this unless its route sets more (metadata/routes/schemas.ts
 * BODY_BYTES_MAX): most bodies are a few hundred bytes, and every byte accepted is parsed and held
 * before a handler can say no, so a route added without a thought for its body gets a small one.
 */
export const BODY_BYTES_DEFAULT = 64 * 1024;

export async function buildMetadataServer(
  service: MetadataService,
  logger: FastifyServerOptions['logger'],
  options: MetadataServerOptions = {},
): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger,
    ...(options.https === undefined || options.serverFactory !== undefined ? {} : { https: options.https }),
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // Unknown fields are refused, not silently dropped: a misspelt option must not vanish.
    ajv: { customOptions: { removeAdditional: false } },
    keepAliveTimeout: 75_000,
    bodyLimit: BODY_BYTES_DEFAULT,
    // fastify's defaults, stated: a JSON body with a __proto__ or constructor.prototype key is
    // refused (400, protocol/http-errors.ts), never merged into anything.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 1024 },
  });
  installErrorHandlers(app);
  installAuth(app, { tokens: service.auth === 'off' ? undefined : service.tokens, state: service.state });
  const metrics = new MetadataMetrics(service);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  // No bodyLimit here: a parser's limit would override each route's own (metadata/routes/schemas.ts).
  // The decoder's bounds grow with the route's limit, so a route sized for large bodies (a commit)
  // gets room for their values and no route decodes to more than a few times its limit.
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, decodeUntrustedMsgpack(body as Buffer, msgpackLimitsForBody(request.routeOptions.bodyLimit ?? BODY_BYTES_DEFAULT)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Counters and a walk of the nodes (few) only: probes hit this every few seconds, so nothing
  // here may grow with blocks, files or stripes (issue 12).
  app.get('/health', async () => {
    const { total, alive, suspect, dead, draining } = service.nodes.countByState();
    return {
      status: 'ok',
      startedAt: startedAt.toISOString(),
      tables: service.state.tablesByName.size,
      blocks: service.state.committedBlockCount,
      nodes: { total, alive, suspect, dead, draining },
      ...(options.health?.() ?? { role: 'leader', leader: null, store: service.state.db.store.kind }),
    };
  });
  await app.register(catalogRoutes, { service });
  await app.register(writeRoutes, { service });
  await app.register(nodeRoutes, { service });
  await app.register(tokenRoutes, { service });
  await app.register(adminRoutes, { service });
  await app.register(jobRoutes, { service });
  await app.register(relayoutRoutes, { service });
  await app.register(consoleRoutes, { assets: await consoleAssets(app) });
  return app;
}

/** The console's files; when they are missing the API still serves, and the log and /ui say why. */
async function consoleAssets(app: FastifyInstance): Promise<ConsoleAssets | ConsoleFilesMissingError> {
  try {
    return await loadConsoleAssets();
  } catch (error) {
    if (!(error instanceof ConsoleFilesMissingError)) throw error;
    app.log.warn({ err: error }, error.message);
    return error;
  }
}
