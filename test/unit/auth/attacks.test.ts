/**
 * The audit's attacks on authentication and trust (issue 11), each replayed against in-process
 * services with auth on, as regression tests: every one is refused, and nothing it aimed at
 * changed. (a) Destructive calls without credentials, on the metadata service and on a storage
 * node; (b) re-registering an existing node id under another URL; (c) a fake node that would
 * receive shards of a writer's data; (d) a commit naming chunks no node confirmed storing;
 * (e) a writer using another writer's session; (f) a reader reaching beyond its tables.
 */
import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumFromHex, checksumToHex, xxh64 } from '../../../erasure/index.js';
import { CapabilityIssuer } from '../../../metadata/capabilities.js';
import { CAPABILITY_HEADER, publicKeyToText } from '../../../protocol/capability.js';
import type { BlockPlacement, CommitManifest, NodeInfo } from '../../../protocol/index.js';
import { signReceipt } from '../../../protocol/receipt.js';
import { CapabilityGuard } from '../../../storage-node/capability-guard.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { type StorageApp, makeStorageApp } from '../../helpers/storage-app.js';
import {
  NODE_LOAD,
  call,
  commitOneBlock,
  expectCall,
  makeToken,
  oneBlockManifest,
  registration,
  registerNodesWithTokens,
  tableSpec,
} from './auth-fixture.js';

const NODES = 8;

let meta: MetadataApp | undefined;
let node: StorageApp | undefined;
afterEach(async () => {
  await meta?.close();
  await node?.close();
  meta = undefined;
  node = undefined;
});

async function startMetadata(): Promise<MetadataApp> {
  meta = await makeMetadataApp({ auth: 'on', suspectAfterMs: 10 * 60_000, deadAfterMs: 20 * 60_000 });
  return meta;
}

/** What an admin can see of the catalog, nodes and tokens: a change anywhere shows here. */
async function catalogView(app: MetadataApp): Promise<unknown> {
  const token = app.adminToken;
  const get = (url: string) => expectCall(app.app, 200, 'GET', url, { token });
  const tables = (await get('/v1/tables')) as { tables: { name: string }[] };
  const described: unknown[] = [];
  for (const { name } of tables.tables) {
    described.push(await get(`/v1/tables/${name}`), await get(`/v1/tables/${name}/partitions`));
  }
  return {
    tables,
    described,
    nodes: await get('/v1/nodes'),
    blocks: await get('/v1/blocks'),
    repair: await get('/v1/repair'),
    gc: await get('/v1/gc'),
    tokens: await get('/v1/tokens'),
    sessions: [...app.service.state.sessions.values()].map((s) => `${s.sessionId} ${s.state} ${JSON.stringify(s)}`).sort(),
  };
}

function nodesOf(body: unknown): NodeInfo[] {
  return (body as { nodes: NodeInfo[] }).nodes;
}

