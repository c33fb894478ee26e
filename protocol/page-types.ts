/**
 * Pages of the metadata service's listings (issue 12: O(page) APIs). Every listing takes
 * `?limit=N&after=CURSOR` and answers its items in a stable order with `next`, the `after` of
 * the following page, or null on the last one. Cursors are opaque to clients: pass `next` back
 * as it came. A request without `limit` gets the default page, so an old client of a small
 * catalog still sees everything in one answer.
 *
 *   GET /v1/tables                                   TablePage      by name         1000 (max 1000)
 *   GET /v1/tables/:name/partitions                  PartitionPage  by spec         1000 (max 1000)
 *   GET /v1/tables/:name/partitions/:partition/files FilePage       commit order    1000 (max 1000)
 *   GET /v1/nodes                                    NodePage       by node id      1000 (max 1000)
 *   GET /v1/gc                                       GcStatus       by record key    100 (max 1000)
 *   GET /v1/repair                                   RepairStatus   most endangered  100 (0..1000; 0: counts only)
 *   GET /v1/blocks[?table=]                          BlockPage      by block id     1000 (max 1000)
 */
import type { PartitionFile, PartitionInfo, TableSummary } from './catalog-types.js';
import type { NodeInfo } from './node-types.js';
import type { PlannedBlock } from './scan-types.js';

/** Items one page may hold, for every listing. */
export const PAGE_LIMIT_MAX = 1_000;

/** Files `GET …/partitions/:partition` embeds; the rest are paged from its `filesNext`. */
export const PARTITION_FILES_EMBEDDED_MAX = 1_000;

export interface Paged {
  /** The `after` of the next page; null when this page is the last. */
  readonly next: string | null;
}

export interface TablePage extends Paged {
  readonly tables: readonly TableSummary[];
}

export interface PartitionPage extends Paged {
  readonly partitions: readonly PartitionInfo[];
}

export interface FilePage extends Paged {
  readonly files: readonly PartitionFile[];
}

export interface NodePage extends Paged {
  readonly nodes: readonly NodeInfo[];
}

export interface BlockPage extends Paged {
  readonly blocks: readonly PlannedBlock[];
}

/** The GC queue's totals, kept as records come and go. */
export interface GcBacklog {
  readonly records: number;
  readonly chunks: number;
  /** Records not tried before a later time: failed a pass and backing off, or a re-layout's old blocks waiting out its grace. */
  readonly backingOff: number;
}

/** One record of the GC queue: a block, or one copy of a chunk (`copy:CHUNK@NODE`). */
export interface GcEntry {
  readonly blockId: string;
  readonly chunks: readonly { readonly chunkId: string; readonly nodeId: string }[];
  readonly reason: string;
  readonly queuedAt: string;
  readonly attempts?: number;
  readonly nextAttemptAt?: string;
}

/** GET /v1/gc: the backlog and one page of its records in key order. */
export interface GcStatus extends GcBacklog, Paged {
  readonly blocks: readonly GcEntry[];
}
