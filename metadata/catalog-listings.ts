/**
 * Pages of the catalog's listings: tables by name, a table's partitions by spec, a partition's
 * files in commit order (metadata/paging.ts has the contract). Each page reads its keys from an
 * index kept in order as the catalog changes (SortedMap, PartitionMap) or already in order (a
 * partition's files by sequence), so a page costs O(log n + page) however large the catalog:
 * nothing here walks every table, partition or file.
 */
import { GranaryError, type PartitionInfo, type TableSummary, parsePartitionSpec } from '../protocol/index.js';
import type { PartitionFile } from '../protocol/catalog-types.js';
import type { FilePage, PartitionPage, TablePage } from '../protocol/page-types.js';
import { type PageRequest, cutPage } from './paging.js';
import type { LoadedFile } from './planner.js';
import type { FileRecord, PartitionRecord, TableRecord } from './records.js';
import type { MetadataState } from './state.js';

/**
 * Tables by name after `page.after`. `scope`: the names a scoped token may see (a token's scope
 * is a short list, so it is sorted per page rather than every table filtered).
 */
export function tablePage(state: MetadataState, page: PageRequest, scope?: ReadonlySet<string>): TablePage {
  const after = page.after;
  const keys =
    scope === undefined
      ? state.tablesByName.keysAfter(after, page.limit + 1)
      : [...scope]
          .filter((name) => (after === undefined || name > after) && state.tablesByName.has(name))
          .sort()
          .slice(0, page.limit + 1);
  const { keys: names, next } = cutPage(keys, page.limit);
  return { tables: names.map((name) => tableSummary(state, state.tablesByName.get(name) as TableRecord)), next };
}

/** A table's line in the listing; its totals come from the PartitionMap's counters, not a walk. */
export function tableSummary(state: MetadataState, table: TableRecord): TableSummary {
  const partitions = state.partitions.get(table.id);
  return {
    name: table.name,
    columns: table.columns.filter((c) => c.droppedInVersion === undefined).length,
    partitions: partitions?.size ?? 0,
    rows: partitions?.rows ?? 0,
    bytes: partitions?.bytes ?? 0,
    ec: `${table.dataShards}+${table.parityShards}`,
    createdAt: new Date(table.createdAt).toISOString(),
  };
}

/** A table's partitions by spec after `page.after`. */
export function partitionPage(state: MetadataState, table: TableRecord, page: PageRequest): PartitionPage {
  const partitions = state.partitions.get(table.id);
  if (partitions === undefined) return { partitions: [], next: null };
  const { keys, next } = cutPage(partitions.keysAfter(page.after, page.limit + 1), page.limit);
  return { partitions: keys.map((spec) => partitionInfo(partitions.get(spec) as PartitionRecord)), next };
}

export function partitionInfo(partition: PartitionRecord): PartitionInfo {
  return {
    partition: partition.spec,
    values: partition.values,
    files: partition.files,
    stripes: partition.stripes,
    rows: partition.rows,
    bytes: partition.bytes,
    rawBytes: partition.rawBytes ?? partition.bytes,
    createdAt: new Date(partition.createdAt).toISOString(),
  };
}

/** The committed partition `spec` names (any spelling of it), or GRN_PARTITION_NOT_FOUND. */
export function committedPartition(state: MetadataState, table: TableRecord, spec: string): PartitionRecord {
  const canonical = parsePartitionSpec(spec, table.partitionBy).spec;
  const partition = state.partitions.get(table.id)?.get(canonical);
  if (partition === undefined) throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${table.name} has no committed partition ${canonical}`);
  return partition;
}

/**
 * A partition's files in commit order after the file whose sequence is `page.after`. Files are
 * held in sequence order, so the start is a binary search; a file dropped between two pages
 * takes its sequence with it and the next page still starts after the cursor.
 */
export function filePage(state: MetadataState, partition: PartitionRecord, page: PageRequest): FilePage {
  const files: readonly LoadedFile[] = state.files.get(partition.tableId)?.get(partition.spec) ?? [];
  const start = page.after === undefined ? 0 : firstAfter(files, Number(page.after));
  const chosen = files.slice(start, start + page.limit);
  const more = start + chosen.length < files.length;
  const last = chosen[chosen.length - 1];
  return { files: chosen.map(({ record }) => partitionFile(record)), next: more && last !== undefined ? String(last.record.sequence) : null };
}

export function partitionFile(record: FileRecord): PartitionFile {
  return {
    fileId: record.fileId,
    sequence: record.sequence,
    rows: record.rows,
    bytes: record.bytes,
    stripes: record.stripeCount,
    committedAt: new Date(record.committedAt).toISOString(),
    sessionId: record.sessionId,
  };
}

/** The index of the first file whose sequence is greater than `sequence`. */
function firstAfter(files: readonly LoadedFile[], sequence: number): number {
  let low = 0;
  let high = files.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((files[mid] as LoadedFile).record.sequence <= sequence) low = mid + 1;
    else high = mid;
  }
  return low;
}