describe('(a) no credentials, no effect', () => {
  it('refuses dropping, draining, registering, reporting and minting on the metadata service, and changes nothing', async () => {
    const { app, adminToken: admin } = await startMetadata();
    const nodeTokens = await registerNodesWithTokens(app, admin, NODES);
    await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('events') });
    const block = await commitOneBlock(app, admin, 'events', 'ds=1');
    const before = await catalogView(meta as MetadataApp);
    const chunk = block.chunks[0] as BlockPlacement['chunks'][number];

    const attacks: [string, string, unknown?][] = [
      ['DELETE', '/v1/tables/events'],
      ['DELETE', '/v1/tables/events/partitions/ds=1'],
      ['PATCH', '/v1/tables/events', { dropColumns: ['x'] }],
      ...[...nodeTokens.keys()].flatMap((id): [string, string][] => [
        ['POST', `/v1/nodes/${id}/drain`],
        ['POST', `/v1/nodes/${id}/remove`],
      ]),
      ['POST', '/v1/nodes/register', registration('node-fake', 99, { freeBytes: 1e15, capacityBytes: 1e15 })],
      ['POST', '/v1/nodes/register', registration('node-0', 0, { url: 'http://10.6.6.6:7101' })],
      ['POST', `/v1/nodes/${chunk.nodeId}/corrupt`, { chunks: [{ chunkId: chunk.chunkId, reason: 'forged' }] }],
      ['POST', `/v1/nodes/${chunk.nodeId}/heartbeat`, { ...NODE_LOAD, freeBytes: 0 }],
      ['POST', `/v1/nodes/${chunk.nodeId}/inventory`, { round: 'r1', chunks: [], done: true }],
      ['POST', '/v1/tokens', { role: 'admin' }],
      ['POST', '/v1/capabilities', { nodeId: '*' }],
      ['POST', '/v1/tables', tableSpec('mine')],
      ['POST', '/v1/tables/events/sessions', { partition: 'ds=2' }],
      ['POST', '/v1/tables/events/scan', {}],
    ];
    for (const [method, url, body] of attacks) {
      for (const authorization of [undefined, 'Bearer grn_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
        const answer = await call(app, method, url, { body, ...(authorization === undefined ? {} : { authorization }) });
        expect(answer.status, `${method} ${url}: ${JSON.stringify(answer.body)}`).toBe(401);
        expect(answer.body).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
      }
    }
    expect(await catalogView(meta as MetadataApp)).toEqual(before);
    expect(nodesOf((before as { nodes: unknown }).nodes).map((n) => n.nodeId)).toHaveLength(NODES);
  });

  it('refuses listing, reading, deleting and re-putting chunks on a storage node, and changes nothing', async () => {
    const issuer = CapabilityIssuer.ephemeral();
    const guard = new CapabilityGuard('pending');
    guard.learn(issuer.publicKey);
    node = await makeStorageApp({ nodeId: 'node-0', guard });
    const stored = new Map<string, Buffer>();
    for (let shard = 0; shard < 6; shard++) {
      const chunkId = `bvictim.${shard}`;
      const bytes = Buffer.alloc(10_000, shard + 1);
      const put = await node.app.inject({
        method: 'PUT',
        url: `/v1/chunks/${chunkId}`,
        headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(bytes)), [CAPABILITY_HEADER]: issuer.write(chunkId) },
        payload: bytes,
      });
      expect(put.statusCode, put.payload).toBe(201);
      stored.set(chunkId, bytes);
    }
    const other = Buffer.alloc(10_000, 0xee);
    const putOther = (id: string, replace: boolean) =>
      node?.app.inject({
        method: 'PUT',
        url: `/v1/chunks/${id}`,
        headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(other)), ...(replace ? { 'x-granary-replace': 'true' } : {}) },
        payload: other,
      });
    const app = node.app;
    const attempts = [
      () => app.inject({ method: 'GET', url: '/v1/chunks' }),
      () => app.inject({ method: 'GET', url: '/v1/chunks/bvictim.0' }),
      () => app.inject({ method: 'GET', url: '/v1/chunks/bvictim.0/info' }),
      () => app.inject({ method: 'POST', url: '/v1/chunks/read', payload: { ranges: [{ chunk: 'bvictim.0', offset: 0, length: 100 }] } }),
      () => app.inject({ method: 'POST', url: '/v1/scrub' }),
      ...[...stored.keys()].map((id) => () => app.inject({ method: 'DELETE', url: `/v1/chunks/${id}` })),
      ...[...stored.keys()].map((id) => () => putOther(id, true) as ReturnType<typeof app.inject>),
      () => putOther('bvictim.0', false) as ReturnType<typeof app.inject>,
      () => putOther('bnew.0', false) as ReturnType<typeof app.inject>,
    ];
    for (const attempt of attempts) {
      const answer = await attempt();
      expect(answer.statusCode, answer.payload).toBe(401);
      expect(answer.json()).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
    }
    const listed = node.store.list(undefined, 100);
    expect(listed.chunks.map((info) => info.id).sort()).toEqual([...stored.keys()].sort());
    for (const [id, bytes] of stored) {
      expect(Buffer.from(await node.store.readRange(id, 0, bytes.length)).equals(bytes), id).toBe(true);
    }
  });
});

