/**
 * Tables and columns as users declare them (the schema file of `granary table create`) and as the
 * metadata service describes them.
 *
 *   POST   /v1/tables                       TableSpec        -> TableInfo
 *   GET    /v1/tables[?limit=&after=]                       -> TablePage (protocol/page-types.ts)
 *   GET    /v1/tables/:name                                  -> TableInfo
 *   PATCH  /v1/tables/:name                 TableAlteration  -> TableInfo
 *   DELETE /v1/tables/:name                                  -> { table, partitions, blocksQueued }
 */
import { type DecimalType, decimalParamsOf, readDecimalType } from './decimal.js';

/** Column types, recommendation data first. Every column is nullable. */
export const COLUMN_TYPES = [
  'float',
  'double',
  'int32',
  'int64',
  'bool',
  'string',
  'bytes',
  /** List of int64 ids. */
  'id_list',
  /** List of (int64 id, float32 score) pairs. */
  'id_score_list',
  /** List of float32 (embeddings, fixed or variable length). */
  'float_list',
  // Appended, never inserted: a type's index is its code in stored streams.
  /** int64 microseconds since 1970-01-01T00:00:00Z (Arrow Timestamp<MICROSECOND, "UTC">). */
  'timestamp',
  /** int32 days since 1970-01-01 (Arrow Date32). */
  'date',
  /**
   * The kind of every `decimal(p,s)` column (protocol/decimal.ts): 128-bit unscaled integers
   * (Arrow Decimal128). Never a column's type by itself: a column says its p and s.
   */
  'decimal',
  /** List of strings (categorical tokens; Arrow List<Utf8>). */
  'string_list',
] as const;
/** What a stream's type code names: a column type without its parameters. */
export type TypeKind = (typeof COLUMN_TYPES)[number];
/** A column's type: a kind, or `decimal(p,s)` for the decimal kind. */
export type ColumnType = Exclude<TypeKind, 'decimal'> | DecimalType;

/** The column types as a message lists them. */
export const COLUMN_TYPE_NAMES = COLUMN_TYPES.map((kind) => (kind === 'decimal' ? 'decimal(p,s)' : kind)).join(', ');

/** The kind (stream type code) of a column type. */
export function kindOf(type: ColumnType): TypeKind {
  return decimalParamsOf(type) === undefined ? (type as Exclude<TypeKind, 'decimal'>) : 'decimal';
}

/** Whether `text` is a column type in its canonical form (`decimal(12,2)`, not `DECIMAL(12, 2)`). */
export function isColumnType(text: string): text is ColumnType {
  if (text === 'decimal') return false;
  return (COLUMN_TYPES as readonly string[]).includes(text) || decimalParamsOf(text) !== undefined;
}

/**
 * A column type as users write it, in canonical form; a reason when it is not one. Decimal types
 * are read in any case and spacing (`DECIMAL(12, 2)`), other types as they are listed.
 */
export function readColumnType(text: string): { readonly ok: true; readonly type: ColumnType } | { readonly ok: false; readonly reason: string } {
  const decimal = readDecimalType(text);
  if (decimal !== undefined) return decimal;
  if (isColumnType(text)) return { ok: true, type: text };
  return { ok: false, reason: `unknown type ${JSON.stringify(text)}; types are ${COLUMN_TYPE_NAMES}` };
}

/** Types whose stripes carry min/max stats, so predicates can prune them (and every decimal(p,s)). */
export const SCALAR_NUMERIC_TYPES: readonly ColumnType[] = ['float', 'double', 'int32', 'int64', 'bool', 'timestamp', 'date'];

/** Whether stripes of a column of `type` carry min/max stats. */
export function hasStripeStats(type: ColumnType): boolean {
  return SCALAR_NUMERIC_TYPES.includes(type) || kindOf(type) === 'decimal';
}

/** Table, column and partition key names. */
export const NAME_PATTERN = /^[a-z_][a-z0-9_]{0,127}$/;

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  /** Optional numeric feature id (ML feature registry). */
  readonly featureId?: number;
}

