/**
 * Every route of both services against every kind of credential it must refuse, generated from
 * the route tables (metadata/auth-rules.ts, storage-node/node-auth.ts): the tables must name
 * exactly the routes the apps register, so a route added without a rule, or a rule left behind
 * by a removed route, fails here (issue 11, "Tests that must pass"). Each refusal is checked with
 * the route's parameters filled with real names (a table, a session, a node, a repair task, a
 * stored chunk), so it is the authorisation that answers, not a 404; and each route is then
 * called with a credential it allows, which must get past authorisation.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../../erasure/index.js';
import { METADATA_AUTH_RULES, type AuthRule } from '../../../metadata/auth-rules.js';
import { CapabilityIssuer } from '../../../metadata/capabilities.js';
import { CAPABILITY_HEADER, CAPABILITY_OPS, type CapabilityOp, signCapability } from '../../../protocol/capability.js';
import { ROLES, type Role } from '../../../protocol/auth-types.js';
import type { BlockPlacement, HeartbeatAnswer, RepairTask } from '../../../protocol/index.js';
import { CapabilityGuard } from '../../../storage-node/capability-guard.js';
import { NODE_ROUTE_RULES, type NodeRouteRule } from '../../../storage-node/node-auth.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { type StorageApp, makeStorageApp } from '../../helpers/storage-app.js';
import { pollUntil } from '../../helpers/poll.js';
import {
  type CallOptions,
  NODE_LOAD,
  call,
  commitOneBlock,
  expectCall,
  makeToken,
  oneBlockManifest,
  registeredRoutes,
  registration,
  registerNodesWithTokens,
  tableSpec,
} from './auth-fixture.js';

const REFUSED = [401, 403];

type GuardedRule = Exclude<AuthRule, { public: true }>;

/** How each metadata route is called: its parameters filled with real names, and a body it accepts. */
interface RouteCase {
  readonly url: string;
  readonly body?: unknown;
  /** A token the rule allows, and the status its call gets (a 404 only where the target is made up on purpose). */
  readonly allowed: { readonly token: string; readonly status: number; readonly url?: string; readonly body?: unknown };
}

interface MetadataFixture {
  readonly admin: string;
  /** One token of each role, unscoped; the node token is node-1's. */
  readonly byRole: Readonly<Record<Role, string>>;
  readonly scoped: {
    readonly readerAlpha: string;
    readonly readerBeta: string;
    readonly writerAlpha: string;
    readonly writerBeta: string;
    /** Another writer of table alpha, which did not open the session. */
    readonly otherWriterAlpha: string;
  };
  readonly nodeTokens: ReadonlyMap<string, string>;
  readonly revoked: string;
  readonly expired: string;
  readonly sessionId: string;
  readonly sessionBlock: BlockPlacement;
  /** A session of writerAlpha's for the abort route's allowed call. */
  readonly abortSessionId: string;
  readonly fileId: string;
  readonly task: RepairTask;
  readonly executor: string;
  readonly throwawayTokenId: string;
}

/** A token in the right shape for an id that exists with the secret changed in one character. */
function wrongSecret(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return token.slice(0, -1) + last;
}