describe('(b) a node id is bound to its credential', () => {
  it("refuses re-registering node-0 under another URL with another node's token (or any other), and keeps its URL", async () => {
    const { app, adminToken: admin } = await startMetadata();
    const nodeTokens = await registerNodesWithTokens(app, admin, 3);
    const urlOf = async (id: string) => nodesOf(await expectCall(app, 200, 'GET', '/v1/nodes', { token: admin })).find((n) => n.nodeId === id)?.url;
    const original = await urlOf('node-0');
    expect(original).toBe('http://127.0.0.1:20000');
    const hijack = registration('node-0', 0, { url: 'http://10.6.6.6:7101' });
    for (const [what, token, status] of [
      ["node-1's token", nodeTokens.get('node-1'), 403],
      ["node-2's token", nodeTokens.get('node-2'), 403],
      ['an admin token', admin, 403],
      ['a writer token', (await makeToken(app, admin, { role: 'writer' })).token, 403],
      ['no token', undefined, 401],
    ] as const) {
      const answer = await call(app, 'POST', '/v1/nodes/register', { token, body: hijack });
      expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(status);
    }
    // Nor can another node speak for it in heartbeats or reports.
    expect((await call(app, 'POST', '/v1/nodes/node-0/heartbeat', { token: nodeTokens.get('node-1'), body: NODE_LOAD })).status).toBe(403);
    expect(await urlOf('node-0')).toBe(original);
    // Its own token may move it (a node that restarts on another address).
    await expectCall(app, 200, 'POST', '/v1/nodes/register', { token: nodeTokens.get('node-0'), body: registration('node-0', 0, { url: 'http://127.0.0.1:29999' }) });
    expect(await urlOf('node-0')).toBe('http://127.0.0.1:29999');
  });
});

describe('(c) a fake node receives no data', () => {
  it('refuses registering a node without a node token, so every placement is on authenticated nodes', async () => {
    const { app, adminToken: admin } = await startMetadata();
    const nodeTokens = await registerNodesWithTokens(app, admin, NODES);
    const writer = (await makeToken(app, admin, { role: 'writer', tables: ['events'] })).token;
    const reader = (await makeToken(app, admin, { role: 'reader' })).token;
    // It claims 10^15 free bytes: were it registered, it would get a shard of every block.
    const fake = registration('node-fake', 99, { capacityBytes: 1e15, freeBytes: 1e15, domain: 'rack-fake' });
    for (const [what, token] of [
      ['a writer token', writer],
      ['a reader token', reader],
      ['an admin token', admin],
      ["node-3's token", nodeTokens.get('node-3') as string],
    ] as const) {
      const answer = await call(app, 'POST', '/v1/nodes/register', { token, body: fake });
      expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(403);
      expect(answer.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
    }
    expect((await call(app, 'POST', '/v1/nodes/register', { body: fake })).status).toBe(401);
    const registered = nodesOf(await expectCall(app, 200, 'GET', '/v1/nodes', { token: admin })).map((n) => n.nodeId);
    expect(registered.sort()).toEqual([...nodeTokens.keys()].sort());

    await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('events') });
    const session = await expectCall<{ sessionId: string }>(app, 201, 'POST', '/v1/tables/events/sessions', { token: writer, body: { partition: 'ds=1' } });
    const placed = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const block = await expectCall<BlockPlacement>(app, 201, 'POST', `/v1/sessions/${session.sessionId}/blocks`, { token: writer });
      expect(block.chunks).toHaveLength(6);
      for (const chunk of block.chunks) {
        expect(nodeTokens.has(chunk.nodeId), `${chunk.chunkId} on ${chunk.nodeId}`).toBe(true);
        expect(chunk.url).not.toContain(':20099');
        placed.add(chunk.nodeId);
      }
    }
    // The blocks did spread over the cluster: the check above was not about one node.
    expect(placed.size).toBe(NODES);
  });
});

