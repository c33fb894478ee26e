/**
 * Reconciliation: the catalog and the disks are compared, because each can be wrong about the
 * other. A node that comes back with an empty or partly lost disk answers every heartbeat as if
 * all were well; only a comparison of what it holds with what the catalog places on it finds the
 * missing chunks, without waiting for a reader to trip over them. And chunks nothing references
 * (a write that died between its put and the catalog's record of it, a copy left behind on a node
 * that was away while its chunks moved) would otherwise fill disks forever.
 *
 * A round starts in a heartbeat answer (after a node registers or returns from dead, after this
 * service starts, and every interval). The service snapshots the chunk ids it places on the node
 * *before* the node lists its disk, so a chunk in the snapshot but absent from the listing was
 * really absent (anything it placed there earlier was written there earlier). The node sends its
 * ids in sorted pages; each page is compared with the snapshot's range by a merge walk, so the
 * service holds one snapshot per open round, never a node's whole listing. Missing chunks become
 * damage records (repair rebuilds them); unreferenced ones become orphan candidates, deleted after
 * a grace period if still referenced by nothing.
 */
import { randomBytes } from 'node:crypto';
import { GranaryError, type InventoryPage, type InventoryPageAnswer } from '../protocol/index.js';
import { put } from './db.js';
import { copyGc } from './gc.js';
import { placedOn } from './nodes.js';
import type { CorruptRecord } from './records.js';
import type { MetadataState } from './state.js';

export interface InventoryConfig {
  /** Time between two full inventories of a node. */
  readonly intervalMs: number;
  /** An unreferenced chunk is deleted only after it has been seen unreferenced this long. */
  readonly orphanGraceMs: number;
}

export const INVENTORY_DEFAULTS: InventoryConfig = { intervalMs: 60 * 60_000, orphanGraceMs: 60 * 60_000 };

/** Rounds open at once: each holds one node's expected chunk ids in memory. */
const ROUNDS_OPEN_MAX = 2;
/** A round whose node has sent nothing for this long is dropped (and asked for again later). */
const ROUND_IDLE_TIMEOUT_MS = 2 * 60_000;
/** Orphan candidates remembered at once; more are found by later rounds. */
const ORPHAN_CANDIDATES_MAX = 100_000;
/** Orphans queued for deletion per sweep. */
const ORPHANS_QUEUED_PER_SWEEP = 1_000;

interface Round {
  readonly roundId: string;
  readonly nodeId: string;
  /** Chunk ids the catalog placed on the node when the round opened, sorted. */
  readonly expected: readonly string[];
  /** Index into `expected` of the first id not yet compared. */
  next: number;
  lastChunk: string | undefined;
  lastPageAt: number;
  pagesReceived: number;
}

export interface InventoryCounters {
  roundsDone: number;
  missingFound: number;
  orphansFound: number;
  orphansQueued: number;
}

export class Inventory {
  private readonly rounds = new Map<string, Round>();
  private readonly wanted = new Set<string>();
  private readonly lastDone = new Map<string, number>();
  private readonly orphans = new Map<string, { readonly chunkId: string; readonly nodeId: string; readonly firstSeenAt: number }>();
  readonly counters: InventoryCounters = { roundsDone: 0, missingFound: 0, orphansFound: 0, orphansQueued: 0 };

  constructor(
    private readonly state: MetadataState,
    readonly config: InventoryConfig,
  ) {}

  /** Asks for an inventory of the node at its next heartbeat (it registered, or came back). */
  want(nodeId: string): void {
    this.wanted.add(nodeId);
  }

  /** Opens a round for the node when one is due and a slot is free; returns its id. */
  maybeOpen(nodeId: string, now = Date.now()): string | undefined {
    this.dropIdle(now);
    for (const round of this.rounds.values()) {
      if (round.nodeId !== nodeId) continue;
      // No page yet: the answer that carried the round may have been lost (a heartbeat answered
      // after the node gave up on it, say across a healed partition): offer it again. A node
      // already sending it ignores the offer.
      return round.pagesReceived === 0 ? round.roundId : undefined;
    }
    const last = this.lastDone.get(nodeId);
    const due = this.wanted.has(nodeId) || last === undefined || now - last >= this.config.intervalMs;
    if (!due || this.rounds.size >= ROUNDS_OPEN_MAX) return undefined;
    const roundId = `i${randomBytes(8).toString('hex')}`;
    this.rounds.set(roundId, { roundId, nodeId, expected: this.expectedOn(nodeId), next: 0, lastChunk: undefined, lastPageAt: now, pagesReceived: 0 });
    this.wanted.delete(nodeId);
    return roundId;
  }

