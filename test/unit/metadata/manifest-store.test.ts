/**
 * Manifest pieces in the catalog, through the API on a real LevelDB: a commit stores its pieces
 * and a small record, a data directory of the previous version (stripes inline in the file
 * record) is rewritten at load and plans the same, every drop deletes its pieces (finishing after
 * a crash), and a piece damaged in the store answers GRN_INTERNAL naming it instead of a plan.
 */
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type MetadataDb, del, put, readAll } from '../../../metadata/db.js';
import { decodePiece, pieceKey, stripesOf } from '../../../metadata/manifests/pieces.js';
import type { FileRecord, FileWithStripes } from '../../../metadata/records.js';
import type { BlockPlacement, ScanPlan } from '../../../protocol/index.js';
import { manifestFor } from '../../helpers/manifests.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const SCHEMA = {
  name: 'wide',
  columns: Array.from({ length: 200 }, (_, c) => ({ name: `f${c}`, type: 'float', featureId: c })),
  partitionBy: ['ds'],
  ec: '6+3',
};
const COLUMNS = SCHEMA.columns.map((column) => column.name);

let meta: MetadataApp;
beforeEach(async () => {
  meta = await makeMetadataApp({ manifestCacheBytes: 256 * 1024 });
  await registerNodes(meta.app, 12, 3);
  expect((await call('POST', '/v1/tables', SCHEMA)).status).toBe(201);
});
afterEach(async () => {
  await meta.close();
});

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: response.statusCode, body: (String(response.headers['content-type'] ?? '').includes('msgpack') ? unpack(response.rawPayload) : response.json()) as T };
}

