/**
 * What storage nodes tell the metadata service, and what it answers about them.
 *
 *   POST /v1/nodes/register           NodeRegistration       -> NodeInfo
 *   POST /v1/nodes/:id/heartbeat      NodeHeartbeat          -> NodeInfo (404 GRN_NODE_NOT_FOUND: register again)
 *   POST /v1/nodes/:id/corrupt        CorruptChunkReport     -> { accepted: number }
 *   POST /v1/nodes/:id/drain          {}                     -> NodeInfo
 *   POST /v1/nodes/:id/undrain        {}                     -> NodeInfo
 *   GET  /v1/nodes                                           -> { nodes: NodeInfo[] }
 */

/** A node's liveness as the metadata service sees it; a closed set. */
export const NODE_STATES = [
  /** Heartbeats arrive on time; the node receives new chunks. */
  'alive',
  /** Heartbeats are late; no new chunks are placed there, reads still try it. */
  'suspect',
  /** Heartbeats stopped long ago; its chunks are counted lost and queued for repair. */
  'dead',
  /** An operator is emptying it: no new chunks; its chunks are queued for repair elsewhere. */
  'draining',
] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** Disk and load figures a node reports with every heartbeat. */
export interface NodeLoad {
  readonly capacityBytes: number;
  readonly freeBytes: number;
  /** Bytes of chunk files on the node. */
  readonly usedBytes: number;
  readonly chunkCount: number;
}

export interface NodeRegistration extends NodeLoad {
  readonly nodeId: string;
  /** Base URL clients use to reach the node, e.g. http://10.0.0.5:7101. */
  readonly url: string;
  /** Failure domain (rack, zone): shards of one block are spread over domains. */
  readonly domain: string;
}

export type NodeHeartbeat = NodeLoad;

export interface NodeInfo extends NodeRegistration {
  readonly state: NodeState;
  readonly registeredAt: string;
  readonly lastHeartbeatAt: string;
}

export interface CorruptChunkReport {
  readonly chunks: readonly { readonly chunkId: string; readonly reason: string }[];
}

/** `GET /v1/repair` -> { blocks: RepairItem[] }: committed blocks with a lost or corrupt chunk. */
export interface RepairItem {
  readonly blockId: string;
  readonly table: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly healthyShards: number;
  /** `degraded`: readable, repair needed; `unavailable`: fewer than k healthy shards. */
  readonly status: 'degraded' | 'unavailable';
  readonly badShards: readonly { shard: number; chunkId: string; nodeId: string; reason: string }[];
}

export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const DOMAIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
