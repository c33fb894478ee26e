/**
 * Scan planning: which bytes of which chunks hold the requested columns of the selected stripes.
 *
 *   POST /v1/tables/:name/scan[?after=<next>&limit=<entries>]
 *        ScanRequest -> ScanPlan, one page (msgpack; `?format=json` expands streams)
 *
 * A plan for 1,000 columns of 1,000 stripes has a million stream locations, so each stripe's
 * streams travel packed: STREAM_ENTRY_BYTES per requested column, in request order. A table of a
 * million stripes would still make one answer of a hundred megabytes (and the heap to build it),
 * so plans come in pages of bounded weight: a page that is not the last carries `next`, an opaque
 * cursor the reader sends back with the same request body to get the following page.
 */
import type { ColumnInfo } from './catalog-types.js';

/** Conditions on a partition key's value (strings compare lexicographically, as ds dates do). */
export type PartitionPredicate =
  | { readonly eq: string }
  | { readonly in: readonly string[] }
  | { readonly gt?: string; readonly gte?: string; readonly lt?: string; readonly lte?: string };

export const STATS_OPS = ['=', '<', '<=', '>', '>=', 'between'] as const;
export type StatsOp = (typeof STATS_OPS)[number];

/** A condition on a scalar column, used to skip stripes whose min/max rule it out. */
export interface StatsPredicate {
  readonly column: string;
  readonly op: StatsOp;
  /** A number (or decimal string for int64), or `[low, high]` for `between` (inclusive). */
  readonly value: number | string | readonly [number | string, number | string];
}

export interface ScanRequest {
  /** Per partition key; partitions matching every condition are scanned. Default: all. */
  readonly partitions?: Readonly<Record<string, PartitionPredicate>>;
  /** Columns to read, in the order wanted. Default: every column. */
  readonly columns?: readonly string[];
  /** Stripe range `[from, to)` within each partition (stripes numbered in commit order). */
  readonly stripes?: { readonly from?: number; readonly to?: number };
  /** All must hold; stripes whose stats rule any out are skipped. */
  readonly where?: readonly StatsPredicate[];
  /**
   * The reading job (JOB_ID_PATTERN): popularity counts a job's epoch once, however many workers,
   * splits and plan pages read it. Default: one anonymous job.
   */
  readonly job?: string;
  /** Which pass of the job over the data (0 when not given). */
  readonly epoch?: number;
  /** Only `training` reads (the default) count toward popularity; exports and maintenance do not. */
  readonly purpose?: ScanPurpose;
}

export const SCAN_PURPOSES = ['training', 'export', 'maintenance'] as const;
export type ScanPurpose = (typeof SCAN_PURPOSES)[number];
/** A job id: letters, digits and `._:@/-`, 1-128 characters. */
export const JOB_ID_PATTERN = '^[A-Za-z0-9._:@/-]{1,128}$';
export const EPOCH_MAX = 2 ** 31 - 1;

export interface PlannedChunk {
  readonly shard: number;
  readonly chunkId: string;
  readonly nodeId: string;
  readonly url: string;
  readonly nodeState: string;
}

export interface PlannedBlock {
  readonly blockId: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly codec: string;
  readonly blockBytes: number;
  readonly shardBytes: number;
  readonly chunks: readonly PlannedChunk[];
  /** Read capability for the block's chunks (protocol/capability.ts), sent to the nodes with each read. */
  readonly capability?: string;
}

export interface PlannedStripe {
  readonly partition: string;
  readonly fileId: string;
  /** Index of the stripe within its partition, in commit order. */
  readonly stripe: number;
  readonly rows: number;
  /** Packed stream entries, one per requested column (see encodeStreamEntry). */
  readonly streams: Uint8Array;
}

/**
 * Most a plan page weighs, in stream entries (STREAM_ENTRY_BYTES each): 4 MiB of packed entries.
 * A reader already holds two groups of 32 MiB of stream data in flight; its plan (this page and
 * the one fetched ahead) stays an eighth of that. Building and packing a page takes a few
 * milliseconds, so even a 10-column table of 1 MiB stripes pays one plan round trip per ~10 GiB
 * read. The service holds at most one page per scan request in its heap.
 */
export const SCAN_PAGE_ENTRIES_MAX = 131_072;

/**
 * What a stripe's own fields (partition, file id, numbers) weigh on the wire, in entries: about
 * 100 bytes of msgpack. Counted so that a page of few (or no, as splits ask) columns stays bounded.
 */
export const STRIPE_HEADER_ENTRIES = 3;

/** A cursor is a few hundred characters (it names a partition spec and a file id); longer is not one of ours. */
export const SCAN_CURSOR_CHARS_MAX = 4096;

/** Which page of a plan to answer (the query string of the scan route). */
export interface ScanPageRequest {
  /** The previous page's `next`; absent for the first page. */
  readonly after?: string;
  /** Page weight in entries, 1..SCAN_PAGE_ENTRIES_MAX (default the maximum). */
  readonly limit?: number;
}

/** The weight of one planned stripe toward a page's limit. */
export function stripeWeightEntries(columns: number): number {
  return columns + STRIPE_HEADER_ENTRIES;
}

/**
 * One page of a plan. Pages follow one stable order (partitions by spec, files in commit order,
 * stripes in file order), each holds at least one stripe, and `blocks` lists only the blocks this
 * page's stripes use (block refs index this page's list).
 */
export interface ScanPlan {
  readonly table: string;
  readonly schemaVersion: number;
  readonly columns: readonly ColumnInfo[];
  readonly blocks: readonly PlannedBlock[];
  readonly stripes: readonly PlannedStripe[];
  /** Stripes in the selected partitions and range before pruning, walked for this page. */
  readonly stripesConsidered: number;
  /** Of those, skipped because their stats rule out `where`. */
  readonly stripesPruned: number;
  /** Cursor of the next page; absent on the last page. */
  readonly next?: string;
}

/**
 * One packed stream entry (little-endian):
 *   blockRef u32 | length u32 | offset f64 | checksum u64 | encoding u16 | reserved u16 | nulls u32
 * `blockRef` indexes `ScanPlan.blocks`; NO_BLOCK means the stripe predates the column: all null.
 */
export const STREAM_ENTRY_BYTES = 32;
export const NO_BLOCK = 0xffff_ffff;

export interface StreamLocation {
  readonly blockRef: number;
  readonly offset: number;
  readonly length: number;
  readonly checksum: bigint;
  readonly encoding: number;
  readonly nulls: number;
}

export function encodeStreamEntry(target: Uint8Array, index: number, entry: StreamLocation): void {
  const view = new DataView(target.buffer, target.byteOffset + index * STREAM_ENTRY_BYTES, STREAM_ENTRY_BYTES);
  view.setUint32(0, entry.blockRef, true);
  view.setUint32(4, entry.length, true);
  view.setFloat64(8, entry.offset, true);
  view.setBigUint64(16, entry.checksum, true);
  view.setUint16(24, entry.encoding, true);
  view.setUint16(26, 0, true);
  view.setUint32(28, entry.nulls, true);
}

export function decodeStreamEntry(source: Uint8Array, index: number): StreamLocation {
  const view = new DataView(source.buffer, source.byteOffset + index * STREAM_ENTRY_BYTES, STREAM_ENTRY_BYTES);
  return {
    blockRef: view.getUint32(0, true),
    length: view.getUint32(4, true),
    offset: view.getFloat64(8, true),
    checksum: view.getBigUint64(16, true),
    encoding: view.getUint16(24, true),
    nulls: view.getUint32(28, true),
  };
}
