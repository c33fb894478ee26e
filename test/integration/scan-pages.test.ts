/**
 * Paged scan plans end to end, against a real metadata service and three storage nodes: a scan,
 * a filtered scan and splits read in pages of two or three stripes give exactly what one page
 * gives; `?format=json` pages follow `next` the same way, and a cursor that was tampered with or
 * belongs to another request is answered 400.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, type ScanOptions, recordBatchToRows } from '../../client/index.js';
import { planSplits } from '../../client/reader/splits.js';
import { type ScanPlan, stripeWeightEntries } from '../../protocol/index.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';

const TABLE = 'paged';
const COLUMNS = [
  { name: 'label', type: 'float' },
  { name: 'user_id', type: 'int64' },
  { name: 'ids', type: 'id_list' },
] as const;
const STRIPE_ROWS = 50;
/** Partition -> rows of each commit (one file each): 8, 3+5 and 6 stripes. */
const WRITES: Readonly<Record<string, readonly number[]>> = {
  'ds=2026-11-01': [400],
  'ds=2026-11-02': [150, 250],
  'ds=2026-11-03': [300],
};
/** Pages of two stripes of every column. */
const SMALL_PAGE_ENTRIES = 2 * stripeWeightEntries(COLUMNS.length);

let cluster: Cluster;
let client: GranaryClient;

function rowsFor(partition: string, count: number, offset: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    label: (offset + i) % 3,
    user_id: `${partition.length * 1_000_000 + offset + i}`,
    ids: Array.from({ length: (offset + i) % 4 }, (_, j) => offset + i + j),
  }));
}

async function readAll(options: ScanOptions): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan(TABLE, options)) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function scanJson(body: object, query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await request(`${cluster.metadata.url}/v1/tables/${TABLE}/scan?format=json${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cluster.adminToken}` },
    body: JSON.stringify(body),
  });
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, domains: 3 });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: TABLE, columns: COLUMNS, ec: '2+1', stripeRows: STRIPE_ROWS, blockBytes: 1024 * 1024 });
  for (const [partition, commits] of Object.entries(WRITES)) {
    let offset = 0;
    for (const count of commits) {
      const writer = await client.openWriter(TABLE, partition);
      await writer.write(rowsFor(partition, count, offset));
      await writer.commit();
      offset += count;
    }
  }
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

describe('paged scan plans on a real cluster', () => {
  it('the table plans as one page by default and as many small pages when asked', async () => {
    const one: ScanPlan[] = [];
    for await (const page of client.metadata.planPages(TABLE, {})) one.push(page);
    expect(one.length).toBe(1);
    expect(one[0]?.stripes.length).toBe(8 + 8 + 6);
    const small: ScanPlan[] = [];
    for await (const page of client.metadata.planPages(TABLE, {}, { limit: SMALL_PAGE_ENTRIES })) small.push(page);
    expect(small.length).toBe(11);
    expect(small.every((page) => page.stripes.length === 2)).toBe(true);
    expect(small.flatMap((page) => page.stripes.map((s) => `${s.partition}#${s.stripe}`))).toEqual(one[0]?.stripes.map((s) => `${s.partition}#${s.stripe}`));
  });

  const cases: { name: string; options: ScanOptions }[] = [
    { name: 'every column of every stripe', options: {} },
    { name: 'a column subset with a row filter', options: { columns: ['ids', 'label'], where: [{ column: 'label', op: '=', value: 1 }] } },
    { name: 'two partitions, a stripe range across the file boundary', options: { partitions: { ds: { in: ['2026-11-02', '2026-11-03'] } }, stripes: { from: 2, to: 5 } } },
  ];
  for (const { name, options } of cases) {
    it(`reads exactly the same rows in pages of two stripes: ${name}`, async () => {
      const whole = await readAll(options);
      expect(whole.length).toBeGreaterThan(0);
      const paged = await readAll({ ...options, planPageEntries: SMALL_PAGE_ENTRIES, groupBytes: 1 });
      expect(paged).toEqual(whole);
    });
  }

  it('cuts the same splits from small pages, and the splits read every row once', async () => {
    const whole = await planSplits(client.metadata, TABLE, {}, 3);
    const paged = await planSplits(client.metadata, TABLE, { planPageEntries: stripeWeightEntries(0) }, 3);
    expect(paged).toEqual(whole);
    expect(whole.length).toBe(3 + 3 + 2);
    const rows: Record<string, unknown>[] = [];
    for (const split of paged) rows.push(...(await readAll({ ...split, planPageEntries: SMALL_PAGE_ENTRIES })));
    expect(rows).toEqual(await readAll({}));
  });

  it('answers ?format=json in pages that follow next, and refuses a tampered or foreign cursor with a 400', async () => {
    const body = { columns: ['label'] };
    const one = await scanJson(body, '');
    expect(one.status).toBe(200);
    expect(one.body.next).toBeUndefined();
    const stripes: unknown[] = [];
    let query = `&limit=${3 * stripeWeightEntries(1)}`;
    let pages = 0;
    for (;;) {
      const page = await scanJson(body, query);
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      pages++;
      stripes.push(...(page.body.stripes as unknown[]));
      if (page.body.next === undefined) break;
      query = `&limit=${3 * stripeWeightEntries(1)}&after=${encodeURIComponent(page.body.next as string)}`;
      // A page that is not the last holds a full page of stripes.
      expect((page.body.stripes as unknown[]).length).toBe(3);
    }
    expect(pages).toBe(8);
    const withoutBlocks = (list: unknown[]) => list.map((s) => ({ ...(s as object), streams: (s as { streams: { blockRef: number }[] }).streams.map((e) => ({ ...e, blockRef: 0 })) }));
    expect(withoutBlocks(stripes)).toEqual(withoutBlocks(one.body.stripes as unknown[]));

    const first = await scanJson(body, `&limit=${stripeWeightEntries(1)}`);
    const next = first.body.next as string;
    const tampered = await scanJson(body, `&after=${encodeURIComponent(`${next.slice(0, 5)}${next[5] === 'A' ? 'B' : 'A'}${next.slice(6)}`)}`);
    expect(tampered.status).toBe(400);
    expect(tampered.body).toMatchObject({ code: 'GRN_BAD_REQUEST', details: { cursor: 'malformed' } });
    const foreign = await scanJson({ columns: ['ids'] }, `&after=${encodeURIComponent(next)}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toMatchObject({ code: 'GRN_BAD_REQUEST', details: { cursor: 'foreign' } });
    expect(String(foreign.body.message)).toMatch(/start the scan again/);
    const tooBig = await scanJson(body, '&limit=1000000000');
    expect(tooBig.status).toBe(400);
  });
});
