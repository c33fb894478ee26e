/**
 * Issue 12's paged listings through app.inject(): thousands of tables, partitions, files, GC
 * records and endangered blocks paged with small and large limits (every item exactly once, in
 * order), bad limits and cursors refused with 400, a cursor past the end, items removed between
 * pages, a scoped reader's table listing, and /health and node listings that never walk blocks.
 *
 * Records are put straight into the service's state (the listings read nothing else), so the
 * catalog is thousands of items large in milliseconds rather than thousands of synced commits.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LoadedFile } from '../../../metadata/planner.js';
import type { BlockRecord, FileRecord, PartitionRecord } from '../../../metadata/records.js';
import { newTableRecord } from '../../../metadata/schema.js';
import type { MetadataState } from '../../../metadata/state.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const MANY = 2_500;
const COLUMNS = [{ name: 'x', type: 'int64' as const }];

let meta: MetadataApp;
let state: MetadataState;
beforeEach(async () => {
  meta = await makeMetadataApp({ quotas: { tablesMax: MANY + 10 } });
  state = meta.service.state;
});
afterEach(async () => {
  await meta.close();
});

async function get<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: 'GET', url, headers });
  return { status: response.statusCode, body: response.json() as T };
}

/** Follows `next` from the first page to the last; returns each item's key in the order listed. */
async function pageAll<T>(url: string, items: string, key: (item: T) => string, limit?: number, headers: Record<string, string> = {}): Promise<string[]> {
  const keys: string[] = [];
  let after: string | null = null;
  for (let pages = 0; ; pages++) {
    if (pages > MANY + 2) throw new Error(`${url} kept answering pages`);
    const query = new URLSearchParams();
    if (limit !== undefined) query.set('limit', String(limit));
    if (after !== null) query.set('after', after);
    const separator = url.includes('?') ? '&' : '?';
    const page = await get<Record<string, unknown> & { next: string | null }>(query.size === 0 ? url : `${url}${separator}${query.toString()}`, headers);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    const listed = page.body[items] as T[];
    if (limit !== undefined) expect(listed.length).toBeLessThanOrEqual(limit);
    keys.push(...listed.map(key));
    if (page.body.next === null) return keys;
    expect(listed.length, 'a page with next is not empty').toBeGreaterThan(0);
    after = page.body.next;
  }
}

function putTables(count: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    // Names out of order, so the listing's order is its own.
    const name = `t_${((i * 7919) % count).toString().padStart(5, '0')}`;
    state.tablesByName.set(name, newTableRecord({ name, columns: COLUMNS }, Date.now()));
    names.push(name);
  }
  return names.sort();
}

function partition(tableId: string, ds: string, rows: number): PartitionRecord {
  return { tableId, spec: `ds=${ds}`, values: { ds }, createdAt: Date.now(), files: 1, stripes: 1, rows, bytes: rows * 8 };
}

function putPartitions(tableName: string, count: number): string[] {
  const table = state.tablesByName.get(tableName);
  if (table === undefined) throw new Error(`no table ${tableName}`);
  const specs: string[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const record = partition(table.id, `d${i.toString().padStart(5, '0')}`, i);
    state.partitionsOf(table.id).set(record.spec, record);
    specs.push(record.spec);
  }
  return specs.sort();
}

/** A committed file as the listing sees it (its record's header; planning fields are not read). */
function putFiles(tableId: string, spec: string, count: number): string[] {
  const files = state.filesOf(tableId, spec);
  const ids: string[] = [];
  for (let sequence = 0; sequence < count; sequence++) {
    const record = { fileId: `f${sequence}`, tableId, partition: spec, sessionId: `s${sequence}`, committedAt: Date.now(), sequence, rows: 1, bytes: 8, stripeCount: 1 } as unknown as FileRecord;
    files.push({ record } as LoadedFile);
    ids.push(record.fileId);
  }
  return ids;
}

