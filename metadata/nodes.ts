/**
 * Storage nodes as the metadata service knows them: registration, heartbeats, liveness
 * (`alive` -> `suspect` -> `dead` as heartbeats stop), draining, removal, and reports of chunks
 * that are corrupt or missing where the catalog places them.
 */
import { publicKeyFromText } from '../protocol/capability.js';
import {
  type CorruptChunkReport,
  GranaryError,
  type NodeHeartbeat,
  type NodeInfo,
  type NodeLoad,
  type NodeRegistration,
  NODE_STATES,
  type NodeState,
} from '../protocol/index.js';
import type { NodePage } from '../protocol/page-types.js';
import { assessBlock, type NodeStanding } from './block-health.js';
import { del, put } from './db.js';
import { type PageRequest, cutPage } from './paging.js';
import type { PlacementCandidate } from './placement.js';
import type { CorruptRecord, NodeRecord } from './records.js';
import type { MetadataState } from './state.js';

export interface LivenessConfig {
  /** No heartbeat for this long: suspect (no new chunks placed there). */
  readonly suspectAfterMs: number;
  /** No heartbeat for this long: dead (its chunks count as lost). */
  readonly deadAfterMs: number;
}

export const CORRUPT_REPORT_CHUNKS_MAX = 10_000;

/** How often a node's heartbeat is written to the store (every one is kept in memory). */
export const HEARTBEAT_PERSIST_INTERVAL_MS = 30_000;

export class NodeRegistry {
  /** Heartbeats before this instant are not held against a node: the service itself was down. */
  private graceUntil: number;
  /** nodeId -> when its heartbeat was last written to the store. */
  private readonly persistedHeartbeats = new Map<string, number>();

  constructor(
    private readonly state: MetadataState,
    private readonly config: LivenessConfig,
    startedAt: number,
  ) {
    this.graceUntil = startedAt;
  }

  /** Starts the grace anew: a catalog prepared ahead of its term counts silence from when it began serving. */
  beginGrace(now: number): void {
    this.graceUntil = now;
  }

  get deadAfterMs(): number {
    return this.config.deadAfterMs;
  }

  stateOf(node: NodeRecord, now = Date.now()): NodeState {
    const silentMs = now - Math.max(node.lastHeartbeatAt, this.graceUntil);
    // A draining node that died is dead first: its chunks must be rebuilt, not copied.
    if (silentMs > this.config.deadAfterMs) return 'dead';
    if (node.draining) return 'draining';
    if (silentMs > this.config.suspectAfterMs) return 'suspect';
    return 'alive';
  }

  /** A node's state for repair decisions; `removed` when it is not registered (any more). */
  standingOf(nodeId: string, now = Date.now()): NodeStanding {
    const node = this.state.nodes.get(nodeId);
    return node === undefined ? 'removed' : this.stateOf(node, now);
  }

  /** Chunks the catalog places on a node (committed blocks and open sessions' blocks): a counter, not a walk. */
  chunksHeld(nodeId: string): number {
    return this.state.chunksByNode.get(nodeId) ?? 0;
  }

  info(node: NodeRecord, now = Date.now()): NodeInfo {
    return {
      nodeId: node.nodeId,
      url: node.url,
      domain: node.domain,
      capacityBytes: node.capacityBytes,
      freeBytes: node.freeBytes,
      usedBytes: node.usedBytes,
      chunkCount: node.chunkCount,
      state: this.stateOf(node, now),
      draining: node.draining,
      chunksHeld: this.chunksHeld(node.nodeId),
      registeredAt: new Date(node.registeredAt).toISOString(),
      lastHeartbeatAt: new Date(node.lastHeartbeatAt).toISOString(),
    };
  }

  /** One page of nodes by id. */
  list(page: PageRequest): NodePage {
    const now = Date.now();
    const { keys, next } = cutPage(this.state.nodes.keysAfter(page.after, page.limit + 1), page.limit);
    return { nodes: keys.map((nodeId) => this.info(this.state.nodes.get(nodeId) as NodeRecord, now)), next };
  }

