/**
 * `scan()`: the reader preprocessing workers use. It plans with the metadata service (a bounded
 * page of the plan at a time, the next fetched while this one is read), reads the
 * requested columns of the selected stripes in groups (coalesced, batched, degraded when needed,
 * prefetching a bounded number of groups ahead of the consumer), verifies every stream's
 * checksum, decodes stripes into Arrow record batches, and filters rows. With `threads` > 1 the
 * groups are read on worker threads (scan-workers.ts); otherwise on the calling thread.
 */
import { hostname } from 'node:os';
import type * as arrow from 'apache-arrow';
import { GranaryError, type HttpPools, JOB_ID_PATTERN, type PartitionPredicate, type PlannedChunk, type ScanPlan, type ScanPurpose, type ScanRequest, type StatsPredicate } from '../../protocol/index.js';
import { arrowSchemaOf } from '../format/index.js';
import type { MetadataClient } from '../metadata-client.js';
import { Fetcher } from './fetcher.js';
import { type Group, groupStripes, outputBatches, outputColumns, readGroup } from './group-read.js';
import { COALESCING_DEFAULTS, type CoalescingOptions } from './read-plan.js';
import { defaultScanThreads, readWorkerPool } from './read-workers.js';
import { type ScanSettings } from './read-worker-protocol.js';
import { type ScanStats, newScanStats } from './scan-stats.js';
import { JobReporter } from './job-report.js';
import { corruptReporter } from './corrupt-reports.js';
import { scanOnWorkers } from './scan-workers.js';

export { type ScanStats, newScanStats } from './scan-stats.js';

export interface ScanOptions {
  readonly partitions?: Readonly<Record<string, PartitionPredicate>>;
  /** Columns to read, in output order; default all. */
  readonly columns?: readonly string[];
  /** Stats pruning, then row filtering: only rows matching every predicate are yielded. */
  readonly where?: readonly StatsPredicate[];
  /** Stripe range within each partition. */
  readonly stripes?: { readonly from?: number; readonly to?: number };
  readonly coalescing?: Partial<CoalescingOptions>;
  /** Batched requests in flight at once, over all read threads (default 16). */
  readonly concurrency?: number;
  /**
   * Bytes of streams read per group (default 32 MiB on the calling thread; with read workers, a
   * plan page's bytes over 2 groups per worker, at most 32 MiB, so that a scan of a few stripes
   * still keeps every worker busy); groups are the unit of prefetch and of work handed to a read
   * worker. A group holds at least one stripe.
   */
  readonly groupBytes?: number;
  /**
   * Groups read ahead of the consumer (default 2). With read workers, at least 2 per worker: one
   * decoding while the next one's bytes arrive.
   */
  readonly prefetchGroups?: number;
  /** Rebuild from parity what a node has not answered after this long (off by default). */
  readonly hedgeAfterMs?: number;
  /**
   * Weight of a plan page, in stream entries (default and most SCAN_PAGE_ENTRIES_MAX): smaller
   * pages hold less plan in memory and cost more plan requests.
   */
  readonly planPageEntries?: number;
  /**
   * Worker threads reading groups (fetch, checksums, repair, decode, row filter), each with its
   * own connections, handing finished batches over without copying their bytes. 0 or 1: all on
   * the calling thread. Default: `GRANARY_SCAN_THREADS`, else one fewer than the cores (at most
   * 8; so 1, the calling thread, on a 2-core host).
   */
  readonly threads?: number;
  /**
   * With read workers: batches in the table's order (default), or `false`, each group's batches
   * as soon as they are read (the same rows, in any order of groups; a slow node then holds back
   * only its own group).
   */
  readonly ordered?: boolean;
  /**
   * Batch lifetime. `true`: a batch is valid only until the next one is asked for (the next
   * `next()` of the iterator, or the end of the loop): its memory is then handed back to the
   * read worker and refilled with later batches, already faulted in, instead of fresh pages per
   * batch. Keeping a batch, or any array of it, past that point reads zero-length or other rows'
   * data: copy what you keep (`batch.getChild(name)?.toArray().slice()`). Default `false`: every
   * batch owns its memory until it is garbage. Only read workers recycle (no effect with threads <= 1).
   */
  readonly reuse?: boolean;
  /** Filled in as the scan runs. */
  readonly stats?: ScanStats;
  /**
   * The training job this scan is part of: column popularity counts a job's epoch once however
   * many workers and splits read it. Default `GRANARY_JOB`, else one id for this process.
   */
  readonly job?: string;
  /** The job's pass over the data (default 0): each epoch counts once. */
  readonly epoch?: number;
  /** `training` (default) counts toward popularity; `export` and `maintenance` reads do not. */
  readonly purpose?: ScanPurpose;
}

const JOB_ID = new RegExp(JOB_ID_PATTERN);
/** One job id per process when neither the scan nor GRANARY_JOB names one. */
const PROCESS_JOB = `${hostname()}:${process.pid}:${Date.now().toString(36)}`;

/** The job a scan reports: the option, else GRANARY_JOB, else this process's. */
export function scanJob(job: string | undefined): string {
  const chosen = job ?? process.env.GRANARY_JOB ?? PROCESS_JOB;
  if (!JOB_ID.test(chosen)) {
    throw new GranaryError('GRN_BAD_REQUEST', `job "${chosen.slice(0, 200)}" is not a job id: 1-128 letters, digits and . _ : @ / -`);
  }
  return chosen;
}

