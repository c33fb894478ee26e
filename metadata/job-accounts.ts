/**
 * Per-job read accounting (docs/design.md, "Jobs"): the counts readers report after their scans
 * and storage nodes with their heartbeats, summed per job and per table the job read. Memory is
 * bounded twice: at most JOBS_MAX jobs (the least recently seen forgotten first) and each job
 * forgotten `retentionMs` after it was last seen. Per-table totals since the service started
 * feed the Prometheus metrics (per table, never per job: jobs are unbounded in number).
 * Pure: time is passed in.
 */
import {
  type JobDetail,
  type JobReadCounts,
  type JobReadReport,
  type JobSummary,
  type JobTableCounts,
  type NodeJobCounts,
  READ_SIZE_BUCKETS,
  READ_SIZE_BUCKET_BOUNDS,
} from '../protocol/job-types.js';

/** Jobs remembered at once. */
export const JOBS_MAX = 1_000;
/** Tables remembered per job (a job reading more is summed into the ones it read first). */
export const JOB_TABLES_MAX = 64;
export const JOB_RETENTION_MS_DEFAULT = 7 * 24 * 3600_000;

/** Mutable counts; READ_SIZE_BUCKETS read sizes. */
export interface Counts {
  requests: number;
  bytesNeeded: number;
  bytesFetched: number;
  degradedReads: number;
  rebuildBytes: number;
  rows: number;
  stripes: number;
  readMs: number;
  scansFinished: number;
  readSizes: number[];
}

export interface NodeCounts {
  requests: number;
  bytesServed: number;
  cacheHits: number;
  cacheBytes: number;
}

export interface JobAccount {
  readonly job: string;
  readonly firstAt: number;
  lastAt: number;
  /** By table name, in the order the job first read them. */
  readonly tables: Map<string, Counts>;
  readonly nodes: NodeCounts;
}

export function emptyCounts(): Counts {
  return { requests: 0, bytesNeeded: 0, bytesFetched: 0, degradedReads: 0, rebuildBytes: 0, rows: 0, stripes: 0, readMs: 0, scansFinished: 0, readSizes: new Array<number>(READ_SIZE_BUCKETS).fill(0) };
}

function emptyNodeCounts(): NodeCounts {
  return { requests: 0, bytesServed: 0, cacheHits: 0, cacheBytes: 0 };
}

/** Adds `delta` to `into`. */
export function addCounts(into: Counts, delta: JobReadCounts & { readonly scansFinished: number }): void {
  into.requests += delta.requests;
  into.bytesNeeded += delta.bytesNeeded;
  into.bytesFetched += delta.bytesFetched;
  into.degradedReads += delta.degradedReads;
  into.rebuildBytes += delta.rebuildBytes;
  into.rows += delta.rows;
  into.stripes += delta.stripes;
  into.readMs += delta.readMs;
  into.scansFinished += delta.scansFinished;
  for (let i = 0; i < READ_SIZE_BUCKETS; i++) into.readSizes[i] = (into.readSizes[i] as number) + (delta.readSizes[i] ?? 0);
}

function sumOf(tables: Iterable<Counts>): Counts {
  const total = emptyCounts();
  for (const counts of tables) addCounts(total, counts);
  return total;
}

export class JobAccounts {
  /** Least recently seen first (re-inserted on every update). */
  private readonly jobs = new Map<string, JobAccount>();
  /** Since the service started, per table name: what the metrics export. */
  readonly tableTotals = new Map<string, Counts>();
  private readonly dirty = new Set<string>();
  private readonly forgotten = new Set<string>();

  constructor(
    readonly retentionMs = JOB_RETENTION_MS_DEFAULT,
    private readonly max = JOBS_MAX,
  ) {
    if (!(Number.isInteger(retentionMs) && retentionMs > 0)) throw new RangeError(`job retention must be a positive whole number of ms, got ${retentionMs}`);
  }

  /** A reader's counts since its previous report. */
  addReport(table: string, report: JobReadReport, now: number): void {
    const account = this.touch(report.job, now);
    let counts = account.tables.get(table);
    if (counts === undefined) {
      // Past the bound, a job's further tables add to the first one's figures: its totals stay true.
      if (account.tables.size >= JOB_TABLES_MAX) counts = account.tables.values().next().value as Counts;
      else {
        counts = emptyCounts();
        account.tables.set(table, counts);
      }
    }
    addCounts(counts, report);
    let total = this.tableTotals.get(table);
    if (total === undefined) {
      total = emptyCounts();
      this.tableTotals.set(table, total);
    }
    addCounts(total, report);
  }

  /** What one node served per job since its previous heartbeat. */
  addNodeCounts(counts: readonly NodeJobCounts[], now: number): void {
    for (const entry of counts) {
      const nodes = this.touch(entry.job, now).nodes;
      nodes.requests += entry.requests;
      nodes.bytesServed += entry.bytesServed;
      nodes.cacheHits += entry.cacheHits;
      nodes.cacheBytes += entry.cacheBytes;
    }
  }

