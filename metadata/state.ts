/**
 * The metadata service's in-memory view of its LevelDB: every record kind indexed for the
 * requests that read it, loaded once at start-up and updated only after a batch is durable.
 * Mutations run one at a time (`exclusive`) so a check and the write that depends on it cannot
 * interleave with another request's.
 */
import { type MetadataDb, readAll } from './db.js';
import { resumeManifestDrops } from './manifests/drops.js';
import { type StoredFileRecord, hasInlineStripes, migrateFileRecord } from './manifests/migration.js';
import { PlanGate } from './plan-gate.js';
import { type LoadedFile, loadFile } from './planner.js';
import { GcQueueMap } from './gc-queue-map.js';
import { PartitionMap } from './partition-map.js';
import { SortedKeys } from './sorted-keys.js';
import { SortedMap } from './sorted-map.js';
import { type TablePopularity, fromStored } from './popularity.js';
import type {
  BlockRecord,
  CorruptRecord,
  FileRecord,
  GcRecord,
  NodeRecord,
  PartitionRecord,
  RepairTaskRecord,
  SessionRecord,
  TableRecord,
} from './records.js';

export class MetadataState {
  /** Sorted maps (sorted-map.ts) keep the listings' order as records change: pages cost O(page). */
  readonly tablesByName = new SortedMap<TableRecord>();
  /** tableId -> partition spec -> record. */
  readonly partitions = new Map<string, PartitionMap>();
  /** tableId -> partition spec -> files in commit order. */
  readonly files = new Map<string, Map<string, LoadedFile[]>>();
  /** Change through putBlock / deleteBlock, which keep `blocksByNode` in step. */
  readonly blocks = new Map<string, BlockRecord>();
  /** nodeId -> ids of the blocks with a shard (or a former placement) on it. */
  readonly blocksByNode = new Map<string, Set<string>>();
  /** nodeId -> shards the catalog places on it (`block.nodes` entries): node listings count without a walk. */
  readonly chunksByNode = new Map<string, number>();
  /** Blocks in state `committed`, kept by putBlock / deleteBlock: /health counts without a walk. */
  committedBlockCount = 0;
  /** Ids of the blocks in state `committed`, in order, kept by putBlock / deleteBlock (GET /v1/blocks pages through it). */
  readonly committedIds = new SortedKeys();
  /** tableId -> ids of its committed blocks, in order (GET /v1/blocks?table= pages through it). */
  readonly committedIdsByTable = new Map<string, SortedKeys>();
  /** Bumped by every putBlock / deleteBlock: caches derived from `blocks` compare it. */
  blocksVersion = 0;
  /** Blocks with two shards on one node (written while nodes were down): repair spreads them. */
  readonly sharedBlocks = new Set<string>();
  /** Change through putSession / deleteSession, which keep `openSessionsByTable` in step. */
  readonly sessions = new Map<string, SessionRecord>();
  /** tableId -> ids of its sessions in state `open` (quotas count them without a scan). */
  readonly openSessionsByTable = new Map<string, Set<string>>();
  /**
   * sessionId -> ids of its blocks in state `allocated`. Built from the block records at load,
   * kept by putBlock / deleteBlock: a session's block list costs no write of its own.
   */
  readonly sessionBlocks = new Map<string, Set<string>>();
  readonly nodes = new SortedMap<NodeRecord>();
  /** Sorted for its `version`, which the repair queue's cache compares. */
  readonly corrupt = new SortedMap<CorruptRecord>();
  /** Change through putGc / deleteGc, which keep `gcChunks` in step. */
  readonly gcQueue = new GcQueueMap();
  /** `chunk@node` of every copy queued for deletion: repair never writes a chunk where one is. */
  readonly gcChunks = new Map<string, number>();
  readonly repairTasks = new Map<string, RepairTaskRecord>();
  /** blockId -> the task restoring it (one task per block at a time). */
  readonly repairingBlocks = new Map<string, string>();
  /** tableId -> column id -> scans that read it. */
  readonly popularity = new Map<string, TablePopularity>();
  /** Plan pages share it; removals of files wait for them (plan-gate.ts). */
  readonly plans = new PlanGate();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly db: MetadataDb) {}

  async load(): Promise<void> {
    for (const table of await readAll(this.db.tables)) this.tablesByName.set(table.name, table);
    for (const partition of await readAll(this.db.partitions)) this.partitionsOf(partition.tableId).set(partition.spec, partition);
    // Drops a stop interrupted finish before anything reads the pieces they remove.
    await resumeManifestDrops(this.db);
    const files: FileRecord[] = [];
    for await (const [key, stored] of this.db.files.entries()) {
      // Records of the previous version carry their stripes: rewritten into pieces one by one,
      // so only the small record stays in memory.
      const record = stored as StoredFileRecord;
      files.push(hasInlineStripes(record) ? await migrateFileRecord(this.db, key, record) : record);
    }
    // Commit order, as the live service numbered stripes: never by clock, which can repeat or step back.
    files.sort((a, b) => a.sequence - b.sequence);
    for (const file of files) this.filesOf(file.tableId, file.partition).push(loadFile(file));
    for (const block of await readAll(this.db.blocks)) this.putBlock(block);
    for (const session of await readAll(this.db.sessions)) {
      // Records written before the block index listed every block in the session: dropped here,
      // or a renewal would keep rewriting the list the index replaced.
      const { blockIds: _listed, ...record } = session as SessionRecord & { blockIds?: unknown };
      this.putSession(record);
    }
    for (const node of await readAll(this.db.nodes)) this.nodes.set(node.nodeId, node);
    for (const record of await readAll(this.db.corrupt)) this.corrupt.set(record.chunkId, record);
    for (const record of await readAll(this.db.gc)) this.putGc(record);
    for (const task of await readAll(this.db.repairs)) this.putRepairTask(task);
    const loadedAt = Date.now();
    for await (const [tableId, stored] of this.db.popularity.entries()) this.popularity.set(tableId, fromStored(stored, loadedAt));
  }

  /** Runs `work` after every mutation before it has finished. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  putBlock(block: BlockRecord): void {
    const previous = this.blocks.get(block.blockId);
    if (previous !== undefined) this.unindexBlock(previous);
    this.blocks.set(block.blockId, block);
    this.blocksVersion++;
    if (block.state === 'committed') {
      this.committedBlockCount++;
      this.committedIds.add(block.blockId);
      let ofTable = this.committedIdsByTable.get(block.tableId);
      if (ofTable === undefined) {
        ofTable = new SortedKeys();
        this.committedIdsByTable.set(block.tableId, ofTable);
      }
      ofTable.add(block.blockId);
    }
    if (block.state === 'allocated') setAdd(this.sessionBlocks, block.sessionId, block.blockId);
    for (const nodeId of block.nodes) this.chunksByNode.set(nodeId, (this.chunksByNode.get(nodeId) ?? 0) + 1);
    if (new Set(block.nodes).size < block.nodes.length) this.sharedBlocks.add(block.blockId);
    else this.sharedBlocks.delete(block.blockId);
    for (const nodeId of nodesOf(block)) {
      let set = this.blocksByNode.get(nodeId);
      if (set === undefined) {
        set = new Set();
        this.blocksByNode.set(nodeId, set);
      }
      set.add(block.blockId);
    }
  }

  deleteBlock(blockId: string): void {
    const block = this.blocks.get(blockId);
    if (block === undefined) return;
    this.unindexBlock(block);
    this.blocks.delete(blockId);
    this.blocksVersion++;
    this.sharedBlocks.delete(blockId);
  }

  /** Ids of the session's blocks still `allocated` (none once it committed or closed). */
  blocksOfSession(sessionId: string): ReadonlySet<string> {
    return this.sessionBlocks.get(sessionId) ?? EMPTY;
  }

  putSession(session: SessionRecord): void {
    const previous = this.sessions.get(session.sessionId);
    if (previous !== undefined) setRemove(this.openSessionsByTable, previous.tableId, previous.sessionId);
    this.sessions.set(session.sessionId, session);
    if (session.state === 'open') setAdd(this.openSessionsByTable, session.tableId, session.sessionId);
  }

  deleteSession(sessionId: string): void {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return;
    setRemove(this.openSessionsByTable, session.tableId, sessionId);
    this.sessions.delete(sessionId);
  }

  /** Sessions in state `open`, of one table or of all. */
  openSessionCount(tableId?: string): number {
    if (tableId !== undefined) return this.openSessionsByTable.get(tableId)?.size ?? 0;
    let count = 0;
    for (const set of this.openSessionsByTable.values()) count += set.size;
    return count;
  }

  putGc(record: GcRecord): void {
    const previous = this.gcQueue.get(record.blockId);
    if (previous !== undefined) for (const chunk of previous.chunks) this.countGcChunk(chunk, -1);
    this.gcQueue.set(record.blockId, record);
    for (const chunk of record.chunks) this.countGcChunk(chunk, 1);
  }

  deleteGc(key: string): void {
    const record = this.gcQueue.get(key);
    if (record === undefined) return;
    for (const chunk of record.chunks) this.countGcChunk(chunk, -1);
    this.gcQueue.delete(key);
  }

  /** True when a copy of `chunkId` on `nodeId` is queued for deletion. */
  gcPending(chunkId: string, nodeId: string): boolean {
    return this.gcChunks.has(`${chunkId}@${nodeId}`);
  }

  putRepairTask(task: RepairTaskRecord): void {
    this.repairTasks.set(task.taskId, task);
    this.repairingBlocks.set(task.blockId, task.taskId);
  }

  deleteRepairTask(taskId: string): void {
    const task = this.repairTasks.get(taskId);
    if (task === undefined) return;
    this.repairTasks.delete(taskId);
    if (this.repairingBlocks.get(task.blockId) === taskId) this.repairingBlocks.delete(task.blockId);
  }

  private countGcChunk(chunk: { readonly chunkId: string; readonly nodeId: string }, delta: number): void {
    const key = `${chunk.chunkId}@${chunk.nodeId}`;
    const count = (this.gcChunks.get(key) ?? 0) + delta;
    if (count > 0) this.gcChunks.set(key, count);
    else this.gcChunks.delete(key);
  }

  private unindexBlock(block: BlockRecord): void {
    if (block.state === 'committed') {
      this.committedBlockCount--;
      this.committedIds.delete(block.blockId);
      const ofTable = this.committedIdsByTable.get(block.tableId);
      ofTable?.delete(block.blockId);
      if (ofTable?.size === 0) this.committedIdsByTable.delete(block.tableId);
    }
    setRemove(this.sessionBlocks, block.sessionId, block.blockId);
    for (const nodeId of block.nodes) {
      const held = (this.chunksByNode.get(nodeId) ?? 0) - 1;
      if (held < 0) throw new Error(`invariant failed: shards placed on ${nodeId} stay non-negative`);
      if (held === 0) this.chunksByNode.delete(nodeId);
      else this.chunksByNode.set(nodeId, held);
    }
    for (const nodeId of nodesOf(block)) {
      const set = this.blocksByNode.get(nodeId);
      set?.delete(block.blockId);
      if (set?.size === 0) this.blocksByNode.delete(nodeId);
    }
  }

  partitionsOf(tableId: string): PartitionMap {
    let map = this.partitions.get(tableId);
    if (map === undefined) {
      map = new PartitionMap();
      this.partitions.set(tableId, map);
    }
    return map;
  }

  filesOf(tableId: string, partition: string): LoadedFile[] {
    let byPartition = this.files.get(tableId);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.files.set(tableId, byPartition);
    }
    let list = byPartition.get(partition);
    if (list === undefined) {
      list = [];
      byPartition.set(partition, list);
    }
    return list;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function setAdd(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function setRemove(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  set?.delete(value);
  if (set?.size === 0) index.delete(key);
}

/** Every node a block's chunks are on, or may have landed on (former placements). */
function nodesOf(block: BlockRecord): Set<string> {
  const nodes = new Set(block.nodes);
  for (const former of block.formerNodes ?? []) nodes.add(former.nodeId);
  return nodes;
}

export function partitionKey(tableId: string, spec: string): string {
  return `${tableId}/${spec}`;
}

export function fileKey(tableId: string, spec: string, fileId: string): string {
  return `${tableId}/${spec}/${fileId}`;
}
