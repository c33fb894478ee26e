/**
 * Paged scan plans (metadata/planner.ts, metadata/scan-cursor.ts): every way of cutting a plan
 * into pages gives back exactly the one-page plan, no page is empty or over its weight, a page
 * lists exactly the blocks its stripes use, and a cursor that is not this scan's current position
 * is refused with a 400 saying why.
 */
import { describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../../erasure/index.js';
import { type LoadedFile, type PlanSources, planScan } from '../../../metadata/planner.js';
import type { BlockRecord, FileWithStripes, PartitionRecord, TableRecord } from '../../../metadata/records.js';
import { PieceShelf } from '../../helpers/piece-shelf.js';
import { decodeScanCursor, encodeScanCursor } from '../../../metadata/scan-cursor.js';
import { alterTable, newTableRecord } from '../../../metadata/schema.js';
import {
  GranaryError,
  NO_BLOCK,
  SCAN_PAGE_ENTRIES_MAX,
  type ScanPlan,
  type ScanRequest,
  decodeStreamEntry,
  encodeStreamEntry,
  stripeWeightEntries,
} from '../../../protocol/index.js';

const NOW = 1_700_000_000_000;
const COLUMNS = ['a', 'b', 'c'] as const;

interface FileSpec {
  readonly stripes: number;
  /** Columns the file holds (a file written before a column was added lacks it). */
  readonly columns?: readonly string[];
}

/** Partition spec -> its files in commit order. */
type Layout = Readonly<Record<string, readonly FileSpec[]>>;

/**
 * Stripe g (counted over the whole table in plan order) has a = g and b = g % 2 in its stats, so
 * `a` predicates prune a prefix or suffix and `b = 0` every other stripe.
 */
const LAYOUT: Layout = {
  'ds=2026-01-01': [{ stripes: 3 }, { stripes: 2 }],
  'ds=2026-01-02': [{ stripes: 4 }],
  'ds=2026-01-03': [{ stripes: 1, columns: ['a', 'b'] }, { stripes: 2 }],
};

function makeTable(): TableRecord {
  return newTableRecord({ name: 'paged', columns: COLUMNS.map((name) => ({ name, type: 'float' as const })), partitionBy: ['ds'], ec: '2+1' }, NOW);
}

function makeFile(table: TableRecord, partition: string, fileIndex: number, spec: FileSpec, firstGlobal: number, blocks: Map<string, BlockRecord>): FileWithStripes {
  const names = spec.columns ?? COLUMNS;
  const cids = names.map((name) => (table.columns.find((column) => column.name === name) as { cid: number }).cid);
  const fileId = `f-${partition}-${fileIndex}`;
  // Two blocks per file, stripes alternating between them: a page boundary splits a file's blocks.
  const blockIds = [`${fileId}-b0`, `${fileId}-b1`];
  for (const blockId of blockIds) {
    blocks.set(blockId, {
      blockId,
      tableId: table.id,
      sessionId: 's',
      dataShards: 2,
      parityShards: 1,
      codec: 'rs',
      nodes: ['n0', 'n1', 'n2'],
      state: 'committed',
      blockBytes: 1 << 20,
      shardBytes: 1 << 19,
      createdAt: NOW,
    });
  }
  const stripes = Array.from({ length: spec.stripes }, (_, s) => {
    const global = firstGlobal + s;
    const streams = new Uint8Array(names.length * 32);
    names.forEach((_, c) => {
      encodeStreamEntry(streams, c, { blockRef: s % 2, offset: (s * names.length + c) * 100, length: 100, checksum: BigInt(global * 10 + c), encoding: 1, nulls: 0 });
    });
    const stats = new Float64Array(names.map((name) => (name === 'a' ? [global, global] : name === 'b' ? [global % 2, global % 2] : [Number.NaN, Number.NaN])).flat());
    return { rows: 10 + global, streams, stats: new Uint8Array(stats.buffer) };
  });
  return {
    fileId,
    tableId: table.id,
    partition,
    sessionId: 's',
    committedAt: NOW,
    sequence: fileIndex,
    rows: stripes.reduce((sum, stripe) => sum + stripe.rows, 0),
    bytes: 0,
    columnCids: cids,
    blockIds,
    stripes,
  };
}

interface Catalog {
  table: TableRecord;
  /** Where the files' manifest pieces are: two stripes a piece, so pages cross piece boundaries. */
  readonly shelf: PieceShelf;
  readonly files: Map<string, LoadedFile[]>;
  readonly blocks: Map<string, BlockRecord>;
  readonly sources: () => PlanSources;
}

function makeCatalog(layout: Layout = LAYOUT, table: TableRecord = makeTable()): Catalog {
  const blocks = new Map<string, BlockRecord>();
  const files = new Map<string, LoadedFile[]>();
  const shelf = new PieceShelf(2 * (4 + 3 * 48) + 12);
  let global = 0;
  for (const [partition, specs] of Object.entries(layout)) {
    files.set(
      partition,
      specs.map((spec, f) => {
        const file = makeFile(table, partition, f, spec, global, blocks);
        global += spec.stripes;
        return shelf.add(file);
      }),
    );
  }
  const catalog: Catalog = {
    table,
    shelf,
    files,
    blocks,
    sources: () => ({
      table: catalog.table,
      partitions: [...files.keys()].map(
        (spec): PartitionRecord => ({ tableId: table.id, spec, values: { ds: spec.slice(3) }, createdAt: NOW, files: 0, stripes: 0, rows: 0, bytes: 0 }),
      ),
      files: (partition) => files.get(partition) ?? [],
      block: (blockId) => blocks.get(blockId),
      node: (nodeId) => ({ url: `http://${nodeId}`, state: 'alive' }),
      piece: shelf.piece,
    }),
  };
  return catalog;
}

/** A stripe as a reader sees it, with block refs resolved through its own page's blocks. */
function resolved(page: ScanPlan): unknown[] {
  return page.stripes.map((stripe) => ({
    partition: stripe.partition,
    fileId: stripe.fileId,
    stripe: stripe.stripe,
    rows: stripe.rows,
    streams: page.columns.map((_, c) => {
      const entry = decodeStreamEntry(stripe.streams, c);
      return { ...entry, block: entry.blockRef === NO_BLOCK ? 'none' : page.blocks[entry.blockRef]?.blockId, blockRef: undefined };
    }),
  }));
}

async function allPages(sources: PlanSources, request: ScanRequest, limit: number): Promise<ScanPlan[]> {
  const pages: ScanPlan[] = [];
  let after: string | undefined;
  do {
    const page = (await planScan(sources, request, { limit, ...(after === undefined ? {} : { after }) })).plan;
    pages.push(page);
    after = page.next;
    // A loop that cannot end is a failure, not a hang.
    expect(pages.length).toBeLessThanOrEqual(1000);
  } while (after !== undefined);
  return pages;
}

async function cursorError(run: () => Promise<unknown>): Promise<{ cursor: unknown; message: string }> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    expect((error as GranaryError).code).toBe('GRN_BAD_REQUEST');
    expect((error as GranaryError).statusCode).toBe(400);
    return { cursor: (error as GranaryError).details?.cursor, message: (error as Error).message };
  }
  throw new Error('expected the cursor to be refused');
}

