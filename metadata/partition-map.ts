/**
 * One table's partitions by spec, in spec order, with the table's totals kept as partitions
 * change: a page of the table listing reports each table's partitions, rows and bytes without
 * walking its partitions (a table may have tens of thousands).
 */
import type { PartitionRecord } from './records.js';
import { SortedMap } from './sorted-map.js';

export class PartitionMap extends SortedMap<PartitionRecord> {
  private rowCount = 0;
  private byteCount = 0;

  get rows(): number {
    return this.rowCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  override set(spec: string, partition: PartitionRecord): this {
    this.tally(this.get(spec), -1);
    this.tally(partition, 1);
    return super.set(spec, partition);
  }

  override delete(spec: string): boolean {
    this.tally(this.get(spec), -1);
    return super.delete(spec);
  }

  override clear(): void {
    super.clear();
    this.rowCount = 0;
    this.byteCount = 0;
  }

  private tally(partition: PartitionRecord | undefined, sign: 1 | -1): void {
    if (partition === undefined) return;
    this.rowCount += sign * partition.rows;
    this.byteCount += sign * partition.bytes;
    if (this.rowCount < 0 || this.byteCount < 0) throw new Error(`invariant failed: partition totals stay non-negative (${this.rowCount} rows, ${this.byteCount} bytes)`);
  }
}
