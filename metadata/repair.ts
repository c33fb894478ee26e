/**
 * The repair loop's brain. Every failure that matters ends here as a fact about a block (a shard
 * on a dead, removed or draining node, reported corrupt or missing, or sharing a node with
 * another shard), and this module turns those facts into repair tasks for storage nodes, most
 * endangered blocks first, within a cluster-wide rate and a cap on tasks in flight (Tectonic caps
 * reconstruction so that a failure cannot start a storm that starves reads).
 *
 * A task is persisted before any byte moves, with a lease: its target chunks are referenced (not
 * orphans) while it runs, and a task whose executor dies expires and its targets' copies go to
 * garbage collection. A report switches each restored shard's location in one atomic catalog
 * batch, only if the shard is still where the task found it, and only then queues the old copy
 * for deletion. So a repair that dies at any point leaves the old location or the new one in
 * use, never a half-written chunk.
 */
import { randomBytes } from 'node:crypto';
import {
  GranaryError,
  type RepairCounters,
  type RepairItem,
  type RepairReport,
  type RepairReportAnswer,
  type RepairSource,
  type RepairStatus,
  type RepairTask,
  type ShardRestore,
} from '../protocol/index.js';
import { type BlockAssessment, type ShardNeed, assessBlock } from './block-health.js';
import { type Operation, del, put } from './db.js';
import type { NodeRegistry } from './nodes.js';
import { type PlacementCandidate, type Random, placeShards } from './placement.js';
import type { BlockRecord, GcRecord, RepairShardRecord, RepairTaskRecord } from './records.js';
import { copyGc } from './gc.js';
import type { PageRequest } from './paging.js';
import type { MetadataState } from './state.js';

export interface RepairConfig {
  /** Bytes per second all repair tasks together may read from storage nodes. */
  readonly rateBytesPerSecond: number;
  /** Repair tasks in flight in the whole cluster. */
  readonly tasksMax: number;
  /** Shortest task lease; longer tasks get three times their expected duration at their rate. */
  readonly taskLeaseMinMs: number;
}

/**
 * Measured with `bench/repair.ts` on one 2-core machine (11 nodes): at these settings a scan
 * keeps about 0.7x of its speed while a lost node is rebuilt. Repair costs storage nodes CPU far
 * beyond the codec's, so on small machines the task count matters more than the rate. Larger
 * clusters should raise both with the number of storage hosts (see deploy/README.md).
 */
export const REPAIR_DEFAULTS: RepairConfig = {
  rateBytesPerSecond: 16 * 1024 * 1024,
  tasksMax: 2,
  taskLeaseMinMs: 60_000,
};

/** Restores one node may be the target of at once, so one new node is not flooded. */
const TARGET_RESTORES_MAX = 4;
/** Blocks looked at per assignment, so a heartbeat answer stays fast behind a long queue. */
const ASSIGN_SCAN_MAX = 2_000;
/** The assessed queue is recomputed at most this often. */
const QUEUE_REFRESH_MS = 500;
/** Back-off after a failed or expired task of a block: base, doubled per failure, capped. */
const RETRY_BACKOFF_BASE_MS = 2_000;
const RETRY_BACKOFF_MAX_MS = 5 * 60_000;
/** Answers of finished tasks kept, so a report retried after a lost answer gets the same one. */
const FINISHED_ANSWERS_KEPT = 1_000;
/** The window the recent repair rate (and so the ETA) is measured over. */
const RECENT_WINDOW_MS = 60_000;
const RECENT_SAMPLES_MAX = 10_000;

interface QueuedBlock {
  readonly block: BlockRecord;
  readonly assessment: BlockAssessment;
}

/** What status reports of the queue, counted once per assessment of it, not per request. */
interface QueueTally {
  readonly underReplicated: number;
  readonly unavailable: number;
  readonly moving: number;
  readonly waitingForNodes: number;
  readonly bytesQueued: number;
}

/** One assessment of the repair queue, in order, with what it was computed from. */
interface QueueSnapshot {
  readonly at: number;
  /** What every assessment depends on (blocks, damage reports, node standings): equal, the queue is the same. */
  readonly signature: string;
  readonly queue: readonly QueuedBlock[];
  readonly tally: QueueTally;
}

