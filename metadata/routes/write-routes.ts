/** Write sessions: open, renew, blocks, commit, abort. */
import type { FastifyInstance } from 'fastify';
import type { BlockPlacement, CommitManifest, OpenSessionRequest, ReplaceShardRequest } from '../../protocol/index.js';
import type { CapabilityIssuer } from '../capabilities.js';
import { GranaryError } from '../../protocol/index.js';
import type { MetadataService } from '../service.js';
import { BODY_BYTES_MAX, commitSchema, openSessionSchema, replaceShardSchema } from './schemas.js';

type Session = { Params: { id: string } };

export async function writeRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { writes, capabilities, state } = options.service;
  const empty = { bodyLimit: BODY_BYTES_MAX.empty };

  app.post<{ Params: { name: string }; Body: OpenSessionRequest }>(
    '/v1/tables/:name/sessions',
    { schema: { body: openSessionSchema }, bodyLimit: BODY_BYTES_MAX.openSession },
    async (request, reply) => {
      const session = await writes.open(request.params.name, request.body, request.principal.tokenId);
      const limits = { stripesPerCommitMax: options.service.catalog.quotas.stripesPerCommitMax, commitBodyBytesMax: BODY_BYTES_MAX.commit };
      return reply.code(201).send({ ...session, limits });
    },
  );
  app.get<Session>('/v1/sessions/:id', async (request) => writes.get(request.params.id));
  app.post<Session>('/v1/sessions/:id/renew', empty, async (request) => writes.renew(request.params.id));
  app.post<Session>('/v1/sessions/:id/blocks', empty, async (request, reply) =>
    reply.code(201).send(withWriteCapabilities(await writes.allocateBlock(request.params.id), capabilities)),
  );
  app.post<{ Params: { id: string; blockId: string }; Body: ReplaceShardRequest }>(
    '/v1/sessions/:id/blocks/:blockId/replace',
    { schema: { body: replaceShardSchema }, bodyLimit: BODY_BYTES_MAX.replaceShard },
    async (request) => withWriteCapabilities(await writes.replaceShard(request.params.id, request.params.blockId, request.body.shard), capabilities),
  );
  app.post<Session & { Body: CommitManifest }>(
    '/v1/sessions/:id/commit',
    {
      schema: { body: commitSchema },
      bodyLimit: BODY_BYTES_MAX.commit,
      // Up to 64 MiB are read and validated only for a session that exists.
      onRequest: async (request: { params: unknown }) => {
        const { id } = request.params as { id: string };
        if (!state.sessions.has(id)) throw new GranaryError('GRN_SESSION_NOT_FOUND', `no write session ${id.slice(0, 64)}`);
      },
    },
    async (request) => writes.commit(request.params.id, request.body),
  );
  app.post<Session>('/v1/sessions/:id/abort', empty, async (request) => writes.abort(request.params.id));
}

/** Each chunk of a placement comes with the capability to write exactly that chunk. */
function withWriteCapabilities(placement: BlockPlacement, capabilities: CapabilityIssuer): BlockPlacement {
  const now = Date.now();
  return { ...placement, chunks: placement.chunks.map((chunk) => ({ ...chunk, capability: capabilities.write(chunk.chunkId, now) })) };
}
