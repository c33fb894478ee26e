/**
 * Manifests out of RAM (metadata/manifests/): pieces are cut by bytes and round-trip exactly, a
 * damaged piece is refused naming its file and piece, the cache stays within its bytes and shares
 * concurrent loads, and the planner that loads pieces on demand through a tiny cache answers
 * exactly what the planner that held every stripe in memory answered, page by page.
 */
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetadataDb, type Records } from '../../../metadata/db.js';
import { ManifestCache } from '../../../metadata/manifests/cache.js';
import { PIECE_BYTES_TARGET, decodePiece, pieceKey, pieceOperations, splitFile, stripesOf, stripesPerPiece } from '../../../metadata/manifests/pieces.js';
import { PlanGate } from '../../../metadata/plan-gate.js';
import { type LoadedFile, type PlanSources, loadFile, planScan } from '../../../metadata/planner.js';
import type { BlockRecord, FileWithStripes, ManifestPieceRecord, PartitionRecord, StripeRecord, TableRecord } from '../../../metadata/records.js';
import { newTableRecord } from '../../../metadata/schema.js';
import { GranaryError, type ScanPlan, type ScanRequest, encodeStreamEntry, stripeWeightEntries } from '../../../protocol/index.js';
import { type LoadedFile as ReferenceFile, type PlanSources as ReferenceSources, loadFile as referenceLoad, planScan as referencePlan } from '../../helpers/reference-planner.js';
import { seededRandom } from '../../helpers/seeded-random.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

const NOW = 1_700_000_000_000;
/** etcd refuses requests over 1.5 MiB; a piece aims far below (about 256 KiB). */
const PIECE_VALUE_BYTES_MAX = 256 * 1024;

function table(columns: number): TableRecord {
  return newTableRecord({ name: 't', columns: Array.from({ length: columns }, (_, c) => ({ name: `c${c}`, type: 'double' as const })), partitionBy: ['ds'], ec: '2+1' }, NOW);
}

interface FileShape {
  readonly fileId: string;
  readonly partition: string;
  readonly sequence: number;
  readonly cids: readonly number[];
  readonly stripes: number;
  readonly blocks: number;
  /** Share of streams without min/max stats. */
  readonly statsMissing?: number;
}

/** A file of random streams and stats: some columns without stats, some stripes all null. */
function randomFile(random: () => number, t: TableRecord, shape: FileShape): FileWithStripes {
  const columns = shape.cids.length;
  const stripes: StripeRecord[] = Array.from({ length: shape.stripes }, (_, s) => {
    const rows = 1 + Math.floor(random() * 1000);
    const streams = new Uint8Array(columns * 32);
    const stats = new Float64Array(2 * columns);
    for (let c = 0; c < columns; c++) {
      const allNull = random() < 0.05;
      encodeStreamEntry(streams, c, {
        blockRef: Math.floor(random() * shape.blocks),
        offset: Math.floor(random() * 1e9),
        length: Math.floor(random() * 1e6),
        checksum: BigInt(Math.floor(random() * 2 ** 52)) * 4099n,
        encoding: Math.floor(random() * 4),
        nulls: allNull ? rows : Math.floor(random() * rows),
      });
      const low = Math.floor(random() * 100) - 50;
      const noStats = random() < (shape.statsMissing ?? 0.03);
      stats[2 * c] = noStats ? Number.NaN : low;
      stats[2 * c + 1] = noStats ? Number.NaN : low + Math.floor(random() * 30);
    }
    return { rows, streams, stats: new Uint8Array(stats.buffer) };
  });
  return {
    fileId: shape.fileId,
    tableId: t.id,
    partition: shape.partition,
    sessionId: `s-${shape.fileId}`,
    committedAt: NOW,
    sequence: shape.sequence,
    rows: stripes.reduce((sum, stripe) => sum + stripe.rows, 0),
    bytes: 0,
    columnCids: shape.cids,
    blockIds: Array.from({ length: shape.blocks }, (_, b) => `${shape.fileId}-b${b}`),
    stripes,
  };
}

