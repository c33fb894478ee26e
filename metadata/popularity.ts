/**
 * Column popularity that means reads (docs/design.md, "Popularity"): per table and column, the
 * stream bytes training scans read of it and the number of scans (a job's epoch counts once,
 * however many splits and plan pages its workers ask for), both decayed exponentially with a
 * half-life, so last quarter's features fade behind this week's. A column keeps two numbers and
 * the time they were last brought up to date: decaying is a multiplication when it is read or
 * added to, never a history. Also, per table, the recent jobs behind the counts (bounded).
 * Pure: time is passed in.
 */

export const POPULARITY_HALF_LIFE_MS_DEFAULT = 7 * 24 * 3600_000;
/** Jobs remembered per table, the least recently seen forgotten first. */
export const POPULARITY_JOBS_MAX = 64;
/** (table, job, epoch) keys remembered to count a scan once; the oldest forgotten first. */
export const POPULARITY_SCANS_REMEMBERED_MAX = 16_384;

/** A column's decayed figures as of `at`. */
export interface ColumnScore {
  bytes: number;
  scans: number;
  at: number;
}

export interface JobScore {
  readonly job: string;
  bytes: number;
  /** Epochs of this job that read the table. */
  scans: number;
  lastAt: number;
}

/** What is kept per table (and stored: plain numbers and strings). */
export interface TablePopularity {
  readonly columns: Map<number, ColumnScore>;
  readonly jobs: Map<string, JobScore>;
}

/** The stored form of a table's popularity. */
export interface StoredPopularity {
  readonly v: 2;
  readonly columns: Record<string, readonly [bytes: number, scans: number, at: number]>;
  readonly jobs: readonly (readonly [job: string, bytes: number, scans: number, lastAt: number])[];
}

export function decayFactor(elapsedMs: number, halfLifeMs: number): number {
  return elapsedMs <= 0 ? 1 : 2 ** (-elapsedMs / halfLifeMs);
}

/** The column's figures decayed to `now` (a copy; the stored one is left as it was). */
export function scoreAt(score: ColumnScore, now: number, halfLifeMs: number): ColumnScore {
  const factor = decayFactor(now - score.at, halfLifeMs);
  return { bytes: score.bytes * factor, scans: score.scans * factor, at: Math.max(now, score.at) };
}

export function emptyTablePopularity(): TablePopularity {
  return { columns: new Map(), jobs: new Map() };
}

/**
 * Adds one plan page's reads: `bytesByColumn` are the stream bytes the page reads of each column;
 * `newScan` is true for the first page of a (job, epoch) on this table, which adds one scan to
 * each column read (columns of a page with no bytes, all null, still count the scan).
 */
export function addReads(
  table: TablePopularity,
  bytesByColumn: ReadonlyMap<number, number>,
  newScan: boolean,
  job: string,
  now: number,
  halfLifeMs: number,
): void {
  let total = 0;
  for (const [cid, bytes] of bytesByColumn) {
    const previous = table.columns.get(cid);
    const current = previous === undefined ? { bytes: 0, scans: 0, at: now } : scoreAt(previous, now, halfLifeMs);
    current.bytes += bytes;
    if (newScan) current.scans += 1;
    table.columns.set(cid, current);
    total += bytes;
  }
  const seen = table.jobs.get(job);
  // Re-inserted so the map's order is least recently seen first.
  table.jobs.delete(job);
  table.jobs.set(job, { job, bytes: (seen?.bytes ?? 0) + total, scans: (seen?.scans ?? 0) + (newScan ? 1 : 0), lastAt: now });
  while (table.jobs.size > POPULARITY_JOBS_MAX) table.jobs.delete(table.jobs.keys().next().value as string);
}

/** Remembers which (table, job, epoch) scans were counted, bounded, oldest forgotten first. */
export class CountedScans {
  private readonly keys = new Set<string>();

  constructor(private readonly max = POPULARITY_SCANS_REMEMBERED_MAX) {}

  /** True the first time a key is seen (while remembered). */
  firstTime(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
    return true;
  }
}

export function scanKey(tableId: string, job: string, epoch: number): string {
  return `${tableId}\u0000${job}\u0000${epoch}`;
}

export function toStored(table: TablePopularity): StoredPopularity {
  return {
    v: 2,
    columns: Object.fromEntries([...table.columns].map(([cid, s]) => [String(cid), [s.bytes, s.scans, s.at] as const])),
    jobs: [...table.jobs.values()].map((j) => [j.job, j.bytes, j.scans, j.lastAt] as const),
  };
}

/**
 * Reads a stored record. The first format was plain scan counts by column id: those become
 * scans and bytes alike (no bytes were recorded), as of `now`, so the old ranking carries over
 * and fades like any other.
 */
export function fromStored(stored: unknown, now: number): TablePopularity {
  const table = emptyTablePopularity();
  if (typeof stored !== 'object' || stored === null) return table;
  const record = stored as Partial<StoredPopularity> & Record<string, unknown>;
  if (record.v === 2 && typeof record.columns === 'object' && record.columns !== null) {
    for (const [cid, value] of Object.entries(record.columns)) {
      if (Array.isArray(value) && value.length === 3 && value.every((n) => typeof n === 'number' && Number.isFinite(n))) {
        table.columns.set(Number(cid), { bytes: value[0], scans: value[1], at: value[2] });
      }
    }
    for (const entry of Array.isArray(record.jobs) ? record.jobs : []) {
      const [job, bytes, scans, lastAt] = entry as readonly unknown[];
      if (typeof job === 'string' && typeof bytes === 'number' && typeof scans === 'number' && typeof lastAt === 'number') table.jobs.set(job, { job, bytes, scans, lastAt });
    }
    return table;
  }
  for (const [cid, count] of Object.entries(record)) {
    if (typeof count === 'number' && Number.isFinite(count)) table.columns.set(Number(cid), { bytes: count, scans: count, at: now });
  }
  return table;
}
