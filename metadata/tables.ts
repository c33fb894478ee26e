/** Tables and partitions: create, list, describe, alter, drop. */
import {
  GranaryError,
  type PartitionDetail,
  type TableAlteration,
  type TableInfo,
  type TableSpec,
  parsePartitionSpec,
} from '../protocol/index.js';
import type { DroppedFile } from '../protocol/catalog-types.js';
import { type FilePage, PARTITION_FILES_EMBEDDED_MAX, type PartitionPage, type TablePage } from '../protocol/page-types.js';
import { committedPartition, filePage, partitionInfo, partitionPage, tablePage } from './catalog-listings.js';
import type { PageRequest } from './paging.js';
import { type Operation, del, put } from './db.js';
import { queueBlocks } from './gc.js';
import { deleteDroppedPieces, dropMarkers } from './manifests/drops.js';
import { expiredPartitions } from './retention.js';
import type { NodeRegistry } from './nodes.js';
import type { FileRecord, PartitionRecord, SessionRecord, TableRecord } from './records.js';
import { alterTable, newTableRecord, tableInfo, visibleColumns } from './schema.js';
import { type MetadataState, fileKey, partitionKey } from './state.js';

/**
 * Limits an operator sets (flags of `granary metadata`), so one careless or hostile client cannot
 * grow the catalog, and with it the service's heap and every plan, without bound. Hitting one
 * answers GRN_QUOTA_EXCEEDED with the setting to raise; nothing is stored.
 */
export interface Quotas {
  readonly tablesMax: number;
  /** Visible columns of one table (each is a stream per stripe in every plan that reads it). */
  readonly columnsPerTableMax: number;
  /** Write sessions in state `open`, all tables together. */
  readonly openSessionsMax: number;
  readonly openSessionsPerTableMax: number;
  readonly blocksPerSessionMax: number;
  /** Stripes one commit adds to a partition: bounds a manifest's size in the heap and in plans. */
  readonly stripesPerCommitMax: number;
}

export const QUOTA_DEFAULTS: Quotas = {
  tablesMax: 1_000,
  columnsPerTableMax: 10_000,
  openSessionsMax: 10_000,
  openSessionsPerTableMax: 1_000,
  // 100,000 blocks of 64 MiB: 6.4 TB through one session, far beyond one writer's partition.
  blocksPerSessionMax: 100_000,
  // 250,000 stripes of one column are about 35 MB of msgpack: within the commit body limit.
  stripesPerCommitMax: 250_000,
};

/** Which flag of `granary metadata` raises each quota, for the refusal's message. */
const QUOTA_FLAGS: Readonly<Record<keyof Quotas, string>> = {
  tablesMax: '--tables-max',
  columnsPerTableMax: '--columns-per-table-max',
  openSessionsMax: '--open-sessions-max',
  openSessionsPerTableMax: '--open-sessions-per-table-max',
  blocksPerSessionMax: '--blocks-per-session-max',
  stripesPerCommitMax: '--stripes-per-commit-max',
};

/** The refusal of a request that would pass a quota; `remedy` says what the caller can do instead. */
export function quotaExceeded(quota: keyof Quotas, limit: number, what: string, remedy: string): GranaryError {
  return new GranaryError(
    'GRN_QUOTA_EXCEEDED',
    `${what}: the limit is ${limit} (${quota}); ${remedy}, or ask an operator to raise ${QUOTA_FLAGS[quota]}`,
    { details: { quota, limit } },
  );
}

export class Catalog {
  constructor(
    private readonly state: MetadataState,
    private readonly nodes: NodeRegistry,
    readonly quotas: Quotas = QUOTA_DEFAULTS,
  ) {}

  table(name: string): TableRecord {
    const table = this.state.tablesByName.get(name);
    if (table === undefined) {
      throw new GranaryError('GRN_TABLE_NOT_FOUND', `no table named ${name}; \`granary table list\` shows the tables`);
    }
    return table;
  }

  create(spec: TableSpec): Promise<TableInfo> {
    return this.state.exclusive(async () => {
      const table = newTableRecord(spec, Date.now());
      if (this.state.tablesByName.has(table.name)) {
        throw new GranaryError('GRN_TABLE_EXISTS', `table ${table.name} already exists`);
      }
      if (this.state.tablesByName.size >= this.quotas.tablesMax) {
        throw quotaExceeded('tablesMax', this.quotas.tablesMax, `the cluster has ${this.state.tablesByName.size} tables`, 'drop a table you no longer need');
      }
      this.checkColumns(table);
      const needed = table.dataShards + table.parityShards;
      const alive = this.nodes.usableCount();
      if (alive < needed) {
        throw new GranaryError(
          'GRN_BAD_REQUEST',
          `erasure policy ${table.dataShards}+${table.parityShards} needs ${needed} alive storage nodes, the cluster has ${alive}; ` +
            'start more nodes or choose a narrower policy with "ec"',
        );
      }
      await this.state.db.write([put(this.state.db.tables, table.name, table)]);
      this.state.tablesByName.set(table.name, table);
      return tableInfo(table);
    });
  }

