import { describe, expect, it } from 'vitest';
import { JOB_REPORT_INTERVAL_MS, JobReporter } from '../../../client/reader/job-report.js';
import { newScanStats } from '../../../client/reader/scan-stats.js';
import type { JobReadReport } from '../../../protocol/job-types.js';

describe('a scan\'s job reports', () => {
  it('reports growth since the last report, every interval and once at the end, never twice at the end', async () => {
    const sent: [string, JobReadReport][] = [];
    const stats = newScanStats();
    // Counts from an earlier scan on the same object are not this scan's.
    stats.requests = 5;
    stats.readSizes.push(1);
    const reporter = new JobReporter(async (table, report) => {
      sent.push([table, report]);
    }, 'events', 'ctr', stats, 0);
    stats.requests += 2;
    stats.bytesNeeded += 100;
    stats.bytesFetched += 150;
    stats.readSizes.push(4096, 70_000);
    reporter.tick(JOB_REPORT_INTERVAL_MS - 1);
    expect(sent).toHaveLength(0);
    reporter.tick(JOB_REPORT_INTERVAL_MS);
    stats.requests += 1;
    stats.rebuildBytes += 7;
    stats.degradedReads += 1;
    stats.readSizes.push(1 << 30);
    reporter.finish(JOB_REPORT_INTERVAL_MS + 500);
    reporter.finish(JOB_REPORT_INTERVAL_MS + 900);
    reporter.tick(10 * JOB_REPORT_INTERVAL_MS);
    expect(sent.map(([table]) => table)).toEqual(['events', 'events']);
    expect(sent[0]?.[1]).toMatchObject({ job: 'ctr', requests: 2, bytesNeeded: 100, bytesFetched: 150, readMs: JOB_REPORT_INTERVAL_MS, scansFinished: 0, readSizes: [1, 0, 0, 1, 0, 0, 0, 0] });
    expect(sent[1]?.[1]).toMatchObject({ requests: 1, bytesNeeded: 0, rebuildBytes: 7, degradedReads: 1, readMs: 500, scansFinished: 1, readSizes: [0, 0, 0, 0, 0, 0, 0, 1] });
  });

  it('does not fail the scan when the service refuses a report', async () => {
    const stats = newScanStats();
    let refused = 0;
    const reporter = new JobReporter(() => {
      refused++;
      return Promise.reject(new Error('table dropped'));
    }, 'events', 'ctr', stats, 0);
    expect(() => reporter.finish(1)).not.toThrow();
    await Promise.resolve();
    expect(refused).toBe(1);
  });
});
