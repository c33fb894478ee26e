/**
 * Tells the metadata service what a scan cost its job (protocol/job-types.ts): the counts the
 * scan's ScanStats gathered since the previous report, every JOB_REPORT_INTERVAL_MS while the
 * scan runs and once when it ends, so `granary jobs` shows long scans as they go.
 */
import { type JobReadCounts, type JobReadReport, READ_SIZE_BUCKETS, readSizeBucket } from '../../protocol/job-types.js';
import type { ScanStats } from './scan-stats.js';

export const JOB_REPORT_INTERVAL_MS = 10_000;

/** Where reports go: MetadataClient.reportReads. */
export type ReportSender = (table: string, report: JobReadReport) => Promise<void>;

/** The counts at the last report; read sizes by how many there were. */
type Mark = Omit<JobReadCounts, 'readMs' | 'readSizes'> & { readonly readSizes: number };

function markOf(stats: ScanStats): Mark {
  const { requests, bytesNeeded, bytesFetched, degradedReads, rebuildBytes, rows, stripes } = stats;
  return { requests, bytesNeeded, bytesFetched, degradedReads, rebuildBytes, rows, stripes, readSizes: stats.readSizes.length };
}

export class JobReporter {
  private mark: Mark;
  private markedAt: number;
  private finished = false;

  /** `stats` may hold counts from before this scan (a caller's object reused): only growth is reported. */
  constructor(
    private readonly send: ReportSender,
    private readonly table: string,
    private readonly job: string,
    private readonly stats: ScanStats,
    now: number,
  ) {
    this.mark = markOf(stats);
    this.markedAt = now;
  }

  /** Reports if the interval has passed since the last report. */
  tick(now: number): void {
    if (!this.finished && now - this.markedAt >= JOB_REPORT_INTERVAL_MS) this.report(now, 0);
  }

  /** The scan ended (done, failed or abandoned): the last counts, and one finished scan. */
  finish(now: number): void {
    if (this.finished) return;
    this.finished = true;
    this.report(now, 1);
  }

  private report(now: number, scansFinished: number): void {
    const current = markOf(this.stats);
    const before = this.mark;
    const grown = (key: keyof Mark): number => Math.max(0, current[key] - before[key]);
    const readSizes = new Array<number>(READ_SIZE_BUCKETS).fill(0);
    // A caller that emptied the sizes since (takeScanStats) left only new ones.
    const from = current.readSizes >= before.readSizes ? before.readSizes : 0;
    for (let i = from; i < this.stats.readSizes.length; i++) {
      const bucket = readSizeBucket(this.stats.readSizes[i] as number);
      readSizes[bucket] = (readSizes[bucket] as number) + 1;
    }
    const report: JobReadReport = {
      job: this.job,
      requests: grown('requests'),
      bytesNeeded: grown('bytesNeeded'),
      bytesFetched: grown('bytesFetched'),
      degradedReads: grown('degradedReads'),
      rebuildBytes: grown('rebuildBytes'),
      rows: grown('rows'),
      stripes: grown('stripes'),
      readMs: Math.max(0, Math.round(now - this.markedAt)),
      readSizes,
      scansFinished,
    };
    this.mark = current;
    this.markedAt = now;
    this.send(this.table, report).catch(() => {
      // Accounting is advisory, like popularity: a report the service did not take (a replica
      // changing hands, a table dropped meanwhile) must not fail the read it describes.
    });
  }
}
