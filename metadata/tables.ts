/** Tables and partitions: create, list, describe, alter, drop. */
import {
  GranaryError,
  type PartitionDetail,
  type PartitionInfo,
  type TableAlteration,
  type TableInfo,
  type TableSpec,
  type TableSummary,
  parsePartitionSpec,
} from '../protocol/index.js';
import { type Operation, del, put } from './db.js';
import { queueBlocks } from './gc.js';
import { expiredPartitions } from './retention.js';
import type { NodeRegistry } from './nodes.js';
import type { PartitionRecord, TableRecord } from './records.js';
import { alterTable, newTableRecord, tableInfo } from './schema.js';
import { type MetadataState, fileKey, partitionKey } from './state.js';

export class Catalog {
  constructor(
    private readonly state: MetadataState,
    private readonly nodes: NodeRegistry,
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

  list(): TableSummary[] {
    return [...this.state.tablesByName.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((table) => {
        const partitions = [...this.state.partitionsOf(table.id).values()];
        return {
          name: table.name,
          columns: table.columns.filter((c) => c.droppedInVersion === undefined).length,
          partitions: partitions.length,
          rows: partitions.reduce((sum, p) => sum + p.rows, 0),
          bytes: partitions.reduce((sum, p) => sum + p.bytes, 0),
          ec: `${table.dataShards}+${table.parityShards}`,
          createdAt: new Date(table.createdAt).toISOString(),
        };
      });
  }

  describe(name: string): TableInfo {
    return tableInfo(this.table(name));
  }

  alter(name: string, change: TableAlteration): Promise<TableInfo> {
    return this.state.exclusive(async () => {
      const next = alterTable(this.table(name), change);
      await this.state.db.write([put(this.state.db.tables, name, next)]);
      this.state.tablesByName.set(name, next);
      return tableInfo(next);
    });
  }

  drop(name: string): Promise<{ table: string; partitions: number; blocksQueued: number }> {
    return this.state.exclusive(async () => {
      const table = this.table(name);
      const now = Date.now();
      const operations: Operation[] = [del(this.state.db.tables, name), del(this.state.db.popularity, table.id)];
      const blockIds: string[] = [];
      const partitions = [...this.state.partitionsOf(table.id).keys()];
      for (const spec of partitions) blockIds.push(...this.partitionRemoval(table, spec, operations));
      // Open sessions of the table can no longer commit: their blocks are garbage too.
      const sessions = [...this.state.sessions.values()].filter((s) => s.tableId === table.id && s.state === 'open');
      for (const session of sessions) {
        operations.push(put(this.state.db.sessions, session.sessionId, { ...session, state: 'aborted' as const }));
        blockIds.push(...session.blockIds);
      }
      const gc = queueBlocks(this.state, blockIds, `table ${name} dropped`, now);
      await this.state.db.write([...operations, ...gc.operations]);
      gc.apply();
      for (const session of sessions) this.state.sessions.set(session.sessionId, { ...session, state: 'aborted' });
      this.state.tablesByName.delete(name);
      this.state.partitions.delete(table.id);
      this.state.files.delete(table.id);
      this.state.popularity.delete(table.id);
      return { table: name, partitions: partitions.length, blocksQueued: blockIds.length };
    });
  }

  partitions(name: string): PartitionInfo[] {
    const table = this.table(name);
    return [...this.state.partitionsOf(table.id).values()].sort((a, b) => (a.spec < b.spec ? -1 : 1)).map(partitionInfo);
  }

  describePartition(name: string, spec: string): PartitionDetail {
    const table = this.table(name);
    const canonical = parsePartitionSpec(spec, table.partitionBy).spec;
    const partition = this.state.partitionsOf(table.id).get(canonical);
    if (partition === undefined) throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${name} has no committed partition ${canonical}`);
    return {
      ...partitionInfo(partition),
      fileList: this.state.filesOf(table.id, canonical).map(({ record }) => ({
        fileId: record.fileId,
        rows: record.rows,
        bytes: record.bytes,
        stripes: record.stripes.length,
        committedAt: new Date(record.committedAt).toISOString(),
        sessionId: record.sessionId,
      })),
    };
  }

  dropPartition(name: string, spec: string): Promise<{ table: string; partition: string; blocksQueued: number }> {
    return this.state.exclusive(async () => {
      const table = this.table(name);
      const canonical = parsePartitionSpec(spec, table.partitionBy).spec;
      if (!this.state.partitionsOf(table.id).has(canonical)) {
        throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${name} has no committed partition ${canonical}`);
      }
      const operations: Operation[] = [];
      const blockIds = this.partitionRemoval(table, canonical, operations);
      const gc = queueBlocks(this.state, blockIds, `partition ${name} ${canonical} dropped`, Date.now());
      await this.state.db.write([...operations, ...gc.operations]);
      gc.apply();
      this.state.partitionsOf(table.id).delete(canonical);
      this.state.files.get(table.id)?.delete(canonical);
      return { table: name, partition: canonical, blocksQueued: blockIds.length };
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

  /** Adds the deletions of a partition and its files to `operations`; returns its blocks. */
  private partitionRemoval(table: TableRecord, spec: string, operations: Operation[]): string[] {
    operations.push(del(this.state.db.partitions, partitionKey(table.id, spec)));
    const blockIds = new Set<string>();
    for (const { record } of this.state.filesOf(table.id, spec)) {
      operations.push(del(this.state.db.files, fileKey(table.id, spec, record.fileId)));
      for (const blockId of record.blockIds) blockIds.add(blockId);
    }
    return [...blockIds];
  }
}

function partitionInfo(partition: PartitionRecord): PartitionInfo {
  return {
    partition: partition.spec,
    values: partition.values,
    files: partition.files,
    stripes: partition.stripes,
    rows: partition.rows,
    bytes: partition.bytes,
    createdAt: new Date(partition.createdAt).toISOString(),
  };
}