  /** Nodes by state, for /health and metrics: a walk of the nodes (few), never of their blocks. */
  countByState(now = Date.now()): { total: number } & Record<NodeState, number> {
    const counts = { total: this.state.nodes.size, ...(Object.fromEntries(NODE_STATES.map((state) => [state, 0])) as Record<NodeState, number>) };
    for (const node of this.state.nodes.values()) counts[this.stateOf(node, now)]++;
    return counts;
  }

  get(nodeId: string): NodeRecord {
    const node = this.state.nodes.get(nodeId);
    if (node === undefined) throw new GranaryError('GRN_NODE_NOT_FOUND', `no storage node ${nodeId} is registered`);
    return node;
  }

  /** Alive nodes, the only ones new chunks are placed on. */
  placementCandidates(): PlacementCandidate[] {
    const now = Date.now();
    return [...this.state.nodes.values()]
      .filter((node) => this.stateOf(node, now) === 'alive')
      .map((node) => ({ nodeId: node.nodeId, domain: node.domain, freeBytes: node.freeBytes }));
  }

  /** Nodes in service (alive, or only late): the ones a table's erasure policy can count on. */
  usableCount(): number {
    const now = Date.now();
    return [...this.state.nodes.values()].filter((node) => {
      const state = this.stateOf(node, now);
      return state === 'alive' || state === 'suspect';
    }).length;
  }

  register(registration: NodeRegistration): Promise<NodeInfo> {
    return this.state.exclusive(async () => {
      const now = Date.now();
      const existing = this.state.nodes.get(registration.nodeId);
      if (registration.receiptKey !== undefined) publicKeyFromText(registration.receiptKey, 'receiptKey');
      if (registration.freeBytes > registration.capacityBytes || registration.usedBytes > registration.capacityBytes) {
        throw new GranaryError('GRN_BAD_REQUEST', 'a node cannot have more free or used bytes than its capacity');
      }
      for (const other of this.state.nodes.values()) {
        if (other.nodeId !== registration.nodeId && other.url === registration.url && this.stateOf(other, now) !== 'dead') {
          throw new GranaryError('GRN_BAD_REQUEST', `node ${other.nodeId} already answers at ${registration.url}; two live nodes cannot share an address`);
        }
      }
      const record: NodeRecord = {
        nodeId: registration.nodeId,
        url: registration.url,
        domain: registration.domain,
        capacityBytes: registration.capacityBytes,
        freeBytes: registration.freeBytes,
        usedBytes: registration.usedBytes,
        chunkCount: registration.chunkCount,
        draining: existing?.draining ?? false,
        registeredAt: existing?.registeredAt ?? now,
        lastHeartbeatAt: now,
        ...(registration.receiptKey === undefined ? {} : { receiptKey: registration.receiptKey }),
      };
      await this.state.db.write([put(this.state.db.nodes, record.nodeId, record)]);
      this.state.nodes.set(record.nodeId, record);
      return this.info(record, now);
    });
  }

  /** Records a heartbeat; `returned` is true when the node had been declared dead. */
  heartbeat(nodeId: string, heartbeat: NodeHeartbeat): Promise<{ info: NodeInfo; returned: boolean }> {
    return this.state.exclusive(async () => {
      const node = this.get(nodeId);
      const now = Date.now();
      const returned = this.stateOf(node, now) === 'dead';
      const load: NodeLoad = {
        capacityBytes: heartbeat.capacityBytes,
        freeBytes: heartbeat.freeBytes,
        usedBytes: heartbeat.usedBytes,
        chunkCount: heartbeat.chunkCount,
      };
      const record: NodeRecord = { ...node, ...load, lastHeartbeatAt: now };
      // Heartbeats come every second or faster from every node, and what they carry is
      // recomputed by the next one: memory takes each, the store (a durable write, an etcd
      // transaction on replicas) one per node per HEARTBEAT_PERSIST_INTERVAL_MS. A restarted
      // service or a new leader gives every node a grace period anyway (graceUntil).
      const persistedAt = this.persistedHeartbeats.get(nodeId);
      if (returned || persistedAt === undefined || now - persistedAt >= HEARTBEAT_PERSIST_INTERVAL_MS) {
        await this.state.db.nodes.put(nodeId, record);
        this.persistedHeartbeats.set(nodeId, now);
      }
      this.state.nodes.set(nodeId, record);
      return { info: this.info(record, now), returned };
    });
  }

