/**
 * What storage nodes tell the metadata service, and what it answers about them.
 *
 *   POST /v1/nodes/register           NodeRegistration       -> NodeInfo
 *   POST /v1/nodes/:id/heartbeat      NodeHeartbeat          -> HeartbeatAnswer (404 GRN_NODE_NOT_FOUND: register again)
 *   POST /v1/nodes/:id/corrupt        CorruptChunkReport     -> { accepted: number }
 *   POST /v1/nodes/:id/drain          {}                     -> NodeInfo
 *   POST /v1/nodes/:id/undrain        {}                     -> NodeInfo
 *   POST /v1/nodes/:id/remove         {}                     -> { nodeId, removed } (refused while it holds needed chunks)
 *   GET  /v1/nodes[?limit=&after=]                           -> NodePage (protocol/page-types.ts)
 */
import type { NodeJobCounts } from './job-types.js';

/** A node's liveness as the metadata service sees it; a closed set. */
export const NODE_STATES = [
  /** Heartbeats arrive on time; the node receives new chunks. */
  'alive',
  /** Heartbeats are late; no new chunks are placed there, reads still try it. */
  'suspect',
  /** Heartbeats stopped for longer than the dead-after time; its chunks are rebuilt elsewhere. */
  'dead',
  /** An operator is emptying it: no new chunks; its chunks are copied elsewhere while it serves reads. */
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
  /** The node's Ed25519 public key (base64 SPKI DER) that checks its put receipts (protocol/receipt.ts). */
  readonly receiptKey?: string;
}

/** The registration answer: the node as registered, and the key its capabilities are signed with. */
export interface RegistrationAnswer extends NodeInfo {
  /** Ed25519 public key (base64 SPKI DER) of the metadata service; null when it runs with auth off. */
  readonly capabilityKey: string | null;
}

export interface NodeHeartbeat extends NodeLoad {
  /** Repair tasks the node can take on now (it is given at most this many in the answer). */
  readonly repairSlotsFree?: number;
  /** Ids of the repair tasks it is running: their leases are extended. */
  readonly repairsRunning?: readonly string[];
  /** What it served per job since its previous heartbeat (at most NODE_JOB_COUNTS_MAX jobs). */
  readonly jobs?: readonly NodeJobCounts[];
  /** The version of the hot set it holds (protocol/hot-cache-types.ts); absent: none yet. */
  readonly hotVersion?: number;
}

export interface NodeInfo extends NodeRegistration {
  readonly state: NodeState;
  /** An operator asked to drain it (its state says `dead` instead if it has also died). */
  readonly draining: boolean;
  /** Chunks the catalog places on this node: what a drain must move before the node can go. */
  readonly chunksHeld: number;
  readonly registeredAt: string;
  readonly lastHeartbeatAt: string;
}

export interface CorruptChunkReport {
  /** `missing`: the node answered that it holds no such chunk (default false: corrupt). */
  readonly chunks: readonly { readonly chunkId: string; readonly reason: string; readonly missing?: boolean }[];
}

export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const DOMAIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