function metadataCases(f: MetadataFixture): Record<string, RouteCase> {
  const session = `/v1/sessions/${f.sessionId}`;
  const writer = f.scoped.writerAlpha;
  const reader = f.scoped.readerAlpha;
  const node1 = f.nodeTokens.get('node-1') as string;
  return {
    'POST /v1/tables': { url: '/v1/tables', body: tableSpec('delta'), allowed: { token: f.admin, status: 201 } },
    'GET /v1/tables': { url: '/v1/tables', allowed: { token: reader, status: 200 } },
    'GET /v1/tables/:name': { url: '/v1/tables/alpha', allowed: { token: reader, status: 200 } },
    'PATCH /v1/tables/:name': {
      url: '/v1/tables/alpha',
      body: { addColumns: [{ name: 'y', type: 'int64' }] },
      allowed: { token: f.admin, status: 404, url: '/v1/tables/nosuch' },
    },
    'DELETE /v1/tables/:name': { url: '/v1/tables/alpha', allowed: { token: f.admin, status: 404, url: '/v1/tables/nosuch' } },
    'GET /v1/tables/:name/partitions': { url: '/v1/tables/alpha/partitions', allowed: { token: reader, status: 200 } },
    'GET /v1/tables/:name/partitions/:partition': { url: '/v1/tables/alpha/partitions/ds=0', allowed: { token: reader, status: 200 } },
    'GET /v1/tables/:name/partitions/:partition/files': { url: '/v1/tables/alpha/partitions/ds=0/files', allowed: { token: reader, status: 200 } },
    'DELETE /v1/tables/:name/partitions/:partition': {
      url: '/v1/tables/alpha/partitions/ds=0',
      allowed: { token: f.admin, status: 404, url: '/v1/tables/alpha/partitions/ds=9' },
    },
    'DELETE /v1/tables/:name/partitions/:partition/files/:fileId': {
      url: `/v1/tables/alpha/partitions/ds=0/files/${f.fileId}`,
      allowed: { token: f.admin, status: 404, url: '/v1/tables/alpha/partitions/ds=9/files/nosuch' },
    },
    'GET /v1/tables/:name/popularity': { url: '/v1/tables/alpha/popularity', allowed: { token: reader, status: 200 } },
    'POST /v1/tables/:name/scan': { url: '/v1/tables/alpha/scan', body: {}, allowed: { token: reader, status: 200 } },
    'POST /v1/tables/:name/reads': {
      url: '/v1/tables/alpha/reads',
      body: { job: 'matrix', requests: 1, bytesNeeded: 1, bytesFetched: 1, degradedReads: 0, rebuildBytes: 0, rows: 1, stripes: 1, readMs: 1, readSizes: [1, 0, 0, 0, 0, 0, 0, 0], scansFinished: 1 },
      allowed: { token: reader, status: 204 },
    },
    'GET /v1/tables/:name/relayout': { url: '/v1/tables/alpha/relayout', allowed: { token: f.admin, status: 200 } },
    'GET /v1/tables/:name/partitions/:partition/files/:fileId/layout': {
      url: `/v1/tables/alpha/partitions/ds=0/files/${f.fileId}/layout`,
      allowed: { token: f.admin, status: 404, url: '/v1/tables/alpha/partitions/ds=0/files/nosuch/layout' },
    },
    'POST /v1/sessions/:id/relayout': {
      url: `${session}/relayout`,
      body: { fileId: f.fileId, blocks: [{ replaces: 'bnosuch', block: { blockId: 'bnosuch', blockBytes: 1, shardBytes: 8, codec: 'x', shardChecksums: [] }, offsets: [] }] },
      allowed: { token: f.admin, status: 404, url: '/v1/sessions/snosuch/relayout' },
    },
    'POST /v1/tables/:name/declarations': { url: '/v1/tables/alpha/declarations', body: { job: 'matrix', columns: ['x'] }, allowed: { token: reader, status: 201 } },
    'GET /v1/declarations': { url: '/v1/declarations', allowed: { token: f.admin, status: 200 } },
    'GET /v1/jobs': { url: '/v1/jobs', allowed: { token: f.admin, status: 200 } },
    'GET /v1/jobs/:job': { url: '/v1/jobs/matrix', allowed: { token: f.admin, status: 404, url: '/v1/jobs/nosuch' } },
    'POST /v1/tables/:name/sessions': { url: '/v1/tables/alpha/sessions', body: { partition: 'ds=2' }, allowed: { token: writer, status: 201 } },
    'GET /v1/sessions/:id': { url: session, allowed: { token: writer, status: 200 } },
    'POST /v1/sessions/:id/renew': { url: `${session}/renew`, allowed: { token: writer, status: 200 } },
    'POST /v1/sessions/:id/blocks': { url: `${session}/blocks`, allowed: { token: writer, status: 201 } },
    'POST /v1/sessions/:id/blocks/:blockId/replace': {
      url: `${session}/blocks/${f.sessionBlock.blockId}/replace`,
      body: { shard: 0 },
      allowed: { token: writer, status: 200 },
    },
    // Nodes were registered without receipt keys: the commit needs none.
    'POST /v1/sessions/:id/commit': {
      url: `${session}/commit`,
      body: oneBlockManifest(f.sessionBlock),
      allowed: { token: writer, status: 200 },
    },
    'POST /v1/sessions/:id/abort': { url: `${session}/abort`, allowed: { token: writer, status: 200, url: `/v1/sessions/${f.abortSessionId}/abort` } },
    'POST /v1/nodes/register': { url: '/v1/nodes/register', body: registration('node-1', 1), allowed: { token: node1, status: 200 } },
    'POST /v1/nodes/:id/heartbeat': { url: '/v1/nodes/node-1/heartbeat', body: NODE_LOAD, allowed: { token: node1, status: 200 } },
    'POST /v1/nodes/:id/corrupt': { url: '/v1/nodes/node-1/corrupt', body: { chunks: [] }, allowed: { token: node1, status: 200 } },
    'POST /v1/nodes/:id/inventory': { url: '/v1/nodes/node-1/inventory', body: { round: 'r-none', chunks: [], done: true }, allowed: { token: node1, status: 200 } },
    'POST /v1/nodes/:id/drain': { url: '/v1/nodes/node-1/drain', allowed: { token: f.admin, status: 404, url: '/v1/nodes/nosuch/drain' } },
    'POST /v1/nodes/:id/undrain': { url: '/v1/nodes/node-1/undrain', allowed: { token: f.admin, status: 404, url: '/v1/nodes/nosuch/undrain' } },
    'POST /v1/nodes/:id/remove': { url: '/v1/nodes/node-1/remove', allowed: { token: f.admin, status: 404, url: '/v1/nodes/nosuch/remove' } },
    'GET /v1/nodes': { url: '/v1/nodes', allowed: { token: f.admin, status: 200 } },
    'POST /v1/repairs/:task/report': {
      url: `/v1/repairs/${f.task.taskId}/report`,
      body: { nodeId: f.executor, results: f.task.restores.map((r) => ({ shard: r.shard, ok: false, error: 'test' })), bytesRead: 0, bytesWritten: 0 },
      allowed: { token: f.nodeTokens.get(f.executor) as string, status: 200 },
    },
    'GET /v1/repair': { url: '/v1/repair', allowed: { token: f.admin, status: 200 } },
    'GET /v1/blocks': { url: '/v1/blocks', allowed: { token: f.admin, status: 200 } },
    'GET /v1/gc': { url: '/v1/gc', allowed: { token: f.admin, status: 200 } },
    'POST /v1/tokens': { url: '/v1/tokens', body: { role: 'admin' }, allowed: { token: f.admin, status: 201 } },
    'GET /v1/tokens': { url: '/v1/tokens', allowed: { token: f.admin, status: 200 } },
    'DELETE /v1/tokens/:id': { url: `/v1/tokens/${f.throwawayTokenId}`, allowed: { token: f.admin, status: 200 } },
    'POST /v1/capabilities': { url: '/v1/capabilities', body: { nodeId: 'node-1' }, allowed: { token: f.admin, status: 200 } },
    'GET /v1/admin/backup': { url: '/v1/admin/backup', allowed: { token: f.admin, status: 200 } },
  };
}