const weight3 = stripeWeightEntries(3);

describe('paged scan plans', () => {
  const catalog = makeCatalog();
  const sources = catalog.sources();

  it('numbers stripes within their partition across files, in one page when the limit allows', async () => {
    const whole = (await planScan(sources, {})).plan;
    expect(whole.next).toBeUndefined();
    expect(whole.stripes.map((s) => `${s.partition}#${s.stripe}`)).toEqual([
      'ds=2026-01-01#0', 'ds=2026-01-01#1', 'ds=2026-01-01#2', 'ds=2026-01-01#3', 'ds=2026-01-01#4',
      'ds=2026-01-02#0', 'ds=2026-01-02#1', 'ds=2026-01-02#2', 'ds=2026-01-02#3',
      'ds=2026-01-03#0', 'ds=2026-01-03#1', 'ds=2026-01-03#2',
    ]);
    // The file that predates column c reads it as all null.
    expect(decodeStreamEntry((whole.stripes[9] as { streams: Uint8Array }).streams, 2)).toMatchObject({ blockRef: NO_BLOCK, nulls: 19 });
  });

  const cases: { name: string; request: ScanRequest; limit: number; pages: number }[] = [
    { name: 'one stripe per page: boundaries inside files, between files, between partitions', request: {}, limit: weight3, pages: 12 },
    { name: 'a limit one entry short of two stripes still gives one per page', request: {}, limit: 2 * weight3 - 1, pages: 12 },
    { name: 'two stripes per page: a boundary inside the 3-stripe file and one across partitions', request: {}, limit: 2 * weight3, pages: 6 },
    { name: 'five stripes per page: page 1 is a whole partition, page 2 straddles two', request: {}, limit: 5 * weight3, pages: 3 },
    { name: 'a limit below one stripe still moves on, one stripe a page', request: {}, limit: 1, pages: 12 },
    { name: 'column subset in another order', request: { columns: ['c', 'a'] }, limit: 3 * stripeWeightEntries(2), pages: 4 },
    { name: 'no columns (what splits ask): pages bounded by stripe headers', request: { columns: [] }, limit: 4 * stripeWeightEntries(0), pages: 3 },
    { name: 'pruning every other stripe, the last one pruned: no empty trailing page', request: { where: [{ column: 'b', op: '=', value: 0 }] }, limit: weight3, pages: 6 },
    { name: 'pruning a prefix that spans a partition', request: { where: [{ column: 'a', op: '>=', value: 6 }] }, limit: 2 * weight3, pages: 3 },
    { name: 'partition filter and stripe range', request: { partitions: { ds: { in: ['2026-01-01', '2026-01-02'] } }, stripes: { from: 1, to: 4 } }, limit: 2 * weight3, pages: 3 },
    { name: 'stripe range across a file boundary with pruning', request: { stripes: { from: 2, to: 5 }, where: [{ column: 'b', op: '=', value: 1 }] }, limit: weight3, pages: 3 },
    { name: 'everything pruned: one empty page and no cursor', request: { where: [{ column: 'a', op: '>', value: 1000 }] }, limit: weight3, pages: 1 },
    { name: 'the default limit holds the whole small table', request: {}, limit: SCAN_PAGE_ENTRIES_MAX, pages: 1 },
  ];

  for (const { name, request, limit, pages: expectedPages } of cases) {
    it(`pages give back the one-page plan: ${name}`, async () => {
      const whole = (await planScan(sources, request)).plan;
      const pages = await allPages(sources, request, limit);
      expect(pages.length).toBe(expectedPages);
      expect(pages.flatMap(resolved)).toEqual(resolved(whole));
      expect(pages.reduce((sum, page) => sum + page.stripesConsidered, 0)).toBe(whole.stripesConsidered);
      expect(pages.reduce((sum, page) => sum + page.stripesPruned, 0)).toBe(whole.stripesPruned);
      const stripeWeight = stripeWeightEntries(whole.columns.length);
      pages.forEach((page, p) => {
        expect(page.columns).toEqual(whole.columns);
        // Only the last page may lack a cursor, and only a lone first page may be empty.
        expect(page.next === undefined).toBe(p === pages.length - 1);
        if (pages.length > 1) expect(page.stripes.length).toBeGreaterThan(0);
        if (page.stripes.length > 1) expect(page.stripes.length * stripeWeight).toBeLessThanOrEqual(limit);
        // Exactly the blocks this page's stripes use, each once.
        const used = new Set<number>();
        for (const stripe of page.stripes) {
          for (let c = 0; c < page.columns.length; c++) {
            const ref = decodeStreamEntry(stripe.streams, c).blockRef;
            if (ref !== NO_BLOCK) used.add(ref);
          }
        }
        expect([...used].sort((x, y) => x - y)).toEqual(page.blocks.map((_, i) => i));
        expect(new Set(page.blocks.map((block) => block.blockId)).size).toBe(page.blocks.length);
      });
    });
  }

  it('a cursor survives appends: files committed after it are read at the end of their partition', async () => {
    const local = makeCatalog();
    const first = (await planScan(local.sources(), {}, { limit: 4 * weight3 })).plan;
    expect(first.stripes.map((s) => s.stripe)).toEqual([0, 1, 2, 3]);
    const appended = makeFile(local.table, 'ds=2026-01-01', 2, { stripes: 2 }, 100, local.blocks);
    (local.files.get('ds=2026-01-01') as LoadedFile[]).push(local.shelf.add(appended));
    const continued: ScanPlan[] = [];
    let after = first.next;
    while (after !== undefined) {
      const page = (await planScan(local.sources(), {}, { limit: 4 * weight3, after })).plan;
      continued.push(page);
      after = page.next;
    }
    const seen = [first, ...continued].flatMap((page) => page.stripes.map((s) => `${s.partition}#${s.stripe}`));
    expect(seen.filter((s) => s.startsWith('ds=2026-01-01'))).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `ds=2026-01-01#${n}`));
    expect(seen.length).toBe(14);
  });

  it('a cursor names the next kept stripe by partition, file and number', async () => {
    const first = (await planScan(sources, { columns: ['b'] }, { limit: weight3 })).plan;
    const cursor = decodeScanCursor(first.next as string);
    expect(cursor).toMatchObject({ tableId: catalog.table.id, schemaVersion: 1, partition: 'ds=2026-01-01', stripeInFile: 1, stripe: 1 });
  });

  describe('cursors that are not this scan\'s position are refused', () => {
    const request: ScanRequest = { columns: ['a', 'b'] };
    const limit = 2 * stripeWeightEntries(2);
    const firstPage = async (): Promise<ScanPlan> => (await planScan(sources, request, { limit })).plan;
    const third = async (): Promise<string> => {
      const second = (await planScan(sources, request, { limit, after: (await firstPage()).next as string })).plan;
      return second.next as string;
    };
    const forged = async (change: Partial<ReturnType<typeof decodeScanCursor>>): Promise<string> => encodeScanCursor({ ...decodeScanCursor(await third()), ...change });
    const tamperCases: { name: string; kind: string; run: () => Promise<unknown>; says: RegExp }[] = [
      { name: 'one character changed', kind: 'malformed', run: async () => planScan(sources, request, { limit, after: flipOne(await third()) }), says: /checksum|not <base64url>/ },
      { name: 'cut short', kind: 'malformed', run: async () => planScan(sources, request, { limit, after: (await third()).slice(0, -3) }), says: /not <base64url>/ },
      { name: 'not a cursor at all', kind: 'malformed', run: async () => planScan(sources, request, { limit, after: 'page-2' }), says: /not one this service issued/ },
      { name: 'too long', kind: 'malformed', run: async () => planScan(sources, request, { limit, after: `${'A'.repeat(5000)}.0123456789abcdef` }), says: /longer than/ },
      {
        name: 'checksum right, body not a cursor',
        kind: 'malformed',
        run: async () => planScan(sources, request, { limit, after: rewrap({ v: 1, t: 'x', q: 'y', p: 'z' }) }),
        says: /fields missing/,
      },
      { name: 'from a scan of other columns', kind: 'foreign', run: async () => planScan(sources, { columns: ['a'] }, { limit, after: await third() }), says: /other partitions, columns/ },
      { name: 'from a scan with another where', kind: 'foreign', run: async () => planScan(sources, { ...request, where: [{ column: 'a', op: '>', value: 0 }] }, { limit, after: await third() }), says: /other partitions, columns/ },
      { name: 'from another table', kind: 'foreign', run: async () => planScan(makeCatalog().sources(), request, { limit, after: await third() }), says: /another table/ },
      { name: 'naming a file that is not there', kind: 'stale', run: async () => planScan(sources, request, { limit, after: await forged({ fileId: 'f-gone' }) }), says: /file f-gone .* was removed/ },
      { name: 'naming a partition that is not there', kind: 'stale', run: async () => planScan(sources, request, { limit, after: await forged({ partition: 'ds=1999-01-01' }) }), says: /partition ds=1999-01-01 .* was dropped/ },
      { name: 'a stripe number that does not match the files', kind: 'stale', run: async () => planScan(sources, request, { limit, after: await forged({ stripe: 7 }) }), says: /files of partition .* changed/ },
      { name: 'a stripe past the end of its file', kind: 'stale', run: async () => planScan(sources, request, { limit, after: await forged({ stripeInFile: 9, stripe: 9 }) }), says: /files of partition .* changed/ },
    ];
    for (const { name, kind, run, says } of tamperCases) {
      it(`${kind}: ${name}`, async () => {
        const refused = await cursorError(run);
        expect(refused.cursor).toBe(kind);
        expect(refused.message).toMatch(says);
        expect(refused.message).toMatch(/start the scan again|send/);
      });
    }

    it('stale: the partition of the cursor was dropped', async () => {
      const local = makeCatalog();
      const page = (await planScan(local.sources(), request, { limit })).plan;
      local.files.delete('ds=2026-01-01');
      const refused = await cursorError(async () => planScan(local.sources(), request, { limit, after: page.next as string }));
      expect(refused).toMatchObject({ cursor: 'stale' });
      expect(refused.message).toMatch(/partition ds=2026-01-01 of paged was dropped/);
    });

    it('stale: a file before the cursor was removed, renumbering the stripes after it', async () => {
      const local = makeCatalog();
      const first = (await planScan(local.sources(), request, { limit: 3 * stripeWeightEntries(2) })).plan;
      expect(decodeScanCursor(first.next as string)).toMatchObject({ partition: 'ds=2026-01-01', stripeInFile: 0, stripe: 3 });
      (local.files.get('ds=2026-01-01') as LoadedFile[]).shift();
      const refused = await cursorError(async () => planScan(local.sources(), request, { limit: 3 * stripeWeightEntries(2), after: first.next as string }));
      expect(refused).toMatchObject({ cursor: 'stale' });
      expect(refused.message).toMatch(/stripe 3 moved/);
    });

    it('stale: the table\'s schema changed between pages', async () => {
      const local = makeCatalog();
      const first = (await planScan(local.sources(), {}, { limit: weight3 })).plan;
      local.table = alterTable(local.table, { addColumns: [{ name: 'd', type: 'float' }] });
      const refused = await cursorError(async () => planScan(local.sources(), {}, { limit: weight3, after: first.next as string }));
      expect(refused).toMatchObject({ cursor: 'stale' });
      expect(refused.message).toMatch(/version 1 -> 2/);
    });

    it('a page limit outside 1..SCAN_PAGE_ENTRIES_MAX is refused', async () => {
      for (const bad of [0, -1, 1.5, SCAN_PAGE_ENTRIES_MAX + 1]) {
        await expect(planScan(sources, request, { limit: bad })).rejects.toThrow(/page limit must be 1\.\./);
      }
    });
  });
});

function flipOne(cursor: string): string {
  const at = Math.floor(cursor.indexOf('.') / 2);
  const replacement = cursor[at] === 'A' ? 'B' : 'A';
  return `${cursor.slice(0, at)}${replacement}${cursor.slice(at + 1)}`;
}

/** A cursor-shaped string around an arbitrary body, with the checksum the service would compute. */
function rewrap(body: unknown): string {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  return `${bytes.toString('base64url')}.${checksumToHex(xxh64(bytes))}`;
}
