/**
 * Which partitions have outlived their table's retention. A partition's age comes from the date
 * in its first key when that is a date (`ds=2026-11-25`, the warehouse convention), else from
 * when it was first committed. Pure.
 */
import type { PartitionRecord, TableRecord } from './records.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

export function partitionTimeMs(table: TableRecord, partition: PartitionRecord): number {
  const first = partition.values[table.partitionBy[0] as string];
  const match = first === undefined ? null : DATE_PATTERN.exec(first);
  if (match !== null) {
    const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
    if (!Number.isNaN(time)) return time;
  }
  return partition.createdAt;
}

/** Specs of the partitions older than the table's retention at `nowMs`; none without retention. */
export function expiredPartitions(table: TableRecord, partitions: Iterable<PartitionRecord>, nowMs: number): string[] {
  if (table.retentionDays === null) return [];
  const cutoff = nowMs - table.retentionDays * DAY_MS;
  const expired: string[] = [];
  for (const partition of partitions) {
    // A dated partition covers its whole day: it expires when the day's end passes the cutoff.
    if (partitionTimeMs(table, partition) + DAY_MS <= cutoff) expired.push(partition.spec);
  }
  return expired.sort();
}