export class RepairScheduler {
  private readonly counters: { -readonly [K in keyof RepairCounters]: RepairCounters[K] } = {
    tasksStarted: 0,
    tasksDone: 0,
    tasksFailed: 0,
    tasksExpired: 0,
    shardsRestored: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  /** blockId -> [failures in a row, not before]. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  private readonly finished = new Map<string, RepairReportAnswer>();
  private readonly recent: { at: number; bytes: number }[] = [];
  private cached: QueueSnapshot | undefined;

  constructor(
    private readonly state: MetadataState,
    private readonly nodes: NodeRegistry,
    readonly config: RepairConfig,
    private readonly random: Random = Math.random,
  ) {
    if (!(config.rateBytesPerSecond > 0) || !(Number.isInteger(config.tasksMax) && config.tasksMax > 0)) {
      throw new GranaryError('GRN_BAD_REQUEST', `repair rate (${config.rateBytesPerSecond}) and task limit (${config.tasksMax}) must be positive`);
    }
  }

  /**
   * Blocks that need repair, most endangered first (fewest node failures to spare), moving ones
   * last. Assignment may use a queue up to QUEUE_REFRESH_MS old (it re-assesses each block it
   * picks); status asks for a fresh one.
   */
  queue(now = Date.now(), fresh = false): readonly QueuedBlock[] {
    return this.snapshot(now, fresh).queue;
  }

  /**
   * The assessed queue. Fresh means as of now: the cached one is reused while nothing it was
   * computed from has changed (blocks, damage reports and node standings all have versions or
   * are few), so status pages cost O(log n + page) between changes, and a change costs one
   * assessment of the candidates (blocks on nodes out of service, damaged or doubled up), never
   * a walk of every block.
   */
  private snapshot(now: number, fresh: boolean): QueueSnapshot {
    const cached = this.cached;
    if (cached !== undefined && !fresh && now - cached.at < QUEUE_REFRESH_MS) return cached;
    const signature = this.signature(now);
    if (cached !== undefined && cached.signature === signature) return cached;
    const queue: QueuedBlock[] = [];
    for (const blockId of this.candidates(now)) {
      const block = this.state.blocks.get(blockId);
      if (block === undefined || block.state !== 'committed') continue;
      const assessment = this.assess(block, now);
      if (assessment.needs.length > 0) queue.push({ block, assessment });
    }
    queue.sort((a, b) => compareQueueKeys(queueKey(a), queueKey(b)));
    this.cached = { at: now, signature, queue, tally: this.tally(queue) };
    return this.cached;
  }

  private signature(now: number): string {
    const standings: string[] = [];
    // Nodes are few (hundreds): a walk of them per status request is the price of exactness.
    for (const nodeId of this.state.nodes.keys()) standings.push(`${nodeId}=${this.nodes.standingOf(nodeId, now)}`);
    return `${this.state.blocksVersion}/${this.state.corrupt.version}/${standings.join(',')}`;
  }

  private tally(queue: readonly QueuedBlock[]): QueueTally {
    let underReplicated = 0;
    let unavailable = 0;
    let moving = 0;
    let waitingForNodes = 0;
    let bytesQueued = 0;
    const alive = this.nodes.placementCandidates().length;
    for (const { block, assessment } of queue) {
      if (assessment.health === 'unavailable') unavailable++;
      else if (assessment.health === 'under-replicated') underReplicated++;
      else if (assessment.health === 'moving') moving++;
      // Shards doubled up on a cluster with no node free of the block: nothing to do until one joins.
      const stuck = assessment.needs.every((need) => need.reason === 'doubled') && alive <= new Set(block.nodes).size;
      if (stuck) waitingForNodes++;
      else bytesQueued += assessment.needs.length * block.shardBytes;
    }
    return { underReplicated, unavailable, moving, waitingForNodes, bytesQueued };
  }

  /**
   * Hands up to `slots` tasks to `executorId` (called with its heartbeat): the most endangered
   * blocks that have no task yet, are not backing off, and have somewhere to go.
   */
  assign(executorId: string, slots: number): Promise<RepairTask[]> {
    return this.state.exclusive(async () => {
      const now = Date.now();
      const executor = this.state.nodes.get(executorId);
      if (slots <= 0 || executor === undefined || this.nodes.stateOf(executor, now) !== 'alive') return [];
      const free = Math.min(slots, this.config.tasksMax - this.state.repairTasks.size);
      if (free <= 0) return [];
      const targetLoad = this.targetLoad();
      const tasks: RepairTaskRecord[] = [];
      let scanned = 0;
      for (const { block } of this.queue(now)) {
        if (tasks.length >= free || scanned++ >= ASSIGN_SCAN_MAX) break;
        if (this.state.repairingBlocks.has(block.blockId) || (this.backoff.get(block.blockId)?.until ?? 0) > now) continue;
        const current = this.state.blocks.get(block.blockId);
        if (current === undefined || current.state !== 'committed') continue;
        const task = this.planTask(current, this.assess(current, now), executorId, targetLoad, now);
        if (task === undefined) continue;
        tasks.push(task);
        for (const shard of task.shards) targetLoad.set(shard.targetNode, (targetLoad.get(shard.targetNode) ?? 0) + 1);
        this.state.putRepairTask(task);
      }
      if (tasks.length === 0) return [];
      try {
        await this.state.db.write(tasks.map((task) => put(this.state.db.repairs, task.taskId, task)));
      } catch (error) {
        for (const task of tasks) this.state.deleteRepairTask(task.taskId);
        throw error;
      }
      this.counters.tasksStarted += tasks.length;
      return tasks.map((task) => this.toWire(task));
    });
  }

  /** Extends the leases of tasks their executor says it is still running. */
  extend(executorId: string, taskIds: readonly string[]): void {
    const now = Date.now();
    for (const taskId of taskIds) {
      const task = this.state.repairTasks.get(taskId);
      if (task === undefined || task.executorNode !== executorId) continue;
      const next: RepairTaskRecord = { ...task, expiresAt: Math.max(task.expiresAt, now + this.leaseMs(task.bytesToRead)) };
      this.state.putRepairTask(next);
      // Unsynced: a lost extension only shortens a lease, which errs on the side of retrying.
      this.state.db.repairs.put(taskId, next).catch(() => undefined);
    }
  }

  /** Applies an executor's outcome: restored shards switch location atomically, the rest are undone. */
  report(taskId: string, report: RepairReport): Promise<RepairReportAnswer> {
    return this.state.exclusive(async () => {
      const task = this.state.repairTasks.get(taskId);
      if (task === undefined) {
        const answer = this.finished.get(taskId);
        if (answer !== undefined) return answer;
        throw new GranaryError('GRN_REPAIR_TASK_NOT_FOUND', `repair task ${taskId} is not running (it finished or expired); its result was not applied`);
      }
      if (report.nodeId !== task.executorNode) {
        throw new GranaryError('GRN_BAD_REQUEST', `repair task ${taskId} was given to ${task.executorNode}, not ${report.nodeId}`);
      }
      const now = Date.now();
      const block = this.state.blocks.get(task.blockId);
      const nodes = block === undefined ? [] : [...block.nodes];
      const switched: number[] = [];
      const discarded: { shard: number; reason: string }[] = [];
      const operations: Operation[] = [];
      const gcRecords: GcRecord[] = [];
      const clearedDamage: string[] = [];
      for (const shard of task.shards) {
        const chunkId = `${task.blockId}.${shard.shard}`;
        const result = report.results.find((r) => r.shard === shard.shard);
        const problem =
          result === undefined
            ? 'not reported'
            : !result.ok
              ? (result.error ?? 'failed')
              : block === undefined || block.state !== 'committed'
                ? 'the block was dropped meanwhile'
                : block.nodes[shard.shard] !== shard.fromNode
                  ? 'the shard moved meanwhile'
                  : !this.state.nodes.has(shard.targetNode)
                    ? `target ${shard.targetNode} was removed meanwhile`
                    : undefined;
        if (problem !== undefined) {
          discarded.push({ shard: shard.shard, reason: problem });
          // Whatever landed on the target is garbage, unless the catalog uses that copy.
          if (nodes[shard.shard] !== shard.targetNode) gcRecords.push(copyGc(chunkId, shard.targetNode, `repair task ${taskId} not applied: ${problem}`, now));
          continue;
        }
        nodes[shard.shard] = shard.targetNode;
        switched.push(shard.shard);
        const damage = this.state.corrupt.get(chunkId);
        if (damage !== undefined && (damage.nodeId === shard.fromNode || damage.nodeId === shard.targetNode)) clearedDamage.push(chunkId);
        if (shard.fromNode !== shard.targetNode && this.state.nodes.has(shard.fromNode)) {
          gcRecords.push(copyGc(chunkId, shard.fromNode, `moved to ${shard.targetNode} by repair`, now));
        }
      }
      const nextBlock: BlockRecord | undefined = block !== undefined && switched.length > 0 ? { ...block, nodes } : undefined;
      if (nextBlock !== undefined) operations.push(put(this.state.db.blocks, nextBlock.blockId, nextBlock));
      for (const chunkId of clearedDamage) operations.push(del(this.state.db.corrupt, chunkId));
      for (const record of gcRecords) operations.push(put(this.state.db.gc, record.blockId, record));
      operations.push(del(this.state.db.repairs, taskId));
      await this.state.db.write(operations);
      if (nextBlock !== undefined) this.state.putBlock(nextBlock);
      for (const chunkId of clearedDamage) this.state.corrupt.delete(chunkId);
      for (const record of gcRecords) this.state.putGc(record);
      this.state.deleteRepairTask(taskId);
      this.cached = undefined;
      this.counters.bytesRead += report.bytesRead;
      this.counters.bytesWritten += report.bytesWritten;
      this.counters.shardsRestored += switched.length;
      this.noteRecent(now, report.bytesWritten);
      if (discarded.length === 0) {
        this.counters.tasksDone++;
        this.backoff.delete(task.blockId);
      } else {
        this.counters.tasksFailed++;
        this.backOff(task.blockId, now);
      }
      const answer: RepairReportAnswer = { switched, discarded };
      this.finished.set(taskId, answer);
      if (this.finished.size > FINISHED_ANSWERS_KEPT) this.finished.delete(this.finished.keys().next().value as string);
      return answer;
    });
  }

  /** Gives up tasks whose lease ran out: their targets' copies are garbage; the blocks are queued again. */
  expire(now = Date.now()): Promise<number> {
    return this.state.exclusive(async () => {
      const expired = [...this.state.repairTasks.values()].filter((task) => task.expiresAt <= now);
      if (expired.length === 0) return 0;
      const operations: Operation[] = [];
      const gcRecords: GcRecord[] = [];
      for (const task of expired) {
        operations.push(del(this.state.db.repairs, task.taskId));
        const block = this.state.blocks.get(task.blockId);
        for (const shard of task.shards) {
          if (block?.nodes[shard.shard] === shard.targetNode) continue;
          gcRecords.push(copyGc(`${task.blockId}.${shard.shard}`, shard.targetNode, `repair task ${task.taskId} expired`, now));
        }
      }
      for (const record of gcRecords) operations.push(put(this.state.db.gc, record.blockId, record));
      await this.state.db.write(operations);
      for (const record of gcRecords) this.state.putGc(record);
      for (const task of expired) {
        this.state.deleteRepairTask(task.taskId);
        this.backOff(task.blockId, now);
      }
      this.counters.tasksExpired += expired.length;
      return expired.length;
    });
  }

  /**
   * Counts, progress and one page of the queue (most endangered first) after `page.after`, a
   * queue position from the `next` of the page before; `page.limit` 0 gives the counts alone.
   * Blocks move in the queue as their health changes: a page lists what is endangered now,
   * after the position the cursor names, so a block that got worse since may be skipped by a
   * walk of the pages, and one that recovered is no longer listed.
   */
  status(page: PageRequest, tableNames: ReadonlyMap<string, string>, now = Date.now()): RepairStatus {
    const { queue, tally } = this.snapshot(now, true);
    const { underReplicated, unavailable, moving, waitingForNodes, bytesQueued } = tally;
    // A counter: total committed blocks, without a walk of them.
    const total = this.state.committedBlockCount;
    const start = page.after === undefined ? 0 : firstAfter(queue, parseQueueKey(page.after));
    const chosen = page.limit === 0 ? [] : queue.slice(start, start + page.limit);
    const items = chosen.map(({ block, assessment }) => this.item(block, assessment, tableNames));
    const last = chosen[chosen.length - 1];
    const next = last !== undefined && start + chosen.length < queue.length ? formatQueueKey(queueKey(last)) : null;
    const recentBytesPerSecond = this.recentRate(now);
    return {
      blocks: { total, healthy: total - underReplicated - unavailable - moving, underReplicated, unavailable, moving, waitingForNodes },
      bytesQueued,
      tasksRunning: this.state.repairTasks.size,
      counters: { ...this.counters },
      recentBytesPerSecond,
      etaSeconds: bytesQueued === 0 ? 0 : recentBytesPerSecond > 0 ? Math.ceil(bytesQueued / recentBytesPerSecond) : null,
      settings: { rateBytesPerSecond: this.config.rateBytesPerSecond, tasksMax: this.config.tasksMax, deadAfterMs: this.nodes.deadAfterMs },
      items,
      next,
    };
  }

  /** The counters alone, for the service's metrics. */
  counterSnapshot(): RepairCounters {
    return { ...this.counters };
  }

  private assess(block: BlockRecord, now: number): BlockAssessment {
    return assessBlock(
      block,
      (nodeId) => this.nodes.standingOf(nodeId, now),
      (chunkId) => this.state.corrupt.get(chunkId),
    );
  }

  /** Blocks that may need repair: on a node out of service, damaged, or sharing a node. */
  private candidates(now: number): Set<string> {
    const ids = new Set<string>(this.state.sharedBlocks);
    for (const [nodeId, blockIds] of this.state.blocksByNode) {
      const standing = this.nodes.standingOf(nodeId, now);
      if (standing === 'alive' || standing === 'suspect') continue;
      for (const blockId of blockIds) ids.add(blockId);
    }
    for (const record of this.state.corrupt.values()) ids.add(record.chunkId.slice(0, record.chunkId.lastIndexOf('.')));
    return ids;
  }

  private planTask(
    block: BlockRecord,
    assessment: BlockAssessment,
    executorId: string,
    targetLoad: ReadonlyMap<string, number>,
    now: number,
  ): RepairTaskRecord | undefined {
    // Lost shards first, then doubled ones, then draining ones: the order restores are given targets in.
    const rank = (need: ShardNeed): number => (need.mode === 'rebuild' ? 0 : need.reason === 'doubled' ? 1 : 2);
    const needs = [...assessment.needs].sort((a, b) => rank(a) - rank(b) || a.shard - b.shard);
    const rebuilding = needs.some((need) => need.mode === 'rebuild');
    if (rebuilding && assessment.readableShards.length < block.dataShards) return undefined;
    const moving = new Set(needs.map((need) => need.shard));
    const stayingNodes = new Set(block.nodes.filter((_, shard) => !moving.has(shard)));
    const chunkIds = needs.map((need) => `${block.blockId}.${need.shard}`);
    const describe = (nodeId: string): PlacementCandidate => {
      const node = this.state.nodes.get(nodeId);
      return { nodeId, domain: node?.domain ?? '', freeBytes: node?.freeBytes ?? 0 };
    };
    // A target holds none of the block's other shards, has no copy of these chunks queued for
    // deletion (a delete in flight could land after the new copy), and is not flooded already.
    const pool = this.nodes
      .placementCandidates()
      .filter(
        (node) =>
          !stayingNodes.has(node.nodeId) &&
          // A node that lost or rotted its copy is a target only when no other node is free.
          !needs.some((need) => need.fromNode === node.nodeId) &&
          (targetLoad.get(node.nodeId) ?? 0) < TARGET_RESTORES_MAX &&
          !chunkIds.some((chunkId) => this.state.gcPending(chunkId, node.nodeId)),
      );
    const staying = [...stayingNodes].map(describe);
    const targets = placeShards(pool, Math.min(needs.length, pool.length), this.random, staying);
    const shards: RepairShardRecord[] = [];
    // Shards of this block per node once the task is done, for the last-resort choice below.
    const shardsOn = new Map<string, number>();
    for (const nodeId of stayingNodes) shardsOn.set(nodeId, block.nodes.filter((holder) => holder === nodeId).length);
    needs.forEach((need, index) => {
      let target = targets[index]?.nodeId;
      // No other node free: a corrupt or missing chunk on a node in service is rewritten in place
      // (the node replaces its copy only when it fails verification).
      if (target === undefined && (need.reason === 'corrupt' || need.reason === 'missing') && this.inPlaceOk(block, need, stayingNodes, now)) {
        target = need.fromNode;
      }
      // Still none (a cluster of exactly k+m nodes, or nodes out): a lost or leaving shard goes
      // to the alive node holding fewest of the block's shards. A shard on a shared node still
      // protects against rot, and the next loss of a whole node costs no more than without it;
      // when nodes join, the doubled shard is spread out like a write made with nodes down.
      if (target === undefined && need.reason !== 'doubled') target = this.sharedTarget(block, need, shardsOn, targetLoad);
      if (target === undefined) return;
      shards.push({ shard: need.shard, mode: need.mode, fromNode: need.fromNode, targetNode: target });
      shardsOn.set(target, (shardsOn.get(target) ?? 0) + 1);
    });
    if (shards.length === 0) return undefined;
    const copies = shards.filter((shard) => shard.mode === 'copy').length;
    const bytesToRead = (shards.some((shard) => shard.mode === 'rebuild') ? block.dataShards : 0) * block.shardBytes + copies * block.shardBytes;
    return {
      taskId: `r${randomBytes(10).toString('hex')}`,
      blockId: block.blockId,
      executorNode: executorId,
      shards,
      createdAt: now,
      expiresAt: now + this.leaseMs(bytesToRead),
      bytesToRead,
    };
  }

  private sharedTarget(block: BlockRecord, need: ShardNeed, shardsOn: ReadonlyMap<string, number>, targetLoad: ReadonlyMap<string, number>): string | undefined {
    const chunkId = `${block.blockId}.${need.shard}`;
    const hosts = this.nodes
      .placementCandidates()
      .filter((node) => node.nodeId !== need.fromNode && (targetLoad.get(node.nodeId) ?? 0) < TARGET_RESTORES_MAX && !this.state.gcPending(chunkId, node.nodeId));
    const fewest = Math.min(...hosts.map((node) => shardsOn.get(node.nodeId) ?? 0));
    // Among the nodes with fewest shards of the block, the least busy; ties at random, so the
    // doubled shards of many blocks spread over the cluster instead of piling on one node.
    const least = hosts.filter((node) => (shardsOn.get(node.nodeId) ?? 0) === fewest);
    const busy = Math.min(...least.map((node) => targetLoad.get(node.nodeId) ?? 0));
    const idle = least.filter((node) => (targetLoad.get(node.nodeId) ?? 0) === busy);
    return idle[Math.floor(this.random() * idle.length)]?.nodeId;
  }

  private inPlaceOk(block: BlockRecord, need: ShardNeed, stayingNodes: ReadonlySet<string>, now: number): boolean {
    const standing = this.nodes.standingOf(need.fromNode, now);
    return standing === 'alive' && !stayingNodes.has(need.fromNode) && block.nodes.filter((nodeId) => nodeId === need.fromNode).length === 1;
  }

  private targetLoad(): Map<string, number> {
    const load = new Map<string, number>();
    for (const task of this.state.repairTasks.values()) {
      for (const shard of task.shards) load.set(shard.targetNode, (load.get(shard.targetNode) ?? 0) + 1);
    }
    return load;
  }

  private rateShare(): number {
    return Math.max(1, Math.floor(this.config.rateBytesPerSecond / this.config.tasksMax));
  }

  private leaseMs(bytesToRead: number): number {
    return Math.max(this.config.taskLeaseMinMs, Math.ceil((3 * 1000 * bytesToRead) / this.rateShare()));
  }

  private backOff(blockId: string, now: number): void {
    const failures = (this.backoff.get(blockId)?.failures ?? 0) + 1;
    this.backoff.set(blockId, { failures, until: now + Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_BASE_MS * 2 ** (failures - 1)) });
    this.cached = undefined;
  }

