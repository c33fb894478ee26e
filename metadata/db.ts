/**
 * One LevelDB for the whole service, a sublevel per record kind, values packed with msgpackr.
 * Changes that touch several records go through one `batch`, written with `sync` so an
 * acknowledged change survives a crash of the process or the machine.
 */
import { Level } from 'level';
import { Packr } from 'msgpackr';
import type {
  BlockRecord,
  CorruptRecord,
  FileRecord,
  GcRecord,
  NodeRecord,
  PartitionRecord,
  RepairTaskRecord,
  SessionRecord,
  TableRecord,
  TokenRecord,
} from './records.js';

const packr = new Packr({ useRecords: false });

/** The sublevel type `level` gives for string keys and Buffer values. */
type RawSublevel = ReturnType<typeof makeSublevel>;

function makeSublevel(level: Level<string, Buffer>, name: string) {
  return level.sublevel<string, Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
}

/** One record kind: a sublevel whose values are msgpack-packed records. */
export class Records<V> {
  constructor(readonly sublevel: RawSublevel) {}

  async get(key: string): Promise<V | undefined> {
    const value = await this.sublevel.get(key);
    return value === undefined || value === null ? undefined : (packr.unpack(value) as V);
  }

  /** An unsynced single write, for data that may be lost in a crash (heartbeats, counters). */
  async put(key: string, value: V): Promise<void> {
    await this.sublevel.put(key, packr.pack(value));
  }

  async *entries(): AsyncGenerator<[string, V]> {
    for await (const [key, value] of this.sublevel.iterator()) yield [key, packr.unpack(value) as V];
  }
}

export class MetadataDb {
  readonly level: Level<string, Buffer>;
  readonly tables: Records<TableRecord>;
  readonly partitions: Records<PartitionRecord>;
  readonly files: Records<FileRecord>;
  readonly blocks: Records<BlockRecord>;
  readonly sessions: Records<SessionRecord>;
  readonly nodes: Records<NodeRecord>;
  readonly gc: Records<GcRecord>;
  readonly corrupt: Records<CorruptRecord>;
  readonly popularity: Records<Record<string, number>>;
  readonly repairs: Records<RepairTaskRecord>;
  readonly tokens: Records<TokenRecord>;

  constructor(path: string) {
    this.level = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const sub = <V>(name: string): Records<V> =>
      new Records<V>(makeSublevel(this.level, name));
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
  }

  async open(): Promise<void> {
    await this.level.open();
  }

  /** Applies every operation or none, durably (fsync before it returns). */
  async write(operations: readonly Operation[]): Promise<void> {
    if (operations.length === 0) return;
    await this.level.batch(
      operations.map((op) =>
        op.type === 'put'
          ? { type: 'put' as const, sublevel: op.records.sublevel, key: op.key, value: packr.pack(op.value) }
          : { type: 'del' as const, sublevel: op.records.sublevel, key: op.key },
      ),
      { sync: true },
    );
  }

  async close(): Promise<void> {
    await this.level.close();
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
