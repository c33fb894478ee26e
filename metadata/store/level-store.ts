/**
 * The embedded store: one LevelDB, a sublevel per space (so data directories written before the
 * store interface existed read unchanged), batches written with `sync` so an acknowledged change
 * survives a crash of the process or the machine.
 */
import { Level } from 'level';
import { GranaryError } from '../../protocol/index.js';
import { type KvEntry, type KvOperation, type KvRangeOptions, type KvStore, checkSpace, prefixEnd } from './kv-store.js';

type Sublevel = ReturnType<typeof makeSublevel>;

function makeSublevel(level: Level<string, Buffer>, name: string) {
  return level.sublevel<string, Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
}

/** Sublevel keys are stored as `!space!key` in the root (abstract-level's default separator). */
const SUBLEVEL_KEY = /^!([^!]+)!(.*)$/s;

export class LevelStore implements KvStore {
  readonly kind = 'level' as const;
  private readonly level: Level<string, Buffer>;
  private readonly sublevels = new Map<string, Sublevel>();

  private constructor(readonly path: string) {
    this.level = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  }

  /** Opens (creating) the LevelDB at `path`; a directory another process holds is a clear error. */
  static async open(path: string): Promise<LevelStore> {
    const store = new LevelStore(path);
    try {
      await store.level.open();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new GranaryError('GRN_UNAVAILABLE', `metadata store ${path} is in use by another process; stop it or pick another --data`, { cause: error });
      }
      throw error;
    }
    return store;
  }

  private sublevel(space: string): Sublevel {
    let sublevel = this.sublevels.get(space);
    if (sublevel === undefined) {
      checkSpace(space);
      sublevel = makeSublevel(this.level, space);
      this.sublevels.set(space, sublevel);
    }
    return sublevel;
  }

  async get(space: string, key: string): Promise<Uint8Array | undefined> {
    const value = await this.sublevel(space).get(key);
    return value === undefined || value === null ? undefined : (value as Buffer);
  }

  async *range(space: string, options: KvRangeOptions = {}): AsyncGenerator<[string, Uint8Array]> {
    const bounds: { gt?: string; gte?: string; lt?: string; limit?: number } = {};
    if (options.prefix !== undefined && options.prefix.length > 0) {
      bounds.gte = options.prefix;
      bounds.lt = prefixEnd(options.prefix);
    }
    if (options.after !== undefined && (bounds.gte === undefined || options.after >= bounds.gte)) {
      delete bounds.gte;
      bounds.gt = options.after;
    }
    if (options.limit !== undefined) bounds.limit = options.limit;
    // A LevelDB iterator reads from an implicit snapshot and pulls entries in small batches.
    for await (const [key, value] of this.sublevel(space).iterator(bounds)) yield [key, value];
  }

  async write(operations: readonly KvOperation[]): Promise<void> {
    if (operations.length === 0) return;
    await this.level.batch(
      operations.map((op) =>
        op.type === 'put'
          ? { type: 'put' as const, sublevel: this.sublevel(op.space), key: op.key, value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength) }
          : { type: 'del' as const, sublevel: this.sublevel(op.space), key: op.key },
      ),
      { sync: true },
    );
  }

  async *snapshot(): AsyncGenerator<KvEntry> {
    // One iterator over the root: LevelDB gives it one implicit snapshot, so writes made while
    // it runs are not seen, and entries come in (space, key) order.
    for await (const [raw, value] of this.level.iterator()) {
      const match = SUBLEVEL_KEY.exec(raw);
      if (match === null) throw new GranaryError('GRN_INTERNAL', `metadata store ${this.path} holds a key outside every space: ${JSON.stringify(raw.slice(0, 80))}`);
      yield { space: match[1] as string, key: match[2] as string, value };
    }
  }

  async isEmpty(): Promise<boolean> {
    for await (const _ of this.level.keys({ limit: 1 })) return false;
    return true;
  }

  async close(): Promise<void> {
    await this.level.close();
  }
}
