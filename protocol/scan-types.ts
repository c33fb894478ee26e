/**
 * Scan planning: which bytes of which chunks hold the requested columns of the selected stripes.
 *
 *   POST /v1/tables/:name/scan    ScanRequest -> ScanPlan (msgpack; `?format=json` expands streams)
 *
 * A plan for 1,000 columns of 1,000 stripes has a million stream locations, so each stripe's
 * streams travel packed: STREAM_ENTRY_BYTES per requested column, in request order.
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
}

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

export interface ScanPlan {
  readonly table: string;
  readonly schemaVersion: number;
  readonly columns: readonly ColumnInfo[];
  readonly blocks: readonly PlannedBlock[];
  readonly stripes: readonly PlannedStripe[];
  /** Stripes in the selected partitions and range before pruning. */
  readonly stripesConsidered: number;
  /** Of those, skipped because their stats rule out `where`. */
  readonly stripesPruned: number;
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
