/**
 * Authentication and authorisation of metadata requests, as fastify hooks: the token is checked
 * before the body is read (a request without one costs no parsing), then the route's rule from
 * auth-rules.ts decides on role, table scope, session ownership and node identity.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GranaryError, type NodeRegistration } from '../protocol/index.js';
import { type AuthRule, METADATA_AUTH_RULES, ruleKey } from './auth-rules.js';
import type { MetadataState } from './state.js';
import { ANONYMOUS_ADMIN, type Principal, type TokenStore } from './tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (metadata/auth-rules.ts), set when it registers. */
    auth?: AuthRule;
  }
  interface FastifyRequest {
    /** Who sent the request; set by the auth hook on every route that is not public. */
    principal: Principal;
  }
}

export interface AuthOptions {
  /** undefined: authentication is off (`--auth off`) and every request acts as an admin. */
  readonly tokens: TokenStore | undefined;
  readonly state: MetadataState;
}

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const { tokens, state } = options;
  // Set for every request by the first hook below (fastify wants a primitive placeholder).
  app.decorateRequest('principal', null as unknown as Principal);

  // Each route's rule is found once, when it registers, and kept in its config.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // HEAD routes fastify adds for GET routes follow their GET rule.
    const method = methods.find((m) => m !== 'HEAD' && m !== 'OPTIONS') ?? 'GET';
    const rule = METADATA_AUTH_RULES[ruleKey(method, route.url)];
    if (rule === undefined) {
      throw new Error(`route ${ruleKey(method, route.url)} has no rule in metadata/auth-rules.ts: every route says who may call it`);
    }
    route.config = { ...route.config, auth: rule };
    // The registration's node id is in its body, which is parsed after onRequest: only this
    // route gets the check.
    if (tokens !== undefined && !('public' in rule) && rule.node === 'registration') {
      const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
      route.preHandler = [...existing, registrationSpeaksForItself];
    }
  });

  app.addHook('onRequest', async (request) => {
    request.principal = ANONYMOUS_ADMIN;
    const rule = request.routeOptions.config.auth;
    if (rule === undefined) {
      // No route matched: the 404 handler answers, and it reveals nothing.
      if (request.routeOptions.url === undefined) return;
      throw new GranaryError('GRN_INTERNAL', `no auth rule for ${request.method} ${request.routeOptions.url}`);
    }
    if ('public' in rule || tokens === undefined) return;
    const principal = tokens.authenticate(request.headers.authorization);
    request.principal = principal;
    allow(rule, principal, request, state);
  });
}

async function registrationSpeaksForItself(request: FastifyRequest): Promise<void> {
  const nodeId = (request.body as Partial<NodeRegistration> | undefined)?.nodeId;
  if (request.principal.role === 'node' && nodeId !== request.principal.nodeId) {
    throw forbidden(request.principal, `it speaks for node ${request.principal.nodeId ?? '?'}, not ${String(nodeId).slice(0, 64)}`);
  }
}

/** Whether the request's token may see this table (lists show only those). */
export function mayUseTable(request: FastifyRequest, table: string): boolean {
  const tables = request.principal.tables;
  return tables === undefined || tables.has(table);
}

function allow(rule: Exclude<AuthRule, { public: true }>, principal: Principal, request: FastifyRequest, state: MetadataState): void {
  if (!rule.roles.includes(principal.role)) {
    throw forbidden(principal, `this needs the role ${rule.roles.join(' or ')}`);
  }
  const params = request.params as Record<string, string | undefined>;
  if (principal.role === 'node') {
    if (rule.node === 'id' && params.id !== principal.nodeId) {
      throw forbidden(principal, `it speaks for node ${principal.nodeId ?? '?'}, not ${String(params.id).slice(0, 64)}`);
    }
    if (rule.node === 'task') {
      const task = state.repairTasks.get(params.task ?? '');
      // An unknown task is answered 404 by the route itself.
      if (task !== undefined && task.executorNode !== principal.nodeId) {
        throw forbidden(principal, `repair task ${task.taskId} was given to node ${task.executorNode}, not ${principal.nodeId ?? '?'}`);
      }
    }
    return;
  }
  if (principal.role === 'admin') return;
  if (rule.table === 'name') {
    const table = params.name ?? '';
    if (principal.tables !== undefined && !principal.tables.has(table)) throw forbidden(principal, `it is not scoped to table ${table.slice(0, 128)}`);
  } else if (rule.table === 'session') {
    const session = state.sessions.get(params.id ?? '');
    // An unknown session is answered 404 by the route itself.
    if (session === undefined) return;
    if (session.ownerTokenId !== undefined && session.ownerTokenId !== principal.tokenId) {
      throw forbidden(principal, `session ${session.sessionId} was opened by another token`);
    }
    if (principal.tables !== undefined && !principal.tables.has(session.tableName)) {
      throw forbidden(principal, `it is not scoped to table ${session.tableName}`);
    }
  }
}

function forbidden(principal: Principal, why: string): GranaryError {
  return new GranaryError('GRN_FORBIDDEN', `token ${principal.tokenId} (role ${principal.role}) may not do this: ${why}`);
}