describe('(d) a commit names only chunks nodes confirmed', () => {
  it('refuses a commit with missing or wrong put receipts, changing nothing, and accepts the right ones', async () => {
    const { app, adminToken: admin } = await startMetadata();
    const keys = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();
    for (let i = 0; i < NODES; i++) keys.set(`node-${i}`, generateKeyPairSync('ed25519'));
    await registerNodesWithTokens(app, admin, NODES, (id) => ({ receiptKey: publicKeyToText(keys.get(id)?.publicKey as KeyObject) }));
    await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('events') });
    const writer = (await makeToken(app, admin, { role: 'writer', tables: ['events'] })).token;
    const session = await expectCall<{ sessionId: string }>(app, 201, 'POST', '/v1/tables/events/sessions', { token: writer, body: { partition: 'ds=1' } });
    const block = await expectCall<BlockPlacement>(app, 201, 'POST', `/v1/sessions/${session.sessionId}/blocks`, { token: writer });
    const plain = oneBlockManifest(block);
    const claim = plain.blocks[0] as CommitManifest['blocks'][number];
    /** The receipt each shard's node would answer its put with; `key` and `checksum` changeable per shard. */
    const receipts = (change: (shard: number) => { key?: KeyObject; checksum?: string; bytes?: number; chunkId?: string } = () => ({})) =>
      block.chunks.map((chunk) => {
        const c = change(chunk.shard);
        const key = c.key ?? (keys.get(chunk.nodeId)?.privateKey as KeyObject);
        return signReceipt(c.chunkId ?? chunk.chunkId, c.bytes ?? claim.shardBytes, checksumFromHex(c.checksum ?? (claim.shardChecksums[chunk.shard] as string)), key);
      });
    const withReceipts = (list: readonly string[] | undefined) => oneBlockManifest(block, list);
    const good = receipts();
    const attacker = generateKeyPairSync('ed25519').privateKey;
    const before = await catalogView(meta as MetadataApp);

    const poisoned: [string, CommitManifest, RegExp][] = [
      ['no receipts at all', withReceipts(undefined), /no put receipt for shard 0/],
      ['one receipt missing', withReceipts(good.slice(0, 5)), /no put receipt for shard 5/],
      ["a receipt signed by the writer's own key", withReceipts(receipts((s) => (s === 2 ? { key: attacker } : {}))), /receipt does not prove/],
      ["another node's receipt for the shard", withReceipts(receipts((s) => (s === 1 ? { key: keys.get(block.chunks[0]?.nodeId as string)?.privateKey as KeyObject } : {}))), /receipt does not prove/],
      ['receipts in the wrong order', withReceipts([good[1], good[0], ...good.slice(2)] as string[]), /receipt does not prove/],
      ['a receipt for other bytes', withReceipts(receipts((s) => (s === 3 ? { checksum: 'ffffffffffffffff' } : {}))), /receipt does not prove/],
      ['a receipt for another length', withReceipts(receipts((s) => (s === 4 ? { bytes: claim.shardBytes + 1 } : {}))), /receipt does not prove/],
      ['a receipt for another chunk', withReceipts(receipts((s) => (s === 0 ? { chunkId: `${block.blockId}.9` } : {}))), /receipt does not prove/],
    ];
    for (const [what, manifest, message] of poisoned) {
      const answer = await call(app, 'POST', `/v1/sessions/${session.sessionId}/commit`, { token: writer, body: manifest });
      expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body, what).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(message) });
    }
    // A receipt does not prove other checksums than those it was signed for.
    const lied = structuredClone(withReceipts(good)) as unknown as { blocks: { shardChecksums: string[] }[] };
    (lied.blocks[0] as { shardChecksums: string[] }).shardChecksums[0] = 'abcdefabcdefabcd';
    expect((await call(app, 'POST', `/v1/sessions/${session.sessionId}/commit`, { token: writer, body: lied })).status).toBe(400);
    expect(await catalogView(meta as MetadataApp)).toEqual(before);

    await expectCall(app, 200, 'POST', `/v1/sessions/${session.sessionId}/commit`, { token: writer, body: withReceipts(good) });
    const partitions = await expectCall<{ partitions: { partition: string; files: number }[] }>(app, 200, 'GET', '/v1/tables/events/partitions', { token: admin });
    expect(partitions.partitions).toEqual([expect.objectContaining({ partition: 'ds=1', files: 1 })]);
  });
});

