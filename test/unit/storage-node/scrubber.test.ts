/**
 * The scrubber's tour over a real disk store: where the first pass lands in the interval, the
 * persisted cursor across restarts, the wrap-around from a random origin, chunks coming and going
 * mid-pass, a damaged state file, and the pass-time model.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import { DiskChunkStore, type DiskChunkStoreOptions, type VerifyResult } from '../../../storage-node/index.js';
import { NodeMetrics } from '../../../storage-node/metrics.js';
import { describeScrubEstimate, scrubEstimate } from '../../../storage-node/scrub-estimate.js';
import type { ScrubState } from '../../../storage-node/scrub-state.js';
import { pickOrigin, remainingInTour } from '../../../storage-node/scrub-tour.js';
import { type ScrubbedStore, Scrubber, type ScrubberOptions } from '../../../storage-node/scrubber.js';
import { pollUntil } from '../../helpers/poll.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { bytesOf, piecesOf } from './chunk-store-suite.js';

const HOUR_MS = 3_600_000;
const CHUNK_BYTES = 3000;
const MIB = 1024 * 1024;
const TIB = 1024 * 1024 * MIB;
/** Fast enough that pacing never sleeps in these tests, unless a test asks for a slow rate. */
const UNPACED_RATE = 1e12;

/** A real store whose verifications are recorded, with hooks around each. */
class CountingStore implements ScrubbedStore {
  readonly verified: string[] = [];
  beforeVerify: ((id: string) => Promise<void>) | undefined;
  afterVerify: ((id: string, calls: number) => void) | undefined;

  constructor(readonly inner: DiskChunkStore) {}

  chunkIds(): string[] {
    return this.inner.chunkIds();
  }

  stats(): ReturnType<DiskChunkStore['stats']> {
    return this.inner.stats();
  }

  async verify(id: string, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult> {
    await this.beforeVerify?.(id);
    const result = await this.inner.verify(id, pace);
    this.verified.push(id);
    this.afterVerify?.(id, this.verified.length);
    return result;
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function storeOptions(dataDir: string): DiskChunkStoreOptions {
  return {
    dataDir,
    pageBytes: 4096,
    chunkBytesMax: 1024 * 1024,
    reserveBytes: 0,
    openFilesMax: 8,
    onBackgroundError: (error) => {
      throw error;
    },
  };
}

async function makeDir(): Promise<string> {
  const dir = await makeTempDir('scrub');
  cleanups.push(dir.remove);
  return dir.path;
}

async function openStore(dir: string): Promise<CountingStore> {
  const { store } = await DiskChunkStore.open(storeOptions(dir));
  cleanups.push(() => store.close());
  return new CountingStore(store);
}

/** `count` chunks c00.0, c01.0, ... (already in sorted order). */
async function putChunks(store: CountingStore, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `c${String(i).padStart(2, '0')}.0`;
    const data = bytesOf(CHUNK_BYTES, i + 1);
    await store.inner.put(id, piecesOf(data), { expectedChecksum: xxh64(data) });
    ids.push(id);
  }
  return ids;
}

function scrubberOn(store: CountingStore, overrides: Partial<ScrubberOptions> = {}): { scrubber: Scrubber; errors: unknown[] } {
  const errors: unknown[] = [];
  const scrubber = new Scrubber(store, new NodeMetrics(store.inner), {
    rateBytesPerSecond: UNPACED_RATE,
    intervalMs: 0,
    stateFile: store.inner.dataDir.scrubStatePath,
    onError: (error) => errors.push(error),
    ...overrides,
  });
  cleanups.push(() => scrubber.stop());
  return { scrubber, errors };
}

async function savedState(store: CountingStore): Promise<ScrubState> {
  return JSON.parse(await readFile(store.inner.dataDir.scrubStatePath, 'utf8')) as ScrubState;
}

async function flipByte(path: string, position: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const one = Buffer.alloc(1);
    await handle.read(one, 0, 1, position);
    one[0] = (one[0] as number) ^ 0x40;
    await handle.write(one, 0, 1, position);
  } finally {
    await handle.close();
  }
}

describe('scrub tour order', () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];