export async function* scanTable(
  http: HttpPools,
  metadata: MetadataClient,
  table: string,
  options: ScanOptions = {},
): AsyncGenerator<arrow.RecordBatch> {
  const threads = options.threads ?? defaultScanThreads();
  if (!Number.isInteger(threads) || threads < 0) throw new GranaryError('GRN_BAD_REQUEST', `threads must be a whole number >= 0, got ${threads}`);
  const output = options.columns;
  const whereColumns = (options.where ?? []).map((p) => p.column);
  const job = scanJob(options.job);
  const fetchColumns = output === undefined ? undefined : [...new Set([...output, ...whereColumns])];
  const request: ScanRequest = {
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    ...(fetchColumns === undefined ? {} : { columns: fetchColumns }),
    ...(options.stripes === undefined ? {} : { stripes: options.stripes }),
    ...(options.where === undefined ? {} : { where: options.where }),
    job,
    ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
    ...(options.purpose === undefined ? {} : { purpose: options.purpose }),
  };
  // The plan comes a page at a time, the next asked for while this one is read: the scan holds
  // about two pages of plan, whatever the size of the table.
  const pages = metadata.planPages(table, request, { prefetch: true, ...(options.planPageEntries === undefined ? {} : { limit: options.planPageEntries }) });
  const firstStep = await pages.next();
  if (firstStep.done === true) throw new GranaryError('GRN_INTERNAL', `planning ${table} answered no page`);
  const first = firstStep.value;
  const stats = options.stats ?? newScanStats();
  const reportCorrupt = corruptReporter(metadata, 'client read');
  async function* everyPage(): AsyncGenerator<ScanPlan> {
    let page: ScanPlan | undefined = first;
    while (page !== undefined) {
      // Every page is of the schema version the scan began with: the service refuses a cursor otherwise.
      if (page.schemaVersion !== first.schemaVersion || page.columns.length !== first.columns.length) {
        throw new GranaryError('GRN_INTERNAL', `plan pages of ${table} changed schema mid-scan (version ${first.schemaVersion} -> ${page.schemaVersion})`);
      }
      yield page;
      const step: IteratorResult<ScanPlan> = await pages.next();
      page = step.done === true ? undefined : step.value;
    }
  }
  const settings: ScanSettings = {
    where: options.where ?? [],
    outputNames: output ?? first.columns.map((c) => c.name),
    coalescing: { ...COALESCING_DEFAULTS, ...options.coalescing },
    concurrency: options.concurrency ?? 16,
    ...(options.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: options.hedgeAfterMs }),
    reuse: options.reuse === true,
    job,
  };
  const reporter = new JobReporter((name, report) => metadata.reportReads(name, report), table, job, stats, Date.now());
  try {
    for await (const batch of readBatches(http, options, first.columns, everyPage, settings, stats, reportCorrupt, threads)) {
      reporter.tick(Date.now());
      yield batch;
    }
  } finally {
    reporter.finish(Date.now());
  }
}

/** The batches of every page's stripes: on read workers when `threads` > 1, else on this thread. */
async function* readBatches(
  http: HttpPools,
  options: ScanOptions,
  planColumns: ScanPlan['columns'],
  everyPage: () => AsyncGenerator<ScanPlan>,
  settings: ScanSettings,
  stats: ScanStats,
  reportCorrupt: (chunk: PlannedChunk, reason: string, missing: boolean) => void,
  threads: number,
): AsyncGenerator<arrow.RecordBatch> {
  const schema = arrowSchemaOf(planColumns);
  if (threads > 1) {
    yield* scanOnWorkers(readWorkerPool(), threads, http.options, everyPage(), schema, settings, stats, reportCorrupt, {
      groupBytes: options.groupBytes,
      threads,
      window: Math.max(options.prefetchGroups ?? 2, 2 * threads),
      ordered: options.ordered !== false,
    });
    return;
  }

  const fetchOptions = {
    concurrency: settings.concurrency,
    ...(settings.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: settings.hedgeAfterMs }),
    ...(settings.job === undefined ? {} : { job: settings.job }),
  };
  const groupBytes = options.groupBytes ?? 32 * 1024 * 1024;
  async function* groupsOfEveryPage(): AsyncGenerator<Group> {
    for await (const page of everyPage()) {
      // A fetcher per page, over that page's blocks. It forgets the nodes that failed on the
      // previous page, but each page brings node states fresh from the catalog instead.
      const fetcher = new Fetcher(http, page.blocks, fetchOptions, stats, reportCorrupt);
      for (const [from, to] of groupStripes(page, groupBytes)) yield { page, fetcher, stripes: page.stripes.slice(from, to) };
    }
  }
  const prefetch = Math.max(1, options.prefetchGroups ?? 2);
  const columns = outputColumns(schema, settings.outputNames);
  const groups = groupsOfEveryPage();
  const inFlight: Promise<arrow.RecordBatch[]>[] = [];
  let exhausted = false;
  const launch = async (): Promise<void> => {
    while (!exhausted && inFlight.length < prefetch) {
      const step = await groups.next();
      if (step.done === true) {
        exhausted = true;
        return;
      }
      const pending = readGroup(step.value, settings.coalescing, schema, stats);
      // Awaited in order below; a rejection is surfaced there, not left unhandled meanwhile.
      pending.catch(() => undefined);
      inFlight.push(pending);
    }
  };
  let launching = launch();
  for (;;) {
    await launching;
    const pending = inFlight.shift();
    if (pending === undefined) return;
    const batches = await pending;
    // Groups (and at a page's end, the next page) are launched while the consumer takes these.
    launching = launch();
    launching.catch(() => undefined);
    for (const batch of batches) {
      for (const selected of outputBatches(batch, settings.where, columns)) {
        stats.rows += selected.numRows;
        yield selected;
      }
    }
  }
}
