/**
 * The client and CLI side of issue 12's paged listings, against an in-process metadata service
 * on a loopback socket: the iterators follow `next` to the end (every item once, in order), the
 * whole-list helpers keep their old answers for small catalogs, `partition describe` continues
 * past the files its answer embeds, and the CLI shows all pages by default or one with --limit.
 */
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliCommands } from '../../../client/cli/index.js';
import { MetadataClient } from '../../../client/metadata-client.js';
import { collect, followPages } from '../../../client/paging.js';
import type { LoadedFile } from '../../../metadata/planner.js';
import type { FileRecord } from '../../../metadata/records.js';
import { newTableRecord } from '../../../metadata/schema.js';
import { HttpPools } from '../../../protocol/index.js';
import type { Paged } from '../../../protocol/page-types.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const TABLES = 2_100;
const FILES = 1_500;
const COLUMNS = [{ name: 'x', type: 'int64' as const }];

let meta: MetadataApp;
let url: string;
let http: HttpPools;
let client: MetadataClient;
const names: string[] = [];

beforeAll(async () => {
  meta = await makeMetadataApp({ quotas: { tablesMax: TABLES + 10 } });
  await registerNodes(meta.app, 5, 2);
  const { state } = meta.service;
  for (let i = 0; i < TABLES; i++) {
    const name = `t_${((i * 7919) % TABLES).toString().padStart(5, '0')}`;
    state.tablesByName.set(name, newTableRecord({ name, columns: COLUMNS }, Date.now()));
    names.push(name);
  }
  names.sort();
  const table = state.tablesByName.get('t_00000');
  const tableId = table?.id as string;
  state.partitionsOf(tableId).set('ds=1', { tableId, spec: 'ds=1', values: { ds: '1' }, createdAt: 0, files: FILES, stripes: FILES, rows: FILES, bytes: FILES });
  const files = state.filesOf(tableId, 'ds=1');
  for (let sequence = 0; sequence < FILES; sequence++) {
    const record = { fileId: `f${sequence}`, tableId, partition: 'ds=1', sessionId: 's', committedAt: 0, sequence, rows: 1, bytes: 1, stripeCount: 1 } as unknown as FileRecord;
    files.push({ record } as LoadedFile);
  }
  for (let i = 0; i < 30; i++) state.putGc({ blockId: `b${i.toString().padStart(3, '0')}`, chunks: [{ chunkId: `b${i}.0`, nodeId: 'node-0' }], reason: 'test', queuedAt: 0 });
  url = await meta.app.listen({ host: '127.0.0.1', port: 0 });
  http = new HttpPools();
  client = new MetadataClient(http, url);
});

afterAll(async () => {
  await http?.close();
  await meta?.close();
});

describe('metadata client paging', () => {
  it('follows every page of the tables, in order, at any page size', async () => {
    expect((await client.listTables()).map((t) => t.name)).toEqual(names);
    expect((await collect(client.tables(7))).map((t) => t.name)).toEqual(names);
    const page = await client.tablesPage({ limit: 3, after: names[10] });
    expect(page.tables.map((t) => t.name)).toEqual(names.slice(11, 14));
    expect(page.next).toBe(names[13]);
  });

  it("continues a partition's files after the ones describe embeds", async () => {
    const detail = await client.describePartition('t_00000', 'ds=1');
    expect(detail.fileList).toHaveLength(1000);
    expect(detail.filesNext).toBe('999');
    const rest = await collect(client.files('t_00000', 'ds=1', { after: detail.filesNext as string, pageLimit: 200 }));
    expect([...detail.fileList, ...rest].map((f) => f.fileId)).toEqual(Array.from({ length: FILES }, (_, i) => `f${i}`));
  });

  it('pages nodes and the GC queue', async () => {
    expect((await collect(client.nodes(2))).map((n) => n.nodeId)).toEqual(['node-0', 'node-1', 'node-2', 'node-3', 'node-4']);
    const gc = await client.gc();
    expect(gc).toMatchObject({ records: 30, chunks: 30, next: null });
    expect((await collect(client.gcRecords(4))).map((r) => r.blockId)).toEqual(Array.from({ length: 30 }, (_, i) => `b${i.toString().padStart(3, '0')}`));
    expect((await collect(client.gcRecords(4, 'b027'))).map((r) => r.blockId)).toEqual(['b028', 'b029']);
  });

  it('refuses a listing whose pages do not move on, instead of looping', async () => {
    const stuck = followPages(async (): Promise<Paged & { items: number[] }> => ({ items: [1], next: 'same' }), (page) => page.items, 'stuck things');
    await expect(collect(stuck)).rejects.toThrow(/does not move on/);
  });
});

describe('CLI listings', () => {
  async function run(...args: string[]): Promise<{ out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
    try {
      const program = new Command('granary').exitOverride();
      for (const command of cliCommands()) program.addCommand(command);
      await program.parseAsync(['node', 'granary', ...args, '--metadata', url]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    return { out: out.join(''), err: err.join('') };
  }

  it('table list shows every table by default and one page with --limit', async () => {
    const all = JSON.parse((await run('table', 'list', '--json')).out) as { name: string }[];
    expect(all.map((t) => t.name)).toEqual(names);
    const one = JSON.parse((await run('table', 'list', '--json', '--limit', '5', '--after', names[0] as string)).out) as { tables: { name: string }[]; next: string };
    expect(one.tables.map((t) => t.name)).toEqual(names.slice(1, 6));
    expect(one.next).toBe(names[5]);
    const text = await run('table', 'list', '--limit', '2');
    expect(text.out.trim().split('\n')).toHaveLength(3);
    expect(text.err).toBe(`more: run again with --after ${names[1]}\n`);
  });

  it('partition describe lists every file, or one page of them', async () => {
    const all = JSON.parse((await run('partition', 'describe', 't_00000', 'ds=1', '--json')).out) as { fileList: unknown[]; filesNext: string | null };
    expect(all.fileList).toHaveLength(FILES);
    expect(all.filesNext).toBeNull();
    const page = JSON.parse((await run('partition', 'describe', 't_00000', 'ds=1', '--json', '--limit', '10', '--after', '1494')).out) as { fileList: { fileId: string }[]; filesNext: string | null };
    expect(page.fileList.map((f) => f.fileId)).toEqual(['f1495', 'f1496', 'f1497', 'f1498', 'f1499']);
    expect(page.filesNext).toBeNull();
  });

  it('node list and gc status', async () => {
    expect((JSON.parse((await run('node', 'list', '--json')).out) as unknown[]).length).toBe(5);
    const gc = JSON.parse((await run('gc', 'status', '--json', '--limit', '3')).out) as { records: number; blocks: unknown[]; next: string };
    expect(gc).toMatchObject({ records: 30, next: 'b002' });
    expect(gc.blocks).toHaveLength(3);
    expect((JSON.parse((await run('gc', 'status', '--json', '--all')).out) as { blocks: unknown[] }).blocks).toHaveLength(30);
    const text = await run('gc', 'status');
    expect(text.out).toMatch(/30 records queued, 30 chunks to delete/);
  });
});