  private noteRecent(now: number, bytes: number): void {
    this.recent.push({ at: now, bytes });
    while (this.recent.length > RECENT_SAMPLES_MAX || ((this.recent[0]?.at ?? now) < now - RECENT_WINDOW_MS)) this.recent.shift();
  }

  private recentRate(now: number): number {
    const since = now - RECENT_WINDOW_MS;
    const samples = this.recent.filter((sample) => sample.at >= since);
    if (samples.length === 0) return 0;
    const bytes = samples.reduce((sum, sample) => sum + sample.bytes, 0);
    const spanMs = Math.max(1_000, now - Math.min(...samples.map((sample) => sample.at)));
    return Math.round((bytes * 1000) / spanMs);
  }

  private item(block: BlockRecord, assessment: BlockAssessment, tableNames: ReadonlyMap<string, string>): RepairItem {
    const taskId = this.state.repairingBlocks.get(block.blockId);
    return {
      blockId: block.blockId,
      table: tableNames.get(block.tableId) ?? block.tableId,
      dataShards: block.dataShards,
      parityShards: block.parityShards,
      healthyShards: assessment.readableShards.length,
      nodeFailuresToSpare: assessment.nodeFailuresToSpare,
      status: assessment.health === 'healthy' ? 'moving' : assessment.health,
      badShards: assessment.needs.map((need) => ({ shard: need.shard, chunkId: `${block.blockId}.${need.shard}`, nodeId: need.fromNode, reason: need.reason })),
      ...(taskId === undefined ? {} : { taskId }),
    };
  }

