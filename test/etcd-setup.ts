/**
 * Global setup of the `etcd` test project: one local etcd for the run, named to the tests by
 * GRANARY_TEST_ETCD, so the in-process metadata tests (test/helpers/metadata-app.ts) keep their
 * catalogs in etcd instead of LevelDB.
 */
import { startTestEtcd } from './helpers/etcd.js';

export default async function setup(): Promise<() => Promise<void>> {
  const etcd = await startTestEtcd(1);
  process.env.GRANARY_TEST_ETCD = etcd.etcd.endpoints;
  return async () => {
    await etcd.cleanup();
  };
}
