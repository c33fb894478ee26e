/**
 * String keys kept in code-unit order as they come and go, so a listing starts after any key in
 * O(log n) and reads a page in O(page). The catalog's listings (tables, partitions, nodes, GC
 * records, committed blocks) page through these instead of sorting every key per request, or
 * re-sorting all of them after every change (issue 12: O(page) APIs).
 *
 * A list of sorted runs of at most RUN_KEYS_MAX keys, with the last key of each run in `lasts`:
 * a change splices one run and, when a run splits or empties, `lasts`. So a change costs
 * O(log n + RUN_KEYS_MAX + n / RUN_KEYS_MAX), where one flat sorted array would move O(n) keys.
 */
import { lowerBound, upperBound } from '../protocol/sorted-ids.js';

/** A run splits in two past this many keys. */
const RUN_KEYS_MAX = 512;
/** A run this short is merged into the next one when both fit in one run. */
const RUN_KEYS_MERGE = RUN_KEYS_MAX / 4;

export class SortedKeys {
  private runs: string[][] = [];
  /** The greatest key of each run, in order: the index a key's run is found by. */
  private lasts: string[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(key: string): boolean {
    const r = lowerBound(this.lasts, key);
    const run = this.runs[r];
    return run !== undefined && run[lowerBound(run, key)] === key;
  }

  /** Adds `key`; false when it was there already. */
  add(key: string): boolean {
    if (this.runs.length === 0) {
      this.runs.push([key]);
      this.lasts.push(key);
      this.count = 1;
      return true;
    }
    // The first run whose last key is >= key; a key past every key joins the last run.
    const r = Math.min(lowerBound(this.lasts, key), this.runs.length - 1);
    const run = this.runs[r] as string[];
    const at = lowerBound(run, key);
    if (run[at] === key) return false;
    run.splice(at, 0, key);
    if (at === run.length - 1) this.lasts[r] = key;
    this.count++;
    if (run.length > RUN_KEYS_MAX) {
      const upper = run.splice(run.length >>> 1);
      this.runs.splice(r + 1, 0, upper);
      this.lasts.splice(r, 1, run[run.length - 1] as string, upper[upper.length - 1] as string);
    }
    return true;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const r = lowerBound(this.lasts, key);
    const run = this.runs[r];
    if (run === undefined) return false;
    const at = lowerBound(run, key);
    if (run[at] !== key) return false;
    run.splice(at, 1);
    this.count--;
    if (run.length === 0) {
      this.runs.splice(r, 1);
      this.lasts.splice(r, 1);
      return true;
    }
    if (at === run.length) this.lasts[r] = run[run.length - 1] as string;
    // Keeps runs from thinning out under deletions until `lasts` is as long as the keys.
    const next = this.runs[r + 1];
    if (run.length < RUN_KEYS_MERGE && next !== undefined && run.length + next.length <= RUN_KEYS_MAX) {
      run.push(...next);
      this.runs.splice(r + 1, 1);
      this.lasts.splice(r, 1);
    }
    return true;
  }

  clear(): void {
    this.runs = [];
    this.lasts = [];
    this.count = 0;
  }

  /** Up to `limit` keys greater than `after` (from the first key when it is undefined), in order. */
  after(after: string | undefined, limit: number): string[] {
    const keys: string[] = [];
    let r = after === undefined ? 0 : upperBound(this.lasts, after);
    let at = after === undefined || r >= this.runs.length ? 0 : upperBound(this.runs[r] as string[], after);
    for (; r < this.runs.length && keys.length < limit; r++, at = 0) {
      const run = this.runs[r] as string[];
      for (; at < run.length && keys.length < limit; at++) keys.push(run[at] as string);
    }
    return keys;
  }

  /** Every key in order (tests and invariant checks; listings use `after`). */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const run of this.runs) yield* run;
  }
}