function simpleFile(columns: number, stripes: number, fileId = 'f1'): FileWithStripes {
  const t = table(columns);
  return randomFile(seededRandom(columns * 7919 + stripes), t, {
    fileId,
    partition: 'ds=2026-01-01',
    sequence: 0,
    cids: t.columns.map((column) => column.cid),
    stripes,
    blocks: 3,
  });
}

/** A plan as text, packed streams in hex. */
function comparable(plan: ScanPlan): string {
  return JSON.stringify({ ...plan, stripes: plan.stripes.map((stripe) => ({ ...stripe, streams: Buffer.from(stripe.streams).toString('hex') })) });
}

function refusal(run: () => unknown): GranaryError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    return error as GranaryError;
  }
  throw new Error('expected a refusal');
}

describe('manifest pieces', () => {
  it('are cut by bytes: every packed piece stays under 256 KiB, however wide the file', () => {
    for (const [columns, stripes] of [[1, 3000], [3, 700], [100, 120], [500, 37], [2000, 9], [5000, 3]] as const) {
      const file = simpleFile(columns, stripes);
      const split = splitFile(file);
      const perPiece = stripesPerPiece(columns);
      expect(split.record.manifest.stripesPerPiece).toBe(perPiece);
      expect(split.pieces.length).toBe(Math.ceil(stripes / perPiece));
      for (const piece of split.pieces) {
        expect(piece.body.length).toBeLessThanOrEqual(PIECE_BYTES_TARGET);
        expect(pack(piece).length).toBeLessThan(PIECE_VALUE_BYTES_MAX);
      }
      // The small record carries no per-stripe data: its size depends on columns, not stripes.
      expect(pack(split.record).length).toBeLessThan(400 + columns * 30 + split.pieces.length * 30);
    }
    // One stripe wider than the target is a piece of its own (a stripe is never split).
    const wide = splitFile(simpleFile(10_000, 2));
    expect(wide.record.manifest.stripesPerPiece).toBe(1);
    expect(wide.pieces.map((piece) => piece.body.length)).toEqual([480_016, 480_016]);
  });

  it('round-trip every stripe exactly, and describe themselves in the record', () => {
    const file = simpleFile(40, 333);
    const split = splitFile(file, 20_000);
    expect(split.pieces.length).toBeGreaterThan(5);
    const back = split.pieces.flatMap((piece, index) => stripesOf(decodePiece(split.record, index, piece)));
    const text = (stripes: readonly StripeRecord[]) => stripes.map((stripe) => `${stripe.rows}:${Buffer.from(stripe.streams).toString('hex')}:${Buffer.from(stripe.stats).toString('hex')}`);
    expect(text(back)).toEqual(text(file.stripes));
    expect(split.record.stripeCount).toBe(333);
    expect(split.record.manifest.pieceBytes).toEqual(split.pieces.map((piece) => piece.body.length));
    const { stripes: _stripes, ...header } = file;
    expect(split.record).toMatchObject(header);
    // File bounds enclose every stripe's stats; a column with a stripe without stats has none.
    const bounds = loadFile(split.record).bounds;
    for (let c = 0; c < 40; c++) {
      const all = file.stripes.map((stripe) => new Float64Array(stripe.stats.slice().buffer));
      if (all.some((stats) => Number.isNaN(stats[2 * c] as number))) {
        expect(bounds[2 * c]).toBeNaN();
      } else {
        expect(bounds[2 * c]).toBe(Math.min(...all.map((stats) => stats[2 * c] as number)));
        expect(bounds[2 * c + 1]).toBe(Math.max(...all.map((stats) => stats[2 * c + 1] as number)));
      }
    }
  });

  it('a damaged, short, foreign or missing piece is GRN_INTERNAL naming the file and the piece, never a plan', () => {
    const split = splitFile(simpleFile(20, 50), 4_000);
    const good = split.pieces[3] as ManifestPieceRecord;
    const flipped = good.body.slice();
    flipped[100] = (flipped[100] as number) ^ 1;
    const cases: [string, ManifestPieceRecord | undefined, RegExp][] = [
      ['one bit flipped', { format: 1, body: flipped }, /xxh64 [0-9a-f]{16}, the file record says/],
      ['cut short', { format: 1, body: good.body.subarray(0, good.body.length - 8) }, /bytes, the file record says/],
      ['another piece in its place', split.pieces[2], /xxh64|stripes of/],
      ['missing', undefined, /it is missing/],
      ['an unknown format', { format: 9, body: good.body }, /format 9/],
    ];
    for (const [name, stored, says] of cases) {
      const error = refusal(() => decodePiece(split.record, 3, stored));
      expect(error.code, name).toBe('GRN_INTERNAL');
      expect(error.message, name).toMatch(/manifest piece 3 of file f1/);
      expect(error.message, name).toMatch(says);
      expect(error.details).toEqual({ fileId: 'f1', piece: 3 });
    }
    expect(decodePiece(split.record, 3, good).stripes).toBe(split.record.manifest.stripesPerPiece);
  });
});