  it('walks from the origin, wraps around, and continues right after a cursor on either side of the wrap', () => {
    expect(remainingInTour(ids, 'c', null)).toEqual(['c', 'd', 'e', 'a', 'b']);
    expect(remainingInTour(ids, 'c', 'd')).toEqual(['e', 'a', 'b']);
    expect(remainingInTour(ids, 'c', 'e')).toEqual(['a', 'b']);
    expect(remainingInTour(ids, 'c', 'a')).toEqual(['b']);
    expect(remainingInTour(ids, 'c', 'b')).toEqual([]);
  });

  it('copes with an origin or cursor whose chunk has been deleted, and with no chunks', () => {
    expect(remainingInTour(ids, 'bb', null)).toEqual(['c', 'd', 'e', 'a', 'b']);
    expect(remainingInTour(ids, 'bb', 'cc')).toEqual(['d', 'e', 'a', 'b']);
    expect(remainingInTour(ids, 'bb', 'aa')).toEqual(['b']);
    expect(remainingInTour([], '', null)).toEqual([]);
    expect(pickOrigin([], () => 0.5)).toBe('');
    expect(pickOrigin(ids, () => 0.5)).toBe('c');
    expect(pickOrigin(ids, () => 0.999_999_999)).toBe('e');
  });
});

