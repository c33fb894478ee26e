/**
 * Two-phase partition writes: a writer opens a session (a lease it renews), asks for blocks one
 * at a time, stores their chunks on the nodes it was given, then commits a manifest. The commit
 * is atomic and idempotent; an aborted or expired session's blocks go to garbage collection.
 *
 *   POST /v1/tables/:name/sessions                  OpenSessionRequest -> SessionInfo
 *   GET  /v1/sessions/:id                                              -> SessionInfo
 *   POST /v1/sessions/:id/renew                                        -> SessionInfo
 *   POST /v1/sessions/:id/blocks                                       -> BlockPlacement
 *   POST /v1/sessions/:id/blocks/:blockId/replace   { shard }          -> BlockPlacement
 *   POST /v1/sessions/:id/commit                    CommitManifest     -> CommitResult
 *   POST /v1/sessions/:id/abort                                        -> SessionInfo
 */
import type { ColumnInfo, TableEncoding } from './catalog-types.js';

/** A session's life; a closed set. */
export const SESSION_STATES = [
  /** The writer holds the lease and may allocate blocks and commit. */
  'open',
  /** The manifest is in the catalog; a retried commit answers the same result. */
  'committed',
  /** The writer gave up; its blocks are queued for garbage collection. */
  'aborted',
  /** The lease ran out before a commit; its blocks are queued for garbage collection. */
  'expired',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export interface OpenSessionRequest {
  /** `key=value[/key=value]` naming every partition key of the table. */
  readonly partition: string;
  /** Lease length; renew before it runs out. Default 60 s. */
  readonly leaseMs?: number;
}

export interface SessionInfo {
  readonly sessionId: string;
  readonly table: string;
  readonly partition: string;
  readonly state: SessionState;
  readonly leaseMs: number;
  readonly leaseExpiresAt: string;
  readonly createdAt: string;
  readonly blocks: number;
  /** The table as the session saw it when it opened. */
  readonly schemaVersion: number;
  readonly columns: readonly ColumnInfo[];
  readonly ec: string;
  readonly codec: string;
  readonly blockBytes: number;
  readonly stripeRows: number;
  readonly stripeBytes: number;
  /** The table's stream settings (absent from older services: auto, level 1). */
  readonly encoding?: TableEncoding;
  readonly compressionLevel?: number;
  /** What one commit may hold (answered when a session opens): a writer stops before it passes them, not after uploading everything. */
  readonly limits?: CommitLimits;
}

export interface CommitLimits {
  /** Stripes one commit may add (the service's --stripes-per-commit-max). */
  readonly stripesPerCommitMax: number;
  /** The largest commit body the service reads. */
  readonly commitBodyBytesMax: number;
}

export interface ChunkPlacement {
  readonly shard: number;
  readonly chunkId: string;
  readonly nodeId: string;
  readonly url: string;
  /** Write capability for exactly this chunk (protocol/capability.ts), sent with the put. */
  readonly capability?: string;
}

export interface BlockPlacement {
  readonly blockId: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly codec: string;
  /** One per shard, data shards first; every node distinct. */
  readonly chunks: readonly ChunkPlacement[];
}

export interface ReplaceShardRequest {
  readonly shard: number;
}

/** Min/max are numbers; int64 values beyond 2^53 may be decimal strings. */
export interface StreamStats {
  readonly nulls: number;
  readonly min?: number | string;
  readonly max?: number | string;
}

export interface StreamEntry {
  readonly block: string;
  readonly offset: number;
  readonly length: number;
  /** xxh64 of the stream's bytes, 16 hex digits. */
  readonly checksum: string;
  /** Encoding id, defined by the client's stripe format. */
  readonly encoding: number;
  readonly stats?: StreamStats;
}

export interface StripeManifest {
  readonly rows: number;
  /** One per column of the file, in the file's column order. */
  readonly streams: readonly StreamEntry[];
}

export interface FileManifest {
  /** Column names this file stores, in stream order. */
  readonly columns: readonly string[];
  readonly stripes: readonly StripeManifest[];
  /**
   * Bytes the file's streams take in the plain layout (before per-stream encodings and
   * compression), for `granary stats`; absent: the streams' lengths (every stream plain).
   */
  readonly rawBytes?: number;
}

export interface BlockManifest {
  readonly blockId: string;
  readonly blockBytes: number;
  readonly shardBytes: number;
  /** The codec that computed the parity (it must match the placement's). */
  readonly codec: string;
  /**
   * xxh64 of each of the k+m shards (16 hex digits), data shards first: what repair checks a
   * rebuilt chunk against before it replaces a lost one.
   */
  readonly shardChecksums: readonly string[];
  /**
   * The put receipt (protocol/receipt.ts) each shard's node answered, data shards first: proof
   * that the node stored the chunk with that checksum. Checked against the node's registered key.
   */
  readonly receipts?: readonly string[];
}

export interface CommitManifest {
  readonly files: readonly FileManifest[];
  /** Every block the files use; allocated blocks left out are garbage collected. */
  readonly blocks: readonly BlockManifest[];
}

export interface CommitResult {
  readonly sessionId: string;
  readonly table: string;
  readonly partition: string;
  readonly fileIds: readonly string[];
  readonly rows: number;
  readonly bytes: number;
  /** True when this answers a retried commit of a session already committed. */
  readonly alreadyCommitted: boolean;
}
