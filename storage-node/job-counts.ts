/**
 * What this node served per reading job since its last heartbeat (protocol/job-types.ts): the
 * metadata service sums the nodes' counts into each job's accounting. Bounded: at most
 * JOBS_TRACKED_MAX jobs between heartbeats, reads of further jobs counted under
 * UNTRACKED_JOB; each heartbeat takes the NODE_JOB_COUNTS_MAX busiest and leaves the rest for
 * the next, and counts a heartbeat failed to deliver are given back.
 */
import { NODE_JOB_COUNTS_MAX, type NodeJobCounts } from '../protocol/job-types.js';

/** Jobs counted between two heartbeats at most. */
export const JOBS_TRACKED_MAX = 4_096;
/** Where reads of jobs past the bound are counted (a valid job id, so the service takes it). */
export const UNTRACKED_JOB = 'untracked-jobs';

interface Mutable {
  requests: number;
  bytesServed: number;
  cacheHits: number;
  cacheBytes: number;
}

export class JobCounts {
  private readonly jobs = new Map<string, Mutable>();

  /** One batch read for `job` of `bytes` (of which `cacheBytes` came from the hot-column cache, in `cacheHits` ranges). */
  served(job: string, bytes: number, cacheHits = 0, cacheBytes = 0): void {
    const key = this.jobs.has(job) || this.jobs.size < JOBS_TRACKED_MAX ? job : UNTRACKED_JOB;
    let counts = this.jobs.get(key);
    if (counts === undefined) {
      counts = { requests: 0, bytesServed: 0, cacheHits: 0, cacheBytes: 0 };
      this.jobs.set(key, counts);
    }
    counts.requests++;
    counts.bytesServed += bytes;
    counts.cacheHits += cacheHits;
    counts.cacheBytes += cacheBytes;
  }

  /** The busiest jobs' counts, removed from what is kept. */
  take(max = NODE_JOB_COUNTS_MAX): NodeJobCounts[] {
    const busiest = [...this.jobs].sort((a, b) => b[1].bytesServed - a[1].bytesServed).slice(0, max);
    for (const [job] of busiest) this.jobs.delete(job);
    return busiest.map(([job, counts]) => ({ job, ...counts }));
  }

  /** A read of `bytes` for `job` answered from the hot-column cache (its bytes were counted by `served`). */
  cached(job: string, bytes: number): void {
    const counts = this.jobs.get(job) ?? this.jobs.get(UNTRACKED_JOB);
    if (counts === undefined) return;
    counts.cacheHits++;
    counts.cacheBytes += bytes;
  }

  /** Counts taken for a heartbeat that did not arrive: kept for the next one. */
  giveBack(counts: readonly NodeJobCounts[]): void {
    for (const entry of counts) {
      const kept = this.jobs.get(entry.job);
      if (kept === undefined) this.jobs.set(entry.job, { requests: entry.requests, bytesServed: entry.bytesServed, cacheHits: entry.cacheHits, cacheBytes: entry.cacheBytes });
      else {
        kept.requests += entry.requests;
        kept.bytesServed += entry.bytesServed;
        kept.cacheHits += entry.cacheHits;
        kept.cacheBytes += entry.cacheBytes;
      }
    }
  }
}