describe('scrubber', () => {
  it('plans the first pass at a random point of the interval, drawn from the injected random', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const nowMs = Date.parse('2030-01-01T00:00:00.000Z');
    const intervalMs = 24 * HOUR_MS;
    for (const draw of [0, 0.25, 0.5, 0.999_999]) {
      const draws: number[] = [];
      const { scrubber } = scrubberOn(store, {
        stateFile: undefined,
        intervalMs,
        now: () => nowMs,
        random: () => {
          draws.push(draw);
          return draw;
        },
      });
      await scrubber.start();
      const delayMs = Date.parse(scrubber.status().nextPassAt ?? '') - nowMs;
      expect(draws.length, `draw ${draw}`).toBeGreaterThan(0);
      expect(delayMs, `draw ${draw}`).toBe(Math.floor(draw * intervalMs));
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThan(intervalMs);
      await scrubber.stop();
    }
  });

  it('keeps the planned first pass across a restart instead of drawing a later one', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const nowMs = Date.parse('2030-01-01T00:00:00.000Z');
    const intervalMs = 24 * HOUR_MS;
    const first = scrubberOn(store, { intervalMs, now: () => nowMs, random: () => 0.5 });
    await first.scrubber.start();
    const planned = first.scrubber.status().nextPassAt;
    expect(planned).toBe(new Date(nowMs + intervalMs / 2).toISOString());
    await first.scrubber.stop();
    expect((await savedState(store)).nextPassAt).toBe(planned);

    const second = scrubberOn(store, { intervalMs, now: () => nowMs + HOUR_MS, random: () => 0.9 });
    await second.scrubber.start();
    expect(second.scrubber.status().nextPassAt).toBe(planned);
    expect(store.verified).toEqual([]);
    expect([...first.errors, ...second.errors]).toEqual([]);
  });

  it('runs the first scheduled pass when its moment comes, then plans the next one interval after it finished', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const ids = await putChunks(store, 5);
    // The first pass comes 200 ms after start; the next one 2 s after it, well after the checks below.
    const intervalMs = 2_000;
    const { scrubber, errors } = scrubberOn(store, { intervalMs, random: () => 0.1 });
    await scrubber.start();
    const report = await pollUntil('the first scheduled pass', () => scrubber.status().lastReport ?? undefined);
    expect(report).toMatchObject({ chunksChecked: 5, bytesChecked: 5 * CHUNK_BYTES, corrupt: [] });
    expect(store.verified.slice(0, 5).sort()).toEqual(ids);
    const state = await savedState(store);
    expect(state.lastFinishedAt).toBe(report.finishedAt);
    expect(Date.parse(state.nextPassAt ?? '') - Date.parse(report.finishedAt)).toBe(intervalMs);
    expect(errors).toEqual([]);
  });

  it('a pass from a random origin wraps around and verifies every chunk once, in tour order', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const ids = await putChunks(store, 12);
    const { scrubber, errors } = scrubberOn(store, { random: () => 0.5 });
    const report = await scrubber.runPass();
    expect(store.verified).toEqual([...ids.slice(6), ...ids.slice(0, 6)]);
    expect(report).toMatchObject({ chunksChecked: 12, bytesChecked: 12 * CHUNK_BYTES, corrupt: [] });
    expect(scrubber.status()).toMatchObject({ running: false, pass: null, chunksChecked: 12, chunksTotal: 12, lastReport: report });
    expect(errors).toEqual([]);
  });

  it('resumes a stopped pass after its cursor on restart: the two runs verify every chunk exactly once', async () => {
    const dir = await makeDir();
    const first = await openStore(dir);
    const ids = await putChunks(first, 20);
    const tour = [...ids.slice(11), ...ids.slice(0, 11)];
    const before = scrubberOn(first, { random: () => 0.55 });
    let stopping: Promise<void> | undefined;
    first.afterVerify = (_id, calls) => {
      if (calls === 7) stopping = before.scrubber.stop();
    };
    await expect(before.scrubber.runPass()).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE' });
    await stopping;
    expect(first.verified).toEqual(tour.slice(0, 7));
    const saved = await savedState(first);
    expect(saved.pass).toMatchObject({ origin: ids[11], cursor: tour[6], chunksChecked: 7, bytesChecked: 7 * CHUNK_BYTES, corrupt: [] });
    await first.inner.close();

    const second = await openStore(dir);
    const after = scrubberOn(second, { intervalMs: HOUR_MS, random: () => 0 });
    await after.scrubber.start();
    const report = await pollUntil('the resumed pass', () => after.scrubber.status().lastReport ?? undefined);
    expect(second.verified).toEqual(tour.slice(7));
    expect([...first.verified, ...second.verified].sort()).toEqual(ids);
    expect(report).toMatchObject({ startedAt: saved.pass?.startedAt, chunksChecked: 20, bytesChecked: 20 * CHUNK_BYTES, corrupt: [] });
    const finished = await savedState(second);
    expect(finished.pass).toBeNull();
    expect(finished.lastFinishedAt).toBe(report.finishedAt);
    expect(Date.parse(finished.nextPassAt ?? '') - Date.parse(report.finishedAt)).toBe(HOUR_MS);
    expect([...before.errors, ...after.errors]).toEqual([]);
  });

  it('stop() interrupts a paced read at once; the interrupted chunk is verified again on resume', async () => {
    const dir = await makeDir();
    const first = await openStore(dir);
    const ids = await putChunks(first, 3);
    // One chunk takes 30 s at this rate: the pass is certainly mid-chunk when stopped.
    const slow = scrubberOn(first, { rateBytesPerSecond: 100, random: () => 0 });
    const pass = slow.scrubber.runPass().catch((error: unknown) => error);
    await pollUntil('the first read', () => (slow.scrubber.status().bytesChecked > 0 ? true : undefined));
    await slow.scrubber.stop();
    expect(await pass).toMatchObject({ code: 'GRN_UNAVAILABLE' });
    expect((await savedState(first)).pass).toMatchObject({ origin: ids[0], cursor: null, chunksChecked: 0, bytesChecked: 0 });
    await first.inner.close();

    const second = await openStore(dir);
    const after = scrubberOn(second, { intervalMs: HOUR_MS, random: () => 0 });
    await after.scrubber.start();
    const report = await pollUntil('the resumed pass', () => after.scrubber.status().lastReport ?? undefined);
    expect(second.verified).toEqual(ids);
    expect(report.chunksChecked).toBe(3);
    expect([...slow.errors, ...after.errors]).toEqual([]);
  });

  it('skips chunks deleted during a pass and is not thrown by chunks added', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const ids = await putChunks(store, 10);
    const doomed = ids[5] as string;
    const { scrubber, errors } = scrubberOn(store, { random: () => 0 });
    store.beforeVerify = async (id) => {
      if (id === doomed) await store.inner.delete(id);
    };
    let adding: Promise<unknown> | undefined;
    store.afterVerify = (_id, calls) => {
      if (calls !== 2) return;
      const extra = bytesOf(CHUNK_BYTES, 99);
      adding = store.inner.put('c03a.0', piecesOf(extra), { expectedChecksum: xxh64(extra) });
    };
    const report = await scrubber.runPass();
    await adding;
    // The deleted chunk is neither a finding nor counted; the added one waits for the next pass.
    expect(store.verified).toEqual(ids.filter((id) => id !== doomed));
    expect(report).toMatchObject({ chunksChecked: 9, bytesChecked: 9 * CHUNK_BYTES, corrupt: [] });
    expect(store.inner.chunkIds()).toContain('c03a.0');
    expect(errors).toEqual([]);
  });

  it('a pass on request supersedes a scheduled pass, starts from a fresh origin and verifies every chunk once', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    const ids = await putChunks(store, 8);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    store.beforeVerify = async () => {
      if (held) return;
      held = true;
      await gate;
    };
    const { scrubber, errors } = scrubberOn(store, { intervalMs: HOUR_MS, random: () => 0 });
    await scrubber.start();
    await pollUntil('the scheduled pass to reach its first chunk', () => (held ? true : undefined));
    expect(scrubber.status()).toMatchObject({ running: true, pass: { requested: false } });
    const requested = scrubber.runPass();
    release();
    const report = await requested;
    // The scheduled pass finished the chunk it held, then gave way.
    expect(store.verified).toHaveLength(9);
    expect(store.verified.slice(1).sort()).toEqual(ids);
    expect(report).toMatchObject({ chunksChecked: 8, corrupt: [] });
    const state = await savedState(store);
    expect(state).toMatchObject({ pass: null, lastFinishedAt: report.finishedAt });
    expect(Date.parse(state.nextPassAt ?? '') - Date.parse(report.finishedAt)).toBe(HOUR_MS);
    expect(errors).toEqual([]);
  });

  it('tells the restarted store again about the corrupt chunks a resumed pass had found', async () => {
    const dir = await makeDir();
    const first = await openStore(dir);
    const ids = await putChunks(first, 10);
    const rotten = ids[3] as string;
    await flipByte(first.inner.dataDir.chunkPath(rotten), 100);
    const before = scrubberOn(first, { random: () => 0 });
    let stopping: Promise<void> | undefined;
    first.afterVerify = (_id, calls) => {
      if (calls === 5) stopping = before.scrubber.stop();
    };
    await expect(before.scrubber.runPass()).rejects.toMatchObject({ code: 'GRN_UNAVAILABLE' });
    await stopping;
    expect((await savedState(first)).pass?.corrupt.map((c) => c.id)).toEqual([rotten]);
    await first.inner.close();

    const second = await openStore(dir);
    expect(second.inner.corruptChunks()).toEqual([]);
    const after = scrubberOn(second, { intervalMs: HOUR_MS, random: () => 0 });
    await after.scrubber.start();
    const report = await pollUntil('the resumed pass', () => after.scrubber.status().lastReport ?? undefined);
    expect(second.verified).toEqual([rotten, ...ids.slice(5)]);
    expect(report.corrupt.map((c) => c.id)).toEqual([rotten]);
    expect(report.chunksChecked).toBe(10);
    expect(second.inner.corruptChunks().map((c) => c.id)).toEqual([rotten]);
  });

  it('logs a damaged or unreadable state file and starts afresh; the node goes on scrubbing', async () => {
    const damaged = [
      '{ "version": 1, "pass": ',
      JSON.stringify({ version: 1, pass: { origin: 5 }, lastFinishedAt: null, lastPass: null, nextPassAt: null }),
      JSON.stringify({ version: 99 }),
      '[]',
    ];
    for (const text of damaged) {
      const dir = await makeDir();
      const store = await openStore(dir);
      const ids = await putChunks(store, 4);
      await writeFile(store.inner.dataDir.scrubStatePath, text);
      const nowMs = Date.parse('2030-01-01T00:00:00.000Z');
      const { scrubber, errors } = scrubberOn(store, { intervalMs: HOUR_MS, now: () => nowMs, random: () => 0.5 });
      await scrubber.start();
      expect(errors, text).toHaveLength(1);
      expect(errors[0], text).toMatchObject({ code: 'GRN_INTERNAL', message: expect.stringMatching(/scrub state .* the scrubber starts afresh/) });
      expect(scrubber.status().nextPassAt, text).toBe(new Date(nowMs + HOUR_MS / 2).toISOString());
      const report = await scrubber.runPass();
      expect(report.chunksChecked, text).toBe(4);
      expect(store.verified.sort(), text).toEqual(ids);
      expect(await savedState(store), text).toMatchObject({ version: 1, pass: null, lastFinishedAt: report.finishedAt });
      expect(errors, text).toHaveLength(1);
      await scrubber.stop();
    }
  });

  it('reports how long a pass of the data and of a full disk take at the configured rate', async () => {
    const dir = await makeDir();
    const store = await openStore(dir);
    await putChunks(store, 6);
    const rateBytesPerSecond = MIB;
    const { scrubber } = scrubberOn(store, { rateBytesPerSecond, intervalMs: HOUR_MS, now: () => Date.parse('2030-01-01T00:00:00.000Z') });
    expect(scrubber.status().estimate).toBeNull();
    await scrubber.start();
    const stats = await store.stats();
    const estimate = scrubber.status().estimate;
    expect(estimate).toMatchObject({
      rateBytesPerSecond,
      intervalSeconds: 3600,
      dataBytes: stats.chunkFileBytes,
      capacityBytes: stats.capacityBytes,
      fullDiskFitsInterval: stats.capacityBytes / rateBytesPerSecond <= 3600,
      measuredAt: '2030-01-01T00:00:00.000Z',
    });
    expect(stats.chunkFileBytes).toBeGreaterThan(6 * CHUNK_BYTES);
    expect(estimate?.fullPassSeconds).toBeCloseTo(stats.chunkFileBytes / rateBytesPerSecond, 9);
    expect(estimate?.fullDiskPassSeconds).toBeCloseTo(stats.capacityBytes / rateBytesPerSecond, 9);
  });
});