/** Records of pieces held in a Map, counting reads; `gate` holds reads until opened. */
function fakeManifests(split: ReturnType<typeof splitFile>[]) {
  const stored = new Map<string, ManifestPieceRecord>();
  for (const file of split) file.pieces.forEach((piece, index) => stored.set(pieceKey(file.record.fileId, index), piece));
  let open = (): void => {};
  const gate = { held: false, opened: Promise.resolve() };
  const counts = { reads: 0 };
  const records = {
    async get(key: string) {
      counts.reads++;
      if (gate.held) await gate.opened;
      return stored.get(key);
    },
  } as unknown as Records<ManifestPieceRecord>;
  return {
    records,
    counts,
    stored,
    hold() {
      gate.held = true;
      gate.opened = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate.held = false;
      open();
    },
  };
}

describe('the manifest cache', () => {
  const split = splitFile(simpleFile(50, 200), 10_000);
  const pieceBytes = (index: number) => decodePiece(split.record, index, split.pieces[index]).bytes;

  it('keeps at most its bytes, dropping the least recently used pieces first', async () => {
    const store = fakeManifests([split]);
    const budget = pieceBytes(0) * 3 + 10;
    const cache = new ManifestCache(store.records, budget);
    for (const index of [0, 1, 2]) await cache.get(split.record, index);
    expect(cache.pieces).toBe(3);
    await cache.get(split.record, 0); // 0 is now the most recent: 1 goes next
    await cache.get(split.record, 3);
    expect(cache.bytes).toBeLessThanOrEqual(budget);
    expect(cache.pieces).toBe(3);
    expect(cache.peek(split.record, 1)).toBeUndefined();
    expect(cache.peek(split.record, 0)).toBeDefined();
    expect(cache.counters).toMatchObject({ evictions: 1 });
    for (let index = 0; index < split.pieces.length; index++) {
      await cache.get(split.record, index);
      expect(cache.bytes).toBeLessThanOrEqual(budget);
    }
    expect(cache.counters.hits + cache.counters.misses).toBe(4 + 1 + split.pieces.length + 1);
  });

  it('hands back a piece larger than all of it without keeping it', async () => {
    const store = fakeManifests([split]);
    const cache = new ManifestCache(store.records, pieceBytes(0) - 1);
    expect((await cache.get(split.record, 0)).stripes).toBeGreaterThan(0);
    expect(cache.bytes).toBe(0);
    expect(cache.pieces).toBe(0);
  });

  it('shares one read among concurrent loads of a piece, and a failed read with all of them', async () => {
    const store = fakeManifests([split]);
    const cache = new ManifestCache(store.records, 1 << 20);
    store.hold();
    const loads = Array.from({ length: 5 }, () => cache.get(split.record, 4));
    const other = cache.get(split.record, 5);
    store.release();
    const pieces = await Promise.all(loads);
    await other;
    expect(store.counts.reads).toBe(2);
    expect(new Set(pieces).size).toBe(1);
    expect(cache.counters).toMatchObject({ misses: 6, sharedLoads: 4 });
    // A damaged piece: every waiter is refused, nothing is kept, and the next load reads again.
    const body = (store.stored.get(pieceKey('f1', 6)) as ManifestPieceRecord).body.slice();
    body[20] = (body[20] as number) ^ 0xff;
    store.stored.set(pieceKey('f1', 6), { format: 1, body });
    store.hold();
    const failing = [cache.get(split.record, 6), cache.get(split.record, 6)];
    store.release();
    for (const load of failing) await expect(load).rejects.toMatchObject({ code: 'GRN_INTERNAL' });
    expect(store.counts.reads).toBe(3);
    expect(cache.peek(split.record, 6)).toBeUndefined();
    await expect(cache.get(split.record, 6)).rejects.toMatchObject({ code: 'GRN_INTERNAL' });
    expect(store.counts.reads).toBe(4);
  });
});

