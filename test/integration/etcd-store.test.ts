/** The store contract (test/helpers/kv-store-contract.ts) on a real etcd, as on LevelDB in the unit suite. */
import { afterAll, beforeAll } from 'vitest';
import { EtcdStore } from '../../metadata/store/etcd-store.js';
import { type TestEtcd, etcdContractSubject, startTestEtcd } from '../helpers/etcd.js';
import { describeKvStoreContract } from '../helpers/kv-store-contract.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startTestEtcd(1);
});
afterAll(async () => {
  await etcd?.cleanup();
});

describeKvStoreContract(
  'EtcdStore',
  etcdContractSubject((prefix) => new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix, fenced: false })),
);
