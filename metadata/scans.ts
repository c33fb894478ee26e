/**
 * Scan planning against the live catalog, and feature popularity: how much training scans read
 * of each column (popularity.ts), so writers can lay popular columns side by side and readers
 * coalesce them into large reads. Figures are kept in memory and flushed to the store now and
 * then (losing the last few seconds of them in a crash is harmless).
 */
import { STREAM_ENTRY_BYTES, type ScanPageRequest, type ScanPlan, type ScanRequest } from '../protocol/index.js';
import type { NodeRegistry } from './nodes.js';
import type { ManifestCache } from './manifests/cache.js';
import { PIECE_BYTES_TARGET } from './manifests/pieces.js';
import { READ_AHEAD_PIECES, planScan } from './planner.js';
import { CountedScans, POPULARITY_HALF_LIFE_MS_DEFAULT, addReads, emptyTablePopularity, scoreAt, scanKey, toStored } from './popularity.js';
import type { FileRecord } from './records.js';
import type { MetadataState } from './state.js';
import type { Catalog } from './tables.js';

export interface ColumnPopularity {
  readonly column: string;
  readonly featureId?: number;
  /** Stream bytes training scans read of it, decayed to now. */
  readonly bytes: number;
  /** Training scans (a job's epoch once) that read it, decayed to now. */
  readonly scans: number;
}

export interface JobPopularity {
  readonly job: string;
  /** Stream bytes the job's training scans read of the table (not decayed). */
  readonly bytes: number;
  /** Its epochs that read the table. */
  readonly scans: number;
  readonly lastAt: string;
}

/** A scan request without a job: all its pages count as one scan of this job. */
export const ANONYMOUS_JOB = 'anonymous';

/** Read-ahead needs room for a page's pieces in flight several times over. */
const READ_AHEAD_CACHE_BYTES_MIN = 4 * (READ_AHEAD_PIECES + 1) * PIECE_BYTES_TARGET;

export class Scans {
  private dirty = new Set<string>();
  private readonly counted = new CountedScans();
  /** Told of the first plan of each (table, job, epoch) of a training scan: the hot-column cache declares the job from it. */
  onTrainingScan: ((table: string, job: string, request: ScanRequest) => void) | undefined;

  constructor(
    private readonly state: MetadataState,
    private readonly catalog: Catalog,
    private readonly nodes: NodeRegistry,
    /** Manifest pieces come through it: the service's memory for them is bounded by its size. */
    readonly manifests: ManifestCache,
    private readonly halfLifeMs = POPULARITY_HALF_LIFE_MS_DEFAULT,
  ) {}

  /**
   * One page of the scan's plan. A training scan (the default purpose) adds each page's stream
   * bytes to its columns' popularity, and one scan per (job, epoch) however many splits and pages
   * its workers plan; exports and maintenance reads count nothing.
   */
  async plan(tableName: string, request: ScanRequest, page: ScanPageRequest = {}): Promise<ScanPlan> {
    // The table is looked up inside the gate: a drop that ran while this page waited is seen.
    const { table, plan, columnCids } = await this.state.plans.plan(async () => {
      const table = this.catalog.table(tableName);
      const now = Date.now();
      const result = await planScan(
        {
          table,
          partitions: [...this.state.partitionsOf(table.id).values()],
          files: (partition) => this.state.files.get(table.id)?.get(partition) ?? [],
          block: (blockId) => this.state.blocks.get(blockId),
          node: (nodeId) => {
            const node = this.state.nodes.get(nodeId);
            return node === undefined ? undefined : { url: node.url, state: this.nodes.stateOf(node, now) };
          },
          piece: (file, piece) => this.manifests.peek(file, piece) ?? this.manifests.get(file, piece),
          // Reading ahead into a cache too small to keep what it read would only evict pieces
          // the walk is about to use.
          ...(this.manifests.bytesMax < READ_AHEAD_CACHE_BYTES_MIN
            ? {}
            : {
                readAhead: (file: FileRecord, piece: number) => {
                  // Only a head start: the walk asks for the piece again when it needs it, and a
                  // failed load is answered to that request, so this one's failure has nowhere to go.
                  if (!this.manifests.holds(file, piece)) this.manifests.get(file, piece).catch(() => undefined);
                },
              }),
        },
        request,
        page,
      );
      return { table, ...result };
    });
    if ((request.purpose ?? 'training') !== 'training' || columnCids.length === 0) return plan;
    const job = request.job ?? ANONYMOUS_JOB;
    const newScan = this.counted.firstTime(scanKey(table.id, job, request.epoch ?? 0));
    let figures = this.state.popularity.get(table.id);
    if (figures === undefined) {
      figures = emptyTablePopularity();
      this.state.popularity.set(table.id, figures);
    }
    addReads(figures, bytesByColumn(plan, columnCids), newScan, job, Date.now(), this.halfLifeMs);
    this.dirty.add(table.id);
    if (newScan && request.job !== undefined) this.onTrainingScan?.(table.name, request.job, request);
    return plan;
  }