describe('the plan gate', () => {
  it('a removal waits for the plans in flight and holds back new ones until it is done', async () => {
    const gate = new PlanGate();
    const events: string[] = [];
    let finishPlan = (): void => {};
    const plan = gate.plan(async () => {
      events.push('plan 1 starts');
      await new Promise<void>((resolve) => {
        finishPlan = resolve;
      });
      events.push('plan 1 ends');
    });
    const removal = gate.remove(async () => {
      events.push('removal');
    });
    const later = gate.plan(async () => {
      events.push('plan 2');
    });
    await Promise.resolve();
    expect(events).toEqual(['plan 1 starts']);
    finishPlan();
    await Promise.all([plan, removal, later]);
    expect(events).toEqual(['plan 1 starts', 'plan 1 ends', 'removal', 'plan 2']);
    expect(gate.inFlight).toBe(0);
  });
});

describe('planning through a tiny cache equals the planner that held every stripe', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: MetadataDb;
  beforeAll(async () => {
    dir = await makeTempDir('manifests');
    db = new MetadataDb(`${dir.path}/catalog`);
    await db.open();
  });
  afterAll(async () => {
    await db.close();
    await dir.remove();
  });

  /** A random catalog, stored: pieces in LevelDB, small records for the new planner, full files for the old. */
  async function randomCatalog(seed: number, statsMissing?: number) {
    const random = seededRandom(seed);
    const t = table(60);
    const cids = t.columns.map((column) => column.cid);
    const blocks = new Map<string, BlockRecord>();
    const partitions: PartitionRecord[] = [];
    const newFiles = new Map<string, LoadedFile[]>();
    const oldFiles = new Map<string, ReferenceFile[]>();
    const partitionCount = 1 + Math.floor(random() * 4);
    for (let p = 0; p < partitionCount; p++) {
      const spec = `ds=2026-01-${String(p + 1).padStart(2, '0')}`;
      partitions.push({ tableId: t.id, spec, values: { ds: spec.slice(3) }, createdAt: NOW, files: 0, stripes: 0, rows: 0, bytes: 0 });
      newFiles.set(spec, []);
      oldFiles.set(spec, []);
      const fileCount = 1 + Math.floor(random() * 3);
      for (let f = 0; f < fileCount; f++) {
        // A file may lack some columns (written before they were added) and order them its own way.
        const own = cids.filter(() => random() < 0.85).sort(() => random() - 0.5);
        const file = randomFile(random, t, { fileId: `f${seed}-${p}-${f}`, partition: spec, sequence: f, cids: own.length === 0 ? [cids[0] as number] : own, stripes: 1 + Math.floor(random() * 60), blocks: 1 + Math.floor(random() * 4), ...(statsMissing === undefined ? {} : { statsMissing }) });
        for (const blockId of file.blockIds) {
          blocks.set(blockId, { blockId, tableId: t.id, sessionId: file.sessionId, dataShards: 2, parityShards: 1, codec: 'rs', nodes: ['n0', 'n1', 'n2'], state: 'committed', blockBytes: 1 << 20, shardBytes: 1 << 19, createdAt: NOW });
        }
        // Pieces of about 16 KiB: several a file, and a 64 KiB cache holds only a few of them.
        const split = splitFile(file, 16 * 1024);
        await db.write(pieceOperations(db.manifests, split));
        newFiles.get(spec)?.push(loadFile(split.record));
        oldFiles.get(spec)?.push(referenceLoad(file));
      }
    }
    const common = {
      table: t,
      partitions,
      block: (blockId: string) => blocks.get(blockId),
      node: (nodeId: string) => ({ url: `http://${nodeId}`, state: 'alive' as const }),
    };
    const cache = new ManifestCache(db.manifests, 64 * 1024);
    const sources: PlanSources = { ...common, files: (spec) => newFiles.get(spec) ?? [], piece: (file, index) => cache.peek(file, index) ?? cache.get(file, index) };
    const reference: ReferenceSources = { ...common, files: (spec) => oldFiles.get(spec) ?? [] };
    return { t, sources, reference, cache };
  }

  function randomRequest(random: () => number, t: TableRecord): { request: ScanRequest; limit: number } {
    const names = t.columns.map((column) => column.name);
    const columns = random() < 0.3 ? undefined : names.filter(() => random() < 0.2).sort(() => random() - 0.5);
    const where: NonNullable<ScanRequest['where']>[number][] = [];
    if (random() < 0.6) where.push({ column: names[Math.floor(random() * names.length)] as string, op: '>=', value: Math.floor(random() * 100) - 40 });
    if (random() < 0.3) where.push({ column: names[Math.floor(random() * names.length)] as string, op: 'between', value: [-20, Math.floor(random() * 40)] });
    const request: ScanRequest = {
      ...(columns === undefined ? {} : { columns }),
      ...(where.length === 0 ? {} : { where }),
      ...(random() < 0.3 ? { partitions: { ds: { gte: '2026-01-02' } } } : {}),
      ...(random() < 0.3 ? { stripes: { from: Math.floor(random() * 20), to: 20 + Math.floor(random() * 60) } } : {}),
    };
    const width = columns?.length ?? names.length;
    return { request, limit: stripeWeightEntries(width) * (1 + Math.floor(random() * 12)) };
  }

  it('for 40 random catalogs and requests, every page, cursor and count', async () => {
    const random = seededRandom(7);
    let evictions = 0;
    let pages = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const { t, sources, reference, cache } = await randomCatalog(seed);
      for (let r = 0; r < 3; r++) {
        const { request, limit } = randomRequest(random, t);
        let after: string | undefined;
        do {
          const page = { limit, ...(after === undefined ? {} : { after }) };
          const expected: ScanPlan = referencePlan(reference, request, page).plan;
          const actual = (await planScan(sources, request, page)).plan;
          // Compared as one string: deep equality of thousands of typed arrays is slow.
          expect(comparable(actual), `seed ${seed} request ${JSON.stringify(request)}`).toBe(comparable(expected));
          expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
          after = actual.next;
          pages++;
        } while (after !== undefined);
      }
      evictions += cache.counters.evictions;
    }
    // The cache was small enough to be turned over mid-plan, many times.
    expect(evictions).toBeGreaterThan(100);
    expect(pages).toBeGreaterThan(200);
  });

  it('a file whose bounds rule the predicate out is skipped without loading a piece', async () => {
    const { t, sources, cache } = await randomCatalog(99, 0);
    const before = cache.counters.misses + cache.counters.hits;
    const plan = (await planScan(sources, { columns: ['c1'], where: [{ column: 'c0', op: '>', value: 10_000 }] })).plan;
    expect(plan.stripes).toEqual([]);
    expect(plan.stripesPruned).toBe(plan.stripesConsidered);
    expect(plan.stripesConsidered).toBeGreaterThan(0);
    expect(cache.counters.misses + cache.counters.hits).toBe(before);
    expect(t.columns.length).toBe(60);
  });
});
