import { describe, expect, it } from 'vitest';
import {
  CountedScans,
  POPULARITY_JOBS_MAX,
  addReads,
  decayFactor,
  emptyTablePopularity,
  fromStored,
  scanKey,
  scoreAt,
  toStored,
} from '../../../metadata/popularity.js';

const DAY = 86_400_000;
const WEEK = 7 * DAY;

describe('column popularity', () => {
  it('halves every half-life, and never grows with time', () => {
    expect(decayFactor(0, WEEK)).toBe(1);
    expect(decayFactor(WEEK, WEEK)).toBeCloseTo(0.5, 12);
    expect(decayFactor(3 * WEEK, WEEK)).toBeCloseTo(0.125, 12);
    // A clock that went back does not inflate anything.
    expect(decayFactor(-DAY, WEEK)).toBe(1);
  });

  it("lets this week's features outrank last quarter's, however much those were read", () => {
    const table = emptyTablePopularity();
    const start = Date.UTC(2026, 8, 1);
    addReads(table, new Map([[1, 1000]]), true, 'old-job', start, WEEK);
    const now = start + 13 * WEEK;
    addReads(table, new Map([[2, 10]]), true, 'new-job', now, WEEK);
    const old = scoreAt(table.columns.get(1)!, now, WEEK);
    const fresh = scoreAt(table.columns.get(2)!, now, WEEK);
    expect(old.bytes).toBeCloseTo(1000 / 2 ** 13, 9);
    expect(fresh.bytes).toBe(10);
    expect(fresh.bytes).toBeGreaterThan(old.bytes);
    // Adding decays what was there first.
    addReads(table, new Map([[1, 1]]), false, 'old-job', now, WEEK);
    expect(table.columns.get(1)!.bytes).toBeCloseTo(1000 / 2 ** 13 + 1, 9);
    expect(table.columns.get(1)!.scans).toBeCloseTo(1 / 2 ** 13, 12);
  });

  it('counts a (table, job, epoch) once, and forgets the oldest keys past its bound', () => {
    const counted = new CountedScans(3);
    expect(counted.firstTime(scanKey('t1', 'job', 0))).toBe(true);
    expect(counted.firstTime(scanKey('t1', 'job', 0))).toBe(false);
    expect(counted.firstTime(scanKey('t1', 'job', 1))).toBe(true);
    expect(counted.firstTime(scanKey('t2', 'job', 0))).toBe(true);
    expect(counted.firstTime(scanKey('t1', 'other', 0))).toBe(true);
    // The first key was forgotten to keep three.
    expect(counted.firstTime(scanKey('t1', 'job', 0))).toBe(true);
    expect(counted.firstTime(scanKey('t1', 'other', 0))).toBe(false);
  });

  it('keeps the most recently seen jobs only', () => {
    const table = emptyTablePopularity();
    for (let i = 0; i < POPULARITY_JOBS_MAX + 5; i++) addReads(table, new Map([[1, 1]]), true, `job-${i}`, i, WEEK);
    addReads(table, new Map([[1, 7]]), false, 'job-10', 1000, WEEK);
    expect(table.jobs.size).toBe(POPULARITY_JOBS_MAX);
    expect(table.jobs.has('job-0')).toBe(false);
    expect([...table.jobs.keys()].at(-1)).toBe('job-10');
    expect(table.jobs.get('job-10')).toEqual({ job: 'job-10', bytes: 8, scans: 1, lastAt: 1000 });
  });

  it('stores and loads exactly, and carries the first format\'s counts over', () => {
    const table = emptyTablePopularity();
    addReads(table, new Map([[3, 123.5], [4, 0]]), true, 'a', 1_000, WEEK);
    const back = fromStored(toStored(table), 5_000);
    expect(back.columns).toEqual(table.columns);
    expect(back.jobs).toEqual(table.jobs);
    const migrated = fromStored({ '7': 12, '9': 3 }, 42);
    expect(migrated.columns.get(7)).toEqual({ bytes: 12, scans: 12, at: 42 });
    expect(migrated.columns.get(9)).toEqual({ bytes: 3, scans: 3, at: 42 });
    expect(fromStored('garbage', 1).columns.size).toBe(0);
  });
});