  /** The table's columns by decayed bytes read, most first (then by scans, then by name). */
  popularity(tableName: string): ColumnPopularity[] {
    const table = this.catalog.table(tableName);
    const figures = this.state.popularity.get(table.id);
    const now = Date.now();
    return table.columns
      .filter((column) => column.droppedInVersion === undefined)
      .map((column) => {
        const score = figures?.columns.get(column.cid);
        const current = score === undefined ? { bytes: 0, scans: 0 } : scoreAt(score, now, this.halfLifeMs);
        return {
          column: column.name,
          ...(column.featureId === undefined ? {} : { featureId: column.featureId }),
          bytes: Math.round(current.bytes),
          scans: Math.round(current.scans * 100) / 100,
        };
      })
      .sort((a, b) => b.bytes - a.bytes || b.scans - a.scans || (a.column < b.column ? -1 : 1));
  }

  /** A column's decayed bytes read (0 when never read, or no such column). */
  columnBytes(tableName: string, columnName: string): number {
    const table = this.catalog.table(tableName);
    const column = table.columns.find((c) => c.name === columnName && c.droppedInVersion === undefined);
    return column === undefined ? 0 : (this.columnScores(table.id, [column.cid], Date.now())[0]?.bytes ?? 0);
  }

  /** Decayed bytes and scans of the given columns (by id) of a table, in their order; never read: zero. */
  columnScores(tableId: string, cids: readonly number[], now: number): { bytes: number; scans: number }[] {
    const figures = this.state.popularity.get(tableId);
    return cids.map((cid) => {
      const score = figures?.columns.get(cid);
      return score === undefined ? { bytes: 0, scans: 0 } : scoreAt(score, now, this.halfLifeMs);
    });
  }

  /** The recent jobs whose training scans read the table, most recently seen first. */
  jobs(tableName: string): JobPopularity[] {
    const table = this.catalog.table(tableName);
    const jobs = [...(this.state.popularity.get(table.id)?.jobs.values() ?? [])].reverse();
    return jobs.map((job) => ({ job: job.job, bytes: job.bytes, scans: job.scans, lastAt: new Date(job.lastAt).toISOString() }));
  }

  /** Writes changed figures to the store. */
  async flush(): Promise<void> {
    const tables = [...this.dirty];
    this.dirty = new Set();
    for (const tableId of tables) {
      const figures = this.state.popularity.get(tableId);
      if (figures === undefined) continue;
      await this.state.db.popularity.put(tableId, toStored(figures));
    }
  }
}

/** Stream bytes a plan page reads of each column (by column id), from its packed entries. */
function bytesByColumn(plan: ScanPlan, columnCids: readonly number[]): Map<number, number> {
  const totals = new Float64Array(columnCids.length);
  for (const stripe of plan.stripes) {
    const view = new DataView(stripe.streams.buffer, stripe.streams.byteOffset, stripe.streams.byteLength);
    const count = Math.min(columnCids.length, Math.floor(stripe.streams.byteLength / STREAM_ENTRY_BYTES));
    for (let c = 0; c < count; c++) totals[c] = (totals[c] as number) + view.getUint32(c * STREAM_ENTRY_BYTES + 4, true);
  }
  return new Map(columnCids.map((cid, c) => [cid, totals[c] as number]));
}
