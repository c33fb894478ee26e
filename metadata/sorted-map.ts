/**
 * A Map of string keys that also keeps its keys in order (SortedKeys) and counts its changes.
 * It is a Map, so the state's indexes become sorted by changing their constructor alone: every
 * `set` and `delete` anywhere in the service keeps the order in step, and no listing has to find
 * and patch each place that changes a record kind. `version` lets caches derived from the map
 * (the repair queue) tell that it changed without comparing it.
 */
import { SortedKeys } from './sorted-keys.js';

export class SortedMap<V> extends Map<string, V> {
  private readonly order = new SortedKeys();
  private changes = 0;

  /** Bumped by every set and delete that changes the map. */
  get version(): number {
    return this.changes;
  }

  override set(key: string, value: V): this {
    // Map's constructor calls set before fields exist; nothing constructs these with entries.
    this.order.add(key);
    this.changes++;
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    this.order.delete(key);
    this.changes++;
    return true;
  }

  override clear(): void {
    super.clear();
    this.order.clear();
    this.changes++;
  }

  /** Up to `limit` keys greater than `after` (from the first without it), in code-unit order. */
  keysAfter(after: string | undefined, limit: number): string[] {
    return this.order.after(after, limit);
  }
}
