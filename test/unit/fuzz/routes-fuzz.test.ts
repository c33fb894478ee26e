/**
 * Issue 11's fuzz suite: every route of the metadata service and of a storage node, fed random and
 * mutated bodies (route-fuzz.ts), must never answer 5xx to bad input, must keep answering /health
 * within a second, must not grow its heap without bound, and must leave data stored before the run
 * exactly as it was. Seeded (GRANARY_FUZZ_SEED) and bounded in time for CI; GRANARY_FUZZ_MS sets
 * the time per service for a longer hunt. Also the two decoding bombs of the issue, as sent.
 */
import { manifestFor } from '../../helpers/manifests.js';
import { runInNewContext } from 'node:vm';
import Fastify from 'fastify';
import { setFlagsFromString } from 'node:v8';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../../erasure/index.js';
import type { BlockPlacement, NodeInfo, SessionInfo } from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { type StorageApp, makeStorageApp } from '../../helpers/storage-app.js';
import { CapabilityIssuer } from '../../../metadata/capabilities.js';
import { CAPABILITY_HEADER } from '../../../protocol/capability.js';
import { CapabilityGuard } from '../../../storage-node/capability-guard.js';
import { sharedReferenceCommitBomb, sharedReferenceTrailingBomb } from './evil-msgpack.js';
import { type FuzzReport, type FuzzTarget, formatReport, fuzzRoutes, routeKey, routesOf } from './route-fuzz.js';

const SEED = Number(process.env.GRANARY_FUZZ_SEED ?? 20_261_211);
/** Fuzzing time per service. */
const FUZZ_MS = Number(process.env.GRANARY_FUZZ_MS ?? 4_000);
/** The heap may grow this much over a run (caches, metrics series); a bomb grows it by gigabytes. */
const HEAP_GROWTH_BYTES_MAX = 96 * 1024 * 1024;
/** A bomb must be refused within this. */
const BOMB_MS_MAX = 200;

/** GRANARY_FUZZ_PROGRESS=1 prints each route as it finishes (for long runs). */
const onProgress = process.env.GRANARY_FUZZ_PROGRESS === '1' ? (line: string) => process.stderr.write(`${line}\n`) : undefined;

const TEST_TIMEOUT_MS = 60_000 + 3 * FUZZ_MS;

/** A full collection when one is possible, so heap figures are live data, not garbage. */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : () => undefined;
})();