  /** One page of tables by name; `scope`: the only names a scoped token may see. */
  list(page: PageRequest, scope?: ReadonlySet<string>): TablePage {
    return tablePage(this.state, page, scope);
  }

  describe(name: string): TableInfo {
    return tableInfo(this.table(name));
  }

  alter(name: string, change: TableAlteration): Promise<TableInfo> {
    return this.state.exclusive(async () => {
      const next = alterTable(this.table(name), change);
      this.checkColumns(next);
      await this.state.db.write([put(this.state.db.tables, name, next)]);
      this.state.tablesByName.set(name, next);
      return tableInfo(next);
    });
  }

  private checkColumns(table: TableRecord): void {
    const columns = visibleColumns(table).length;
    if (columns > this.quotas.columnsPerTableMax) {
      throw quotaExceeded('columnsPerTableMax', this.quotas.columnsPerTableMax, `table ${table.name} would have ${columns} columns`, 'split the features over several tables');
    }
  }

  drop(name: string): Promise<{ table: string; partitions: number; blocksQueued: number }> {
    return this.removeFiles(async (dropped) => {
      const table = this.table(name);
      const now = Date.now();
      const operations: Operation[] = [del(this.state.db.tables, name), del(this.state.db.popularity, table.id)];
      const blockIds: string[] = [];
      const partitions = [...this.state.partitionsOf(table.id).keys()];
      for (const spec of partitions) blockIds.push(...this.partitionRemoval(table, spec, operations, dropped));
      // Open sessions of the table can no longer commit: their blocks are garbage too.
      const sessions = [...this.state.sessions.values()].filter((s) => s.tableId === table.id && s.state === 'open');
      const aborted = sessions.map((session): SessionRecord => {
        const held = [...this.state.blocksOfSession(session.sessionId)];
        blockIds.push(...held);
        return { ...session, state: 'aborted', closedAt: now, blocksAtClose: held.length };
      });
      for (const session of aborted) operations.push(put(this.state.db.sessions, session.sessionId, session));
      const gc = queueBlocks(this.state, blockIds, `table ${name} dropped`, now);
      await this.state.db.write([...operations, ...gc.operations]);
      gc.apply();
      for (const session of aborted) this.state.putSession(session);
      this.state.tablesByName.delete(name);
      this.state.partitions.delete(table.id);
      this.state.files.delete(table.id);
      this.state.popularity.delete(table.id);
      return { table: name, partitions: partitions.length, blocksQueued: blockIds.length };
    });
  }

  /** One page of a table's partitions by spec. */
  partitions(name: string, page: PageRequest): PartitionPage {
    return partitionPage(this.state, this.table(name), page);
  }

  /** One page of a partition's files in commit order. */
  files(name: string, spec: string, page: PageRequest): FilePage {
    return filePage(this.state, committedPartition(this.state, this.table(name), spec), page);
  }

  /**
   * A partition's counters and its first files: a partition of many small commits can have
   * more files than one answer should carry, so the rest are paged from `filesNext`.
   */
  describePartition(name: string, spec: string): PartitionDetail {
    const partition = committedPartition(this.state, this.table(name), spec);
    const files = filePage(this.state, partition, { after: undefined, limit: PARTITION_FILES_EMBEDDED_MAX });
    return { ...partitionInfo(partition), fileList: files.files, filesNext: files.next };
  }

