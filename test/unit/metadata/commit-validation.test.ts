/**
 * Commits are checked against what the session was given and what the catalog can hold (issue 11,
 * "Commits are trusted"): each poison commit of the audit is refused with a 4xx naming what is
 * wrong, and leaves the catalog exactly as it was. Also the quotas, the cost of a block allocation
 * (it must not grow with the session), the session block index across a restart, and removing one
 * bad file of a partition.
 */
import { unpack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CODEC_ID, contiguousLayout } from '../../../erasure/index.js';
import { put } from '../../../metadata/db.js';
import type { BlockPlacement, CommitManifest, ScanPlan } from '../../../protocol/index.js';
import { STRIPE_ROWS_MAX, checkCommit } from '../../../metadata/manifest.js';
import type { BlockRecord, SessionRecord, TableRecord } from '../../../metadata/records.js';
import type { Quotas } from '../../../metadata/tables.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const COLUMNS = ['label', 'age', 'ids'] as const;
const SCHEMA = {
  name: 'events',
  columns: [
    { name: 'label', type: 'float' },
    { name: 'age', type: 'int64' },
    { name: 'ids', type: 'id_list' },
  ],
  partitionBy: ['ds'],
  ec: '6+3',
};
const PARTITION = 'ds=2026-11-25';
const STREAM_BYTES = 1000;

let meta: MetadataApp | undefined;
afterEach(async () => {
  await meta?.close();
  meta = undefined;
});

/** `slow`: nodes stay alive without heartbeats for minutes, for tests that run longer than 10 s. */
async function start(quotas?: Partial<Quotas>, slow = false): Promise<MetadataApp> {
  meta = await makeMetadataApp({
    ...(quotas === undefined ? {} : { quotas }),
    ...(slow ? { suspectAfterMs: 10 * 60_000, deadAfterMs: 20 * 60_000 } : {}),
  });
  await registerNodes(meta.app, 12, 3);
  return meta;
}

function app(): MetadataApp {
  if (meta === undefined) throw new Error('start() first');
  return meta;
}

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await app().app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  const msgpack = String(response.headers['content-type'] ?? '').includes('msgpack');
  return { status: response.statusCode, body: (msgpack ? unpack(response.rawPayload) : response.json()) as T };
}

