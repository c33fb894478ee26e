/**
 * Storage nodes as the metadata service knows them: registration, heartbeats, liveness
 * (`alive` -> `suspect` -> `dead` as heartbeats stop), draining, corrupt-chunk reports, and the
 * list of blocks that need repair because a chunk sits on a dead or draining node or is corrupt.
 */
import { GranaryError, type CorruptChunkReport, type NodeHeartbeat, type NodeInfo, type NodeRegistration, type NodeState, type RepairItem } from '../protocol/index.js';
import { put } from './db.js';
import type { PlacementCandidate } from './placement.js';
import type { BlockRecord, CorruptRecord, NodeRecord } from './records.js';
import type { MetadataState } from './state.js';

export interface LivenessConfig {
  /** No heartbeat for this long: suspect (no new chunks placed there). */
  readonly suspectAfterMs: number;
  /** No heartbeat for this long: dead (its chunks count as lost). */
  readonly deadAfterMs: number;
}

export const CORRUPT_REPORT_CHUNKS_MAX = 10_000;

export class NodeRegistry {
  /** Heartbeats before this instant are not held against a node: the service itself was down. */
  private readonly graceUntil: number;

  constructor(
    private readonly state: MetadataState,
    private readonly config: LivenessConfig,
    startedAt: number,
  ) {
    this.graceUntil = startedAt;
  }

  stateOf(node: NodeRecord, now = Date.now()): NodeState {
    if (node.draining) return 'draining';
    const silentMs = now - Math.max(node.lastHeartbeatAt, this.graceUntil);
    if (silentMs > this.config.deadAfterMs) return 'dead';
    if (silentMs > this.config.suspectAfterMs) return 'suspect';
    return 'alive';
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
      registeredAt: new Date(node.registeredAt).toISOString(),
      lastHeartbeatAt: new Date(node.lastHeartbeatAt).toISOString(),
    };
  }

  list(): NodeInfo[] {
    const now = Date.now();
    return [...this.state.nodes.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)).map((node) => this.info(node, now));
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

  /** Nodes that are not dead: the ones a table's erasure policy can count on. */
  usableCount(): number {
    const now = Date.now();
    return [...this.state.nodes.values()].filter((node) => this.stateOf(node, now) === 'alive').length;
  }

  register(registration: NodeRegistration): Promise<NodeInfo> {
    return this.state.exclusive(async () => {
      const now = Date.now();
      const existing = this.state.nodes.get(registration.nodeId);
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
      };
      await this.state.db.write([put(this.state.db.nodes, record.nodeId, record)]);
      this.state.nodes.set(record.nodeId, record);
      return this.info(record, now);
    });
  }

  heartbeat(nodeId: string, load: NodeHeartbeat): Promise<NodeInfo> {
    return this.state.exclusive(async () => {
      const node = this.get(nodeId);
      const now = Date.now();
      const record: NodeRecord = { ...node, ...load, lastHeartbeatAt: now };
      // Heartbeats are frequent and recomputable: not synced, unlike catalog changes.
      await this.state.db.nodes.put(nodeId, record);
      this.state.nodes.set(nodeId, record);
      return this.info(record, now);
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
      // Only chunks the catalog places on this node are kept: anything else names nothing to repair.
      const records: CorruptRecord[] = report.chunks
        .filter((chunk) => {
          const dot = chunk.chunkId.lastIndexOf('.');
          const block = this.state.blocks.get(chunk.chunkId.slice(0, dot));
          return block !== undefined && block.nodes[Number(chunk.chunkId.slice(dot + 1))] === nodeId;
        })
        .map((chunk) => ({ chunkId: chunk.chunkId, nodeId, reason: chunk.reason, reportedAt: now }));
      await this.state.db.write(records.map((record) => put(this.state.db.corrupt, record.chunkId, record)));
      for (const record of records) this.state.corrupt.set(record.chunkId, record);
      return { accepted: records.length };
    });
  }

  /** Committed blocks with a chunk on a dead or draining node, or reported corrupt. */
  repairList(tableNames: ReadonlyMap<string, string>): RepairItem[] {
    const now = Date.now();
    const states = new Map([...this.state.nodes.values()].map((node) => [node.nodeId, this.stateOf(node, now)]));
    const items: RepairItem[] = [];
    for (const block of this.state.blocks.values()) {
      if (block.state !== 'committed') continue;
      const bad = badShards(block, states, this.state.corrupt);
      if (bad.length === 0) continue;
      const healthy = block.nodes.length - bad.length;
      items.push({
        blockId: block.blockId,
        table: tableNames.get(block.tableId) ?? block.tableId,
        dataShards: block.dataShards,
        parityShards: block.parityShards,
        healthyShards: healthy,
        status: healthy >= block.dataShards ? 'degraded' : 'unavailable',
        badShards: bad,
      });
    }
    return items.sort((a, b) => a.healthyShards - a.dataShards - (b.healthyShards - b.dataShards) || (a.blockId < b.blockId ? -1 : 1));
  }
}

function badShards(
  block: BlockRecord,
  states: ReadonlyMap<string, NodeState>,
  corrupt: ReadonlyMap<string, CorruptRecord>,
): { shard: number; chunkId: string; nodeId: string; reason: string }[] {
  const bad: { shard: number; chunkId: string; nodeId: string; reason: string }[] = [];
  block.nodes.forEach((nodeId, shard) => {
    const chunkId = `${block.blockId}.${shard}`;
    const state = states.get(nodeId) ?? 'dead';
    const report = corrupt.get(chunkId);
    if (report !== undefined && report.nodeId === nodeId) bad.push({ shard, chunkId, nodeId, reason: `corrupt: ${report.reason}` });
    else if (state === 'dead' || state === 'draining') bad.push({ shard, chunkId, nodeId, reason: `node ${state}` });
  });
  return bad;
}