function heapUsed(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

const SCHEMA = {
  columns: [
    { name: 'label', type: 'float', featureId: 1 },
    { name: 'age', type: 'int64', featureId: 2 },
  ],
  partitionBy: ['ds'],
  ec: '6+3',
};
const PARTITION = 'ds=2026-01-01';
const NODES = 12;

/** Every stream of stripe s holds values s..s+10. */
const rangeStats = (stripe: number) => ({ min: stripe, max: stripe + 10 });

function printReport(name: string, report: FuzzReport): void {
  console.log(formatReport(name, report));
  if (report.failures.length > 0) console.log(`${name} failures:\n${report.failures.join('\n')}`);
}

/**
 * With auth off (what most tests run) and on, with an admin token, so that bodies get past the
 * token check and reach parsers, validation and handlers either way.
 */
describe.each(['off', 'on'] as const)('metadata service under fuzzing, auth %s', (auth) => {
  let meta: MetadataApp;
  const headers: Record<string, string> = {};

  /** Each node's own token, with auth on: only a node may register itself. */
  const nodeTokens = new Map<string, string>();

  /** Registers node-0.. as the registerNodes helper does, each with its own credentials. */
  async function registerAll(): Promise<void> {
    for (let i = 0; i < NODES; i++) {
      const nodeId = `node-${i}`;
      const registration = { nodeId, url: `http://127.0.0.1:${20_000 + i}`, domain: `rack-${i % 3}`, capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 };
      if (auth === 'off') {
        await ok('POST', '/v1/nodes/register', registration);
        continue;
      }
      if (!nodeTokens.has(nodeId)) nodeTokens.set(nodeId, (await ok<{ token: string }>('POST', '/v1/tokens', { role: 'node', nodeId })).token);
      const response = await meta.app.inject({ method: 'POST', url: '/v1/nodes/register', headers: { authorization: `Bearer ${nodeTokens.get(nodeId)}` }, payload: registration });
      expect(response.statusCode, response.payload).toBe(200);
    }
  }

  async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<{ status: number; body: unknown }> {
    const response = await meta.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
    const body = String(response.headers['content-type'] ?? '').includes('msgpack') ? unpack(response.rawPayload) : response.payload === '' ? undefined : response.json();
    return { status: response.statusCode, body };
  }

  async function ok<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<T> {
    const { status, body } = await call(method, url, payload);
    expect(status, `${method} ${url}: ${JSON.stringify(body)}`).toBeLessThan(300);
    return body as T;
  }

  /** What a reader of the protected table sees: its description, partitions and files. */
  async function snapshot(): Promise<unknown> {
    return {
      table: await ok('GET', '/v1/tables/keep'),
      partitions: await ok('GET', '/v1/tables/keep/partitions'),
      detail: await ok('GET', `/v1/tables/keep/partitions/${encodeURIComponent(PARTITION)}`),
    };
  }

  beforeAll(async () => {
    meta = await makeMetadataApp({ auth });
    if (auth === 'on') {
      headers.authorization = `Bearer ${meta.adminToken}`;
      expect((await meta.app.inject({ method: 'GET', url: '/v1/tables' })).statusCode).toBe(401);
    }
    await registerAll();
    // The protected table: written before the run, never named by the fuzzer.
    await ok('POST', '/v1/tables', { name: 'keep', ...SCHEMA });
    const session = await ok<{ sessionId: string }>('POST', '/v1/tables/keep/sessions', { partition: PARTITION });
    const block = await ok<BlockPlacement>('POST', `/v1/sessions/${session.sessionId}/blocks`);
    await ok('POST', `/v1/sessions/${session.sessionId}/commit`, manifestFor(block, ['label', 'age'], 3, 100, rangeStats));
  });
  afterAll(async () => {
    await meta?.close();
  });

  const knownParams: Record<string, string[]> = {
    name: ['victim', 'nope'],
    partition: [PARTITION, 'ds=2026-01-02', 'ds'],
    id: ['node-11', 'node-10', 'node-999'],
    blockId: [],
    fileId: ['nope'],
    task: ['task-1'],
  };
  const templates: Record<string, unknown> = {
    'POST /v1/tables': { name: 'fuzzed', ...SCHEMA, blockBytes: 1_048_576, stripeRows: 1000, retention: '7d' },
    'PATCH /v1/tables/:name': { addColumns: [{ name: 'extra', type: 'float', featureId: 9 }], dropColumns: ['label'] },
    'POST /v1/tables/:name/sessions': { partition: 'ds=2026-01-02', leaseMs: 60_000 },
    'POST /v1/tables/:name/scan': {
      partitions: { ds: { eq: '2026-01-01', in: ['2026-01-01'] } },
      columns: ['label', 'age'],
      stripes: { from: 0, to: 10 },
      where: [{ column: 'age', op: 'between', value: [1, 5] }],
    },
    'POST /v1/sessions/:id/blocks/:blockId/replace': { shard: 2 },
    'POST /v1/nodes/register': { nodeId: 'node-20', url: 'http://127.0.0.1:29000', domain: 'rack-0', capacityBytes: 1e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 },
    'POST /v1/nodes/:id/heartbeat': { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0, repairSlotsFree: 2, repairsRunning: [] },
    'POST /v1/nodes/:id/inventory': { round: 'r1', chunks: ['x.0'], done: true },
    'POST /v1/repairs/:task/report': { nodeId: 'node-0', results: [{ shard: 1, ok: true }], bytesRead: 1, bytesWritten: 1 },
    'POST /v1/tokens': { role: 'reader', tables: ['victim'], ttlMs: 60_000, description: 'fuzz' },
    'POST /v1/capabilities': { nodeId: 'node-0' },
  };

  /**
   * Puts back what earlier routes' cases may have undone: every node registered and in service,
   * the victim table, an open session on it with a block, and a commit of that block as a template.
   */
  let victimSession = '';

  async function refreshVictims(): Promise<void> {
    const listed = new Map((await ok<{ nodes: NodeInfo[] }>('GET', '/v1/nodes')).nodes.map((node) => [node.nodeId, node]));
    const ids = Array.from({ length: NODES }, (_, i) => `node-${i}`);
    if (ids.some((id) => listed.get(id)?.state !== 'alive')) await registerAll();
    for (const id of ids) if (listed.get(id)?.draining === true) await ok('POST', `/v1/nodes/${id}/undrain`);
    if ((await call('GET', '/v1/tables/victim')).status === 404) await ok('POST', '/v1/tables', { name: 'victim', ...SCHEMA });
    const current = victimSession === '' ? undefined : await call('GET', `/v1/sessions/${victimSession}`);
    if (current?.status === 200 && (current.body as SessionInfo).state === 'open') return;
    victimSession = (await ok<{ sessionId: string }>('POST', '/v1/tables/victim/sessions', { partition: PARTITION })).sessionId;
    const block = await ok<BlockPlacement>('POST', `/v1/sessions/${victimSession}/blocks`);
    knownParams.id = [victimSession, 'node-11', 'node-10', 'node-999'];
    knownParams.blockId = [block.blockId];
    templates['POST /v1/sessions/:id/commit'] = manifestFor(block, ['label', 'age'], 2, 100, rangeStats);
    templates['POST /v1/nodes/:id/corrupt'] = { chunks: [{ chunkId: `${block.blockId}.1`, reason: 'checksum', missing: false }] };
  }

  function target(name: string): FuzzTarget {
    return { name, app: meta.app, headers, knownParams, templates, queryKeys: ['format', 'after', 'limit', 'table', 'wait'], beforeRoute: refreshVictims };
  }

  it('refuses the 14.5 KB shared-reference commit within 200 ms, session or not', async () => {
    const bomb = sharedReferenceCommitBomb();
    expect(bomb.length).toBeGreaterThan(14_000);
    // An open session, so the body is parsed (without one it may be refused before parsing).
    const open = await ok<{ sessionId: string }>('POST', '/v1/tables/keep/sessions', { partition: 'ds=2026-01-09' });
    for (const session of ['no-such-session', open.sessionId]) {
      const started = performance.now();
      const response = await meta.app.inject({ method: 'POST', url: `/v1/sessions/${session}/commit`, headers: { ...headers, 'content-type': 'application/msgpack' }, payload: bomb });
      const ms = performance.now() - started;
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      expect(ms).toBeLessThan(BOMB_MS_MAX);
      if (session === open.sessionId) expect(response.json()).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(/extension type/) });
    }
  });

  it('answers JSON with __proto__ or constructor.prototype 400, and an oversized body 413', async () => {
    for (const payload of ['{"__proto__":{"polluted":true},"name":"p","columns":[{"name":"a","type":"float"}]}', '{"constructor":{"prototype":{"polluted":true}}}']) {
      const response = await meta.app.inject({ method: 'POST', url: '/v1/tables', headers: { ...headers, 'content-type': 'application/json' }, payload });
      expect(response.statusCode, response.payload).toBe(400);
      expect(response.json()).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(/__proto__/) });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A route that sets no limit of its own takes 64 KiB.
    const big = await meta.app.inject({ method: 'POST', url: '/v1/nodes/node-1/drain', headers: { ...headers, 'content-type': 'application/json' }, payload: `{"pad":"${'x'.repeat(70 * 1024)}"}` });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ code: 'GRN_PAYLOAD_TOO_LARGE' });
  });

  it('takes a valid msgpack commit, with undefined optional fields, as before', async () => {
    const session = await ok<{ sessionId: string }>('POST', '/v1/tables/keep/sessions', { partition: 'ds=2026-01-03' });
    const block = await ok<BlockPlacement>('POST', `/v1/sessions/${session.sessionId}/blocks`);
    const manifest = manifestFor(block, ['label', 'age'], 2, 100, rangeStats);
    const withUndefined = { ...manifest, files: manifest.files.map((file) => ({ ...file, stripes: file.stripes.map((s) => ({ ...s, streams: s.streams.map((e) => ({ ...e, stats: { nulls: 0, min: undefined } })) })) })) };
    const response = await meta.app.inject({ method: 'POST', url: `/v1/sessions/${session.sessionId}/commit`, headers: { ...headers, 'content-type': 'application/msgpack' }, payload: pack(withUndefined) });
    expect(response.statusCode, response.payload).toBe(200);
    expect(response.json()).toMatchObject({ rows: 200 });
  });

  it(
    'answers every route 2xx or 4xx, stays responsive, and keeps its heap and stored data',
    async () => {
      const before = await snapshot();
      const heapBefore = heapUsed();
      const name = `metadata (auth ${auth})`;
      const report = await fuzzRoutes(target(name), { seed: SEED, msTotal: FUZZ_MS, ...(onProgress === undefined ? {} : { onProgress }) });
      const heapGrowth = heapUsed() - heapBefore;
      printReport(name, report);
      console.log(`${name}: heap grew ${(heapGrowth / 1024 / 1024).toFixed(1)} MiB over the run (seed ${SEED})`);
      expect(report.failures).toEqual([]);
      expect(report.routes.map((r) => r.route)).toContain('POST /v1/sessions/:id/commit');
      for (const route of report.routes) expect(route.cases, route.route).toBeGreaterThan(0);
      expect(heapGrowth).toBeLessThan(HEAP_GROWTH_BYTES_MAX);
      expect(await snapshot()).toEqual(before);
    },
    TEST_TIMEOUT_MS,
  );
});