  /** Compares one page of a node's listing with what the catalog expects there. */
  page(nodeId: string, page: InventoryPage): Promise<InventoryPageAnswer> {
    return this.state.exclusive(async () => {
      const round = this.rounds.get(page.round);
      if (round === undefined || round.nodeId !== nodeId) return { accepted: 0, roundOpen: false };
      const now = Date.now();
      let previous = round.lastChunk;
      for (const chunkId of page.chunks) {
        if (previous !== undefined && chunkId <= previous) {
          throw new GranaryError('GRN_BAD_REQUEST', `inventory pages must list chunk ids in ascending order without repeats; ${chunkId} follows ${previous}`);
        }
        previous = chunkId;
      }
      const listed = new Set(page.chunks);
      const upper = page.done ? undefined : previous;
      const missing: CorruptRecord[] = [];
      // Merge walk: every expected id up to the page's last listed one is either listed or missing.
      while (round.next < round.expected.length) {
        const chunkId = round.expected[round.next] as string;
        if (upper !== undefined && chunkId > upper) break;
        round.next++;
        if (listed.has(chunkId)) continue;
        // Still placed there, and not already known: a move since the snapshot is not a loss.
        if (!placedOn(this.state, chunkId, nodeId) || this.state.corrupt.get(chunkId)?.nodeId === nodeId) continue;
        missing.push({ chunkId, nodeId, reason: 'inventory: the node does not hold it', reportedAt: now, missing: true });
      }
      for (const chunkId of page.chunks) {
        const key = `${chunkId}@${nodeId}`;
        if (this.orphans.has(key) || this.isReferenced(chunkId, nodeId) || this.orphans.size >= ORPHAN_CANDIDATES_MAX) continue;
        this.orphans.set(key, { chunkId, nodeId, firstSeenAt: now });
        this.counters.orphansFound++;
      }
      if (missing.length > 0) {
        await this.state.db.write(missing.map((record) => put(this.state.db.corrupt, record.chunkId, record)));
        for (const record of missing) this.state.corrupt.set(record.chunkId, record);
        this.counters.missingFound += missing.length;
      }
      round.lastChunk = previous;
      round.lastPageAt = now;
      round.pagesReceived++;
      if (page.done) {
        this.rounds.delete(round.roundId);
        this.lastDone.set(nodeId, now);
        this.counters.roundsDone++;
      }
      return { accepted: page.chunks.length, roundOpen: !page.done };
    });
  }

  /** Queues for deletion the orphans seen longer than the grace period that are still unreferenced. */
  sweepOrphans(now = Date.now()): Promise<number> {
    return this.state.exclusive(async () => {
      const records = [];
      for (const [key, orphan] of this.orphans) {
        if (records.length >= ORPHANS_QUEUED_PER_SWEEP) break;
        if (now - orphan.firstSeenAt < this.config.orphanGraceMs) continue;
        this.orphans.delete(key);
        if (this.isReferenced(orphan.chunkId, orphan.nodeId) || !this.state.nodes.has(orphan.nodeId)) continue;
        records.push(copyGc(orphan.chunkId, orphan.nodeId, 'orphan: no committed block, open session, repair task or GC record references it', now));
      }
      if (records.length === 0) return 0;
      await this.state.db.write(records.map((record) => put(this.state.db.gc, record.blockId, record)));
      for (const record of records) this.state.putGc(record);
      this.counters.orphansQueued += records.length;
      return records.length;
    });
  }

  /** Open rounds and orphan candidates, for status and metrics. */
  snapshot(): { roundsOpen: number; orphanCandidates: number } {
    return { roundsOpen: this.rounds.size, orphanCandidates: this.orphans.size };
  }

  /**
   * True when something needs this copy: the block it belongs to places it there, an open
   * session may be writing it, a repair task is writing it, or it is already queued for deletion.
   */
  private isReferenced(chunkId: string, nodeId: string): boolean {
    if (this.state.gcPending(chunkId, nodeId)) return true;
    const dot = chunkId.lastIndexOf('.');
    if (dot <= 0) return false;
    const blockId = chunkId.slice(0, dot);
    const shard = Number(chunkId.slice(dot + 1));
    const block = this.state.blocks.get(blockId);
    if (block !== undefined) {
      if (block.nodes[shard] === nodeId) return true;
      if (block.state === 'allocated' && (block.nodes.includes(nodeId) || (block.formerNodes ?? []).some((former) => former.nodeId === nodeId))) return true;
    }
    const taskId = this.state.repairingBlocks.get(blockId);
    const task = taskId === undefined ? undefined : this.state.repairTasks.get(taskId);
    return task !== undefined && task.shards.some((entry) => entry.shard === shard && entry.targetNode === nodeId);
  }

  private expectedOn(nodeId: string): string[] {
    const ids: string[] = [];
    for (const blockId of this.state.blocksByNode.get(nodeId) ?? []) {
      const block = this.state.blocks.get(blockId);
      if (block === undefined || block.state !== 'committed') continue;
      block.nodes.forEach((holder, shard) => {
        if (holder === nodeId) ids.push(`${blockId}.${shard}`);
      });
    }
    return ids.sort();
  }

  private dropIdle(now: number): void {
    for (const [roundId, round] of this.rounds) if (now - round.lastPageAt > ROUND_IDLE_TIMEOUT_MS) this.rounds.delete(roundId);
  }
}
