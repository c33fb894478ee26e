import { describe, expect, it } from 'vitest';
import { JOBS_TRACKED_MAX, JobCounts, UNTRACKED_JOB } from '../../../storage-node/job-counts.js';
import { JOB_ID_PATTERN } from '../../../protocol/scan-types.js';

describe('a node\'s per-job counts', () => {
  it('hands the busiest jobs to a heartbeat, keeps the rest, and takes back what was not delivered', () => {
    const counts = new JobCounts();
    counts.served('small', 10);
    counts.served('big', 1000, 1, 500);
    counts.served('big', 1000);
    counts.served('middle', 100);
    const first = counts.take(2);
    expect(first).toEqual([
      { job: 'big', requests: 2, bytesServed: 2000, cacheHits: 1, cacheBytes: 500 },
      { job: 'middle', requests: 1, bytesServed: 100, cacheHits: 0, cacheBytes: 0 },
    ]);
    counts.served('middle', 1);
    counts.giveBack(first);
    expect(counts.take()).toEqual([
      { job: 'big', requests: 2, bytesServed: 2000, cacheHits: 1, cacheBytes: 500 },
      { job: 'middle', requests: 2, bytesServed: 101, cacheHits: 0, cacheBytes: 0 },
      { job: 'small', requests: 1, bytesServed: 10, cacheHits: 0, cacheBytes: 0 },
    ]);
    expect(counts.take()).toEqual([]);
  });

  it('counts jobs past its bound under one id the service accepts', () => {
    const counts = new JobCounts();
    for (let i = 0; i < JOBS_TRACKED_MAX + 10; i++) counts.served(`job-${i}`, 1);
    const taken = counts.take(JOBS_TRACKED_MAX + 10);
    expect(taken).toHaveLength(JOBS_TRACKED_MAX + 1);
    expect(taken.find((c) => c.job === UNTRACKED_JOB)?.requests).toBe(10);
    expect(new RegExp(JOB_ID_PATTERN).test(UNTRACKED_JOB)).toBe(true);
  });
});
