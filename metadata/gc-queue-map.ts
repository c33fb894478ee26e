/**
 * The GC queue by record key (a block id, or `copy:CHUNK@NODE`), in key order for GET /v1/gc's
 * pages, with its backlog kept as records come and go: the metrics scrape and `granary gc`
 * read the totals without walking a queue that can hold millions of records after a table drop.
 */
import type { GcRecord } from './records.js';
import { SortedMap } from './sorted-map.js';

export class GcQueueMap extends SortedMap<GcRecord> {
  private chunkCount = 0;
  private retryCount = 0;

  /** Chunk copies the queued records still name. */
  get chunks(): number {
    return this.chunkCount;
  }

  /** Records that failed a pass and wait for their next try (they carry `nextAttemptAt`). */
  get retrying(): number {
    return this.retryCount;
  }

  override set(key: string, record: GcRecord): this {
    this.tally(this.get(key), -1);
    this.tally(record, 1);
    return super.set(key, record);
  }

  override delete(key: string): boolean {
    this.tally(this.get(key), -1);
    return super.delete(key);
  }

  override clear(): void {
    super.clear();
    this.chunkCount = 0;
    this.retryCount = 0;
  }

  private tally(record: GcRecord | undefined, sign: 1 | -1): void {
    if (record === undefined) return;
    this.chunkCount += sign * record.chunks.length;
    if (record.nextAttemptAt !== undefined) this.retryCount += sign;
    if (this.chunkCount < 0 || this.retryCount < 0) throw new Error(`invariant failed: GC totals stay non-negative (${this.chunkCount} chunks, ${this.retryCount} retrying)`);
  }
}
