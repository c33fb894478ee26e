/**
 * A scan read by worker threads (read-workers.ts): this thread walks the plan and hands out
 * groups of stripes, a bounded number ahead of the consumer; each worker reads its group through
 * to filtered Arrow batches and transfers their buffers back; the batches are made here over that
 * same memory and yielded in the table's order (or, unordered, as groups finish). A consumer that
 * stops early ends the scan: workers drop its pages and groups, and their batches are not kept.
 */
import type * as arrow from 'apache-arrow';
import type { HttpOptions, PlannedChunk, ScanPlan } from '../../protocol/index.js';
import { unpackBatches } from './batch-transfer.js';
import { groupStripes, outputColumns, streamBytesOf } from './group-read.js';
import type { ScanSettings } from './read-worker-protocol.js';
import type { GroupResult, ReadWorkerPool, WorkerScan } from './read-workers.js';
import { type ScanStats, addScanStats } from './scan-stats.js';

export interface WorkerScanOptions {
  /** Bytes of streams per group; by default a page's bytes over 2 groups per thread, at most 32 MiB. */
  readonly groupBytes: number | undefined;
  readonly threads: number;
  /** Groups handed out and not yet taken by the consumer, at most. */
  readonly window: number;
  readonly ordered: boolean;
}

const GROUP_BYTES_MAX = 32 * 1024 * 1024;

interface Job {
  readonly result: Promise<GroupResult>;
  /** Resolves, never rejects, with the job when its result is in (unordered delivery waits on these). */
  readonly settled: Promise<Job>;
}

export async function* scanOnWorkers(
  pool: ReadWorkerPool,
  threads: number,
  http: HttpOptions,
  pages: AsyncGenerator<ScanPlan>,
  schema: arrow.Schema,
  settings: ScanSettings,
  stats: ScanStats,
  reportCorrupt: (chunk: PlannedChunk, reason: string, missing: boolean) => void,
  options: WorkerScanOptions,
): AsyncGenerator<arrow.RecordBatch> {
  // What the in-process reader's RecordBatch.selectAt gives: the output columns in the order asked.
  const columns = outputColumns(schema, settings.outputNames);
  const outSchema = columns === undefined ? schema : schema.selectAt(columns);
  const scan: WorkerScan = pool.openScan(threads, http, reportCorrupt);
  const { scanId } = scan;
  const jobs: Job[] = [];
  /** Groups handed out per page not finished yet; a page is dropped by the workers at 0 once past it. */
  const openGroups = new Map<number, number>();
  let exhausted = false;
  let stopped = false;
  const finishGroup = (pageId: number): void => {
    const left = (openGroups.get(pageId) ?? 1) - 1;
    openGroups.set(pageId, left);
    if (left === 0) {
      openGroups.delete(pageId);
      pool.dropPage(scanId, pageId);
    }
  };
  const groups = (async function* (): AsyncGenerator<{ page: ScanPlan; pageId: number; from: number; to: number }> {
    let pageId = 0;
    for await (const page of pages) {
      // The page's own count, held while the plan is on it.
      openGroups.set(pageId, (openGroups.get(pageId) ?? 0) + 1);
      // A scan of a few stripes is still cut into enough groups to keep every worker busy.
      const groupBytes = options.groupBytes ?? Math.max(1, Math.min(GROUP_BYTES_MAX, Math.ceil(streamBytesOf(page) / (2 * options.threads))));
      for (const [from, to] of groupStripes(page, groupBytes)) yield { page, pageId, from, to };
      // Past the page: once its last group is read the workers can forget it.
      finishGroup(pageId);
      pageId++;
    }
  })();
  const launch = async (): Promise<void> => {
    while (!exhausted && !stopped && jobs.length < options.window) {
      const step = await groups.next();
      if (step.done === true) {
        exhausted = true;
        return;
      }
      if (stopped) return;
      const { page, pageId, from, to } = step.value;
      openGroups.set(pageId, (openGroups.get(pageId) ?? 0) + 1);
      const result = pool.readGroup(scan, pageId, page, settings, from, to);
      void result.then(() => finishGroup(pageId));
      const job: Job = { result, settled: result.then(() => job) };
      jobs.push(job);
    }
  };
  try {
    let launching = launch();
    for (;;) {
      await launching;
      if (jobs.length === 0) return;
      const job = options.ordered ? (jobs[0] as Job) : await Promise.race(jobs.map((j) => j.settled));
      jobs.splice(jobs.indexOf(job), 1);
      const result = await job.result;
      if (result.stats !== undefined) addScanStats(stats, result.stats);
      if (!result.ok) throw result.error;
      // The next groups go out while the consumer takes these.
      launching = launch();
      launching.catch(() => undefined);
      for (const batch of unpackBatches(result.packed, outSchema)) {
        stats.rows += batch.numRows;
        yield batch;
      }
      // The consumer has asked for the batch after this group's last: its arena is free.
      if (settings.reuse && result.packed.arena >= 0) pool.recycle(result.worker, result.packed.buffers[result.packed.arena] as ArrayBuffer);
    }
  } finally {
    stopped = true;
    pool.closeScan(scanId);
    // The plan pages' prefetch ends too.
    await groups.return(undefined).catch(() => undefined);
  }
}
