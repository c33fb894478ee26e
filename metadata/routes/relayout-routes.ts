/** Re-layout of committed files (protocol/relayout-types.ts): the plan, a file's layout, the swap. */
import type { FastifyInstance } from 'fastify';
import { pack } from 'msgpackr';
import { MSGPACK } from '../../protocol/index.js';
import type { FileLayout, RelayoutCommit, RelayoutPlan, RelayoutResult } from '../../protocol/relayout-types.js';
import type { MetadataService } from '../service.js';
import { BODY_BYTES_MAX, relayoutCommitSchema } from './schemas.js';

export async function relayoutRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { relayouts } = options.service;

  app.get<{ Params: { name: string }; Querystring: { partition?: string } }>(
    '/v1/tables/:name/relayout',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { partition: { type: 'string', minLength: 1, maxLength: 1024 } } } } },
    async (request): Promise<RelayoutPlan> => relayouts.plan(request.params.name, request.query.partition),
  );

  // Msgpack: a file's layout lists every stream of every block, like a plan page.
  app.get<{ Params: { name: string; partition: string; fileId: string } }>('/v1/tables/:name/partitions/:partition/files/:fileId/layout', async (request, reply) => {
    const layout: FileLayout = await relayouts.layout(request.params.name, request.params.partition, request.params.fileId);
    return reply.type(MSGPACK).send(pack(layout));
  });

  app.post<{ Params: { id: string }; Body: RelayoutCommit }>(
    '/v1/sessions/:id/relayout',
    { schema: { body: relayoutCommitSchema }, bodyLimit: BODY_BYTES_MAX.commit },
    async (request): Promise<RelayoutResult> => relayouts.commit(request.params.id, request.body),
  );
}
