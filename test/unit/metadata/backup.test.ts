/**
 * The metadata backup format (metadata/backup/): a round trip of thousands of entries in several
 * spaces through a file read in odd-sized pieces, restores in bounded batches, every kind of bad
 * file (truncated, a flipped byte, a foreign file, a newer format, bytes after the trailer) and a
 * non-empty target refused with nothing written, and a backup taken while batches are written
 * holding each batch whole or not at all. Runs on LevelDB, and on etcd too in the etcd test
 * project or when ETCD_DEV names a development etcd (ETCD_DEV=http://127.0.0.1:23790).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_MAGIC,
  BackupReader,
  CAPABILITY_KEY_ENTRY,
  type RestoreOptions,
  SERVICE_FILES_SPACE,
  restoreBackup,
  verifyBackup,
  writeBackup,
} from '../../../metadata/backup/index.js';
import { FRAME_HEADER, FRAME_TRAILER, encodeFrame } from '../../../metadata/backup/backup-format.js';
import { EtcdStore } from '../../../metadata/store/etcd-store.js';
import type { KvEntry, KvOperation, KvStore } from '../../../metadata/store/kv-store.js';
import { LevelStore } from '../../../metadata/store/level-store.js';
import { xxh64Hex } from '../../../erasure/index.js';
import { GranaryError } from '../../../protocol/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

interface StoreKind {
  readonly name: string;
  /** A fresh, empty store. */
  open(): Promise<KvStore>;
}

let dir: { path: string; remove: () => Promise<void> };
const opened: KvStore[] = [];
const etcdPrefixes: string[] = [];

const LEVEL: StoreKind = {
  name: 'LevelStore',
  async open() {
    const store = await LevelStore.open(join(dir.path, `catalog-${randomBytes(6).toString('hex')}`));
    opened.push(store);
    return store;
  },
};

/** The etcd test project's etcd (test/etcd-setup.ts), else a development one named by ETCD_DEV. */
const ETCD_DEV = process.env.GRANARY_TEST_ETCD?.split(',')[0] || process.env.ETCD_DEV;
const ETCD: StoreKind | undefined =
  ETCD_DEV === undefined
    ? undefined
    : {
        name: 'EtcdStore',
        async open() {
          const prefix = `backup-test-${randomBytes(6).toString('hex')}`;
          etcdPrefixes.push(prefix);
          const store = new EtcdStore({ endpoints: [ETCD_DEV], prefix, fenced: false });
          opened.push(store);
          return store;
        },
      };
const STORES: readonly StoreKind[] = ETCD === undefined ? [LEVEL] : [LEVEL, ETCD];

beforeAll(async () => {
  dir = await makeTempDir('backup');
});

afterAll(async () => {
  for (const store of opened) {
    if (store instanceof EtcdStore) await store.client.delete().prefix(`${store.prefix}/`);
    await store.close().catch(() => undefined);
  }
  await dir.remove();
});

const SPACES = ['blocks', 'files', 'manifests', 'partitions', 'tables'] as const;
const PER_SPACE = 1_000;

/** Entries of every size: empty values, small records, and a few of hundreds of KiB. */
async function fill(store: KvStore, perSpace: number, seed: number): Promise<void> {
  const random = seededRandom(seed);
  let batch: KvOperation[] = [];
  for (const space of SPACES) {
    for (let i = 0; i < perSpace; i++) {
      const size = i % 997 === 500 ? 300 * 1024 : i % 50 === 0 ? 0 : Math.floor(random() * 400);
      const value = Buffer.alloc(size);
      for (let b = 0; b < size; b += 4096) value[b] = Math.floor(random() * 256);
      // Keys with separators, unicode and shared prefixes, as the catalog's are.
      batch.push({ type: 'put', space, key: `t${i % 7}/ds=2026-12-${String(i % 28).padStart(2, '0')}/${i}${i % 100 === 3 ? '/ünï' : ''}`, value });
      if (batch.length === 50) {
        await store.write(batch);
        batch = [];
      }
    }
  }
  await store.write(batch);
}

/** Every entry as `space key length xxh64`: compares megabytes of values without walking them byte by byte. */
async function entriesOf(store: KvStore): Promise<string[]> {
  const entries: string[] = [];
  for await (const entry of store.snapshot()) entries.push(`${entry.space} ${entry.key} ${entry.value.length} ${xxh64Hex(entry.value)}`);
  return entries;
}

/** A writable that keeps what it is given; `pace` makes it slow (one macrotask per chunk). */
function collector(pace = false): { writable: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const writable = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      if (pace) setImmediate(done);
      else done();
    },
  });
  return { writable, bytes: () => Buffer.concat(chunks) };
}

async function backupOf(store: KvStore, serviceFiles?: ReadonlyMap<string, Uint8Array>): Promise<Buffer> {
  const out = collector();
  await writeBackup(store, out.writable, serviceFiles === undefined ? {} : { serviceFiles });
  return out.bytes();
}