  private toWire(task: RepairTaskRecord): RepairTask {
    const block = this.state.blocks.get(task.blockId) as BlockRecord;
    const now = Date.now();
    const url = (nodeId: string): string => this.state.nodes.get(nodeId)?.url ?? '';
    const restoring = new Set(task.shards.filter((shard) => shard.mode === 'rebuild').map((shard) => shard.shard));
    // Healthy shards on nodes in service, alive ones before late or draining ones.
    const preference = { alive: 0, suspect: 2, draining: 1, dead: 3, removed: 3 } as const;
    const sources: RepairSource[] = block.nodes
      .map((nodeId, shard) => ({ nodeId, shard, standing: this.nodes.standingOf(nodeId, now) }))
      .filter(({ shard, nodeId, standing }) => {
        if (restoring.has(shard) || standing === 'dead' || standing === 'removed') return false;
        const damage = this.state.corrupt.get(`${block.blockId}.${shard}`);
        return damage === undefined || damage.nodeId !== nodeId;
      })
      .sort((a, b) => preference[a.standing] - preference[b.standing] || a.shard - b.shard)
      .map(({ nodeId, shard }) => ({ shard, chunkId: `${block.blockId}.${shard}`, nodeId, url: url(nodeId) }));
    const restores: ShardRestore[] = task.shards.map((shard) => {
      const checksum = block.shardChecksums?.[shard.shard];
      const from = shard.mode === 'copy' ? sources.find((source) => source.shard === shard.shard) : undefined;
      return {
        shard: shard.shard,
        chunkId: `${block.blockId}.${shard.shard}`,
        mode: shard.mode,
        ...(from === undefined ? {} : { from }),
        target: { nodeId: shard.targetNode, url: url(shard.targetNode) },
        ...(checksum === undefined ? {} : { checksum }),
      };
    });
    return {
      taskId: task.taskId,
      blockId: block.blockId,
      dataShards: block.dataShards,
      parityShards: block.parityShards,
      codec: block.codec,
      shardBytes: block.shardBytes,
      sources,
      restores,
      rateBytesPerSecond: this.rateShare(),
      expiresAt: new Date(task.expiresAt).toISOString(),
    };
  }
}