/** 200 columns x 60 stripes: about 600 KB of stripes, so three pieces. */
async function writePartition(partition: string, stripes = 60): Promise<string> {
  const opened = await call<{ sessionId: string }>('POST', '/v1/tables/wide/sessions', { partition });
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${opened.body.sessionId}/blocks`);
  const manifest = manifestFor(block.body, COLUMNS, stripes, 100, (stripe, column) => (column === 'f0' ? { min: stripe, max: stripe + 1 } : undefined));
  const commit = await call<{ fileIds: string[] }>('POST', `/v1/sessions/${opened.body.sessionId}/commit`, manifest);
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
  return commit.body.fileIds[0] as string;
}

/** Every page of a scan, with what does not depend on the instant (capabilities) left out. */
async function scanAll(body: object = {}): Promise<unknown[]> {
  const pages: unknown[] = [];
  let after: string | undefined;
  do {
    const response = await call<ScanPlan & { code?: string }>('POST', `/v1/tables/wide/scan?limit=20000${after === undefined ? '' : `&after=${after}`}`, body);
    expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
    const { blocks, next, ...rest } = response.body;
    // Streams as hex: deep equality of many typed arrays is slow.
    const stripes = rest.stripes.map((stripe) => ({ ...stripe, streams: Buffer.from(stripe.streams).toString('hex') }));
    pages.push({ ...rest, stripes, blocks: blocks.map(({ capability: _capability, ...block }) => block) });
    after = next;
  } while (after !== undefined);
  return pages;
}

async function keys(db: MetadataDb, space: 'manifests' | 'manifestDrops' | 'files'): Promise<string[]> {
  const found: string[] = [];
  for await (const [key] of db[space].entries()) found.push(key);
  return found;
}

const db = (): MetadataDb => meta.service.state.db;

describe('manifest pieces in the catalog', () => {
  it('a commit stores its stripes as checksummed pieces and keeps only the small record', async () => {
    const fileId = await writePartition('ds=2026-11-25');
    const [record] = (await readAll(db().files)) as (FileRecord & { stripes?: unknown })[];
    expect(record).toMatchObject({ fileId, stripeCount: 60 });
    expect(record?.stripes).toBeUndefined();
    expect(record?.manifest.pieceBytes.length).toBe(3);
    expect(await keys(db(), 'manifests')).toEqual([0, 1, 2].map((piece) => pieceKey(fileId, piece)));
    const plan = await scanAll({ columns: ['f0', 'f199'] });
    expect(plan.flatMap((page) => (page as { stripes: unknown[] }).stripes)).toHaveLength(60);
    // A 256 KiB cache holds one of these ~240 KB pieces: the second scan reads them all again.
    await scanAll({ columns: ['f0'] });
    const metrics = (await meta.app.inject({ url: '/metrics' })).payload;
    const gauge = (kind: string) => Number(new RegExp(`^granary_manifest_cache\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect({ misses: gauge('misses'), hits: gauge('hits'), pieces: gauge('pieces'), evictions: gauge('evictions'), max: gauge('bytes_max') }).toEqual({ misses: 6, hits: 0, pieces: 1, evictions: 5, max: 262144 });
    expect(gauge('bytes')).toBeLessThanOrEqual(262144);
  });

  it('rewrites a file record of the previous version (stripes inline) at load, and plans as before', async () => {
    await writePartition('ds=2026-11-24', 7);
    const fileId = await writePartition('ds=2026-11-25');
    const before = await scanAll();
    const beforePruned = await scanAll({ columns: ['f3'], where: [{ column: 'f0', op: '>=', value: 50 }] });
    // Make the data directory what the previous version wrote: the stripes back in the record, no pieces.
    const key = (await keys(db(), 'files')).find((candidate) => candidate.endsWith(fileId)) as string;
    const record = (await db().files.get(key)) as FileRecord;
    const stripes = [];
    for (let piece = 0; piece < record.manifest.pieceBytes.length; piece++) {
      stripes.push(...stripesOf(decodePiece(record, piece, await db().manifests.get(pieceKey(fileId, piece)))));
    }
    const { stripeCount: _count, manifest: _manifest, bounds: _bounds, ...header } = record;
    const legacy: FileWithStripes = { ...header, stripes };
    await db().write([put(db().files, key, legacy as unknown as FileRecord), ...[0, 1, 2].map((piece) => del(db().manifests, pieceKey(fileId, piece)))]);
    expect(await keys(db(), 'manifests')).toHaveLength(1);

    meta = await meta.reopen();
    const migrated = (await db().files.get(key)) as FileRecord & { stripes?: unknown };
    expect(migrated.stripes).toBeUndefined();
    expect(migrated).toMatchObject({ fileId, stripeCount: 60, manifest: record.manifest });
    expect(Buffer.from(migrated.bounds).equals(Buffer.from(record.bounds))).toBe(true);
    expect(await keys(db(), 'manifests')).toHaveLength(4);
    expect(await scanAll()).toEqual(before);
    expect(await scanAll({ columns: ['f3'], where: [{ column: 'f0', op: '>=', value: 50 }] })).toEqual(beforePruned);
    // A second start finds nothing left to rewrite.
    meta = await meta.reopen();
    expect(await scanAll()).toEqual(before);
  });

  it('a rewrite a crash interrupted (marker and some pieces written, old record left) is done again at the next start', async () => {
    const fileId = await writePartition('ds=2026-11-25');
    const before = await scanAll();
    const key = (await keys(db(), 'files'))[0] as string;
    const record = (await db().files.get(key)) as FileRecord;
    const stripes = [];
    for (let piece = 0; piece < 3; piece++) stripes.push(...stripesOf(decodePiece(record, piece, await db().manifests.get(pieceKey(fileId, piece)))));
    const { stripeCount: _count, manifest: _manifest, bounds: _bounds, ...header } = record;
    // The old record back, the marker of its rewrite, and the first piece written before the crash; the others never were.
    await db().write([
      put(db().files, key, { ...header, stripes } as unknown as FileRecord),
      put(db().manifestDrops, fileId, { pieces: 3, droppedAt: Date.now() }),
      del(db().manifests, pieceKey(fileId, 1)),
      del(db().manifests, pieceKey(fileId, 2)),
    ]);
    meta = await meta.reopen();
    expect(await keys(db(), 'manifestDrops')).toEqual([]);
    expect(await keys(db(), 'manifests')).toEqual([0, 1, 2].map((piece) => pieceKey(fileId, piece)));
    expect(((await db().files.get(key)) as FileRecord).manifest).toEqual(record.manifest);
    expect(await scanAll()).toEqual(before);
  });

  it('every drop deletes the pieces of the files it removes', async () => {
    const kept = await writePartition('ds=2026-11-23');
    const first = await writePartition('ds=2026-11-24');
    await writePartition('ds=2026-11-24');
    await writePartition('ds=2026-11-25');
    expect(await keys(db(), 'manifests')).toHaveLength(12);
    expect((await call('DELETE', `/v1/tables/wide/partitions/ds=2026-11-24/files/${first}`)).status).toBe(200);
    expect(await keys(db(), 'manifests')).toHaveLength(9);
    expect((await call('DELETE', '/v1/tables/wide/partitions/ds=2026-11-24')).status).toBe(200);
    expect(await keys(db(), 'manifests')).toHaveLength(6);
    expect((await call('DELETE', '/v1/tables/wide/partitions/ds=2026-11-25')).status).toBe(200);
    expect(await keys(db(), 'manifests')).toEqual([0, 1, 2].map((piece) => pieceKey(kept, piece)));
    expect((await call('DELETE', '/v1/tables/wide')).status).toBe(200);
    expect(await keys(db(), 'manifests')).toEqual([]);
    expect(await keys(db(), 'manifestDrops')).toEqual([]);
  });

  it('a drop a crash interrupted (marker written, pieces left) finishes at the next start', async () => {
    const fileId = await writePartition('ds=2026-11-25');
    // What the drop's own batch leaves if the process dies right after it.
    const key = (await keys(db(), 'files'))[0] as string;
    await db().write([del(db().files, key), del(db().partitions, key.slice(0, key.lastIndexOf('/'))), put(db().manifestDrops, fileId, { pieces: 3, droppedAt: Date.now() })]);
    meta = await meta.reopen();
    expect(await keys(db(), 'manifests')).toEqual([]);
    expect(await keys(db(), 'manifestDrops')).toEqual([]);
  });

  it('a piece damaged in the store answers GRN_INTERNAL naming the file and piece, never a plan', async () => {
    const fileId = await writePartition('ds=2026-11-25');
    const stored = await db().manifests.get(pieceKey(fileId, 1));
    const body = Uint8Array.from(stored?.body ?? []);
    body[500] = (body[500] as number) ^ 0x10;
    await db().write([put(db().manifests, pieceKey(fileId, 1), { format: 1, body })]);
    meta = await meta.reopen();
    const response = await call<{ code: string; message: string }>('POST', '/v1/tables/wide/scan?format=json', { columns: ['f0'] });
    expect(response.status).toBe(500);
    expect(response.body.code).toBe('GRN_INTERNAL');
    expect(response.body.message).toMatch(new RegExp(`manifest piece 1 of file ${fileId}`));
    // A page that needs only the sound piece is still planned.
    const first = await call<ScanPlan>('POST', '/v1/tables/wide/scan?format=json', { columns: ['f0'], stripes: { from: 0, to: 10 } });
    expect(first.status).toBe(200);
    expect(first.body.stripes).toHaveLength(10);
  });
});