/** The bytes in pieces of `size` (a network or a file stream cuts anywhere). */
async function* piecesOf(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** A store that records the size of every batch written through it. */
function recording(store: KvStore): { store: KvStore; batches: { ops: number; bytes: number }[] } {
  const batches: { ops: number; bytes: number }[] = [];
  const wrapped: KvStore = {
    kind: store.kind,
    get: (space, key) => store.get(space, key),
    range: (space, options) => store.range(space, options),
    snapshot: () => store.snapshot(),
    isEmpty: () => store.isEmpty(),
    close: () => store.close(),
    async write(operations) {
      batches.push({ ops: operations.length, bytes: operations.reduce((sum, op) => sum + op.space.length + op.key.length + (op.type === 'put' ? op.value.length : 0), 0) });
      await store.write(operations);
    },
  };
  return { store: wrapped, batches };
}

async function expectRefused(bytes: Buffer, target: KvStore, code: string, message?: RegExp, options: RestoreOptions = {}): Promise<void> {
  const error = await restoreBackup(() => piecesOf(bytes, 4096), target, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the restore was refused').toBeInstanceOf(GranaryError);
  expect((error as GranaryError).code).toBe(code);
  if (message !== undefined) expect((error as GranaryError).message).toMatch(message);
  expect(await target.isEmpty(), 'nothing was written').toBe(true);
}

const KEY_PEM = Buffer.from('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA7ZLpw9+LtS2hG0uNVcvLTrWlmX4lTXmBQyJ8w4aX4O\n-----END PRIVATE KEY-----\n');

for (const kind of STORES) {
  describe(`metadata backup on ${kind.name}`, () => {
    let source: KvStore;
    let backup: Buffer;

    beforeAll(async () => {
      source = await kind.open();
      await fill(source, PER_SPACE, 7);
      backup = await backupOf(source, new Map([[CAPABILITY_KEY_ENTRY, KEY_PEM]]));
    }, 120_000);

    it('round-trips thousands of entries in several spaces, read from a file in odd pieces, in bounded batches', async () => {
      const file = join(dir.path, `${kind.name}.backup`);
      await writeFile(file, backup);
      const target = recording(await kind.open());
      const summary = await restoreBackup(() => createReadStream(file, { highWaterMark: 1_000 }), target.store, { fileName: file });
      expect(summary.storeEntries).toBe(SPACES.length * PER_SPACE);
      expect(summary.entries).toBe(SPACES.length * PER_SPACE + 1);
      expect(summary.header.storeKind).toBe(source.kind);
      expect(summary.header.format).toBe(1);
      expect(summary.bytes).toBe(backup.length);
      expect(Buffer.from(summary.serviceFiles.get(CAPABILITY_KEY_ENTRY) ?? [])).toEqual(KEY_PEM);
      expect(await entriesOf(target.store)).toEqual(await entriesOf(source));
      // The service files never reach the store.
      expect((await entriesOf(target.store)).some((e) => e.startsWith(`${SERVICE_FILES_SPACE} `))).toBe(false);
      expect(summary.batches).toBe(target.batches.length);
      for (const batch of target.batches) {
        expect(batch.ops).toBeLessThanOrEqual(64);
        if (batch.ops > 1) expect(batch.bytes).toBeLessThanOrEqual(1024 * 1024);
      }
      expect(target.batches.length).toBeGreaterThanOrEqual(Math.ceil(summary.storeEntries / 64));
      // A backup of the restored store is the same bytes but for its creation time.
      const again = await backupOf(target.store, new Map([[CAPABILITY_KEY_ENTRY, KEY_PEM]]));
      const verified = await verifyBackup(piecesOf(again, 65_536));
      expect(verified.storeEntries).toBe(summary.storeEntries);
      expect(again.length).toBe(backup.length);
    }, 120_000);

    it('reads a backup cut into pieces of any size', async () => {
      const small = await kind.open();
      await fill(small, 20, 11);
      const bytes = await backupOf(small);
      for (const size of [1, 3, 5, 7, 4096]) {
        const verified = await verifyBackup(piecesOf(bytes, size));
        expect(verified.storeEntries, `pieces of ${size}`).toBe(SPACES.length * 20);
      }
    });

    it('refuses a truncated file, whatever its length, with nothing written', async () => {
      const target = await kind.open();
      const cuts = [0, 5, BACKUP_MAGIC.length, BACKUP_MAGIC.length + 3, 200, Math.floor(backup.length / 2), backup.length - 40, backup.length - 1];
      for (const cut of cuts) await expectRefused(backup.subarray(0, cut), target, 'GRN_BACKUP_INVALID', cut < BACKUP_MAGIC.length ? /not a Granary metadata backup/ : /truncated|corrupt/);
    }, 60_000);

    it('refuses a file with one flipped byte anywhere, with nothing written', async () => {
      const target = await kind.open();
      const random = seededRandom(3);
      const positions = [0, 10, BACKUP_MAGIC.length, BACKUP_MAGIC.length + 2, BACKUP_MAGIC.length + 20, backup.length - 10, backup.length - 1];
      for (let i = 0; i < 12; i++) positions.push(Math.floor(random() * backup.length));
      for (const position of positions) {
        const flipped = Buffer.from(backup);
        flipped[position] = (flipped[position] as number) ^ 0x10;
        await expectRefused(flipped, target, 'GRN_BACKUP_INVALID');
      }
    }, 120_000);

    it('refuses a foreign file, a newer format and bytes after the trailer, saying which', async () => {
      const target = await kind.open();
      await expectRefused(Buffer.from('{"tables": []}\n'), target, 'GRN_BACKUP_INVALID', /not a Granary metadata backup/);
      await expectRefused(Buffer.alloc(0), target, 'GRN_BACKUP_INVALID', /not a Granary metadata backup/);
      await expectRefused(Buffer.concat([backup, Buffer.from([0])]), target, 'GRN_BACKUP_INVALID', /bytes after its trailer/);
      const newer = Buffer.concat([
        BACKUP_MAGIC,
        encodeFrame(FRAME_HEADER, { format: 2, storeKind: 'etcd', createdAt: new Date().toISOString(), serviceVersion: '9.0.0' }),
        encodeFrame(FRAME_TRAILER, { entries: 0, checksum: '0000000000000000' }),
      ]);
      await expectRefused(newer, target, 'GRN_BACKUP_INVALID', /format 2 \(written by Granary 9\.0\.0\).*reads format 1/);
    });

    it('refuses a store that is not empty, and a caller that says no before writing, changing nothing', async () => {
      const target = await kind.open();
      await target.write([{ type: 'put', space: 'tables', key: 'keep', value: Buffer.from('me') }]);
      const error = await restoreBackup(() => piecesOf(backup, 65_536), target).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'GRN_STORE_NOT_EMPTY' });
      expect((error as Error).message).toMatch(/only into an empty store.*nothing was written/);
      expect(await entriesOf(target)).toEqual([`tables keep 2 ${xxh64Hex(Buffer.from('me'))}`]);

      const empty = await kind.open();
      const refusal = new GranaryError('GRN_BAD_REQUEST', 'a different key is in place');
      await expectRefused(backup, empty, 'GRN_BAD_REQUEST', /different key/, {
        beforeWrite: (verified) => {
          expect(verified.storeEntries).toBe(SPACES.length * PER_SPACE);
          throw refusal;
        },
      });
    });

    it('takes a backup while batches are written: each batch is in it whole or not at all', async () => {
      const store = await kind.open();
      await fill(store, 400, 5);
      // Each batch moves a set of keys: puts 5 entries of generation g in three spaces and
      // deletes generation g - 1's, so a backup that saw part of a batch holds a mixed set.
      const SETS = ['a', 'b', 'c', 'd', 'e'];
      const batchOf = (g: number): KvOperation[] => [
        ...SETS.map((s, i): KvOperation => ({ type: 'put', space: ['blocks', 'files', 'zeta'][i % 3] as string, key: `gen/${s}/${g}`, value: Buffer.from(String(g)) })),
        ...(g === 0 ? [] : SETS.map((s, i): KvOperation => ({ type: 'del', space: ['blocks', 'files', 'zeta'][i % 3] as string, key: `gen/${s}/${g - 1}` }))),
      ];
      await store.write(batchOf(0));
      let generation = 1;
      let writing = true;
      // The backup's writable takes each chunk only after another batch is durable, so batches
      // land while the snapshot is being read, not just before or after it.
      let batchDone: () => void = () => undefined;
      const writer = (async () => {
        while (writing) {
          await store.write(batchOf(generation++));
          batchDone();
        }
      })();
      const nextBatch = (): Promise<void> => new Promise((resolve) => (batchDone = resolve));
      const chunks: Buffer[] = [];
      const slow = new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          nextBatch().then(() => done(), done);
        },
      });
      let firstSeen: number | undefined;
      let lastSeen = 0;
      const watched: KvStore = Object.assign(Object.create(store) as KvStore, {
        async *snapshot(): AsyncGenerator<KvEntry> {
          for await (const entry of store.snapshot()) {
            firstSeen ??= generation;
            lastSeen = generation;
            yield entry;
          }
        },
      });
      await writeBackup(watched, slow);
      writing = false;
      await writer;
      expect(lastSeen - (firstSeen ?? lastSeen), 'batches were written while the snapshot was read').toBeGreaterThan(2);
      const entries: KvEntry[] = [];
      const reader = new BackupReader(piecesOf(Buffer.concat(chunks), 65_536));
      for await (const entry of reader.entries()) entries.push(entry);
      const generations = entries.filter((e) => e.key.startsWith('gen/')).map((e) => Number(e.key.split('/')[2]));
      expect(generations, 'exactly one generation, all five keys of it').toHaveLength(SETS.length);
      expect(new Set(generations).size).toBe(1);
      expect(generations[0]).toBeLessThan(firstSeen ?? 0);
    }, 60_000);
  });
}