  /** Recent jobs, most recently seen first. */
  list(now: number, limit = this.max): JobSummary[] {
    this.expire(now);
    const out: JobSummary[] = [];
    const accounts = [...this.jobs.values()];
    for (let i = accounts.length - 1; i >= 0 && out.length < limit; i--) out.push(summaryOf(accounts[i] as JobAccount));
    return out;
  }

  detail(job: string, now: number): JobDetail | undefined {
    this.expire(now);
    const account = this.jobs.get(job);
    if (account === undefined) return undefined;
    const byTable: JobTableCounts[] = [...account.tables].map(([table, counts]) => ({ table, ...frozen(counts) }));
    return { ...summaryOf(account), byTable, readSizeBounds: READ_SIZE_BUCKET_BOUNDS };
  }

  /** Drops jobs last seen longer than the retention ago. */
  expire(now: number): void {
    for (const [job, account] of this.jobs) {
      // Oldest first: the first one still within retention ends the walk.
      if (now - account.lastAt <= this.retentionMs) break;
      this.forget(job);
    }
  }

  /** Jobs changed since the last call, and jobs forgotten since then (for the store). */
  takeChanges(): { readonly changed: JobAccount[]; readonly forgotten: string[] } {
    const changed = [...this.dirty].flatMap((job) => {
      const account = this.jobs.get(job);
      return account === undefined ? [] : [account];
    });
    const forgotten = [...this.forgotten];
    this.dirty.clear();
    this.forgotten.clear();
    return { changed, forgotten };
  }

  /** A job read back from the store (loaded in any order; the least recently seen go first). */
  restore(accounts: readonly JobAccount[], now: number): void {
    for (const account of [...accounts].sort((a, b) => a.lastAt - b.lastAt)) {
      this.jobs.delete(account.job);
      this.jobs.set(account.job, account);
    }
    while (this.jobs.size > this.max) this.forget(this.jobs.keys().next().value as string);
    this.expire(now);
  }

  private touch(job: string, now: number): JobAccount {
    let account = this.jobs.get(job);
    if (account === undefined) {
      account = { job, firstAt: now, lastAt: now, tables: new Map(), nodes: emptyNodeCounts() };
    } else {
      this.jobs.delete(job);
      account.lastAt = Math.max(account.lastAt, now);
    }
    this.jobs.set(job, account);
    this.dirty.add(job);
    this.forgotten.delete(job);
    while (this.jobs.size > this.max) this.forget(this.jobs.keys().next().value as string);
    return account;
  }

  private forget(job: string): void {
    this.jobs.delete(job);
    this.dirty.delete(job);
    this.forgotten.add(job);
  }
}

function frozen(counts: Counts): JobReadCounts & { readonly scansFinished: number } {
  return { ...counts, readSizes: [...counts.readSizes] };
}

function summaryOf(account: JobAccount): JobSummary {
  const total = sumOf(account.tables.values());
  return {
    job: account.job,
    tables: [...account.tables.keys()],
    ...frozen(total),
    amplification: total.bytesNeeded === 0 ? 0 : total.bytesFetched / total.bytesNeeded,
    nodeBytesServed: account.nodes.bytesServed,
    cacheHits: account.nodes.cacheHits,
    cacheBytes: account.nodes.cacheBytes,
    firstAt: new Date(account.firstAt).toISOString(),
    lastAt: new Date(account.lastAt).toISOString(),
    durationMs: account.lastAt - account.firstAt,
  };
}

/** The stored form of a job: plain numbers and strings. */
export interface StoredJobAccount {
  readonly v: 1;
  readonly job: string;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly tables: readonly (readonly [table: string, counts: Counts])[];
  readonly nodes: NodeCounts;
}

export function toStoredJob(account: JobAccount): StoredJobAccount {
  return { v: 1, job: account.job, firstAt: account.firstAt, lastAt: account.lastAt, tables: [...account.tables], nodes: { ...account.nodes } };
}

/** A stored job, or undefined for a record this version cannot read (it is then left to expire). */
export function fromStoredJob(stored: unknown): JobAccount | undefined {
  if (typeof stored !== 'object' || stored === null) return undefined;
  const record = stored as Partial<StoredJobAccount>;
  if (record.v !== 1 || typeof record.job !== 'string' || typeof record.firstAt !== 'number' || typeof record.lastAt !== 'number' || !Array.isArray(record.tables)) return undefined;
  const tables = new Map<string, Counts>();
  for (const entry of record.tables) {
    const [table, counts] = entry as readonly [unknown, unknown];
    if (typeof table !== 'string' || typeof counts !== 'object' || counts === null) continue;
    const restored = emptyCounts();
    addCounts(restored, { ...emptyCounts(), ...(counts as Partial<Counts>) });
    tables.set(table, restored);
  }
  const nodes = { ...emptyNodeCounts(), ...(record.nodes ?? {}) };
  return { job: record.job, firstAt: record.firstAt, lastAt: record.lastAt, tables, nodes };
}