describe('paged catalog listings', () => {
  it('pages 2,500 tables by name with limit 7 and 1000, and without a limit', async () => {
    const names = putTables(MANY);
    const byName = (table: { name: string }) => table.name;
    expect(await pageAll('/v1/tables', 'tables', byName, 7)).toEqual(names);
    expect(await pageAll('/v1/tables', 'tables', byName, 1000)).toEqual(names);
    // Without a limit: the default page (1000), and `next` to go on from.
    const first = await get<{ tables: { name: string }[]; next: string | null }>('/v1/tables');
    expect(first.body.tables.map(byName)).toEqual(names.slice(0, 1000));
    expect(first.body.next).toBe(names[999]);
    expect(await pageAll('/v1/tables', 'tables', byName)).toEqual(names);
  });

  it("reports each table's partitions, rows and bytes from counters kept as partitions change", async () => {
    putTables(3);
    putPartitions('t_00001', 4);
    const table = state.tablesByName.get('t_00001');
    state.partitionsOf(table?.id as string).delete('ds=d00003');
    const { body } = await get<{ tables: { name: string; partitions: number; rows: number; bytes: number }[] }>('/v1/tables?limit=2&after=t_00000');
    expect(body.tables).toMatchObject([{ name: 't_00001', partitions: 3, rows: 0 + 1 + 2, bytes: 24 }, { name: 't_00002', partitions: 0, rows: 0 }]);
  });

  it("pages 2,500 partitions of a table by spec, and a partition's 2,500 files in commit order", async () => {
    putTables(1);
    const specs = putPartitions('t_00000', MANY);
    const bySpec = (p: { partition: string }) => p.partition;
    expect(await pageAll('/v1/tables/t_00000/partitions', 'partitions', bySpec, 7)).toEqual(specs);
    expect(await pageAll('/v1/tables/t_00000/partitions', 'partitions', bySpec, 1000)).toEqual(specs);

    const table = state.tablesByName.get('t_00000');
    const ids = putFiles(table?.id as string, 'ds=d00042', MANY);
    const files = '/v1/tables/t_00000/partitions/ds=d00042/files';
    const byId = (file: { fileId: string }) => file.fileId;
    expect(await pageAll(files, 'files', byId, 7)).toEqual(ids);
    expect(await pageAll(files, 'files', byId, 1000)).toEqual(ids);
    // Describe embeds the first 1000 files and says where the rest continue.
    const detail = await get<{ fileList: { fileId: string; sequence: number }[]; filesNext: string | null }>('/v1/tables/t_00000/partitions/ds=d00042');
    expect(detail.body.fileList.map(byId)).toEqual(ids.slice(0, 1000));
    expect(detail.body.filesNext).toBe('999');
    const rest = await get<{ files: { fileId: string }[]; next: string | null }>(`${files}?after=${detail.body.filesNext}&limit=1000`);
    expect(rest.body.files.map(byId)).toEqual(ids.slice(1000, 2000));
    // A partition of few files is described whole.
    putFiles(table?.id as string, 'ds=d00043', 2);
    expect((await get<{ fileList: unknown[]; filesNext: string | null }>('/v1/tables/t_00000/partitions/ds=d00043')).body).toMatchObject({ filesNext: null, fileList: [{ fileId: 'f0' }, { fileId: 'f1' }] });
    expect((await get<{ code: string }>('/v1/tables/t_00000/partitions/ds=nosuch/files')).body.code).toBe('GRN_PARTITION_NOT_FOUND');
  });

  it('answers a cursor after the last item with an empty last page', async () => {
    putTables(5);
    putPartitions('t_00000', 5);
    for (const url of ['/v1/tables?after=zzz', '/v1/tables/t_00000/partitions?after=ds=z', '/v1/nodes?after=zzz', '/v1/gc?after=zzz']) {
      const page = await get<Record<string, unknown>>(url);
      expect(page.status, url).toBe(200);
      expect(page.body.next, url).toBeNull();
      expect(Object.values(page.body).find(Array.isArray), url).toEqual([]);
    }
    const lastPage = await get<{ tables: unknown[]; next: string | null }>('/v1/tables?limit=5');
    expect(lastPage.body).toMatchObject({ next: null });
    expect(lastPage.body.tables).toHaveLength(5);
  });

  it('keeps paging when items are dropped or added between pages', async () => {
    const names = putTables(30);
    const first = await get<{ tables: { name: string }[]; next: string }>('/v1/tables?limit=7');
    // The cursor's own table and the first one of the next page go; a new one lands ahead.
    expect((await meta.app.inject({ method: 'DELETE', url: `/v1/tables/${first.body.next}` })).statusCode).toBe(200);
    expect((await meta.app.inject({ method: 'DELETE', url: `/v1/tables/${names[7]}` })).statusCode).toBe(200);
    state.tablesByName.set('t_00006a', newTableRecord({ name: 't_00006a', columns: COLUMNS }, Date.now()));
    const rest: string[] = [];
    let after: string | null = first.body.next;
    while (after !== null) {
      const page: { body: { tables: { name: string }[]; next: string | null } } = await get(`/v1/tables?limit=7&after=${after}`);
      rest.push(...page.body.tables.map((t) => t.name));
      after = page.body.next;
    }
    expect(first.body.tables.map((t) => t.name)).toEqual(names.slice(0, 7));
    expect(rest).toEqual(['t_00006a', ...names.slice(8)]);
  });

  it('refuses bad limits and cursors with 400 and says what to send', async () => {
    putTables(1);
    putPartitions('t_00000', 1);
    const bad = [
      '/v1/tables?limit=0',
      '/v1/tables?limit=1001',
      '/v1/tables?limit=seven',
      '/v1/tables?limit=2.5',
      '/v1/tables?after=',
      '/v1/tables?after=Not%20A%20Table',
      `/v1/tables?after=${'a'.repeat(129)}`,
      '/v1/tables?afterr=t_00000',
      '/v1/tables/t_00000/partitions?after=ds',
      '/v1/tables/t_00000/partitions?limit=-1',
      '/v1/tables/t_00000/partitions/ds=d00000/files?after=f1',
      '/v1/tables/t_00000/partitions/ds=d00000/files?after=01',
      '/v1/nodes?after=NODE!',
      '/v1/nodes?limit=100000',
      '/v1/gc?after=%20',
      '/v1/repair?after=b123',
      '/v1/repair?limit=1001',
      '/v1/blocks?after=b%2F1',
      '/v1/blocks?limit=0',
    ];
    for (const url of bad) {
      const response = await get<{ code: string; message: string }>(url);
      expect(response.status, url).toBe(400);
      expect(response.body.code, url).toBe('GRN_BAD_REQUEST');
    }
    expect((await get<{ message: string }>('/v1/tables?after=Bad')).body.message).toMatch(/after of GET \/v1\/tables must be a table name: the `next` of the page before/);
    expect((await get<{ message: string }>('/v1/nodes?limit=0')).body.message).toMatch(/limit of GET \/v1\/nodes must be a whole number 1\.\.1000/);
  });

  it('shows a scoped reader only its tables, page by page', async () => {
    const secured = await makeMetadataApp({ auth: 'on', quotas: { tablesMax: 100 } });
    try {
      for (let i = 0; i < 40; i++) secured.service.state.tablesByName.set(`t_${i.toString().padStart(2, '0')}`, newTableRecord({ name: `t_${i.toString().padStart(2, '0')}`, columns: COLUMNS }, Date.now()));
      const admin = { authorization: `Bearer ${secured.adminToken}` };
      const scope = ['t_31', 't_05', 't_17', 't_02', 'gone'];
      const created = await secured.app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { role: 'reader', tables: scope } });
      expect(created.statusCode, created.payload).toBe(201);
      const reader = { authorization: `Bearer ${(created.json() as { token: string }).token}` };
      const previous = meta;
      meta = secured;
      try {
        expect(await pageAll('/v1/tables', 'tables', (t: { name: string }) => t.name, 1, reader)).toEqual(['t_02', 't_05', 't_17', 't_31']);
        expect(await pageAll('/v1/tables', 'tables', (t: { name: string }) => t.name, 7, admin)).toHaveLength(40);
      } finally {
        meta = previous;
      }
    } finally {
      await secured.close();
    }
  });
});

