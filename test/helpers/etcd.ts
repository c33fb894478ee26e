/**
 * A local etcd cluster for a test (deploy/local-etcd.ts): one or three members on free loopback
 * ports in a fresh temp directory. `cleanup` stops every member and removes the directory; call it
 * in afterAll / afterEach even when the test failed.
 */
import { type LocalEtcd, type LocalEtcdOptions, startLocalEtcd } from '../../deploy/local-etcd.js';
import type { EtcdMemberCount } from '../../deploy/etcd-flags.js';
import { makeTempDir } from './temp-dir.js';
import { randomBytes } from 'node:crypto';
import type { EtcdStore } from '../../metadata/store/etcd-store.js';
import type { StoreUnderTest } from './kv-store-contract.js';

/** Tests keep nothing worth a clean shutdown: a member still up this long after SIGTERM is killed. */
const TEST_STOP_GRACE_MS = 2_000;

export interface TestEtcd {
  readonly etcd: LocalEtcd;
  /** The temp directory holding the members' data and logs. */
  readonly dir: string;
  /** Stops every member and removes the directory. Idempotent. */
  cleanup(): Promise<void>;
}

export async function startTestEtcd(
  members: EtcdMemberCount,
  options: Partial<Pick<LocalEtcdOptions, 'onExit' | 'readyTimeoutMs' | 'stopGraceMs' | 'tls'>> = {},
): Promise<TestEtcd> {
  const dir = await makeTempDir('etcd');
  let etcd: LocalEtcd;
  try {
    etcd = await startLocalEtcd({ dir: dir.path, members, stopGraceMs: TEST_STOP_GRACE_MS, ...options });
  } catch (error) {
    await dir.remove();
    throw error;
  }
  let cleaned: Promise<void> | undefined;
  return {
    etcd,
    dir: dir.path,
    cleanup: () => {
      cleaned ??= etcd.stop().finally(() => dir.remove());
      return cleaned;
    },
  };
}

/**
 * A store-contract subject (test/helpers/kv-store-contract.ts) on an etcd: each test gets a fresh
 * prefix, so one etcd serves every test and none sees another's keys; a "reopen" is another
 * client on the same prefix, as another replica would be.
 */
export function etcdContractSubject(open: (prefix: string) => EtcdStore): () => Promise<StoreUnderTest> {
  return async () => {
    const prefix = `contract-${randomBytes(4).toString('hex')}`;
    const opened: EtcdStore[] = [];
    const client = (): EtcdStore => {
      const store = open(prefix);
      opened.push(store);
      return store;
    };
    return {
      store: client(),
      reopen: async () => client(),
      async cleanup() {
        for (const store of opened) await store.close();
      },
    };
  };
}