describe('scrub pass-time model', () => {
  const now = new Date('2030-01-01T00:00:00.000Z');

  it('a 4 TiB disk at 32 MiB/s takes 36 h, longer than a 24 h interval: a warning names a rate that fits', () => {
    const estimate = scrubEstimate({ dataBytes: TIB, capacityBytes: 4 * TIB, rateBytesPerSecond: 32 * MIB, intervalMs: 24 * HOUR_MS, now });
    expect(estimate).toMatchObject({
      fullPassSeconds: 32_768,
      fullDiskPassSeconds: 131_072,
      intervalSeconds: 86_400,
      fullDiskFitsInterval: false,
      rateToFitIntervalBytesPerSecond: 49 * MIB,
    });
    const { summary, warning } = describeScrubEstimate(estimate);
    expect(summary).toBe('scrub: 4 TiB disk at 32 MiB/s takes 36 h per full pass (the 1 TiB stored now: 9.1 h); interval 24 h');
    expect(warning).toBe(
      'scrub: a full pass of the 4 TiB disk at 32 MiB/s takes 36 h, longer than the 24 h interval; ' +
        '--scrub-rate 49MiB or more would fit it (or a longer --scrub-interval-hours)',
    );
  });

  it('no warning when a full disk fits the interval, or when passes run only on request', () => {
    const fits = scrubEstimate({ dataBytes: 0, capacityBytes: 2 * TIB, rateBytesPerSecond: 32 * MIB, intervalMs: 24 * HOUR_MS, now });
    expect(fits.fullDiskFitsInterval).toBe(true);
    expect(describeScrubEstimate(fits).warning).toBeUndefined();
    const onRequest = scrubEstimate({ dataBytes: 0, capacityBytes: 4 * TIB, rateBytesPerSecond: 32 * MIB, intervalMs: 0, now });
    expect(onRequest).toMatchObject({ fullDiskFitsInterval: true, rateToFitIntervalBytesPerSecond: null });
    const described = describeScrubEstimate(onRequest);
    expect(described.summary).toMatch(/; passes only on request$/);
    expect(described.warning).toBeUndefined();
  });
});
