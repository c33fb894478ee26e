/**
 * The metadata service's in-memory view of its LevelDB: every record kind indexed for the
 * requests that read it, loaded once at start-up and updated only after a batch is durable.
 * Mutations run one at a time (`exclusive`) so a check and the write that depends on it cannot
 * interleave with another request's.
 */
import { type MetadataDb, readAll } from './db.js';
import { type LoadedFile, loadFile } from './planner.js';
import type { BlockRecord, CorruptRecord, GcRecord, NodeRecord, PartitionRecord, SessionRecord, TableRecord } from './records.js';

export class MetadataState {
  readonly tablesByName = new Map<string, TableRecord>();
  /** tableId -> partition spec -> record. */
  readonly partitions = new Map<string, Map<string, PartitionRecord>>();
  /** tableId -> partition spec -> files in commit order. */
  readonly files = new Map<string, Map<string, LoadedFile[]>>();
  readonly blocks = new Map<string, BlockRecord>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly nodes = new Map<string, NodeRecord>();
  readonly corrupt = new Map<string, CorruptRecord>();
  readonly gcQueue = new Map<string, GcRecord>();
  /** tableId -> column id -> scans that read it. */
  readonly popularity = new Map<string, Map<number, number>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly db: MetadataDb) {}

  async load(): Promise<void> {
    for (const table of await readAll(this.db.tables)) this.tablesByName.set(table.name, table);
    for (const partition of await readAll(this.db.partitions)) this.partitionsOf(partition.tableId).set(partition.spec, partition);
    const files = await readAll(this.db.files);
    // Commit order, as the live service numbered stripes: never by clock, which can repeat or step back.
    files.sort((a, b) => a.sequence - b.sequence);
    for (const file of files) this.filesOf(file.tableId, file.partition).push(loadFile(file));
    for (const block of await readAll(this.db.blocks)) this.blocks.set(block.blockId, block);
    for (const session of await readAll(this.db.sessions)) this.sessions.set(session.sessionId, session);
    for (const node of await readAll(this.db.nodes)) this.nodes.set(node.nodeId, node);
    for (const record of await readAll(this.db.corrupt)) this.corrupt.set(record.chunkId, record);
    for (const record of await readAll(this.db.gc)) this.gcQueue.set(record.blockId, record);
    for await (const [tableId, counts] of this.db.popularity.entries()) {
      this.popularity.set(tableId, new Map(Object.entries(counts).map(([cid, count]) => [Number(cid), count])));
    }
  }

  /** Runs `work` after every mutation before it has finished. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  partitionsOf(tableId: string): Map<string, PartitionRecord> {
    let map = this.partitions.get(tableId);
    if (map === undefined) {
      map = new Map();
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

export function partitionKey(tableId: string, spec: string): string {
  return `${tableId}/${spec}`;
}

export function fileKey(tableId: string, spec: string, fileId: string): string {
  return `${tableId}/${spec}/${fileId}`;
}