/** A block's place in the repair queue: moving ones last, fewest node failures to spare, oldest, then by id. */
interface QueueKey {
  readonly moving: 0 | 1;
  readonly spare: number;
  readonly createdAt: number;
  readonly blockId: string;
}

function queueKey({ block, assessment }: QueuedBlock): QueueKey {
  return { moving: assessment.health === 'moving' ? 1 : 0, spare: assessment.nodeFailuresToSpare, createdAt: block.createdAt, blockId: block.blockId };
}

function compareQueueKeys(a: QueueKey, b: QueueKey): number {
  return a.moving - b.moving || a.spare - b.spare || a.createdAt - b.createdAt || (a.blockId < b.blockId ? -1 : a.blockId > b.blockId ? 1 : 0);
}

/** The status page cursor: MOVING.SPARE.CREATED.BLOCK (its shape is checked by paging.ts CURSORS.repair). */
function formatQueueKey(key: QueueKey): string {
  return `${key.moving}.${key.spare}.${key.createdAt}.${key.blockId}`;
}

function parseQueueKey(cursor: string): QueueKey {
  const [moving, spare, createdAt, ...blockId] = cursor.split('.');
  return { moving: moving === '1' ? 1 : 0, spare: Number(spare), createdAt: Number(createdAt), blockId: blockId.join('.') };
}

/** The index of the first queued block after `key`. */
function firstAfter(queue: readonly QueuedBlock[], key: QueueKey): number {
  let low = 0;
  let high = queue.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareQueueKeys(queueKey(queue[mid] as QueuedBlock), key) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