describe('paged node, GC and repair listings', () => {
  it('pages nodes by id, and counts their chunks without walking blocks', async () => {
    const ids = (await registerNodes(meta.app, 23, 3)).sort();
    expect(await pageAll('/v1/nodes', 'nodes', (n: { nodeId: string }) => n.nodeId, 7)).toEqual(ids);
    state.putBlock(block('b1', ['node-0', 'node-1', 'node-0']));
    // Probes, scrapes and node listings answer from counters: iterating the blocks would throw.
    const walk = () => {
      throw new Error('walked every block');
    };
    for (const method of ['values', 'keys', 'entries', 'forEach', Symbol.iterator] as const) vi.spyOn(state.blocks, method as 'values').mockImplementation(walk);
    const health = await get<{ blocks: number; nodes: { total: number; alive: number } }>('/health');
    expect(health.body).toMatchObject({ blocks: 1, nodes: { total: 23, alive: 23 } });
    const nodes = await get<{ nodes: { nodeId: string; chunksHeld: number }[] }>('/v1/nodes?limit=2');
    expect(nodes.body.nodes).toMatchObject([{ nodeId: 'node-0', chunksHeld: 2 }, { nodeId: 'node-1', chunksHeld: 1 }]);
    expect((await meta.app.inject({ url: '/metrics' })).statusCode).toBe(200);
    const repair = await get<{ blocks: { total: number; underReplicated: number } }>('/v1/repair?limit=0');
    expect(repair.body.blocks).toMatchObject({ total: 1, underReplicated: 1 });
    vi.restoreAllMocks();
  });

  it('pages 2,500 GC records by key with the backlog from counters', async () => {
    const keys: string[] = [];
    for (let i = 0; i < MANY; i++) {
      const key = i % 2 === 0 ? `b${i.toString(16).padStart(6, '0')}` : `copy:b${i}.1@node-${i % 5}`;
      state.putGc({ blockId: key, chunks: [{ chunkId: `x${i}.0`, nodeId: 'node-1' }, { chunkId: `x${i}.1`, nodeId: 'node-2' }], reason: 'test', queuedAt: 0, ...(i % 10 === 0 ? { attempts: 1, nextAttemptAt: 1 } : {}) });
      keys.push(key);
    }
    keys.sort();
    const byKey = (record: { blockId: string }) => record.blockId;
    expect(await pageAll('/v1/gc', 'blocks', byKey, 7)).toEqual(keys);
    expect(await pageAll('/v1/gc', 'blocks', byKey, 1000)).toEqual(keys);
    const first = await get<{ records: number; chunks: number; backingOff: number; blocks: { queuedAt: string }[]; next: string }>('/v1/gc');
    expect(first.body).toMatchObject({ records: MANY, chunks: 2 * MANY, backingOff: MANY / 10, next: keys[99] });
    expect(first.body.blocks).toHaveLength(100);
    expect(first.body.blocks[0]?.queuedAt).toBe(new Date(0).toISOString());
  });

  it('pages the endangered blocks most endangered first, each once, with counts unchanged by paging', async () => {
    await registerNodes(meta.app, 4, 2);
    // Every block has two shards on one node (written while nodes were down): repair spreads them.
    // Ages differ so the order is by age; every 50th has two shards on removed nodes (unavailable).
    const expected: string[] = [];
    for (let i = 0; i < MANY; i++) {
      const id = `b${i.toString().padStart(5, '0')}`;
      state.putBlock({ ...block(id, i % 50 === 0 ? ['node-0', 'gone-a', 'gone-b'] : ['node-0', 'node-0', 'node-1']), createdAt: MANY - i });
      expected.push(id);
    }
    const order = await pageAll('/v1/repair', 'items', (item: { blockId: string }) => item.blockId, 1000);
    expect(new Set(order).size).toBe(MANY);
    expect(order.slice().sort()).toEqual(expected);
    expect(await pageAll('/v1/repair', 'items', (item: { blockId: string }) => item.blockId, 7)).toEqual(order);
    // Unavailable ones first: they have fewest node failures to spare.
    expect(order.slice(0, MANY / 50).every((id) => Number(id.slice(1)) % 50 === 0)).toBe(true);
    const counts = await get<{ blocks: { total: number; underReplicated: number }; items: unknown[]; next: string | null }>('/v1/repair?limit=0');
    expect(counts.body).toMatchObject({ blocks: { total: MANY, underReplicated: MANY - MANY / 50, unavailable: MANY / 50 }, items: [], next: null });
    const defaultPage = await get<{ items: unknown[]; next: string | null }>('/v1/repair');
    expect(defaultPage.body.items).toHaveLength(100);
    expect(defaultPage.body.next).not.toBeNull();
  });

  it('pages committed blocks of one table through its own index', async () => {
    const ids = ['b3', 'b1', 'b2', 'b5', 'b4'];
    ids.forEach((id, i) => state.putBlock({ ...block(id, ['node-0', 'node-1', 'node-2']), tableId: i % 2 === 0 ? 'ta' : 'tb' }));
    state.tablesByName.set('a', { ...newTableRecord({ name: 'a', columns: COLUMNS }, 0), id: 'ta' });
    const all = await pageAll('/v1/blocks', 'blocks', (b: { blockId: string }) => b.blockId, 2);
    expect(all).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    expect(await pageAll('/v1/blocks?table=a', 'blocks', (b: { blockId: string }) => b.blockId, 1)).toEqual(['b2', 'b3', 'b4']);
  });
});

function block(blockId: string, nodes: string[]): BlockRecord {
  return { blockId, tableId: 'tx', sessionId: 's', dataShards: 2, parityShards: 1, codec: 'rs', nodes, state: 'committed', blockBytes: 2048, shardBytes: 1024, createdAt: 0 };
}
