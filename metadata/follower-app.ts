/**
 * What a replica serves while it is not the leader: /health (its role and the leader it knows),
 * and every other request forwarded to the leader unchanged (@fastify/reply-from streams bodies
 * both ways), so clients may use any replica's URL. The leader checks tokens, limits and
 * everything else; a follower holds no catalog and decides nothing.
 */
import replyFrom from '@fastify/reply-from';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Dispatcher } from 'undici';
import { GranaryError } from '../protocol/index.js';
import { installErrorHandlers } from '../protocol/http-errors.js';
import type { LeaderInfo } from './leadership.js';

/** Set on forwarded requests: a replica never forwards one again, so two confused replicas cannot loop. */
export const FORWARDED_HEADER = 'x-granary-forwarded-by';

export interface FollowerAppOptions {
  /** This replica's advertised URL. */
  readonly selfUrl: string;
  /** The leader as the election key names it now (cached briefly by the caller). */
  leader(): Promise<LeaderInfo | undefined>;
  /** Forget the cached leader: forwarding to it failed. */
  forgetLeader(): void;
  readonly logLevel: string;
  readonly serverFactory: FastifyServerOptions['serverFactory'];
  /** Carries forwarded requests (trusting the cluster CA under TLS); undici's default otherwise. */
  readonly dispatcher?: Dispatcher;
}

export async function buildFollowerApp(options: FollowerAppOptions): Promise<FastifyInstance> {
  const startedAt = new Date();
  const app = Fastify({
    logger: { level: options.logLevel },
    serverFactory: options.serverFactory,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // The leader applies each route's own body limit; the follower only streams bytes through.
    bodyLimit: Number.MAX_SAFE_INTEGER,
  });
  installErrorHandlers(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(replyFrom, {
    ...(options.dispatcher === undefined ? {} : { globalAgent: false }),
    undici: options.dispatcher ?? { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 },
    // One line per forwarded request would drown the replica's log.
    disableRequestLogging: true,
  } as Parameters<typeof replyFrom>[1]);

  app.get('/health', async () => {
    const leader = await options.leader().catch(() => undefined);
    return { status: 'ok', startedAt: startedAt.toISOString(), role: 'follower', leader: leader?.url ?? null, store: 'etcd' };
  });

  app.all('/*', async (request, reply) => {
    if (request.headers[FORWARDED_HEADER] !== undefined) {
      throw new GranaryError('GRN_NOT_LEADER', `metadata replica ${options.selfUrl} is not the leader, and the request was already forwarded once by ${String(request.headers[FORWARDED_HEADER])}; retry on another replica`);
    }
    const leader = await options.leader().catch((error: unknown) => {
      throw new GranaryError('GRN_STORE_UNAVAILABLE', `metadata replica ${options.selfUrl} cannot read the leader from etcd: ${(error as Error).message}`, { cause: error });
    });
    if (leader === undefined) throw noLeader(options.selfUrl, 'no replica holds the leadership (an election is under way)');
    if (leader.url === options.selfUrl) throw noLeader(options.selfUrl, 'this replica is taking over as leader');
    return reply.from(`${leader.url}${request.url}`, {
      rewriteRequestHeaders: (_raw, headers) => ({ ...headers, [FORWARDED_HEADER]: options.selfUrl }),
      onError: (replyOnError, { error }) => {
        options.forgetLeader();
        const answer = new GranaryError('GRN_NO_LEADER', `metadata replica ${options.selfUrl} could not reach the leader ${leader.url} (${error.message}); retry in a few seconds`);
        replyOnError.code(answer.statusCode).send(answer.toBody());
      },
    });
  });
  return app;
}

function noLeader(selfUrl: string, why: string): GranaryError {
  return new GranaryError('GRN_NO_LEADER', `metadata replica ${selfUrl} cannot serve this now: ${why}; retry in a few seconds`);
}
