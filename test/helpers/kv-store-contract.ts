/**
 * The one contract every metadata store must keep (metadata/store/kv-store.ts), run against
 * LevelStore in the unit suite and against EtcdStore on a real etcd in the integration suite.
 * The catalog code is written against this contract only, so what passes on one passes on both.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KvEntry, KvStore } from '../../metadata/store/kv-store.js';
import { MetadataDb, put } from '../../metadata/db.js';
import { MetadataState } from '../../metadata/state.js';
import type { TableRecord } from '../../metadata/records.js';

export interface StoreUnderTest {
  readonly store: KvStore;
  /** Opens another handle on the same data (what a restart or another process sees); `cleanup` closes it. */
  reopen(): Promise<KvStore>;
  cleanup(): Promise<void>;
}

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString('utf8'));

async function collect<T>(source: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

export function describeKvStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`metadata store contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: KvStore;
    beforeEach(async () => {
      subject = await open();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('starts empty, gets what was put, and forgets what was deleted', async () => {
      expect(await store.isEmpty()).toBe(true);
      expect(await store.get('tables', 'a')).toBeUndefined();
      await store.write([{ type: 'put', space: 'tables', key: 'a', value: bytes('one') }]);
      expect(await store.isEmpty()).toBe(false);
      expect(text(await store.get('tables', 'a'))).toBe('one');
      // Spaces are apart: the same key elsewhere is another entry.
      expect(await store.get('files', 'a')).toBeUndefined();
      await store.write([{ type: 'put', space: 'tables', key: 'a', value: bytes('two') }]);
      expect(text(await store.get('tables', 'a'))).toBe('two');
      await store.write([{ type: 'del', space: 'tables', key: 'a' }]);
      expect(await store.get('tables', 'a')).toBeUndefined();
      expect(await store.isEmpty()).toBe(true);
    });

    it('keeps binary values byte for byte, empty ones included', async () => {
      const value = new Uint8Array(70_000);
      for (let i = 0; i < value.length; i++) value[i] = (i * 131) & 0xff;
      await store.write([
        { type: 'put', space: 'manifests', key: 'f/0', value },
        { type: 'put', space: 'manifests', key: 'f/1', value: new Uint8Array(0) },
        // A view into a larger buffer: only its own bytes are stored.
        { type: 'put', space: 'manifests', key: 'f/2', value: value.subarray(10, 20) },
      ]);
      expect(Buffer.from((await store.get('manifests', 'f/0')) as Uint8Array).equals(Buffer.from(value))).toBe(true);
      expect((await store.get('manifests', 'f/1'))?.length).toBe(0);
      expect([...((await store.get('manifests', 'f/2')) as Uint8Array)]).toEqual([...value.subarray(10, 20)]);
    });

    it('applies a batch as a whole: puts and deletes across spaces', async () => {
      await store.write([
        { type: 'put', space: 'blocks', key: 'b1', value: bytes('allocated') },
        { type: 'put', space: 'sessions', key: 's1', value: bytes('open') },
      ]);
      await store.write([
        { type: 'put', space: 'blocks', key: 'b1', value: bytes('committed') },
        { type: 'del', space: 'sessions', key: 's1' },
        { type: 'put', space: 'files', key: 't/p/f1', value: bytes('file') },
      ]);
      expect(text(await store.get('blocks', 'b1'))).toBe('committed');
      expect(await store.get('sessions', 's1')).toBeUndefined();
      expect(text(await store.get('files', 't/p/f1'))).toBe('file');
      // Deleting what is not there is not an error.
      await store.write([{ type: 'del', space: 'blocks', key: 'never' }]);
    });

    it('ranges in key order across pages, from `after`, within `prefix`, up to `limit`', async () => {
      const keys = Array.from({ length: 1_300 }, (_, i) => `k${String(i).padStart(5, '0')}`);
      // Written out of order, in several batches.
      const shuffled = [...keys].reverse();
      for (let at = 0; at < shuffled.length; at += 100) {
        await store.write(shuffled.slice(at, at + 100).map((key) => ({ type: 'put' as const, space: 'gc', key, value: bytes(key) })));
      }
      await store.write([
        { type: 'put', space: 'gb', key: 'k00001', value: bytes('other space before') },
        { type: 'put', space: 'gd', key: 'k00001', value: bytes('other space after') },
      ]);
      const all = await collect(store.range('gc'));
      expect(all.map(([key]) => key)).toEqual(keys);
      expect(all.every(([key, value]) => text(value) === key)).toBe(true);
      expect((await collect(store.range('gc', { after: 'k00600' }))).map(([key]) => key)).toEqual(keys.slice(601));
      expect((await collect(store.range('gc', { after: 'k00600', limit: 3 }))).map(([key]) => key)).toEqual(['k00601', 'k00602', 'k00603']);
      expect((await collect(store.range('gc', { prefix: 'k0012' }))).map(([key]) => key)).toEqual(keys.slice(120, 130));
      expect((await collect(store.range('gc', { prefix: 'k0012', after: 'k00125' }))).map(([key]) => key)).toEqual(keys.slice(126, 130));
      // `after` before the prefix starts the prefix; after its end, nothing.
      expect((await collect(store.range('gc', { prefix: 'k0012', after: 'a' }))).length).toBe(10);
      expect(await collect(store.range('gc', { prefix: 'k0012', after: 'k9' }))).toEqual([]);
      expect(await collect(store.range('gc', { after: 'k99999' }))).toEqual([]);
      expect(await collect(store.range('nothing-here'))).toEqual([]);
    });

    it('ranges and snapshots large values (manifest pieces) in pages of bounded bytes', async () => {
      // 48 values of 240 KiB: 11 MiB in one space, more than one page or message may carry.
      const piece = (i: number): Uint8Array => new Uint8Array(240 * 1024).fill(i);
      for (let i = 0; i < 48; i += 4) {
        await store.write(Array.from({ length: 4 }, (_, j) => ({ type: 'put' as const, space: 'manifests', key: `f/${String(i + j).padStart(3, '0')}`, value: piece(i + j) })));
      }
      await store.write([{ type: 'put', space: 'tables', key: 't', value: bytes('small') }]);
      let count = 0;
      for await (const [key, value] of store.range('manifests')) {
        expect(key).toBe(`f/${String(count).padStart(3, '0')}`);
        expect(value.length).toBe(240 * 1024);
        expect(value[0]).toBe(count);
        expect(value[value.length - 1]).toBe(count);
        count++;
      }
      expect(count).toBe(48);
      const spaces: string[] = [];
      for await (const entry of store.snapshot()) spaces.push(entry.space);
      expect(spaces.filter((space) => space === 'manifests')).toHaveLength(48);
      expect(spaces.filter((space) => space === 'tables')).toHaveLength(1);
    });

    it('snapshots every space in order, unmoved by writes made while it is read', async () => {
      const spaces = ['blocks', 'files', 'tables'];
      const expected: KvEntry[] = [];
      for (const space of spaces) {
        const operations = Array.from({ length: 700 }, (_, i) => ({ type: 'put' as const, space, key: `${space}-${String(i).padStart(4, '0')}`, value: bytes(`v${i}`) }));
        for (let at = 0; at < operations.length; at += 200) await store.write(operations.slice(at, at + 200));
        expected.push(...operations.map(({ space: s, key, value }) => ({ space: s, key, value })));
      }
      const seen: KvEntry[] = [];
      let wrote = false;
      for await (const entry of store.snapshot()) {
        seen.push(entry);
        if (!wrote) {
          wrote = true;
          // Changes after the snapshot began: none may show up in it.
          await store.write([
            { type: 'put', space: 'blocks', key: 'blocks-9999', value: bytes('late') },
            { type: 'del', space: 'tables', key: 'tables-0000' },
            { type: 'put', space: 'files', key: 'files-0001', value: bytes('changed') },
          ]);
        }
      }
      expect(seen.map((entry) => `${entry.space}/${entry.key}=${text(entry.value)}`)).toEqual(expected.map((entry) => `${entry.space}/${entry.key}=${text(entry.value)}`));
    });

    it('keeps what it acknowledged across a reopen', async () => {
      await store.write([{ type: 'put', space: 'tables', key: 'kept', value: bytes('yes') }]);
      const second = await subject.reopen();
      expect(text(await second.get('tables', 'kept'))).toBe('yes');
    });

    it('carries the catalog: records written through MetadataDb load back into MetadataState', async () => {
      const db = new MetadataDb(store);
      const table: TableRecord = {
        id: 't1',
        name: 'events',
        columns: [{ cid: 0, name: 'x', type: 'int64', addedInVersion: 1 }],
        nextCid: 1,
        partitionBy: [],
        dataShards: 6,
        parityShards: 3,
        blockBytes: 1 << 20,
        stripeRows: 1024,
        stripeBytes: 1 << 20,
        retentionDays: null,
        schemaVersion: 1,
        createdAt: 1,
      };
      await db.write([put(db.tables, table.id, table)]);
      await db.tokens.put('tok', { id: 'tok', role: 'reader', secretHash: 'ab', createdAt: 2 });
      const state = new MetadataState(db);
      await state.load();
      expect(state.tablesByName.get('events')).toEqual(table);
      expect(await db.tokens.get('tok')).toMatchObject({ role: 'reader' });
    });
  });
}