async function createTable(spec: object = SCHEMA): Promise<void> {
  const created = await call('POST', '/v1/tables', spec);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

async function openSession(table = 'events', partition = PARTITION): Promise<string> {
  const opened = await call<{ sessionId: string }>('POST', `/v1/tables/${table}/sessions`, { partition });
  expect(opened.status, JSON.stringify(opened.body)).toBe(201);
  return opened.body.sessionId;
}

async function allocate(sessionId: string): Promise<BlockPlacement> {
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`);
  expect(block.status, JSON.stringify(block.body)).toBe(201);
  return block.body;
}

/** `stripes` stripes of `rows` rows in one file, every stream of stripe s in block `blocks[s % n]`. */
function manifestFor(blocks: readonly BlockPlacement[], stripes: number, rows = 100, files = 1): CommitManifest {
  const perBlock = Math.ceil(stripes / blocks.length) * COLUMNS.length;
  const blockBytes = STREAM_BYTES * perBlock;
  const stripe = (s: number) => ({
    rows,
    streams: COLUMNS.map((column, c) => ({
      block: (blocks[s % blocks.length] as BlockPlacement).blockId,
      offset: (Math.floor(s / blocks.length) * COLUMNS.length + c) * STREAM_BYTES,
      length: STREAM_BYTES,
      checksum: (s * 100 + c).toString(16).padStart(16, '0'),
      encoding: 1,
      stats: column === 'age' ? { nulls: 0, min: s, max: s + 1 } : { nulls: 0 },
    })),
  });
  const all = Array.from({ length: stripes }, (_, s) => stripe(s));
  const share = Math.ceil(stripes / files);
  return {
    files: Array.from({ length: files }, (_, f) => ({ columns: [...COLUMNS], stripes: all.slice(f * share, (f + 1) * share) })),
    blocks: blocks.map((block) => ({
      blockId: block.blockId,
      blockBytes,
      shardBytes: contiguousLayout({ dataShards: 6, parityShards: 3 }, blockBytes).shardBytes,
      codec: block.codec,
      shardChecksums: Array.from({ length: 9 }, (_, shard) => shard.toString(16).padStart(16, '0')),
    })),
  };
}

/** Everything a commit could change: partitions, files, block states and sizes, the GC queue, the session. */
async function stored(sessionId: string): Promise<unknown> {
  const { state } = app().service;
  const session = await call('GET', `/v1/sessions/${sessionId}`);
  return {
    partitions: (await call<{ partitions: unknown[] }>('GET', '/v1/tables/events/partitions')).body.partitions,
    files: [...state.files.values()].flatMap((byPartition) => [...byPartition.values()].flat().map((file) => file.record.fileId)),
    blocks: [...state.blocks.values()].map((b) => `${b.blockId} ${b.sessionId} ${b.state} ${b.blockBytes}`).sort(),
    gc: [...state.gcQueue.keys()].sort(),
    session: { state: session.body.state, blocks: session.body.blocks },
  };
}

type Mutate = (manifest: { files: { columns: string[]; stripes: { rows: number; streams: Record<string, unknown>[] }[] }[]; blocks: Record<string, unknown>[] }) => void;

/** A deep copy of `manifest` changed by `mutate`. */
function poisoned(manifest: CommitManifest, mutate: Mutate): CommitManifest {
  const copy = structuredClone(manifest) as unknown as Parameters<Mutate>[0];
  mutate(copy);
  return copy as unknown as CommitManifest;
}

const stream = (m: Parameters<Mutate>[0], file: number, stripe: number, column: number) =>
  (m.files[file]?.stripes[stripe]?.streams[column] ?? {}) as Record<string, unknown>;

describe('commit validation', () => {
  it('refuses every poison commit with a 4xx naming the fault, and changes nothing stored', async () => {
    await start();
    await createTable();
    const sessionId = await openSession();
    const blocks = [await allocate(sessionId), await allocate(sessionId)];
    const good = manifestFor(blocks, 4);
    // Blocks of other sessions: one open, one already committed.
    const otherSession = await openSession('events', 'ds=2026-11-26');
    const otherOpen = await allocate(otherSession);
    const committedSession = await openSession('events', 'ds=2026-11-27');
    const committedBlock = await allocate(committedSession);
    expect((await call('POST', `/v1/sessions/${committedSession}/commit`, manifestFor([committedBlock], 1))).status).toBe(200);
    const before = await stored(sessionId);

    const cases: [string, CommitManifest, number, RegExp][] = [
      ['a block no one allocated', poisoned(good, (m) => {
        (m.blocks[0] as Record<string, unknown>).blockId = 'b00000000000000000000';
        for (const s of m.files[0]?.stripes ?? []) for (const st of s.streams) if (st.block === blocks[0]?.blockId) st.block = 'b00000000000000000000';
      }), 400, /block b00000000000000000000 was not allocated to session/],
      ['a block of another open session', poisoned(good, (m) => {
        (m.blocks[0] as Record<string, unknown>).blockId = otherOpen.blockId;
        for (const s of m.files[0]?.stripes ?? []) for (const st of s.streams) if (st.block === blocks[0]?.blockId) st.block = otherOpen.blockId;
      }), 400, new RegExp(`block ${otherOpen.blockId} was not allocated to session`)],
      ['a block another session committed', poisoned(good, (m) => {
        (m.blocks[0] as Record<string, unknown>).blockId = committedBlock.blockId;
        for (const s of m.files[0]?.stripes ?? []) for (const st of s.streams) if (st.block === blocks[0]?.blockId) st.block = committedBlock.blockId;
      }), 400, new RegExp(`block ${committedBlock.blockId} was not allocated to session`)],
      ['a stream in a block the commit does not list', poisoned(good, (m) => {
        stream(m, 0, 1, 2).block = otherOpen.blockId;
      }), 400, new RegExp(`file 0 stripe 1 column ids: block ${otherOpen.blockId} is not in the manifest's blocks`)],
      ['a stream past the end of its block', poisoned(good, (m) => {
        stream(m, 0, 3, 1).offset = 5_500;
      }), 400, /file 0 stripe 3 column age: stream \[5500, \+1000\) is outside block/],
      ['a stripe of 2^53-1 rows', poisoned(good, (m) => {
        (m.files[0]?.stripes[2] as { rows: number }).rows = Number.MAX_SAFE_INTEGER;
      }), 400, /files\/0\/stripes\/2\/rows must be <= 10000000/],
      ['a null count of 2^32+5', poisoned(good, (m) => {
        stream(m, 0, 0, 0).stats = { nulls: 2 ** 32 + 5 };
      }), 400, /stripes\/0\/streams\/0\/stats\/nulls must be <= 10000000/],
      ['more nulls than rows', poisoned(good, (m) => {
        stream(m, 0, 1, 1).stats = { nulls: 101 };
      }), 400, /file 0 stripe 1 column age: nulls must be an integer in 0\.\.100 \(the stripe's rows\), got 101/],
      ['an encoding no reader knows', poisoned(good, (m) => {
        stream(m, 0, 2, 1).encoding = 999;
      }), 400, /file 0 stripe 2 column age: encoding 999 is not one this service knows/],
      ['a stream of 4 GiB', poisoned(good, (m) => {
        stream(m, 0, 0, 0).length = 2 ** 32;
      }), 400, /streams\/0\/length must be <= 4294967295/],
      ['an offset beyond 2^53', poisoned(good, (m) => {
        stream(m, 0, 0, 0).offset = 2 ** 60;
      }), 400, /streams\/0\/offset must be <= 9007199254740991/],
      ['stats whose min is above the max', poisoned(good, (m) => {
        stream(m, 0, 2, 1).stats = { nulls: 0, min: 5, max: 1 };
      }), 400, /file 0 stripe 2 column age: stats min 5 is above max 1/],
      ['a stats bound that is not a number', poisoned(good, (m) => {
        stream(m, 0, 2, 1).stats = { nulls: 0, min: '' };
      }), 400, /stats\/min must/],
      ['8 shard checksums for a 6+3 block', poisoned(good, (m) => {
        (m.blocks[1] as { shardChecksums: string[] }).shardChecksums.pop();
      }), 400, /shardChecksums must list 9 xxh64 checksums/],
      ['shardBytes that do not hold the block', poisoned(good, (m) => {
        (m.blocks[0] as { shardBytes: number }).shardBytes = 8;
      }), 400, /make \d+-byte shards, manifest says 8/],
      ['a block bigger than the table makes', poisoned(good, (m) => {
        const block = m.blocks[0] as { blockBytes: number; shardBytes: number };
        block.blockBytes = 1024 ** 3;
        block.shardBytes = contiguousLayout({ dataShards: 6, parityShards: 3 }, block.blockBytes).shardBytes;
      }), 400, /blockBytes 1073741824 must be 1\.\.268435456 for table events/],
      ['a block listed twice', poisoned(good, (m) => {
        m.blocks.push(structuredClone(m.blocks[0] as Record<string, unknown>));
      }), 400, /is listed twice/],
    ];
    for (const [what, manifest, status, pattern] of cases) {
      const response = await call<{ code: string; message: string }>('POST', `/v1/sessions/${sessionId}/commit`, manifest);
      expect(response.status, what).toBe(status);
      expect(response.body.message, what).toMatch(pattern);
      expect(await stored(sessionId), what).toEqual(before);
    }
    // The session is untouched: the honest manifest still commits.
    const committed = await call<{ rows: number }>('POST', `/v1/sessions/${sessionId}/commit`, good);
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    expect(committed.body.rows).toBe(400);
  });

  it('checks counts in the manifest itself too, whatever the schema let through', () => {
    const table: TableRecord = {
      id: 't1', name: 'events', columns: [{ cid: 0, name: 'label', type: 'float', addedInVersion: 1 }], nextCid: 1, partitionBy: ['ds'],
      dataShards: 2, parityShards: 1, blockBytes: 1024 * 1024, stripeRows: 1000, stripeBytes: 1024 * 1024, retentionDays: null, schemaVersion: 1, createdAt: 0,
    };
    const session: SessionRecord = {
      sessionId: 's1', tableId: 't1', tableName: 'events', partition: PARTITION, values: { ds: '2026-11-25' }, state: 'open',
      leaseMs: 60_000, leaseExpiresAt: 60_000, createdAt: 0, schemaVersion: 1,
    };
    const block: BlockRecord = {
      blockId: 'b1', tableId: 't1', sessionId: 's1', dataShards: 2, parityShards: 1, codec: DEFAULT_CODEC_ID, nodes: ['n0', 'n1', 'n2'],
      state: 'allocated', blockBytes: 0, shardBytes: 0, createdAt: 0,
    };
    const manifest = (rows: number, stats: Record<string, unknown>): CommitManifest => ({
      files: [{ columns: ['label'], stripes: [{ rows, streams: [{ block: 'b1', offset: 0, length: 10, checksum: '0'.repeat(16), encoding: 1, stats: stats as { nulls: number } }] }] }],
      blocks: [{ blockId: 'b1', blockBytes: 10, shardBytes: 8, codec: DEFAULT_CODEC_ID, shardChecksums: ['0'.repeat(16), '1'.repeat(16), '2'.repeat(16)] }],
    });
    const check = (m: CommitManifest) => () => checkCommit(table, session, m, new Map([['b1', block]]), 0);
    expect(check(manifest(Number.MAX_SAFE_INTEGER, { nulls: 0 }))).toThrow(/stripe 0: rows must be an integer in 1\.\.10000000/);
    expect(check(manifest(STRIPE_ROWS_MAX, { nulls: 2 ** 32 + 5 }))).toThrow(/column label: nulls must be an integer in 0\.\.10000000/);
    expect(check(manifest(10, { nulls: 0, min: Number.NaN }))).toThrow(/column label: stats min\/max must be numbers \(not NaN\)/);
    expect(check(manifest(10, { nulls: 0, min: '0x10' }))).toThrow(/decimal integer strings/);
    // A committed block (its session is over) cannot be committed again.
    expect(() => checkCommit(table, session, manifest(10, { nulls: 0 }), new Map([['b1', { ...block, state: 'committed' }]]), 0)).toThrow(/or is committed already/);
    expect(check(manifest(10, { nulls: 3, min: -1, max: 1 }))().rows).toBe(10);
  });
});