export interface TableSpec {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  /** Partition keys; default `["ds"]`. */
  readonly partitionBy?: readonly string[];
  /** Erasure policy `k+m`; default `6+3`. */
  readonly ec?: string;
  /** Target bytes per block; default 64 MiB. */
  readonly blockBytes?: number;
  /** Target rows per stripe; default 65536. */
  readonly stripeRows?: number;
  /** Upper bound on a stripe's bytes; default 64 MiB. */
  readonly stripeBytes?: number;
  /** Days partitions are kept, e.g. `90d`; absent = forever. */
  readonly retention?: string;
  /** How writers store streams; default `auto`. */
  readonly encoding?: TableEncoding;
  /** zstd level of the sections writers compress (COMPRESSION_LEVEL_RANGE); default 1. */
  readonly compressionLevel?: number;
}

/**
 * How writers store a table's column streams: `auto` (each stream in the smallest form the writer
 * finds: bit-packed, dictionary, zstd, or plain when nothing is smaller) or `plain` (every
 * stream as the plain layout, no compression). A closed set.
 */
export type TableEncoding = 'auto' | 'plain';
export const TABLE_ENCODINGS: readonly TableEncoding[] = ['auto', 'plain'];
/** zstd levels a table may ask for. */
export const COMPRESSION_LEVEL_RANGE = [1, 19] as const;

export interface ColumnInfo extends ColumnSpec {
  /** Schema version that added the column. */
  readonly addedInVersion: number;
}

export interface TableInfo {
  readonly name: string;
  readonly id: string;
  readonly columns: readonly ColumnInfo[];
  readonly partitionBy: readonly string[];
  readonly ec: string;
  readonly blockBytes: number;
  readonly stripeRows: number;
  readonly stripeBytes: number;
  readonly retentionDays: number | null;
  readonly encoding: TableEncoding;
  readonly compressionLevel: number;
  readonly schemaVersion: number;
  readonly createdAt: string;
}

export interface TableSummary {
  readonly name: string;
  readonly columns: number;
  readonly partitions: number;
  readonly rows: number;
  readonly bytes: number;
  readonly ec: string;
  readonly createdAt: string;
}

/**
 *   GET    /v1/tables/:name/partitions[?limit=&after=]       -> PartitionPage (protocol/page-types.ts)
 *   GET    /v1/tables/:name/partitions/:partition            -> PartitionDetail
 *   GET    /v1/tables/:name/partitions/:partition/files[?limit=&after=] -> FilePage
 */
export interface PartitionInfo {
  readonly partition: string;
  readonly values: Readonly<Record<string, string>>;
  readonly files: number;
  readonly stripes: number;
  readonly rows: number;
  /** Stream bytes as stored (encoded and compressed), before erasure coding. */
  readonly bytes: number;
  /** The same streams in the plain layout (absent from older services: equal to `bytes`). */
  readonly rawBytes?: number;
  readonly createdAt: string;
}

/** One committed file of a partition; `sequence` is its place in commit order (the files listing's sort key). */
export interface PartitionFile {
  readonly fileId: string;
  readonly sequence: number;
  readonly rows: number;
  readonly bytes: number;
  readonly stripes: number;
  readonly committedAt: string;
  readonly sessionId: string;
}

export interface PartitionDetail extends PartitionInfo {
  /** The first files in commit order, at most PARTITION_FILES_EMBEDDED_MAX (protocol/page-types.ts). */
  readonly fileList: readonly PartitionFile[];
  /** null when `fileList` is all of them; else the `after` of GET …/partitions/:partition/files for the rest. */
  readonly filesNext: string | null;
}

/**
 *   DELETE /v1/tables/:name/partitions/:partition/files/:fileId    (admin)   -> DroppedFile
 * Removes one bad file; its blocks no other file reads are garbage collected.
 */
export interface DroppedFile {
  readonly table: string;
  readonly partition: string;
  readonly fileId: string;
  readonly rows: number;
  readonly stripes: number;
  readonly blocksQueued: number;
  /** It was the partition's last file: the partition is gone too. */
  readonly partitionDropped: boolean;
}

export interface TableAlteration {
  readonly addColumns?: readonly ColumnSpec[];
  readonly dropColumns?: readonly string[];
  /** New stream settings; they apply to files written from then on (no schema version). */
  readonly encoding?: TableEncoding;
  readonly compressionLevel?: number;
}

export const TABLE_DEFAULTS = {
  partitionBy: ['ds'] as readonly string[],
  ec: '6+3',
  blockBytes: 64 * 1024 * 1024,
  stripeRows: 65_536,
  stripeBytes: 64 * 1024 * 1024,
  encoding: 'auto' as TableEncoding,
  compressionLevel: 1,
} as const;
