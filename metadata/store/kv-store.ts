/**
 * The one interface the catalog is kept through: ordered key spaces of opaque byte values, atomic
 * durable batches, ordered pages, and a consistent snapshot. Two implementations pass one contract
 * suite (test/unit/metadata/store/kv-store-contract.ts): LevelStore (embedded, one process, the
 * default) and EtcdStore (replicated; several metadata replicas, writes fenced by the leader key).
 * See docs/design.md, "The metadata store".
 *
 * Values are bytes so the store knows nothing of records: metadata/db.ts packs them. Keys are
 * UTF-8 text ordered by their bytes; a space is a name without '/'.
 */

/** One change of a batch. */
export type KvOperation =
  | { readonly type: 'put'; readonly space: string; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly space: string; readonly key: string };

export interface KvRangeOptions {
  /** Only keys strictly after this one. */
  readonly after?: string;
  /** Only keys that start with this text. */
  readonly prefix?: string;
  /** At most this many entries (all when absent). */
  readonly limit?: number;
}

/** One entry of a snapshot: every space, in (space, key) order. */
export interface KvEntry {
  readonly space: string;
  readonly key: string;
  readonly value: Uint8Array;
}

export interface KvStore {
  /** 'level' or 'etcd': shown by /health and written into backups. */
  readonly kind: 'level' | 'etcd';
  get(space: string, key: string): Promise<Uint8Array | undefined>;
  /** Entries of one space in key order, fetched in bounded pages however many there are. */
  range(space: string, options?: KvRangeOptions): AsyncGenerator<[string, Uint8Array]>;
  /**
   * Applies every operation or none, durably, before it resolves. A store with a fence (etcd)
   * applies it only while the fence holds, and throws GRN_NOT_LEADER otherwise.
   */
  write(operations: readonly KvOperation[]): Promise<void>;
  /** Every entry of every space as of one instant, while writes go on (backups). */
  snapshot(): AsyncGenerator<KvEntry>;
  /** True when the store holds no entry at all (restore refuses a store that is not empty). */
  isEmpty(): Promise<boolean>;
  close(): Promise<void>;
}

/** Entries one page of a range or snapshot fetches from the store. */
export const KV_PAGE_ENTRIES = 512;

/** Checks a space name: keys are joined to it with '/', so it must not contain one. */
export function checkSpace(space: string): void {
  if (space.length === 0 || space.includes('/')) throw new Error(`store space ${JSON.stringify(space)} must be non-empty text without '/'`);
}

/**
 * The smallest key greater than every key starting with `prefix`: its last character plus one.
 * Exact in byte order for the ASCII keys the catalog uses.
 */
export function prefixEnd(prefix: string): string {
  return `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
}