describe('quotas', () => {
  it('caps tables and columns per table, with the setting to raise in the answer', async () => {
    await start({ tablesMax: 2, columnsPerTableMax: 3 });
    await createTable();
    const wide = { ...SCHEMA, name: 'wide', columns: [...SCHEMA.columns, { name: 'extra', type: 'float' }] };
    const refused = await call<{ code: string; message: string }>('POST', '/v1/tables', wide);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'GRN_QUOTA_EXCEEDED' });
    expect(refused.body.message).toMatch(/table wide would have 4 columns: the limit is 3 \(columnsPerTableMax\).*--columns-per-table-max/);
    const altered = await call<{ code: string }>('PATCH', '/v1/tables/events', { addColumns: [{ name: 'score', type: 'double' }] });
    expect(altered.status).toBe(429);
    expect((await call<{ schemaVersion: number }>('GET', '/v1/tables/events')).body.schemaVersion).toBe(1);
    // Dropping one makes room for another.
    expect((await call('PATCH', '/v1/tables/events', { addColumns: [{ name: 'score', type: 'double' }], dropColumns: ['ids'] })).status).toBe(200);

    await createTable({ ...SCHEMA, name: 'second' });
    const third = await call<{ code: string; message: string }>('POST', '/v1/tables', { ...SCHEMA, name: 'third' });
    expect(third.status).toBe(429);
    expect(third.body.message).toMatch(/the cluster has 2 tables: the limit is 2 \(tablesMax\); drop a table/);
    expect((await call<{ tables: unknown[] }>('GET', '/v1/tables')).body.tables).toHaveLength(2);
  });

  it('caps open sessions per table and in total, counting only open ones', async () => {
    await start({ openSessionsPerTableMax: 2, openSessionsMax: 3 });
    await createTable();
    await createTable({ ...SCHEMA, name: 'second' });
    const first = await openSession();
    await openSession();
    const perTable = await call<{ code: string; message: string }>('POST', '/v1/tables/events/sessions', { partition: PARTITION });
    expect(perTable.status).toBe(429);
    expect(perTable.body.message).toMatch(/table events has 2 open write sessions: the limit is 2 \(openSessionsPerTableMax\); commit or abort some first/);
    await openSession('second');
    const total = await call<{ message: string }>('POST', '/v1/tables/second/sessions', { partition: PARTITION });
    expect(total.status).toBe(429);
    expect(total.body.message).toMatch(/the cluster has 3 open write sessions: the limit is 3 \(openSessionsMax\)/);
    expect((await call('POST', `/v1/sessions/${first}/abort`)).status).toBe(200);
    await openSession('second');
    // The counts are rebuilt from the records at a restart.
    meta = await app().reopen();
    expect((await call('POST', '/v1/tables/second/sessions', { partition: PARTITION })).status).toBe(429);
  });

  it('caps blocks per session and stripes per commit, storing nothing when refused', async () => {
    await start({ blocksPerSessionMax: 2, stripesPerCommitMax: 3 });
    await createTable();
    const sessionId = await openSession();
    const blocks = [await allocate(sessionId), await allocate(sessionId)];
    const third = await call<{ code: string; message: string }>('POST', `/v1/sessions/${sessionId}/blocks`);
    expect(third.status).toBe(429);
    expect(third.body.message).toMatch(/holds 2 blocks: the limit is 2 \(blocksPerSessionMax\); commit this session/);
    const before = await stored(sessionId);
    const tooLong = await call<{ code: string; message: string }>('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(blocks, 4));
    expect(tooLong.status).toBe(429);
    expect(tooLong.body.message).toMatch(/a commit of 4 stripes: the limit is 3 \(stripesPerCommitMax\); write the partition through several sessions/);
    expect(await stored(sessionId)).toEqual(before);
    expect((await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(blocks, 3))).status).toBe(200);
  });

  it('refuses a commit body over its limit before parsing it, and a commit to no session before reading it', async () => {
    await start();
    await createTable();
    const sessionId = await openSession();
    const oversized = await app().app.inject({
      method: 'POST',
      url: `/v1/sessions/${sessionId}/commit`,
      headers: { 'content-type': 'application/json' },
      payload: Buffer.alloc(64 * 1024 * 1024 + 1, 0x20),
    });
    expect(oversized.statusCode).toBe(413);
    const unknown = await call<{ code: string }>('POST', '/v1/sessions/snosuchsession/commit', { files: [], blocks: [] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('GRN_SESSION_NOT_FOUND');
  });
});

