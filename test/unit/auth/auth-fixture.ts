/**
 * What the auth suites share: the routes an app really registered (read back from fastify, so a
 * route table can be compared with them), calls with a bearer token, tokens, nodes registered
 * with their own node tokens, and a committed block.
 */
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { unpack } from 'msgpackr';
import type { CreateTokenRequest } from '../../../protocol/auth-types.js';
import type { BlockPlacement, CommitManifest, NodeRegistration } from '../../../protocol/index.js';

/**
 * Every `METHOD /url` the app registered, HEAD and OPTIONS left out (fastify adds HEAD for each
 * GET). Read from `printRoutes({ commonPrefix: false })`, whose tree prints each node as the part
 * of the path it adds to its parent, with its methods in parentheses.
 */
export function registeredRoutes(app: FastifyInstance): Set<string> {
  const routes = new Set<string>();
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const marker = line.search(/[├└]── /);
    if (marker < 0) continue;
    expect(marker % 4, `printRoutes indents by 4: ${line}`).toBe(0);
    const depth = marker / 4;
    const text = line.slice(marker + 4);
    const open = text.lastIndexOf(' (');
    const segment = open < 0 ? text : text.slice(0, open);
    const path = (depth === 0 ? '' : (prefixes[depth - 1] as string)) + segment;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    if (open < 0) continue;
    for (const method of text.slice(open + 2, -1).split(', ')) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      // A parse that invents a route fails here rather than in the comparison.
      expect(app.hasRoute({ method: method as 'GET', url: path }), `${method} ${path} parsed from printRoutes`).toBe(true);
      routes.add(`${method} ${path}`);
    }
  }
  return routes;
}

export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

export interface CallOptions {
  readonly token?: string | undefined;
  /** A raw authorization header value, sent instead of `Bearer <token>`. */
  readonly authorization?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** One request through `app.inject()`; JSON and msgpack answers are decoded. */
export async function call<T = Record<string, unknown>>(app: FastifyInstance, method: string, url: string, options: CallOptions = {}): Promise<Answer<T>> {
  const authorization = options.authorization ?? (options.token === undefined ? undefined : `Bearer ${options.token}`);
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers: { ...(authorization === undefined ? {} : { authorization }), ...options.headers },
    ...(options.body === undefined ? {} : { payload: options.body as object }),
  });
  const type = String(response.headers['content-type'] ?? '');
  let body: unknown = response.payload;
  // HEAD answers carry the headers of a body but none of its bytes.
  if (response.rawPayload.length === 0) body = undefined;
  else if (type.includes('msgpack')) body = unpack(response.rawPayload);
  else if (type.includes('json')) body = response.json();
  return { status: response.statusCode, body: body as T };
}

/** Calls and expects `status`, with the answer in the failure message. */
export async function expectCall<T = Record<string, unknown>>(app: FastifyInstance, status: number, method: string, url: string, options: CallOptions = {}): Promise<T> {
  const answer = await call<T>(app, method, url, options);
  expect(answer.status, `${method} ${url}: ${JSON.stringify(answer.body).slice(0, 400)}`).toBe(status);
  return answer.body;
}

export interface MadeToken {
  readonly token: string;
  readonly id: string;
}

export async function makeToken(app: FastifyInstance, admin: string, request: CreateTokenRequest): Promise<MadeToken> {
  const created = await expectCall<{ token: string; id: string; role: string }>(app, 201, 'POST', '/v1/tokens', { token: admin, body: request });
  expect(created.role).toBe(request.role);
  return { token: created.token, id: created.id };
}

export const NODE_LOAD = { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 } as const;

export function registration(nodeId: string, index: number, extra: Partial<NodeRegistration> = {}): NodeRegistration {
  return { nodeId, url: `http://127.0.0.1:${20_000 + index}`, domain: `rack-${index % 4}`, ...NODE_LOAD, ...extra };
}

/** Registers `count` nodes `node-0..`, each with a node token of its own (returned by id). */
export async function registerNodesWithTokens(
  app: FastifyInstance,
  admin: string,
  count: number,
  extra: (nodeId: string) => Partial<NodeRegistration> = () => ({}),
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const { token } = await makeToken(app, admin, { role: 'node', nodeId });
    const answer = await expectCall<{ capabilityKey: string | null }>(app, 200, 'POST', '/v1/nodes/register', { token, body: registration(nodeId, i, extra(nodeId)) });
    expect(typeof answer.capabilityKey).toBe('string');
    tokens.set(nodeId, token);
  }
  return tokens;
}

/** A one-stream, one-block manifest for a 4+2 block (nodes registered without receipt keys). */
export function oneBlockManifest(block: BlockPlacement, receipts?: readonly string[]): CommitManifest {
  return {
    files: [{ columns: ['x'], stripes: [{ rows: 10, streams: [{ block: block.blockId, offset: 0, length: 4000, checksum: '0'.repeat(16), encoding: 1 }] }] }],
    blocks: [
      {
        blockId: block.blockId,
        blockBytes: 4000,
        shardBytes: 1000,
        codec: block.codec,
        shardChecksums: block.chunks.map((_, shard) => String(shard).repeat(16)),
        ...(receipts === undefined ? {} : { receipts }),
      },
    ],
  };
}

/** Opens a session on `table`, allocates one block and commits it with `token`. */
export async function commitOneBlock(app: FastifyInstance, token: string, table: string, partition: string): Promise<BlockPlacement> {
  const session = await expectCall<{ sessionId: string }>(app, 201, 'POST', `/v1/tables/${table}/sessions`, { token, body: { partition } });
  const block = await expectCall<BlockPlacement>(app, 201, 'POST', `/v1/sessions/${session.sessionId}/blocks`, { token });
  await expectCall(app, 200, 'POST', `/v1/sessions/${session.sessionId}/commit`, { token, body: oneBlockManifest(block) });
  return block;
}

/** A table of one int64 column, 4+2, partitioned by `ds`. */
export function tableSpec(name: string): object {
  return { name, columns: [{ name: 'x', type: 'int64' }], partitionBy: ['ds'], ec: '4+2' };
}
