/**
 * A local etcd cluster for a test (deploy/local-etcd.ts): one or three members on free loopback
 * ports in a fresh temp directory. `cleanup` stops every member and removes the directory; call it
 * in afterAll / afterEach even when the test failed.
 */
import { type LocalEtcd, type LocalEtcdOptions, startLocalEtcd } from '../../deploy/local-etcd.js';
import type { EtcdMemberCount } from '../../deploy/etcd-flags.js';
import { makeTempDir } from './temp-dir.js';

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