describe('block allocation', () => {
  it('writes the same few hundred bytes for the 1,000th block of a session as for the first', async () => {
    await start(undefined, true);
    await createTable();
    const sessionId = await openSession();
    const store = app().service.state.db.store;
    const write = store.write.bind(store);
    const written: number[] = [];
    let sessionWrites = 0;
    store.write = async (operations) => {
      written.push(operations.reduce((sum, op) => sum + op.key.length + (op.type === 'put' ? op.value.length : 0), 0));
      sessionWrites += operations.filter((op) => op.key === sessionId).length;
      return write(operations);
    };
    const ALLOCATIONS = 1_000;
    for (let i = 0; i < ALLOCATIONS; i++) await allocate(sessionId);
    store.write = write;
    expect(written).toHaveLength(ALLOCATIONS);
    expect(sessionWrites).toBe(0);
    const first = Math.max(...written.slice(0, 10));
    expect(first).toBeLessThan(1024);
    // Rewriting the session's block list would add 22 bytes per block: 22 KB by the end.
    expect(Math.max(...written.slice(-10))).toBeLessThanOrEqual(first);
    expect((await call<{ blocks: number }>('GET', `/v1/sessions/${sessionId}`)).body.blocks).toBe(ALLOCATIONS);
  }, 60_000);

  it('finds a session\'s blocks after a restart: a commit uses them and frees the rest', async () => {
    await start();
    await createTable();
    const sessionId = await openSession();
    const blocks = [await allocate(sessionId), await allocate(sessionId), await allocate(sessionId)];
    meta = await app().reopen();
    expect((await call<{ blocks: number }>('GET', `/v1/sessions/${sessionId}`)).body.blocks).toBe(3);
    const committed = await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(blocks.slice(0, 2), 4));
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    const { state } = app().service;
    expect(state.blocks.get(blocks[0]?.blockId ?? '')?.state).toBe('committed');
    expect(state.blocks.has(blocks[2]?.blockId ?? '')).toBe(false);
    expect([...state.gcQueue.keys()]).toEqual([blocks[2]?.blockId]);
    expect(state.blocksOfSession(sessionId).size).toBe(0);
    expect((await call<{ blocks: number; state: string }>('GET', `/v1/sessions/${sessionId}`)).body).toMatchObject({ state: 'committed', blocks: 3 });
  });

  it('sends every block of a session aborted after a restart to GC', async () => {
    await start();
    await createTable();
    const sessionId = await openSession();
    const blocks = [await allocate(sessionId), await allocate(sessionId), await allocate(sessionId)];
    meta = await app().reopen();
    expect((await call('POST', `/v1/sessions/${sessionId}/abort`)).status).toBe(200);
    const { state } = app().service;
    expect([...state.gcQueue.keys()].sort()).toEqual(blocks.map((b) => b.blockId).sort());
    expect(blocks.filter((b) => state.blocks.has(b.blockId))).toEqual([]);
  });

  it('drops the block list of a session record written before the index', async () => {
    await start();
    await createTable();
    const sessionId = await openSession();
    const block = await allocate(sessionId);
    const { db } = app().service.state;
    const legacy = { ...(await db.sessions.get(sessionId)), blockIds: [block.blockId] } as SessionRecord;
    await db.write([put(db.sessions, sessionId, legacy)]);
    meta = await app().reopen();
    expect((await call('POST', `/v1/sessions/${sessionId}/renew`)).status).toBe(200);
    expect(await app().service.state.db.sessions.get(sessionId)).not.toHaveProperty('blockIds');
    expect(app().service.state.blocksOfSession(sessionId)).toEqual(new Set([block.blockId]));
  });
});