  /**
   * Forgets a drained or dead node. Refused while it is in service, or while some block could
   * not be rebuilt without it (its other shards are not enough): removing it would lose data.
   */
  remove(nodeId: string): Promise<{ nodeId: string; removed: true; blocksToRebuild: number }> {
    return this.state.exclusive(async () => {
      const node = this.get(nodeId);
      const now = Date.now();
      const state = this.stateOf(node, now);
      if (state !== 'dead' && !node.draining) {
        throw new GranaryError('GRN_NODE_IN_USE', `node ${nodeId} is ${state}; drain it first (granary node drain ${nodeId} --wait), or wait until it is dead`);
      }
      let blocksToRebuild = 0;
      let stranded = 0;
      for (const blockId of this.state.blocksByNode.get(nodeId) ?? []) {
        const block = this.state.blocks.get(blockId);
        if (block === undefined || block.state !== 'committed' || !block.nodes.includes(nodeId)) continue;
        const without = assessBlock(
          block,
          (id) => (id === nodeId ? 'removed' : this.standingOf(id, now)),
          (chunkId) => this.state.corrupt.get(chunkId),
        );
        if (without.health === 'unavailable') stranded++;
        else blocksToRebuild++;
      }
      if (stranded > 0) {
        throw new GranaryError(
          'GRN_NODE_IN_USE',
          `node ${nodeId} holds chunks of ${stranded} blocks that cannot be rebuilt without it (too few of their other shards are readable); ` +
            'bring the node or the blocks\' other nodes back, or wait for repair to finish',
        );
      }
      await this.state.db.write([del(this.state.db.nodes, nodeId)]);
      this.state.nodes.delete(nodeId);
      return { nodeId, removed: true, blocksToRebuild };
    });
  }

  setDraining(nodeId: string, draining: boolean): Promise<NodeInfo> {
    return this.state.exclusive(async () => {
      const record: NodeRecord = { ...this.get(nodeId), draining };
      await this.state.db.write([put(this.state.db.nodes, nodeId, record)]);
      this.state.nodes.set(nodeId, record);
      return this.info(record);
    });
  }

  reportCorrupt(nodeId: string, report: CorruptChunkReport): Promise<{ accepted: number }> {
    return this.state.exclusive(async () => {
      this.get(nodeId);
      if (report.chunks.length > CORRUPT_REPORT_CHUNKS_MAX) {
        throw new GranaryError('GRN_BAD_REQUEST', `a report holds at most ${CORRUPT_REPORT_CHUNKS_MAX} chunks; send several`);
      }
      const now = Date.now();
      // Only chunks the catalog places on this node are kept (a reader with an old plan may name
      // a chunk repair has moved since): anything else names nothing to repair.
      const records: CorruptRecord[] = report.chunks
        .filter((chunk) => placedOn(this.state, chunk.chunkId, nodeId) && this.state.corrupt.get(chunk.chunkId)?.nodeId !== nodeId)
        .map((chunk) => ({
          chunkId: chunk.chunkId,
          nodeId,
          reason: chunk.reason,
          reportedAt: now,
          ...(chunk.missing === true ? { missing: true } : {}),
        }));
      await this.state.db.write(records.map((record) => put(this.state.db.corrupt, record.chunkId, record)));
      for (const record of records) this.state.corrupt.set(record.chunkId, record);
      return { accepted: records.length };
    });
  }
}

/** True when the catalog places chunk `<block>.<shard>` of a committed block on `nodeId`. */
export function placedOn(state: MetadataState, chunkId: string, nodeId: string): boolean {
  const dot = chunkId.lastIndexOf('.');
  const block = state.blocks.get(chunkId.slice(0, dot));
  return block !== undefined && block.state === 'committed' && block.nodes[Number(chunkId.slice(dot + 1))] === nodeId;
}
