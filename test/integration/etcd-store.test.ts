/** The store contract (test/helpers/kv-store-contract.ts) on a real etcd, as on LevelDB in the unit suite. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { EtcdStore } from '../../metadata/store/etcd-store.js';
import { type TestEtcd, startTestEtcd } from '../helpers/etcd.js';
import { describeKvStoreContract } from '../helpers/kv-store-contract.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startTestEtcd(1);
});
afterAll(async () => {
  await etcd?.cleanup();
});

describeKvStoreContract('EtcdStore', async () => {
  // A fresh prefix per test: one etcd, no test sees another's keys.
  const prefix = `contract-${randomBytes(4).toString('hex')}`;
  const opened: EtcdStore[] = [];
  const open = (): EtcdStore => {
    const store = new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix, fenced: false });
    opened.push(store);
    return store;
  };
  return {
    store: open(),
    reopen: async () => open(),
    async cleanup() {
      for (const store of opened) await store.close();
    },
  };
});
