/**
 * Keeping data through churn: the metadata service decides what must be repaired (it alone can
 * switch a chunk's location atomically) and storage nodes do the work, so no data ever flows
 * through the metadata service. Tasks travel in heartbeat answers, as HDFS's NameNode hands
 * reconstruction work to DataNodes; a node reports each task's outcome when it ends.
 *
 *   POST /v1/nodes/:id/heartbeat    NodeHeartbeat (repair slots, running tasks) -> HeartbeatAnswer
 *   POST /v1/repairs/:task/report   RepairReport                               -> RepairReportAnswer
 *   POST /v1/nodes/:id/inventory    InventoryPage                              -> InventoryPageAnswer
 *   GET  /v1/repair[?limit=&after=]                                            -> RepairStatus (paged: protocol/page-types.ts)
 *   POST /v1/nodes/:id/remove                                                  -> { nodeId, removed }
 */
import type { NodeInfo } from './node-types.js';
import type { HotSet } from './hot-cache-types.js';

/** How a lost or misplaced shard is restored; a closed set. */
export const RESTORE_MODES = [
  /** The shard's node still serves it (draining, or one of two shards on one node): copy it. */
  'copy',
  /** The shard cannot be read where it is: rebuild it from k other shards of the block. */
  'rebuild',
] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

/** Why a shard needs repair; a closed set. */
export const REPAIR_REASONS = [
  /** Its node has been silent past the dead-after time. */
  'dead-node',
  /** A scrub or a reader found its bytes rotten. */
  'corrupt',
  /** Its node does not hold it (inventory, or a read answered `missing`). */
  'missing',
  /** Its node is being drained. */
  'draining',
  /** Written under reduced redundancy: it shares a node with another shard of its block. */
  'doubled',
  /** Its node was removed from the cluster. */
  'removed-node',
] as const;
export type RepairReason = (typeof REPAIR_REASONS)[number];

export interface RepairSource {
  readonly shard: number;
  readonly chunkId: string;
  readonly nodeId: string;
  readonly url: string;
}

export interface ShardRestore {
  readonly shard: number;
  readonly chunkId: string;
  readonly mode: RestoreMode;
  /** For `copy`: the node to copy from. */
  readonly from?: RepairSource;
  readonly target: { readonly nodeId: string; readonly url: string };
  /** xxh64 of the shard (16 hex digits) as the writer committed it; absent for blocks written before it was recorded. */
  readonly checksum?: string;
  /** Replace capability for the restored chunk on its target. */
  readonly capability?: string;
}

/** One block's repair, executed by one storage node. */
export interface RepairTask {
  readonly taskId: string;
  readonly blockId: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly codec: string;
  readonly shardBytes: number;
  /** Healthy shards a rebuild may read, best first; a rebuild reads k of them. */
  readonly sources: readonly RepairSource[];
  readonly restores: readonly ShardRestore[];
  /** Read capability for the block's shards, for sources and copies. */
  readonly readCapability?: string;
  /** This task's share of the cluster's repair rate: bytes read per second, at most. */
  readonly rateBytesPerSecond: number;
  /** ISO time after which the metadata service gives the task up (a report then is refused). */
  readonly expiresAt: string;
}

export interface RepairShardResult {
  readonly shard: number;
  readonly ok: boolean;
  /** Why it failed; empty when ok. */
  readonly error?: string;
}

export interface RepairReport {
  readonly nodeId: string;
  readonly results: readonly RepairShardResult[];
  /** Bytes read from sources and written to targets, for progress and rate accounting. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

export interface RepairReportAnswer {
  /** Shards whose new location is now in the catalog. */
  readonly switched: readonly number[];
  /** Shards whose result was not applied (the block changed meanwhile), with the reason. */
  readonly discarded: readonly { readonly shard: number; readonly reason: string }[];
}

/** What the metadata service asks of a node in a heartbeat answer. */
export interface HeartbeatAnswer extends NodeInfo {
  /** Repair tasks for this node to run (never more than the slots it offered). */
  readonly repairs?: readonly RepairTask[];
  /** Asks for the node's chunk inventory under this round id (see InventoryPage). */
  readonly inventoryRound?: string;
  /** The node's hot extents, when they changed since the version it reported. */
  readonly hot?: HotSet;
}

/**
 * One page of a node's chunk inventory, in its listing order. The metadata service compares each
 * page with the chunks it expects on the node: expected but absent -> repair; present but
 * referenced by nothing -> orphan, deleted after a grace period.
 */
export interface InventoryPage {
  readonly round: string;
  /** The page's chunk ids, in order (sorted ascending). */
  readonly chunks: readonly string[];
  /** The last page of the round. */
  readonly done: boolean;
}

export interface InventoryPageAnswer {
  readonly accepted: number;
  /** False when the round is unknown (the service restarted, or the round timed out): stop sending. */
  readonly roundOpen: boolean;
}

/** Block health as repair sees it; a closed set. */
export const BLOCK_HEALTH = [
  /** Every shard readable on its own distinct node. */
  'healthy',
  /** Readable, but short of full redundancy: repair restores it. */
  'under-replicated',
  /** Fewer than k shards readable: the block cannot be read until nodes return. */
  'unavailable',
] as const;
export type BlockHealth = (typeof BLOCK_HEALTH)[number];

/** A block that needs repair, as `GET /v1/repair` lists it (most endangered first). */
export interface RepairItem {
  readonly blockId: string;
  readonly table: string;
  readonly dataShards: number;
  readonly parityShards: number;
  /** Shards readable now. */
  readonly healthyShards: number;
  /** Node losses the block survives now (k+m-1... down to -1 when unavailable). */
  readonly nodeFailuresToSpare: number;
  readonly status: Exclude<BlockHealth, 'healthy'> | 'moving';
  readonly badShards: readonly { readonly shard: number; readonly chunkId: string; readonly nodeId: string; readonly reason: RepairReason }[];
  /** The task restoring it, when one is running. */
  readonly taskId?: string;
}

export interface RepairCounters {
  readonly tasksStarted: number;
  readonly tasksDone: number;
  readonly tasksFailed: number;
  readonly tasksExpired: number;
  readonly shardsRestored: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

export interface RepairStatus {
  readonly blocks: {
    readonly total: number;
    readonly healthy: number;
    readonly underReplicated: number;
    readonly unavailable: number;
    /** Healthy blocks with a shard on a draining node, still to be copied off it. */
    readonly moving: number;
    /**
     * Under-replicated blocks whose shards are all readable but share nodes, in a cluster with
     * no node free of them: spread out when nodes join (counted in `underReplicated` too).
     */
    readonly waitingForNodes: number;
  };
  /** Shard bytes still to restore (under-replicated and moving blocks, less those waiting for nodes). */
  readonly bytesQueued: number;
  readonly tasksRunning: number;
  /** Since the metadata service started. */
  readonly counters: RepairCounters;
  /** Bytes written per second over the last minute. */
  readonly recentBytesPerSecond: number;
  /** Seconds to restore what is queued at the recent rate; null when nothing moves. */
  readonly etaSeconds: number | null;
  readonly settings: { readonly rateBytesPerSecond: number; readonly tasksMax: number; readonly deadAfterMs: number };
  /** The most endangered blocks first, up to the requested limit. */
  readonly items: readonly RepairItem[];
  /** The `after` of the next page of items; null on the last page (and when limit is 0). */
  readonly next: string | null;
}
