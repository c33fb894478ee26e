/**
 * How endangered a block is, and which of its shards must move, from catalog facts alone: the
 * state of each shard's node, the damaged-chunk records, and whether two shards share a node.
 * Pure, so the repair scheduler's decisions can be tested case by case in microseconds.
 *
 * The measure of danger is node failures to spare: how many of the block's nodes could fail at
 * once (the ones holding most of its shards first) before fewer than k readable shards remain.
 * A fully spread healthy block spares m; a block one failure from loss spares 0; an unreadable
 * one -1. Repair takes the blocks with the fewest to spare first.
 */
import type { BlockHealth, NodeState, RepairReason, RestoreMode } from '../protocol/index.js';
import type { BlockRecord, CorruptRecord } from './records.js';

export interface ShardNeed {
  readonly shard: number;
  readonly reason: RepairReason;
  /** `copy` when the shard is still readable where it is, else `rebuild`. */
  readonly mode: RestoreMode;
  readonly fromNode: string;
}

export interface BlockAssessment {
  /** Shards that can be read now. */
  readonly readableShards: readonly number[];
  readonly nodeFailuresToSpare: number;
  /** `moving`: healthy, but shards must still be copied off draining nodes. */
  readonly health: BlockHealth | 'moving';
  readonly needs: readonly ShardNeed[];
}

/** A node's state as repair sees it: `removed` when the node is no longer registered. */
export type NodeStanding = NodeState | 'removed';

export function assessBlock(
  block: BlockRecord,
  standingOf: (nodeId: string) => NodeStanding,
  damagedChunk: (chunkId: string) => CorruptRecord | undefined,
): BlockAssessment {
  const readable: number[] = [];
  const needs: ShardNeed[] = [];
  const firstShardOn = new Map<string, number>();
  block.nodes.forEach((nodeId, shard) => {
    const standing = standingOf(nodeId);
    const damaged = damagedChunk(`${block.blockId}.${shard}`);
    const lostReason: RepairReason | undefined =
      standing === 'removed'
        ? 'removed-node'
        : standing === 'dead'
          ? 'dead-node'
          : damaged !== undefined && damaged.nodeId === nodeId
            ? damaged.missing === true
              ? 'missing'
              : 'corrupt'
            : undefined;
    if (lostReason !== undefined) {
      needs.push({ shard, reason: lostReason, mode: 'rebuild', fromNode: nodeId });
      return;
    }
    readable.push(shard);
    if (standing === 'draining') {
      needs.push({ shard, reason: 'draining', mode: 'copy', fromNode: nodeId });
    } else if (firstShardOn.has(nodeId)) {
      needs.push({ shard, reason: 'doubled', mode: 'copy', fromNode: nodeId });
    }
    if (!firstShardOn.has(nodeId)) firstShardOn.set(nodeId, shard);
  });
  const spare = nodeFailuresToSpare(block, readable);
  const health: BlockAssessment['health'] =
    readable.length < block.dataShards
      ? 'unavailable'
      : needs.some((need) => need.reason !== 'draining')
        ? 'under-replicated'
        : needs.length > 0
          ? 'moving'
          : 'healthy';
  return { readableShards: readable, nodeFailuresToSpare: spare, health, needs };
}

/** Node losses the block survives, the worst ones (nodes holding most of its shards) first. */
function nodeFailuresToSpare(block: BlockRecord, readable: readonly number[]): number {
  if (readable.length < block.dataShards) return -1;
  const perNode = new Map<string, number>();
  for (const shard of readable) {
    const nodeId = block.nodes[shard] as string;
    perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
  }
  const counts = [...perNode.values()].sort((a, b) => b - a);
  let left = readable.length;
  let spared = 0;
  for (const count of counts) {
    if (left - count < block.dataShards) break;
    left -= count;
    spared++;
  }
  return spared;
}
