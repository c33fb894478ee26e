/**
 * The catalog's record kinds over a KvStore (metadata/store/kv-store.ts): one space per kind,
 * values packed with msgpackr. Changes that touch several records go through one `write`, which
 * the store applies atomically and durably (and, on etcd, only while this replica leads).
 */
import { Packr } from 'msgpackr';
import type {
  BlockRecord,
  CorruptRecord,
  FileRecord,
  GcRecord,
  ManifestDropRecord,
  ManifestPieceRecord,
  NodeRecord,
  PartitionRecord,
  RepairTaskRecord,
  SessionRecord,
  TableRecord,
  TokenRecord,
} from './records.js';
import type { KvOperation, KvRangeOptions, KvStore } from './store/kv-store.js';
import { LevelStore } from './store/level-store.js';

const packr = new Packr({ useRecords: false });

export function packRecord(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpackRecord<V>(bytes: Uint8Array): V {
  return packr.unpack(bytes) as V;
}

/** One record kind: a space of the store whose values are msgpack-packed records. */
export class Records<V> {
  constructor(
    private readonly db: MetadataDb,
    readonly space: string,
  ) {}

  async get(key: string): Promise<V | undefined> {
    const value = await this.db.store.get(this.space, key);
    return value === undefined ? undefined : unpackRecord<V>(value);
  }

  /** One record written alone (heartbeats, counters): as durable as a batch, and as fenced. */
  async put(key: string, value: V): Promise<void> {
    await this.db.store.write([{ type: 'put', space: this.space, key, value: packRecord(value) }]);
  }

  /** Records in key order, from `after` / within `prefix`, at most `limit`. */
  async *range(options: KvRangeOptions = {}): AsyncGenerator<[string, V]> {
    for await (const [key, value] of this.db.store.range(this.space, options)) yield [key, unpackRecord<V>(value)];
  }

  entries(): AsyncGenerator<[string, V]> {
    return this.range();
  }
}

export class MetadataDb {
  private opened: KvStore | undefined;
  readonly tables: Records<TableRecord>;
  readonly partitions: Records<PartitionRecord>;
  readonly files: Records<FileRecord>;
  readonly blocks: Records<BlockRecord>;
  readonly sessions: Records<SessionRecord>;
  readonly nodes: Records<NodeRecord>;
  readonly gc: Records<GcRecord>;
  readonly corrupt: Records<CorruptRecord>;
  /** Per table id: StoredPopularity (metadata/popularity.ts), or the first format's counts by column id. */
  readonly popularity: Records<unknown>;
  readonly repairs: Records<RepairTaskRecord>;
  readonly tokens: Records<TokenRecord>;
  /** Immutable pieces of files' manifests (metadata/manifests/pieces.ts), `${fileId}/${piece}`. */
  readonly manifests: Records<ManifestPieceRecord>;
  /** Dropped files whose pieces are still being deleted (metadata/manifests/drops.ts). */
  readonly manifestDrops: Records<ManifestDropRecord>;
  /** Per job id: StoredJobAccount (metadata/job-accounts.ts). */
  readonly jobs: Records<unknown>;

  /** A LevelDB directory (opened by `open()`), or a store already open. */
  constructor(private readonly source: string | KvStore) {
    if (typeof source !== 'string') this.opened = source;
    const sub = <V>(name: string): Records<V> => new Records<V>(this, name);
    this.tables = sub('tables');
    this.partitions = sub('partitions');
    this.files = sub('files');
    this.blocks = sub('blocks');
    this.sessions = sub('sessions');
    this.nodes = sub('nodes');
    this.gc = sub('gc');
    this.corrupt = sub('corrupt');
    this.popularity = sub('popularity');
    this.repairs = sub('repairs');
    this.tokens = sub('tokens');
    this.manifests = sub('manifests');
    this.manifestDrops = sub('manifestDrops');
    this.jobs = sub('jobs');
  }

  get store(): KvStore {
    if (this.opened === undefined) throw new Error('metadata db used before open()');
    return this.opened;
  }

  async open(): Promise<void> {
    if (this.opened === undefined && typeof this.source === 'string') this.opened = await LevelStore.open(this.source);
  }

  /** Applies every operation or none, durably, before it resolves. */
  async write(operations: readonly Operation[]): Promise<void> {
    if (operations.length === 0) return;
    await this.store.write(
      operations.map((op): KvOperation =>
        op.type === 'put'
          ? { type: 'put', space: op.records.space, key: op.key, value: packRecord(op.value) }
          : { type: 'del', space: op.records.space, key: op.key },
      ),
    );
  }

  async close(): Promise<void> {
    await this.opened?.close();
  }
}

export type Operation =
  | { readonly type: 'put'; readonly records: Records<unknown>; readonly key: string; readonly value: unknown }
  | { readonly type: 'del'; readonly records: Records<unknown>; readonly key: string };

export function put<V>(records: Records<V>, key: string, value: V): Operation {
  return { type: 'put', records: records as Records<unknown>, key, value };
}

export function del<V>(records: Records<V>, key: string): Operation {
  return { type: 'del', records: records as Records<unknown>, key };
}

/** Reads every record of a kind. */
export async function readAll<V>(records: Records<V>): Promise<V[]> {
  const values: V[] = [];
  for await (const [, value] of records.entries()) values.push(value);
  return values;
}