/**
 * `open`: every request reaches its handler. `enforcing`: capabilities are checked as under a
 * metadata service with auth on, and the fuzzer holds an admin capability (reads and admin
 * routes get through to their handlers; writes and deletes are refused by the guard, which is
 * fuzzed too).
 */
for (const mode of ['open', 'enforcing'] as const)
describe(`storage node under fuzzing, capabilities ${mode}`, () => {
  let node: StorageApp;
  const issuer = CapabilityIssuer.ephemeral();
  const adminCapability = issuer.admin('*').capability;
  const headers: Record<string, string> = mode === 'enforcing' ? { [CAPABILITY_HEADER]: adminCapability } : {};
  const kept = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 31 + 7) & 0xff));
  const victim = Buffer.alloc(5_000, 0x5a);

  async function put(id: string, data: Buffer): Promise<void> {
    const response = await node.app.inject({
      method: 'PUT',
      url: `/v1/chunks/${id}`,
      headers: { ...headers, [CAPABILITY_HEADER]: issuer.write(id), 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(data)) },
      payload: data,
    });
    expect(response.statusCode, response.payload).toBe(201);
  }

  async function readKept(): Promise<{ whole: Buffer; batch: Buffer; info: unknown }> {
    const whole = await node.app.inject({ method: 'GET', url: '/v1/chunks/keep.0', headers });
    const batch = await node.app.inject({
      method: 'POST',
      url: '/v1/chunks/read',
      headers: { ...headers, 'content-type': 'application/msgpack' },
      payload: pack({ ranges: [{ chunk: 'keep.0', offset: 100, length: 5_000 }], ...batchCapabilities }),
    });
    const info = await node.app.inject({ method: 'GET', url: '/v1/chunks/keep.0/info', headers });
    expect([whole.statusCode, batch.statusCode, info.statusCode]).toEqual([200, 200, 200]);
    return { whole: whole.rawPayload, batch: batch.rawPayload, info: info.json() };
  }

  beforeAll(async () => {
    const guard = new CapabilityGuard(mode === 'open' ? 'open' : 'pending');
    if (mode === 'enforcing') guard.learn(issuer.publicKey);
    node = await makeStorageApp({ chunkBytesMax: 1_000_000, guard });
    await put('keep.0', kept);
    await put('victim.0', victim);
  });
  afterAll(async () => {
    await node?.close();
  });

  const batchCapabilities = mode === 'enforcing' ? { capabilities: [adminCapability] } : {};

  function target(name: string): FuzzTarget {
    return {
      name,
      app: node.app,
      headers,
      knownParams: { id: ['victim.0', 'victim.1', 'nope.0'] },
      queryKeys: ['offset', 'length', 'after', 'limit', 'wait'],
      templates: {
        'POST /v1/chunks/read': {
          ranges: [{ chunk: 'victim.0', offset: 0, length: 100 }, { chunk: 'nope.0', offset: 5, length: 1 }],
          checksums: true,
          verifyPages: true,
          ...batchCapabilities,
        },
      },
    };
  }

  it(
    'answers every route 2xx or 4xx, stays responsive, and keeps its heap and stored chunks',
    async () => {
      const before = await readKept();
      expect(before.whole.equals(kept)).toBe(true);
      const heapBefore = heapUsed();
      const report = await fuzzRoutes(target(`storage node (${mode})`), { seed: SEED, msTotal: FUZZ_MS, ...(onProgress === undefined ? {} : { onProgress }) });
      const heapGrowth = heapUsed() - heapBefore;
      printReport(`storage node (${mode})`, report);
      console.log(`storage node: heap grew ${(heapGrowth / 1024 / 1024).toFixed(1)} MiB over the run (seed ${SEED})`);
      expect(report.failures).toEqual([]);
      expect(report.routes.map((r) => r.route)).toEqual(expect.arrayContaining(['POST /v1/chunks/read', 'PUT /v1/chunks/:id']));
      for (const route of report.routes) expect(route.cases, route.route).toBeGreaterThan(0);
      expect(heapGrowth).toBeLessThan(HEAP_GROWTH_BYTES_MAX);
      const after = await readKept();
      expect(after.whole.equals(kept)).toBe(true);
      expect(after.batch.equals(before.batch)).toBe(true);
      expect(after.info).toEqual(before.info);
    },
    TEST_TIMEOUT_MS,
  );

  it('refuses 523 bytes of shared references with a trailing byte within 200 ms', async () => {
    const bomb = sharedReferenceTrailingBomb();
    expect(bomb.length).toBeLessThan(600);
    const started = performance.now();
    const response = await node.app.inject({ method: 'POST', url: '/v1/chunks/read', headers: { ...headers, 'content-type': 'application/msgpack' }, payload: bomb });
    const ms = performance.now() - started;
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'GRN_BAD_REQUEST' });
    expect(ms).toBeLessThan(BOMB_MS_MAX);
  });

  it('answers JSON with a __proto__ key 400', async () => {
    const response = await node.app.inject({
      method: 'POST',
      url: '/v1/chunks/read',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: '{"ranges":[],"__proto__":{"polluted":true}}',
    });
    expect(response.statusCode, response.payload).toBe(400);
    expect(response.json()).toMatchObject({ code: 'GRN_BAD_REQUEST' });
  });
});

describe('route discovery', () => {
  it('finds every route an app registers, nested plugins and prefixes included, so a new one is fuzzed without a list to update', async () => {
    const app = Fastify();
    app.get('/health', async () => ({}));
    app.post('/v1/tables', async () => ({}));
    await app.register(
      async (child) => {
        child.patch('/tables/:name', async () => ({}));
        child.post('/repairs/:task/report', async () => ({}));
        child.post('/sessions/:id/blocks/:blockId/replace', async () => ({}));
      },
      { prefix: '/v1' },
    );
    app.post('/v1/repair', async () => ({}));
    await app.ready();
    const routes = routesOf(app);
    expect(routes.map(routeKey).sort()).toEqual(
      [
        'GET /health',
        'PATCH /v1/tables/:name',
        'POST /v1/repair',
        'POST /v1/repairs/:task/report',
        'POST /v1/sessions/:id/blocks/:blockId/replace',
        'POST /v1/tables',
      ].sort(),
    );
    expect(routes.find((r) => r.url === '/v1/sessions/:id/blocks/:blockId/replace')?.params).toEqual(['id', 'blockId']);
    await app.close();
  });
});
