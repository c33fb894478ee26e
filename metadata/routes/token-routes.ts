/** Tokens (create, list, revoke) and admin capabilities for storage nodes' admin routes. */
import type { FastifyInstance } from 'fastify';
import { ANY_NODE } from '../../protocol/capability.js';
import { type AdminCapabilityRequest, type CapabilityAnswer, type CreateTokenRequest, ROLES, TOKEN_TABLES_MAX, TOKEN_TTL_MS_MAX } from '../../protocol/auth-types.js';
import { GranaryError, NODE_ID_PATTERN } from '../../protocol/index.js';
import type { MetadataService } from '../service.js';

const createTokenSchema = {
  type: 'object',
  required: ['role'],
  additionalProperties: false,
  properties: {
    role: { type: 'string', enum: [...ROLES] },
    tables: { type: 'array', minItems: 1, maxItems: TOKEN_TABLES_MAX, items: { type: 'string', minLength: 1, maxLength: 128 } },
    nodeId: { type: 'string', minLength: 1, maxLength: 64 },
    ttlMs: { type: 'integer', minimum: 1, maximum: TOKEN_TTL_MS_MAX },
    description: { type: 'string', maxLength: 200 },
  },
} as const;

const capabilitySchema = {
  type: 'object',
  required: ['nodeId'],
  additionalProperties: false,
  properties: { nodeId: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export async function tokenRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { tokens, capabilities } = options.service;

  app.post<{ Body: CreateTokenRequest }>('/v1/tokens', { schema: { body: createTokenSchema } }, async (request, reply) =>
    reply.code(201).send(await tokens.create(request.body)),
  );
  app.get('/v1/tokens', async () => ({ tokens: tokens.list() }));
  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', async (request) => tokens.revoke(request.params.id));

  app.post<{ Body: AdminCapabilityRequest }>('/v1/capabilities', { schema: { body: capabilitySchema } }, async (request): Promise<CapabilityAnswer> => {
    const { nodeId } = request.body;
    if (nodeId !== ANY_NODE && !NODE_ID_PATTERN.test(nodeId)) {
      throw new GranaryError('GRN_BAD_REQUEST', `nodeId must be a node id or "${ANY_NODE}"`);
    }
    const { capability, expiresAtMs } = capabilities.admin(nodeId);
    return { capability, expiresAt: new Date(expiresAtMs).toISOString() };
  });
}
