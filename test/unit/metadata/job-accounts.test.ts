import { describe, expect, it } from 'vitest';
import { JOBS_MAX, JOB_TABLES_MAX, JobAccounts, fromStoredJob, toStoredJob } from '../../../metadata/job-accounts.js';
import { type JobReadReport, READ_SIZE_BUCKETS, readSizeBucket } from '../../../protocol/job-types.js';

function report(job: string, counts: Partial<JobReadReport> = {}): JobReadReport {
  return {
    job,
    requests: 2,
    bytesNeeded: 1000,
    bytesFetched: 1500,
    degradedReads: 1,
    rebuildBytes: 300,
    rows: 10,
    stripes: 1,
    readMs: 50,
    readSizes: [1, 0, 1, 0, 0, 0, 0, 0],
    scansFinished: 1,
    ...counts,
  };
}

describe('read-size buckets', () => {
  it('puts each size in the first bucket whose bound holds it, and the rest in the last', () => {
    expect(READ_SIZE_BUCKETS).toBe(8);
    expect([0, 4096, 4097, 16_384, 1 << 20, (1 << 24) + 1, 1e12].map(readSizeBucket)).toEqual([0, 0, 1, 1, 4, 7, 7]);
  });
});

describe('job accounts', () => {
  it('sums reports per job and per table, with amplification and the span it was seen over', () => {
    const accounts = new JobAccounts();
    accounts.addReport('events', report('ctr'), 1_000);
    accounts.addReport('events', report('ctr', { bytesFetched: 500, readSizes: [0, 0, 0, 0, 0, 0, 0, 3] }), 3_000);
    accounts.addReport('users', report('ctr', { bytesNeeded: 2000, bytesFetched: 2000 }), 4_000);
    accounts.addReport('events', report('ranker'), 5_000);
    accounts.addNodeCounts([{ job: 'ctr', requests: 3, bytesServed: 4000, cacheHits: 1, cacheBytes: 100 }], 5_500);
    const [ctr, ranker] = [accounts.detail('ctr', 6_000), accounts.detail('ranker', 6_000)];
    expect(ctr).toMatchObject({
      job: 'ctr',
      tables: ['events', 'users'],
      requests: 6,
      bytesNeeded: 4000,
      bytesFetched: 4000,
      amplification: 1,
      degradedReads: 3,
      rebuildBytes: 900,
      scansFinished: 3,
      readMs: 150,
      nodeBytesServed: 4000,
      cacheHits: 1,
      cacheBytes: 100,
      durationMs: 4_500,
      readSizes: [2, 0, 2, 0, 0, 0, 0, 3],
    });
    expect(ctr?.byTable.map((t) => [t.table, t.bytesNeeded, t.bytesFetched])).toEqual([
      ['events', 2000, 2000],
      ['users', 2000, 2000],
    ]);
    expect(ranker?.amplification).toBe(1.5);
    // Most recently seen first (the node's counts made ctr the latest).
    expect(accounts.list(6_000).map((j) => j.job)).toEqual(['ctr', 'ranker']);
    expect(accounts.list(6_000, 1).map((j) => j.job)).toEqual(['ctr']);
    expect(accounts.tableTotals.get('events')?.bytesNeeded).toBe(3000);
  });

  it('forgets jobs past the retention and past the bound, least recently seen first', () => {
    const accounts = new JobAccounts(10_000, 3);
    for (const [i, job] of ['a', 'b', 'c', 'd'].entries()) accounts.addReport('t', report(job), i * 1000);
    expect(accounts.list(3_000).map((j) => j.job)).toEqual(['d', 'c', 'b']);
    accounts.addReport('t', report('b'), 9_000);
    // c was seen at 2 000: gone 10 s later; b and d stay.
    expect(accounts.list(12_500).map((j) => j.job)).toEqual(['b', 'd']);
    expect(accounts.detail('c', 12_500)).toBeUndefined();
    expect(accounts.takeChanges().forgotten.sort()).toEqual(['a', 'c']);
    expect(() => new JobAccounts(0)).toThrow(/positive/);
    expect(JOBS_MAX).toBeGreaterThan(100);
  });

  it('adds a job\'s tables past the bound to its first table, so its totals stay true', () => {
    const accounts = new JobAccounts();
    for (let t = 0; t <= JOB_TABLES_MAX; t++) accounts.addReport(`t${t}`, report('wide'), 1);
    const detail = accounts.detail('wide', 2);
    expect(detail?.byTable).toHaveLength(JOB_TABLES_MAX);
    expect(detail?.bytesNeeded).toBe(1000 * (JOB_TABLES_MAX + 1));
    expect(detail?.byTable[0]?.bytesNeeded).toBe(2000);
  });

  it('stores and restores a job exactly, and skips records it cannot read', () => {
    const accounts = new JobAccounts();
    accounts.addReport('events', report('ctr'), 1_000);
    accounts.addNodeCounts([{ job: 'ctr', requests: 1, bytesServed: 10, cacheHits: 0, cacheBytes: 0 }], 2_000);
    const { changed } = accounts.takeChanges();
    expect(changed.map((a) => a.job)).toEqual(['ctr']);
    const stored = JSON.parse(JSON.stringify(toStoredJob(changed[0] as NonNullable<(typeof changed)[0]>))) as unknown;
    const again = new JobAccounts();
    const restored = fromStoredJob(stored);
    expect(restored).toBeDefined();
    again.restore([restored as NonNullable<typeof restored>, ...[fromStoredJob({ v: 9 }), fromStoredJob(null)].filter((a) => a !== undefined)], 3_000);
    expect(again.detail('ctr', 3_000)).toEqual(accounts.detail('ctr', 3_000));
  });
});
