/** Health, Prometheus metrics and the scrubber's controls. */
import type { FastifyInstance } from 'fastify';
import type { ChunkStore } from '../chunk-store.js';
import type { NodeMetrics } from '../metrics.js';
import type { Scrubber } from '../scrubber.js';

export async function adminRoutes(
  app: FastifyInstance,
  options: {
    readonly nodeId: string;
    readonly store: ChunkStore;
    readonly metrics: NodeMetrics;
    readonly scrubber: Scrubber;
    readonly startedAt: Date;
  },
): Promise<void> {
  const { nodeId, store, metrics, scrubber, startedAt } = options;

  app.get('/health', async () => {
    const stats = await store.stats();
    return {
      status: 'ok',
      nodeId,
      startedAt: startedAt.toISOString(),
      ...stats,
      corruptChunks: store.corruptChunks(),
    };
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/v1/scrub', async () => scrubber.status());

  app.post<{ Querystring: { wait?: boolean } }>(
    '/v1/scrub',
    { schema: { querystring: { type: 'object', properties: { wait: { type: 'boolean', default: false } } } } },
    async (request, reply) => {
      const pass = scrubber.runPass();
      if (request.query.wait === true) return pass;
      pass.catch((error: unknown) => request.log.error({ err: error }, 'scrub pass failed'));
      return reply.code(202).send(scrubber.status());
    },
  );
}