const methodOf = (key: string): string => key.slice(0, key.indexOf(' '));

describe('metadata route matrix', () => {
  let meta: MetadataApp;
  let f: MetadataFixture;
  let cases: Record<string, RouteCase>;

  beforeAll(async () => {
    meta = await makeMetadataApp({
      auth: 'on',
      // Nodes stay alive without heartbeats, and the repair task stays leased, for the whole file.
      suspectAfterMs: 10 * 60_000,
      deadAfterMs: 20 * 60_000,
      repair: { rateBytesPerSecond: 8 * 1024 * 1024, tasksMax: 4, taskLeaseMinMs: 10 * 60_000 },
    });
    const { app, adminToken: admin } = meta;
    const nodeTokens = await registerNodesWithTokens(app, admin, 8);
    for (const table of ['alpha', 'beta']) await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec(table) });
    const token = async (request: Parameters<typeof makeToken>[2]) => (await makeToken(app, admin, request)).token;
    const scoped = {
      readerAlpha: await token({ role: 'reader', tables: ['alpha'] }),
      readerBeta: await token({ role: 'reader', tables: ['beta'] }),
      writerAlpha: await token({ role: 'writer', tables: ['alpha'] }),
      writerBeta: await token({ role: 'writer', tables: ['beta'] }),
      otherWriterAlpha: await token({ role: 'writer', tables: ['alpha'] }),
    };
    const byRole: Record<Role, string> = {
      admin,
      writer: await token({ role: 'writer' }),
      reader: await token({ role: 'reader' }),
      node: nodeTokens.get('node-1') as string,
    };
    const revokedToken = await makeToken(app, admin, { role: 'admin' });
    await expectCall(app, 200, 'DELETE', `/v1/tokens/${revokedToken.id}`, { token: admin });
    const expiring = await expectCall<{ token: string; expiresAt: string }>(app, 201, 'POST', '/v1/tokens', { token: admin, body: { role: 'admin', ttlMs: 1 } });
    const expiresAtMs = Date.parse(expiring.expiresAt);
    await pollUntil('the 1 ms token to expire', () => (Date.now() > expiresAtMs ? true : undefined), 5_000, 5);

    // A committed file, a session of writerAlpha's with a block, and a repair task.
    const committed = await commitOneBlock(app, admin, 'alpha', 'ds=0');
    const partition = await expectCall<{ fileList: { fileId: string }[] }>(app, 200, 'GET', '/v1/tables/alpha/partitions/ds=0', { token: admin });
    const fileId = partition.fileList[0]?.fileId as string;
    const opened = await expectCall<{ sessionId: string }>(app, 201, 'POST', '/v1/tables/alpha/sessions', { token: scoped.writerAlpha, body: { partition: 'ds=1' } });
    const sessionBlock = await expectCall<BlockPlacement>(app, 201, 'POST', `/v1/sessions/${opened.sessionId}/blocks`, { token: scoped.writerAlpha });
    const abortSession = await expectCall<{ sessionId: string }>(app, 201, 'POST', '/v1/tables/alpha/sessions', { token: scoped.writerAlpha, body: { partition: 'ds=3' } });
    const draining = committed.chunks[2]?.nodeId as string;
    await expectCall(app, 200, 'POST', `/v1/nodes/${draining}/drain`, { token: admin });
    const executor = [...nodeTokens.keys()].find((id) => !committed.chunks.some((c) => c.nodeId === id)) as string;
    const answer = await expectCall<HeartbeatAnswer>(app, 200, 'POST', `/v1/nodes/${executor}/heartbeat`, {
      token: nodeTokens.get(executor),
      body: { ...NODE_LOAD, repairSlotsFree: 1 },
    });
    const task = answer.repairs?.[0] as RepairTask;
    expect(task.blockId).toBe(committed.blockId);
    const throwaway = await makeToken(app, admin, { role: 'reader' });

    f = {
      admin,
      byRole,
      scoped,
      nodeTokens,
      revoked: revokedToken.token,
      expired: expiring.token,
      sessionId: opened.sessionId,
      sessionBlock,
      abortSessionId: abortSession.sessionId,
      fileId,
      task,
      executor,
      throwawayTokenId: throwaway.id,
    };
    cases = metadataCases(f);
  }, 60_000);

  afterAll(async () => {
    await meta?.close();
  });

  it('the rule table names exactly the routes the service registers, and the matrix has a case for each', async () => {
    await meta.app.ready();
    const routes = registeredRoutes(meta.app);
    expect(routes.size).toBeGreaterThan(30);
    expect([...routes].sort()).toEqual(Object.keys(METADATA_AUTH_RULES).sort());
    const guarded = Object.entries(METADATA_AUTH_RULES).filter(([, rule]) => !('public' in rule)).map(([key]) => key);
    expect(Object.keys(cases).sort()).toEqual(guarded.sort());
  });

  it('answers public routes without a token', async () => {
    const publicKeys = Object.entries(METADATA_AUTH_RULES).filter(([, rule]) => 'public' in rule).map(([key]) => key);
    expect(publicKeys.sort()).toEqual(['GET /health', 'GET /metrics', 'GET /ui', 'GET /ui/', 'GET /ui/console.css', 'GET /ui/console.js']);
    for (const key of publicKeys) {
      const answer = await call(meta.app, methodOf(key), key.slice(key.indexOf(' ') + 1));
      expect(answer.status, key).toBe(200);
    }
  });

  it('gets the expired and revoked tokens past nothing, and the admin token through', async () => {
    // The tokens the matrix uses are what they claim, so its 401s and 403s are not vacuous.
    await expectCall(meta.app, 200, 'GET', '/v1/tokens', { token: f.admin });
    for (const token of [f.revoked, f.expired, wrongSecret(f.admin)]) {
      expect((await call(meta.app, 'GET', '/v1/tokens', { token })).body).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
    }
  });

  const guarded = Object.entries(METADATA_AUTH_RULES).filter((entry): entry is [string, GuardedRule] => !('public' in entry[1]));

  for (const [key, rule] of guarded) {
    const method = methodOf(key);
    const send = (options: CallOptions) => call(meta.app, method, cases[key]?.url as string, { body: cases[key]?.body, ...options });

    it(`${key}: 401 GRN_UNAUTHENTICATED without a valid token`, async () => {
      const attempts: [string, CallOptions][] = [
        ['no token', {}],
        ['an empty header', { authorization: '' }],
        ['a Basic header', { authorization: 'Basic YWRtaW46YWRtaW4=' }],
        ['a malformed token', { token: 'not-a-granary-token' }],
        ['an unknown token', { token: `grn_${'0'.repeat(16)}_${'A'.repeat(43)}` }],
        ["the admin's id with a wrong secret", { token: wrongSecret(f.admin) }],
        ['a revoked admin token', { token: f.revoked }],
        ['an expired admin token', { token: f.expired }],
      ];
      for (const [what, options] of attempts) {
        const answer = await send(options);
        expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(401);
        expect(answer.body, what).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
      }
      if (method === 'GET') {
        // The HEAD route fastify adds for each GET follows the GET's rule.
        const head = await call(meta.app, 'HEAD', cases[key]?.url as string);
        expect(head.status, 'HEAD without a token').toBe(401);
      }
    });

    const refusedRoles = ROLES.filter((role) => !rule.roles.includes(role));
    if (refusedRoles.length > 0) {
      it(`${key}: 403 GRN_FORBIDDEN for ${refusedRoles.join(', ')}`, async () => {
        for (const role of refusedRoles) {
          const answer = await send({ token: f.byRole[role] });
          expect(answer.status, `${role}: ${JSON.stringify(answer.body)}`).toBe(403);
          expect(answer.body, role).toMatchObject({ code: 'GRN_FORBIDDEN' });
        }
      });
    }

    if (rule.table === 'name') {
      const scopedRoles = rule.roles.filter((role): role is 'reader' | 'writer' => role === 'reader' || role === 'writer');
      it(`${key}: 403 for ${scopedRoles.join(' and ')} tokens of another table, past auth for the table's`, async () => {
        expect(scopedRoles.length).toBeGreaterThan(0);
        for (const role of scopedRoles) {
          const other = await send({ token: role === 'reader' ? f.scoped.readerBeta : f.scoped.writerBeta });
          expect(other.status, `${role} of beta: ${JSON.stringify(other.body)}`).toBe(403);
          expect(other.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
          const own = await send({ token: role === 'reader' ? f.scoped.readerAlpha : f.scoped.writerAlpha });
          expect(REFUSED, `${role} of alpha: ${JSON.stringify(own.body)}`).not.toContain(own.status);
        }
      });
    }

    if (rule.table === 'session') {
      it(`${key}: 403 for another writer's token (session owner) and another table's writer`, async () => {
        for (const [what, token] of [
          ['another writer of the same table', f.scoped.otherWriterAlpha],
          ['a writer of another table', f.scoped.writerBeta],
          ['an unscoped writer that did not open it', f.byRole.writer],
        ] as const) {
          const answer = await send({ token });
          expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(403);
          expect(answer.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
        }
      });
    }

    if (rule.node !== undefined) {
      it(`${key}: 403 for a node token of another node`, async () => {
        const speaksFor = rule.node === 'task' ? f.executor : 'node-1';
        const others = [...f.nodeTokens.keys()].filter((id) => id !== speaksFor);
        expect(others.length).toBe(7);
        for (const nodeId of others) {
          const answer = await send({ token: f.nodeTokens.get(nodeId) });
          expect(answer.status, `${nodeId}: ${JSON.stringify(answer.body)}`).toBe(403);
          expect(answer.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
        }
      });
    }
  }

  it('lets each route through for a token its rule allows (run last: these calls change things)', async () => {
    for (const [key, routeCase] of Object.entries(cases)) {
      const { allowed } = routeCase;
      const answer = await call(meta.app, methodOf(key), allowed.url ?? routeCase.url, { token: allowed.token, body: allowed.body ?? routeCase.body });
      expect(answer.status, `${key}: ${String(JSON.stringify(answer.body)).slice(0, 300)}`).toBe(allowed.status);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The storage node

const NODE_ID = 'node-a';
const STORED = { a: 'blka.0', b: 'blkb.0', gone: 'blkd.0' } as const;

/** The operations a rule lets through (a PUT without the replace header). */
function opsAllowed(rule: NodeRouteRule): readonly CapabilityOp[] {
  switch (rule) {
    case 'write-or-replace':
      return ['write', 'replace'];
    case 'read-or-admin':
    case 'batch-read':
      return ['read', 'admin'];
    case 'public':
      return CAPABILITY_OPS;
    default:
      return [rule];
  }
}

/** The scope a capability for `op` on chunk `chunkId` names. */
function scopeFor(op: CapabilityOp, chunkId: string, nodeId = NODE_ID): string {
  if (op === 'admin') return nodeId;
  return op === 'read' ? chunkId.slice(0, chunkId.lastIndexOf('.')) : chunkId;
}

interface NodeRouteCase {
  readonly method: string;
  /** The chunk the request is about (undefined: a node-wide admin route). */
  readonly chunkId: string | undefined;
  readonly url: string;
  readonly body?: Buffer;
  readonly headers?: Record<string, string>;
  /** The status with a capability the rule allows. */
  readonly status: number;
}

const PUT_BYTES = Buffer.alloc(3000, 7);

function nodeCases(): Record<string, NodeRouteCase> {
  const putHeaders = { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(PUT_BYTES)) };
  return {
    'PUT /v1/chunks/:id': { method: 'PUT', chunkId: 'blkw.0', url: '/v1/chunks/blkw.0', body: PUT_BYTES, headers: putHeaders, status: 201 },
    'GET /v1/chunks/:id': { method: 'GET', chunkId: STORED.a, url: `/v1/chunks/${STORED.a}`, status: 200 },
    'GET /v1/chunks/:id/info': { method: 'GET', chunkId: STORED.a, url: `/v1/chunks/${STORED.a}/info`, status: 200 },
    'POST /v1/chunks/:id/verify': { method: 'POST', chunkId: STORED.a, url: `/v1/chunks/${STORED.a}/verify`, status: 200 },
    'DELETE /v1/chunks/:id': { method: 'DELETE', chunkId: STORED.gone, url: `/v1/chunks/${STORED.gone}`, status: 204 },
    'GET /v1/chunks': { method: 'GET', chunkId: undefined, url: '/v1/chunks', status: 200 },
    'GET /v1/scrub': { method: 'GET', chunkId: undefined, url: '/v1/scrub', status: 200 },
    'POST /v1/scrub': { method: 'POST', chunkId: undefined, url: '/v1/scrub?wait=true', status: 200 },
  };
}

describe('storage node route matrix', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const issuer = new CapabilityIssuer(privateKey);
  /** Another cluster's key: what a node, or anyone, holding no key of this service could sign with. */
  const forgedKey = generateKeyPairSync('ed25519').privateKey;
  let node: StorageApp;
  const cases = nodeCases();

  /** A capability for `op` on `chunkId` (or this node, for admin), signed by `key`, expiring at `expiresAtMs`. */
  const capability = (op: CapabilityOp, chunkId: string, options: { key?: typeof privateKey; expiresAtMs?: number; nodeId?: string } = {}) =>
    signCapability({ op, scope: scopeFor(op, chunkId, options.nodeId), expiresAtMs: options.expiresAtMs ?? Date.now() + 60_000 }, options.key ?? privateKey);

  const putWith = (chunkId: string, bytes: Buffer, cap: string) =>
    node.app.inject({
      method: 'PUT',
      url: `/v1/chunks/${chunkId}`,
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(bytes)), [CAPABILITY_HEADER]: cap },
      payload: bytes,
    });

  const send = (key: string, cap: string | undefined, extraHeaders: Record<string, string> = {}) => {
    const c = cases[key] as NodeRouteCase;
    return node.app.inject({
      method: c.method as 'GET',
      url: c.url,
      headers: { ...c.headers, ...extraHeaders, ...(cap === undefined ? {} : { [CAPABILITY_HEADER]: cap }) },
      ...(c.body === undefined ? {} : { payload: c.body }),
    });
  };

  beforeAll(async () => {
    const guard = new CapabilityGuard('pending');
    node = await makeStorageApp({ nodeId: NODE_ID, guard });
    // Until it has learnt the key, the node serves no chunk request, whatever it carries.
    const pending = await node.app.inject({ url: `/v1/chunks/${STORED.a}`, headers: { [CAPABILITY_HEADER]: capability('read', STORED.a) } });
    expect(pending.statusCode).toBe(503);
    expect(pending.json()).toMatchObject({ code: 'GRN_UNAVAILABLE' });
    guard.learn(issuer.publicKey);
    expect(guard.mode).toBe('enforcing');
    for (const chunkId of Object.values(STORED)) {
      expect((await putWith(chunkId, Buffer.alloc(5000, chunkId.charCodeAt(3)), issuer.write(chunkId))).statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await node?.close();
  });

  it('the rule table names exactly the routes the node registers, and the matrix has a case for each', async () => {
    await node.app.ready();
    expect([...registeredRoutes(node.app)].sort()).toEqual(Object.keys(NODE_ROUTE_RULES).sort());
    const guarded = Object.entries(NODE_ROUTE_RULES).filter(([, rule]) => rule !== 'public' && rule !== 'batch-read').map(([key]) => key);
    expect(Object.keys(cases).sort()).toEqual(guarded.sort());
    expect(Object.entries(NODE_ROUTE_RULES).filter(([, rule]) => rule === 'batch-read').map(([key]) => key)).toEqual(['POST /v1/chunks/read']);
  });

  it('answers public routes without a capability', async () => {
    const publicKeys = Object.entries(NODE_ROUTE_RULES).filter(([, rule]) => rule === 'public').map(([key]) => key);
    expect(publicKeys.sort()).toEqual(['GET /health', 'GET /metrics']);
    for (const key of publicKeys) {
      expect((await node.app.inject({ method: 'GET', url: key.slice(4) })).statusCode, key).toBe(200);
    }
  });

  for (const [key, rule] of Object.entries(NODE_ROUTE_RULES)) {
    if (rule === 'public' || rule === 'batch-read') continue;
    const allowedOps = opsAllowed(rule);
    const refusedOps = CAPABILITY_OPS.filter((op) => !allowedOps.includes(op));

    it(`${key}: 401 without a capability, 403 GRN_CAPABILITY_REFUSED for a wrong one`, async () => {
      const c = cases[key] as NodeRouteCase;
      const none = await send(key, undefined);
      expect(none.statusCode, none.payload).toBe(401);
      expect(none.json()).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
      if (c.method === 'GET') {
        // The HEAD route fastify adds for each GET follows the GET's rule.
        expect((await node.app.inject({ method: 'HEAD', url: c.url })).statusCode, 'HEAD without a capability').toBe(401);
      }

      // The chunk the request is about, or (node-wide routes) any chunk the wrong capability names.
      const chunkId = c.chunkId ?? STORED.a;
      const wrong: [string, string][] = [
        ...refusedOps.map((op): [string, string] => [`a ${op} capability`, capability(op, chunkId)]),
        ...allowedOps.map((op): [string, string] => [`an expired ${op} capability`, capability(op, chunkId, { expiresAtMs: Date.now() - 10_000 })]),
        ...allowedOps.map((op): [string, string] => [`a forged ${op} capability`, capability(op, chunkId, { key: forgedKey })]),
        ['a capability that is not one', 'bm90IGEgY2FwYWJpbGl0eQ'],
      ];
      if (allowedOps.includes('admin')) wrong.push(['an admin capability for another node', capability('admin', chunkId, { nodeId: 'node-b' })]);
      if (c.chunkId !== undefined) {
        // For another chunk: of the same block (not for reads, which name the block), and of another block.
        for (const op of allowedOps.filter((o) => o !== 'admin')) {
          wrong.push([`a ${op} capability for another block`, capability(op, 'blkz.0')]);
          if (op !== 'read') wrong.push([`a ${op} capability for another shard of the block`, capability(op, c.chunkId.replace(/\.0$/, '.1'))]);
        }
      }
      for (const [what, cap] of wrong) {
        const answer = await send(key, cap);
        expect(answer.statusCode, `${what}: ${answer.payload}`).toBe(403);
        expect(answer.json(), what).toMatchObject({ code: 'GRN_CAPABILITY_REFUSED' });
      }
    });
  }

  it('PUT: a write capability cannot replace; a replace capability can store a new chunk', async () => {
    const refused = await send('PUT /v1/chunks/:id', issuer.write('blkr.0'), { 'x-granary-replace': 'true' });
    // Sent to blkw.0 with a capability for blkr.0: refused either way; now the right chunk.
    expect(refused.statusCode).toBe(403);
    const bytes = Buffer.alloc(100, 9);
    const replaceOnly = await node.app.inject({
      method: 'PUT',
      url: '/v1/chunks/blkr.0',
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(bytes)), 'x-granary-replace': 'true', [CAPABILITY_HEADER]: issuer.write('blkr.0') },
      payload: bytes,
    });
    expect(replaceOnly.statusCode, replaceOnly.payload).toBe(403);
    expect(replaceOnly.json()).toMatchObject({ code: 'GRN_CAPABILITY_REFUSED' });
    expect((await putWith('blkr.0', bytes, issuer.replace('blkr.0'))).statusCode).toBe(201);
  });

  it("a reader's capability cannot delete, and an admin capability for this node cannot either", async () => {
    for (const cap of [issuer.read('blkb'), issuer.admin(NODE_ID).capability, issuer.admin('*').capability, issuer.write(STORED.b)]) {
      const answer = await node.app.inject({ method: 'DELETE', url: `/v1/chunks/${STORED.b}`, headers: { [CAPABILITY_HEADER]: cap } });
      expect(answer.statusCode, answer.payload).toBe(403);
    }
    expect((await node.store.info(STORED.b)).dataBytes).toBe(5000);
  });

  it('POST /v1/chunks/read: every range needs a read capability for its block', async () => {
    const ranges = [
      { chunk: STORED.a, offset: 0, length: 100 },
      { chunk: STORED.b, offset: 100, length: 100 },
    ];
    const read = (capabilities?: readonly string[]) =>
      node.app.inject({ method: 'POST', url: '/v1/chunks/read', payload: { ranges, ...(capabilities === undefined ? {} : { capabilities }) } });
    const expired = Date.now() - 10_000;
    const refusals: [string, string[] | undefined, number][] = [
      ['no capabilities', undefined, 401],
      ['an empty list', [], 401],
      ['a capability for only one of the two blocks', [issuer.read('blka')], 403],
      ['one good, one expired', [issuer.read('blka'), capability('read', STORED.b, { expiresAtMs: expired })], 403],
      ['one good, one forged', [issuer.read('blka'), capability('read', STORED.b, { key: forgedKey })], 403],
      ['delete capabilities for the chunks', [issuer.delete(STORED.a), issuer.delete(STORED.b)], 403],
      ['write capabilities for the chunks', [issuer.write(STORED.a), issuer.write(STORED.b)], 403],
      ['an admin capability for another node', [issuer.admin('node-b').capability], 403],
      ['an expired admin capability for this node', [capability('admin', STORED.a, { expiresAtMs: expired })], 403],
    ];
    for (const [what, capabilities, status] of refusals) {
      const answer = await read(capabilities);
      expect(answer.statusCode, `${what}: ${answer.payload}`).toBe(status);
      expect(answer.json(), what).toMatchObject({ code: status === 401 ? 'GRN_UNAUTHENTICATED' : 'GRN_CAPABILITY_REFUSED' });
    }
    for (const [what, capabilities] of [
      ['read capabilities for both blocks', [issuer.read('blka'), issuer.read('blkb')]],
      ['an admin capability for this node', [issuer.admin(NODE_ID).capability]],
      ['an admin capability for every node', [issuer.admin('*').capability]],
    ] as const) {
      const answer = await read(capabilities);
      expect(answer.statusCode, `${what}: ${answer.payload}`).toBe(200);
      expect(answer.headers['x-granary-frames'], what).toBe('2');
    }
  });

  it('lets each route through with a capability its rule allows (run last: deletes a chunk)', async () => {
    for (const [key, rule] of Object.entries(NODE_ROUTE_RULES)) {
      if (rule === 'public' || rule === 'batch-read') continue;
      const c = cases[key] as NodeRouteCase;
      for (const op of opsAllowed(rule)) {
        // The delete and the put each succeed once; the first allowed op makes the call that counts.
        const cap = capability(op, c.chunkId ?? STORED.a);
        const answer = await send(key, cap);
        if (op === opsAllowed(rule)[0]) expect(answer.statusCode, `${key} with ${op}: ${answer.payload}`).toBe(c.status);
        else expect(REFUSED, `${key} with ${op}: ${answer.payload}`).not.toContain(answer.statusCode);
      }
    }
    await expect(node.store.info(STORED.gone)).rejects.toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
    expect((await node.store.info('blkw.0')).dataBytes).toBe(PUT_BYTES.length);
  });
});
