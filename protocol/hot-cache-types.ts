/**
 * The hot-column cache (docs/design.md, "Hot-column cache"): storage nodes keep in memory the
 * chunk ranges that holds the columns training jobs declared they will read, so later epochs (of
 * the same and other jobs) are served without touching disk. Admission follows the declarations
 * and the columns' decayed popularity, never recency alone: a one-off scan of other columns
 * cannot flush it.
 *
 *   POST /v1/tables/:name/declarations   JobDeclaration (without table) -> DeclaredJob (also made by a job's first training plan)
 *   GET  /v1/declarations        -> Declarations
 *
 * The service turns the declarations into each node's hot extents and hands them out with
 * heartbeat answers (HeartbeatAnswer.hot) whenever they changed (NodeHeartbeat.hotVersion).
 */
import type { PartitionPredicate } from './scan-types.js';

export interface JobDeclaration {
  /** JOB_ID_PATTERN (scan-types.ts). */
  readonly job: string;
  readonly table: string;
  /** Columns the job reads (default: every column). */
  readonly columns?: readonly string[];
  /** Partitions it reads (default: all), as in a scan request. */
  readonly partitions?: Readonly<Record<string, PartitionPredicate>>;
  /** How long the declaration holds (ms); default JOB_DECLARATION_TTL_MS_DEFAULT. */
  readonly ttlMs?: number;
}

export interface DeclaredJob extends JobDeclaration {
  /** `register` (granary jobs register) or `first-epoch` (made by the job's first training plan). */
  readonly source: 'register' | 'first-epoch';
  readonly declaredAt: string;
  readonly expiresAt: string;
}

/** GET /v1/declarations. */
export interface Declarations {
  readonly declarations: readonly DeclaredJob[];
  /** The version of the hot sets computed last (nodes report the one they hold as granary_storage_hot_cache{kind="version"}). */
  readonly hotVersion: number;
  /** A newer version is being computed, or due. */
  readonly hotPending: boolean;
}

export const JOB_DECLARATION_TTL_MS_DEFAULT = 24 * 3600_000;
/**
 * A declaration a job's first training plan made holds this long, renewed by each later epoch's
 * first plan: an ad-hoc training scan does not keep its columns hot for a day.
 */
export const JOB_DECLARATION_FIRST_EPOCH_TTL_MS = 3600_000;
export const JOB_DECLARATION_TTL_MS_MAX = 30 * 24 * 3600_000;
/** Declarations kept at once (the oldest forgotten first). */
export const JOB_DECLARATIONS_MAX = 256;

/** A range of a chunk a node should keep in memory, and how much it is worth keeping. */
export interface HotExtent {
  readonly chunkId: string;
  readonly offset: number;
  readonly length: number;
  /** Higher is kept longer: the decayed bytes read of the columns it holds (at least 1). */
  readonly priority: number;
}

/** A node's hot extents, sent in a heartbeat answer when they changed. */
export interface HotSet {
  readonly version: number;
  readonly extents: readonly HotExtent[];
}

/** Extents one node is given at most (the highest priorities). */
export const HOT_EXTENTS_PER_NODE_MAX = 50_000;
