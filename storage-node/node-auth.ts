/**
 * Which capability each storage-node route needs, in one table, and the fastify hooks that check
 * it (storage-node/capability-guard.ts). A route added without a rule fails to register.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CAPABILITY_HEADER, type CapabilityOp } from '../protocol/capability.js';
import { GranaryError, REPLACE_HEADER } from '../protocol/index.js';
import type { CapabilityGuard } from './capability-guard.js';

export type NodeRouteRule =
  /** Anyone: probes and scrapers; counts only. */
  | 'public'
  /** A capability for this operation on the `:id` chunk (its block, for reads), in the header. */
  | CapabilityOp
  /** A read capability for the chunk's block, or an admin capability for this node. */
  | 'read-or-admin'
  /** Write, or replace when the upload asks to replace a differing copy. */
  | 'write-or-replace'
  /** Batch reads: read capabilities in the body covering every range's block. */
  | 'batch-read';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a storage-node route needs (NODE_ROUTE_RULES), set when it registers. */
    capability?: NodeRouteRule;
  }
}

export const NODE_ROUTE_RULES: Readonly<Record<string, NodeRouteRule>> = {
  'GET /health': 'public',
  'GET /metrics': 'public',
  'PUT /v1/chunks/:id': 'write-or-replace',
  'GET /v1/chunks/:id': 'read-or-admin',
  'GET /v1/chunks/:id/info': 'read-or-admin',
  'POST /v1/chunks/:id/verify': 'read-or-admin',
  'DELETE /v1/chunks/:id': 'delete',
  'GET /v1/chunks': 'admin',
  'POST /v1/chunks/read': 'batch-read',
  'GET /v1/scrub': 'admin',
  'POST /v1/scrub': 'admin',
};

/** Capabilities a batch read may carry: one per block it touches, bounded like its ranges. */
export const BATCH_CAPABILITIES_MAX = 4_096;

export function installNodeAuth(app: FastifyInstance, guard: CapabilityGuard, nodeId: string): void {
  // Each route's rule is found once, when it registers, and kept in its config.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // HEAD routes fastify adds for GET routes follow their GET rule.
    const method = methods.find((m) => m !== 'HEAD' && m !== 'OPTIONS') ?? 'GET';
    const rule = NODE_ROUTE_RULES[`${method} ${route.url}`];
    if (rule === undefined) {
      throw new Error(`route ${method} ${route.url} has no rule in storage-node/node-auth.ts: every route says what it needs`);
    }
    route.config = { ...route.config, capability: rule };
  });

  // preHandler: batch reads carry their capabilities in the (bounded, parsed) body; every other
  // route's is in a header, and an upload's body is still unread here.
  app.addHook('preHandler', async (request) => {
    const rule = request.routeOptions.config.capability;
    if (rule === undefined) {
      // No route matched: the 404 handler answers.
      if (request.routeOptions.url === undefined) return;
      throw new GranaryError('GRN_INTERNAL', `no capability rule for ${request.method} ${request.routeOptions.url}`);
    }
    if (rule === 'public') return;
    if (rule === 'batch-read') {
      const body = request.body as { ranges?: readonly { chunk?: unknown }[]; capabilities?: unknown } | undefined;
      const capabilities = Array.isArray(body?.capabilities) ? (body.capabilities as unknown[]).filter((c): c is string => typeof c === 'string') : [];
      const chunks = (body?.ranges ?? []).map((range) => String(range.chunk));
      guard.checkReads(new Set(chunks), capabilities, nodeId);
      return;
    }
    const capability = headerCapability(request);
    const chunkId = (request.params as { id?: string }).id;
    // An admin capability allows reads, so 'read-or-admin' is checked as a read.
    const op = rule === 'write-or-replace' ? (request.headers[REPLACE_HEADER] === 'true' ? 'replace' : 'write') : rule === 'read-or-admin' ? 'read' : rule;
    guard.check(op, chunkId, capability === undefined ? [] : [capability], nodeId);
  });
}

function headerCapability(request: FastifyRequest): string | undefined {
  const value = request.headers[CAPABILITY_HEADER];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