describe('dropping one file of a partition', () => {
  async function commitFile(blocks: number, stripes: number, files = 1, rows = 100): Promise<{ sessionId: string; blocks: BlockPlacement[] }> {
    const sessionId = await openSession();
    const placed: BlockPlacement[] = [];
    for (let b = 0; b < blocks; b++) placed.push(await allocate(sessionId));
    const committed = await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(placed, stripes, rows, files));
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    return { sessionId, blocks: placed };
  }

  async function fileIds(): Promise<string[]> {
    const detail = await call<{ fileList: { fileId: string }[] }>('GET', `/v1/tables/events/partitions/${encodeURIComponent(PARTITION)}`);
    return detail.body.fileList.map((file) => file.fileId);
  }

  const dropUrl = (fileId: string, partition = PARTITION) => `/v1/tables/events/partitions/${encodeURIComponent(partition)}/files/${fileId}`;

  it('removes the file, its stripes and its blocks in one step, and keeps that across a restart', async () => {
    await start();
    await createTable();
    const bad = await commitFile(1, 2, 1, 10);
    const good = await commitFile(1, 3, 1, 100);
    const [badFile, goodFile] = await fileIds();
    const dropped = await call('DELETE', dropUrl(badFile as string));
    expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
    expect(dropped.body).toEqual({ table: 'events', partition: PARTITION, fileId: badFile, rows: 20, stripes: 2, blocksQueued: 1, partitionDropped: false });
    const expectState = async () => {
      const [partition] = (await call<{ partitions: Record<string, unknown>[] }>('GET', '/v1/tables/events/partitions')).body.partitions;
      expect(partition).toMatchObject({ files: 1, stripes: 3, rows: 300, bytes: 9 * STREAM_BYTES });
      expect(await fileIds()).toEqual([goodFile]);
      const plan = (await call<ScanPlan>('POST', '/v1/tables/events/scan', {})).body;
      expect(plan.stripes.map((s) => [s.fileId, s.stripe])).toEqual([[goodFile, 0], [goodFile, 1], [goodFile, 2]]);
      expect(plan.blocks.map((b) => b.blockId)).toEqual([good.blocks[0]?.blockId]);
      const { state } = app().service;
      expect(state.blocks.has(bad.blocks[0]?.blockId ?? '')).toBe(false);
      expect([...state.gcQueue.keys()]).toEqual([bad.blocks[0]?.blockId]);
    };
    await expectState();
    meta = await app().reopen();
    await expectState();
    // A later commit comes after the remaining file, not in the dropped one's place.
    await commitFile(1, 1);
    const [, third] = await fileIds();
    meta = await app().reopen();
    expect(await fileIds()).toEqual([goodFile, third]);
  });

  it('keeps blocks another file of the same commit still reads, and drops the partition with its last file', async () => {
    await start();
    await createTable();
    const shared = await commitFile(1, 4, 2);
    const [first, second] = await fileIds();
    expect((await call('DELETE', dropUrl(first as string))).body).toMatchObject({ blocksQueued: 0, partitionDropped: false });
    expect(app().service.state.blocks.get(shared.blocks[0]?.blockId ?? '')?.state).toBe('committed');
    expect((await call('DELETE', dropUrl(second as string))).body).toMatchObject({ blocksQueued: 1, partitionDropped: true });
    expect((await call<{ partitions: unknown[] }>('GET', '/v1/tables/events/partitions')).body.partitions).toEqual([]);
    expect([...app().service.state.gcQueue.keys()]).toEqual([shared.blocks[0]?.blockId]);
  });

  it('answers 404 for a file or partition that is not there, changing nothing', async () => {
    await start();
    await createTable();
    await commitFile(1, 1);
    const noFile = await call<{ code: string; message: string }>('DELETE', dropUrl('fnosuchfile'));
    expect(noFile.status).toBe(404);
    expect(noFile.body.code).toBe('GRN_FILE_NOT_FOUND');
    expect(noFile.body.message).toMatch(/granary partition describe events ds=2026-11-25/);
    expect((await call<{ code: string }>('DELETE', dropUrl('fnosuchfile', 'ds=2020-01-01'))).body.code).toBe('GRN_PARTITION_NOT_FOUND');
    expect(await fileIds()).toHaveLength(1);
  });
});