describe('(e) a session is its opener', () => {
  it("refuses every call on another writer's session, and the session is unchanged", async () => {
    const { app, adminToken: admin } = await startMetadata();
    await registerNodesWithTokens(app, admin, NODES);
    await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec('events') });
    const owner = (await makeToken(app, admin, { role: 'writer', tables: ['events'] })).token;
    const intruder = (await makeToken(app, admin, { role: 'writer', tables: ['events'] })).token;
    const session = await expectCall<{ sessionId: string }>(app, 201, 'POST', '/v1/tables/events/sessions', { token: owner, body: { partition: 'ds=1' } });
    const block = await expectCall<BlockPlacement>(app, 201, 'POST', `/v1/sessions/${session.sessionId}/blocks`, { token: owner });
    const path = `/v1/sessions/${session.sessionId}`;
    const before = JSON.stringify(await expectCall(app, 200, 'GET', path, { token: owner }));
    for (const [method, url, body] of [
      ['GET', path],
      ['POST', `${path}/renew`],
      ['POST', `${path}/blocks`],
      ['POST', `${path}/blocks/${block.blockId}/replace`, { shard: 0 }],
      ['POST', `${path}/commit`, oneBlockManifest(block)],
      ['POST', `${path}/abort`],
    ] as const) {
      const answer = await call(app, method, url, { token: intruder, body });
      expect(answer.status, `${method} ${url}: ${JSON.stringify(answer.body)}`).toBe(403);
      expect(answer.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
    }
    expect(JSON.stringify(await expectCall(app, 200, 'GET', path, { token: owner }))).toBe(before);
    expect(meta?.service.state.sessions.get(session.sessionId)?.state).toBe('open');
    // The owner still can, and an admin may look (and finish what a writer left).
    await expectCall(app, 200, 'GET', path, { token: admin });
    await expectCall(app, 200, 'POST', `${path}/commit`, { token: owner, body: oneBlockManifest(block) });
  });
});

describe('(f) a reader sees only its tables', () => {
  it('refuses planning or describing another table, and lists only its own', async () => {
    const { app, adminToken: admin } = await startMetadata();
    await registerNodesWithTokens(app, admin, NODES);
    for (const name of ['alpha', 'beta']) {
      await expectCall(app, 201, 'POST', '/v1/tables', { token: admin, body: tableSpec(name) });
      await commitOneBlock(app, admin, name, 'ds=1');
    }
    const reader = (await makeToken(app, admin, { role: 'reader', tables: ['alpha'] })).token;
    const writer = (await makeToken(app, admin, { role: 'writer', tables: ['alpha'] })).token;
    const plan = await expectCall<{ blocks?: unknown[] }>(app, 200, 'POST', '/v1/tables/alpha/scan?format=json', { token: reader, body: {} });
    expect(JSON.stringify(plan)).toContain('capability');
    for (const [method, url, body] of [
      ['POST', '/v1/tables/beta/scan', {}],
      ['POST', '/v1/tables/beta/scan?format=json', { columns: ['x'] }],
      ['GET', '/v1/tables/beta'],
      ['GET', '/v1/tables/beta/partitions'],
      ['GET', '/v1/tables/beta/partitions/ds=1'],
      ['GET', '/v1/tables/beta/popularity'],
    ] as const) {
      const answer = await call(app, method, url, { token: reader, body });
      expect(answer.status, `${method} ${url}: ${JSON.stringify(answer.body)}`).toBe(403);
      expect(answer.body).toMatchObject({ code: 'GRN_FORBIDDEN' });
    }
    const names = async (token: string) => (await expectCall<{ tables: { name: string }[] }>(app, 200, 'GET', '/v1/tables', { token })).tables.map((t) => t.name).sort();
    expect(await names(reader)).toEqual(['alpha']);
    expect(await names(writer)).toEqual(['alpha']);
    expect(await names((await makeToken(app, admin, { role: 'reader' })).token)).toEqual(['alpha', 'beta']);
    expect(await names(admin)).toEqual(['alpha', 'beta']);
    // A reader plans; it does not write, even to its own table.
    expect((await call(app, 'POST', '/v1/tables/alpha/sessions', { token: reader, body: { partition: 'ds=2' } })).status).toBe(403);
  });
});

describe('token routes', () => {
  it('refuse a lifetime past the last date there is (it used to be stored, then break token list)', async () => {
    const { app, adminToken: admin } = await startMetadata();
    const answer = await call(app, 'POST', '/v1/tokens', { token: admin, body: { role: 'reader', ttlMs: Number.MAX_SAFE_INTEGER } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    const listed = await expectCall<{ tokens: unknown[] }>(app, 200, 'GET', '/v1/tokens', { token: admin });
    expect(listed.tokens).toHaveLength(1);
  });
});
