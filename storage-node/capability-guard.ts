/**
 * What a storage node trusts: a chunk request is served only with a capability the metadata
 * service signed (protocol/capability.ts) for that operation on that chunk or block, unexpired.
 * The node learns the service's public key when it registers (or has it pinned by a setting);
 * until then it serves no chunk request. A node run alone, or told by its metadata service that
 * authentication is off, checks nothing.
 */
import type { KeyObject } from 'node:crypto';
import { type Capability, type CapabilityOp, blockOfChunk, openCapability } from '../protocol/capability.js';
import { GranaryError } from '../protocol/index.js';

/** The guard's mode; a closed set. */
export type GuardMode =
  /** No checks: a node with no metadata service, or one whose service runs with auth off. */
  | 'open'
  /** Waiting for the registration answer to learn the key: every chunk request is refused (503). */
  | 'pending'
  /** Every chunk request needs a capability verified against the key. */
  | 'enforcing';

/** Capabilities whose signature has been checked, kept so each is verified once (~80 us). */
const VERIFIED_ENTRIES_MAX = 65_536;

export class CapabilityGuard {
  private key: KeyObject | undefined;
  private modeNow: GuardMode;
  private readonly verified = new Map<string, Capability>();

  /**
   * `pinnedKey`: the metadata service's public key from a setting; the node then ignores what a
   * registration answer says (a spoofed service cannot switch checks off or swap the key).
   */
  constructor(initial: 'open' | 'pending', private readonly pinnedKey?: KeyObject) {
    this.key = pinnedKey;
    this.modeNow = pinnedKey === undefined ? initial : 'enforcing';
  }

  get mode(): GuardMode {
    return this.modeNow;
  }

  /** Applies the key a registration answer carried (null: the service runs with auth off). */
  learn(key: KeyObject | null): void {
    if (this.pinnedKey !== undefined) return;
    if (key === null) {
      this.key = undefined;
      this.modeNow = 'open';
    } else {
      if (this.key === undefined || !this.key.equals(key)) this.verified.clear();
      this.key = key;
      this.modeNow = 'enforcing';
    }
  }

  /**
   * Throws unless one of `capabilities` allows `op` on `chunkId`: 401 GRN_UNAUTHENTICATED when
   * none is given, 403 GRN_CAPABILITY_REFUSED when none fits, 503 before the key is known.
   */
  check(op: CapabilityOp, chunkId: string | undefined, capabilities: readonly string[], nodeId: string, now = Date.now()): void {
    if (this.modeNow === 'open') return;
    if (this.modeNow === 'pending' || this.key === undefined) {
      throw new GranaryError('GRN_UNAVAILABLE', 'this node has not registered with its metadata service yet, so it cannot check capabilities; retry shortly');
    }
    if (capabilities.length === 0) {
      throw new GranaryError('GRN_UNAUTHENTICATED', 'chunk requests need a capability signed by the metadata service (x-granary-capability); get one with a scan plan, a block allocation, or POST /v1/capabilities');
    }
    let reason = '';
    for (const text of capabilities) {
      const capability = this.open(text, this.key);
      reason = refusal(capability, op, chunkId, nodeId, now);
      if (reason === '') return;
    }
    throw new GranaryError('GRN_CAPABILITY_REFUSED', `capability refused: ${reason}`);
  }

  /**
   * For batch reads: checks once per distinct block and returns nothing; throws as `check` does
   * when a range's block is covered by no read (or admin) capability among `capabilities`.
   */
  checkReads(chunkIds: Iterable<string>, capabilities: readonly string[], nodeId: string, now = Date.now()): void {
    if (this.modeNow === 'open') return;
    const allowedBlocks = new Set<string>();
    let admin = false;
    if (this.modeNow === 'enforcing' && this.key !== undefined) {
      for (const text of capabilities) {
        const capability = this.open(text, this.key);
        if (capability.expiresAtMs <= now) continue;
        if (capability.op === 'read') allowedBlocks.add(capability.scope);
        else if (capability.op === 'admin' && (capability.scope === '*' || capability.scope === nodeId)) admin = true;
      }
    }
    if (admin) return;
    for (const chunkId of chunkIds) {
      if (!allowedBlocks.has(blockOfChunk(chunkId))) this.check('read', chunkId, capabilities, nodeId, now);
    }
  }

  private open(text: string, key: KeyObject): Capability {
    const known = this.verified.get(text);
    if (known !== undefined) return known;
    const capability = openCapability(text, key);
    if (this.verified.size >= VERIFIED_ENTRIES_MAX) this.verified.clear();
    this.verified.set(text, capability);
    return capability;
  }
}

/** Why a capability does not allow the request; '' when it does. */
function refusal(capability: Capability, op: CapabilityOp, chunkId: string | undefined, nodeId: string, now: number): string {
  if (capability.expiresAtMs <= now) return `it expired at ${new Date(capability.expiresAtMs).toISOString()}; ask the metadata service for a new plan or allocation`;
  if (capability.op === 'admin') {
    if (capability.scope !== '*' && capability.scope !== nodeId) return `it is for the admin routes of node ${capability.scope}, not ${nodeId}`;
    // Admin capabilities open the admin routes and reads, never writes or deletes.
    return op === 'admin' || op === 'read' ? '' : `an admin capability does not allow ${op}`;
  }
  const allowsOp = capability.op === op || (op === 'write' && capability.op === 'replace');
  if (!allowsOp) return `it allows ${capability.op}, not ${op}`;
  if (chunkId === undefined) return `a ${capability.op} capability names a chunk, and this request has none`;
  const scope = capability.op === 'read' ? blockOfChunk(chunkId) : chunkId;
  return capability.scope === scope ? '' : `it is for ${capability.scope}, not ${scope}`;
}
