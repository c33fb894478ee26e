/** Write sessions: open, renew, blocks, commit, abort. */
import type { FastifyInstance } from 'fastify';
import type { CommitManifest, OpenSessionRequest, ReplaceShardRequest } from '../../protocol/index.js';
import type { MetadataService } from '../service.js';
import { commitSchema, openSessionSchema } from './schemas.js';

type Session = { Params: { id: string } };

export async function writeRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { writes } = options.service;

  app.post<{ Params: { name: string }; Body: OpenSessionRequest }>(
    '/v1/tables/:name/sessions',
    { schema: { body: openSessionSchema } },
    async (request, reply) => reply.code(201).send(await writes.open(request.params.name, request.body)),
  );
  app.get<Session>('/v1/sessions/:id', async (request) => writes.get(request.params.id));
  app.post<Session>('/v1/sessions/:id/renew', async (request) => writes.renew(request.params.id));
  app.post<Session>('/v1/sessions/:id/blocks', async (request, reply) => reply.code(201).send(await writes.allocateBlock(request.params.id)));
  app.post<{ Params: { id: string; blockId: string }; Body: ReplaceShardRequest }>(
    '/v1/sessions/:id/blocks/:blockId/replace',
    {
      schema: {
        body: { type: 'object', required: ['shard'], additionalProperties: false, properties: { shard: { type: 'integer', minimum: 0 } } },
      },
    },
    async (request) => writes.replaceShard(request.params.id, request.params.blockId, request.body.shard),
  );
  app.post<Session & { Body: CommitManifest }>(
    '/v1/sessions/:id/commit',
    { schema: { body: commitSchema }, bodyLimit: 512 * 1024 * 1024 },
    async (request) => writes.commit(request.params.id, request.body),
  );
  app.post<Session>('/v1/sessions/:id/abort', async (request) => writes.abort(request.params.id));
}
