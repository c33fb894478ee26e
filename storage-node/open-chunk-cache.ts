/**
 * Keeps recently read chunks open, with their page tables, so a batch of hundreds of small range
 * reads costs one pread each instead of open + footer read + table read + close. Entries are
 * reference counted: an evicted or deleted chunk's file is closed when its last reader is done.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ChunkFooter } from './chunk-format.js';

export interface OpenChunk {
  readonly handle: FileHandle;
  readonly footer: ChunkFooter;
  /** Page checksums, verified against the footer when loaded. */
  readonly pages: BigUint64Array;
  users: number;
  retired: boolean;
}

export class OpenChunkCache {
  private readonly entries = new Map<string, OpenChunk>();
  private readonly loading = new Map<string, Promise<OpenChunk>>();

  constructor(
    private readonly openFilesMax: number,
    private readonly onCloseError: (error: unknown) => void,
  ) {}

  /** The open chunk for `id`, loading it with `load` when it is not cached. Pair with `release`. */
  async acquire(id: string, load: () => Promise<OpenChunk>): Promise<OpenChunk> {
    const cached = this.entries.get(id);
    if (cached !== undefined) {
      this.entries.delete(id);
      this.entries.set(id, cached);
      cached.users++;
      return cached;
    }
    let pending = this.loading.get(id);
    if (pending === undefined) {
      const started = load();
      pending = started;
      this.loading.set(id, started);
      const forget = (): void => {
        if (this.loading.get(id) === started) this.loading.delete(id);
      };
      started.then(forget, forget);
    }
    const entry = await pending;
    // Every waiter resumes in the same microtask run, before any reader can release the entry.
    entry.users++;
    // Only the load still registered may enter the cache: an evicted one is served to its
    // waiters once and closed when they are done.
    if (!entry.retired && this.entries.get(id) !== entry) this.insert(id, entry);
    return entry;
  }

  async release(entry: OpenChunk): Promise<void> {
    entry.users--;
    if (entry.retired && entry.users === 0) await entry.handle.close();
  }

  /** Drops `id` (deleted or found corrupt); its file closes when its readers are done. */
  async evict(id: string): Promise<void> {
    // A load in flight must not put a stale entry back after this eviction.
    const pending = this.loading.get(id);
    if (pending !== undefined) {
      this.loading.delete(id);
      // Runs after the waiters already registered have taken the entry (they resume first):
      // it leaves the cache and closes when they release it.
      pending.then(
        (loaded) => {
          if (this.entries.get(id) === loaded) this.entries.delete(id);
          this.retire(loaded).catch(this.onCloseError);
        },
        () => undefined, // the load's own caller gets its error
      );
    }
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    await this.retire(entry);
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((entry) => this.retire(entry)));
  }

  private insert(id: string, entry: OpenChunk): void {
    this.entries.set(id, entry);
    while (this.entries.size > this.openFilesMax) {
      const [oldestId, oldest] = this.entries.entries().next().value as [string, OpenChunk];
      this.entries.delete(oldestId);
      this.retire(oldest).catch(this.onCloseError);
    }
  }

  private async retire(entry: OpenChunk): Promise<void> {
    entry.retired = true;
    if (entry.users === 0) await entry.handle.close();
  }
}