  dropPartition(name: string, spec: string): Promise<{ table: string; partition: string; blocksQueued: number }> {
    return this.removeFiles(async (dropped) => {
      const table = this.table(name);
      const canonical = parsePartitionSpec(spec, table.partitionBy).spec;
      if (!this.state.partitionsOf(table.id).has(canonical)) {
        throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${name} has no committed partition ${canonical}`);
      }
      const operations: Operation[] = [];
      const blockIds = this.partitionRemoval(table, canonical, operations, dropped);
      const gc = queueBlocks(this.state, blockIds, `partition ${name} ${canonical} dropped`, Date.now());
      await this.state.db.write([...operations, ...gc.operations]);
      gc.apply();
      this.state.partitionsOf(table.id).delete(canonical);
      this.state.files.get(table.id)?.delete(canonical);
      return { table: name, partition: canonical, blocksQueued: blockIds.length };
    });
  }

  /**
   * Removes one committed file of a partition (a bad one an admin found), in one batch: its
   * record, the partition's counters (the partition itself when it was the last file), and its
   * blocks to GC unless another file of the partition still reads them. Later files' stripes
   * move down by the removed file's stripe count, as after any change of the partition's files.
   */
  dropFile(name: string, spec: string, fileId: string): Promise<DroppedFile> {
    return this.removeFiles(async (dropped) => {
      const table = this.table(name);
      const canonical = parsePartitionSpec(spec, table.partitionBy).spec;
      const partition = this.state.partitionsOf(table.id).get(canonical);
      if (partition === undefined) throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${name} has no committed partition ${canonical}`);
      const files = this.state.filesOf(table.id, canonical);
      const index = files.findIndex(({ record }) => record.fileId === fileId);
      const file = files[index]?.record;
      if (file === undefined) {
        throw new GranaryError('GRN_FILE_NOT_FOUND', `partition ${canonical} of table ${name} has no file ${fileId}; \`granary partition describe ${name} ${canonical}\` lists its files`);
      }
      // Files of one commit may share blocks: only blocks no remaining file reads are garbage.
      const stillRead = new Set<string>();
      files.forEach(({ record }, i) => {
        if (i !== index && record.sessionId === file.sessionId) for (const blockId of record.blockIds) stillRead.add(blockId);
      });
      const blockIds = [...new Set(file.blockIds)].filter((blockId) => !stillRead.has(blockId));
      const last = files.length === 1;
      const next: PartitionRecord = {
        ...partition,
        files: partition.files - 1,
        stripes: partition.stripes - file.stripeCount,
        rows: partition.rows - file.rows,
        bytes: partition.bytes - file.bytes,
        rawBytes: (partition.rawBytes ?? partition.bytes) - (file.rawBytes ?? file.bytes),
      };
      assert(next.files >= 0 && next.stripes >= 0 && next.rows >= 0 && next.bytes >= 0, `partition ${canonical} counters stay non-negative`);
      const key = partitionKey(table.id, canonical);
      dropped.push(file);
      const operations: Operation[] = [
        del(this.state.db.files, fileKey(table.id, canonical, fileId)),
        last ? del(this.state.db.partitions, key) : put(this.state.db.partitions, key, next),
        ...dropMarkers(this.state.db, dropped, Date.now()),
      ];
      const gc = queueBlocks(this.state, blockIds, `file ${fileId} of ${name} ${canonical} dropped`, Date.now());
      await this.state.db.write([...operations, ...gc.operations]);
      gc.apply();
      files.splice(index, 1);
      if (last) {
        this.state.partitionsOf(table.id).delete(canonical);
        this.state.files.get(table.id)?.delete(canonical);
      } else {
        this.state.partitionsOf(table.id).set(canonical, next);
      }
      return { table: name, partition: canonical, fileId, rows: file.rows, stripes: file.stripeCount, blocksQueued: blockIds.length, partitionDropped: last };
    });
  }

  /** Drops every partition past its table's retention; returns what was dropped. */
  async enforceRetention(nowMs = Date.now()): Promise<{ table: string; partition: string }[]> {
    const dropped: { table: string; partition: string }[] = [];
    for (const table of [...this.state.tablesByName.values()]) {
      for (const spec of expiredPartitions(table, this.state.partitionsOf(table.id).values(), nowMs)) {
        await this.dropPartition(table.name, spec);
        dropped.push({ table: table.name, partition: spec });
      }
    }
    return dropped;
  }

  /**
   * Adds the deletions of a partition and its files to `operations` (with a marker per file for
   * its manifest pieces) and the files to `dropped`; returns its blocks.
   */
  private partitionRemoval(table: TableRecord, spec: string, operations: Operation[], dropped: FileRecord[]): string[] {
    operations.push(del(this.state.db.partitions, partitionKey(table.id, spec)));
    const blockIds = new Set<string>();
    const files = this.state.filesOf(table.id, spec).map(({ record }) => record);
    for (const record of files) {
      operations.push(del(this.state.db.files, fileKey(table.id, spec, record.fileId)));
      for (const blockId of record.blockIds) blockIds.add(blockId);
    }
    operations.push(...dropMarkers(this.state.db, files, Date.now()));
    dropped.push(...files);
    return [...blockIds];
  }

  /**
   * Runs a change that removes files: `work` once no plan page is in flight (plan-gate.ts: a page
   * reads the pieces and blocks of the files it walks), then the removed files' manifest pieces
   * are deleted in bounded batches (manifests/drops.ts), with plans already going again.
   */
  private removeFiles<T>(work: (dropped: FileRecord[]) => Promise<T>): Promise<T> {
    return this.state.exclusive(async () => {
      const dropped: FileRecord[] = [];
      const result = await this.state.plans.remove(() => work(dropped));
      await deleteDroppedPieces(this.state.db, dropped.map((file) => ({ fileId: file.fileId, pieces: file.manifest.pieceBytes.length })));
      return result;
    });
  }
}

/** An invariant of the catalog; a failure is a bug, not a bad request. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}
