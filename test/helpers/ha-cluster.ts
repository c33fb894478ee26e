/**
 * A replicated local cluster of real processes: an etcd of one or three members (deploy/local-etcd.ts),
 * metadata replicas on it (`--store etcd`), and storage nodes given every replica's URL. The
 * leader is found through /health, as an operator's probe would.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { EtcdMemberCount } from '../../deploy/etcd-flags.js';
import { adminTokenOf, listNodes, nodeCredentialArgs, startMetadataProcess } from './cluster.js';
import { type TestEtcd, startTestEtcd } from './etcd.js';
import type { GranaryProcess } from './granary-process.js';
import { pollUntil } from './poll.js';
import { type NodeProcess, startNodeProcess } from './storage-node-process.js';
import { makeTempDir } from './temp-dir.js';

export interface HaCluster {
  readonly etcd: TestEtcd;
  /** Replica i, or undefined while it is down. */
  readonly replicas: (GranaryProcess | undefined)[];
  readonly nodes: NodeProcess[];
  readonly root: string;
  readonly adminToken: string;
  /** Every replica's URL, in replica order (fixed across restarts): what `--metadata` takes. */
  readonly urls: readonly string[];
  /** Index of the replica whose /health says it leads; polls until one does. */
  leader(timeoutMs?: number): Promise<number>;
  /** Starts replica i again on its port and data directory. */
  restartReplica(index: number): Promise<GranaryProcess>;
  stop(): Promise<void>;
}

export interface HaClusterOptions {
  readonly replicas: number;
  readonly etcdMembers: EtcdMemberCount;
  readonly nodes: number;
  /** Leader lease in seconds (the service's minimum is 2). */
  readonly leaderTtlSeconds?: number;
  readonly metadataArgs?: readonly string[];
}

interface Health {
  readonly role?: string;
  readonly leader?: string | null;
}

export async function replicaHealth(url: string): Promise<Health | undefined> {
  try {
    const response = await request(`${url}/health`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return undefined;
    }
    return (await response.body.json()) as Health;
  } catch {
    // Down or restarting: not a leader.
    return undefined;
  }
}

export async function startHaCluster(options: HaClusterOptions): Promise<HaCluster> {
  const dir = await makeTempDir('ha-cluster');
  const etcd = await startTestEtcd(options.etcdMembers).catch(async (error: unknown) => {
    await dir.remove();
    throw error;
  });
  const replicas: (GranaryProcess | undefined)[] = [];
  const nodes: NodeProcess[] = [];
  const adminTokenFile = join(dir.path, 'admin.token');
  const replicaArgs = (): string[] => [
    '--store',
    'etcd',
    '--etcd',
    etcd.etcd.endpoints,
    '--leader-ttl',
    String(options.leaderTtlSeconds ?? 3),
    '--admin-token-file',
    adminTokenFile,
    '--dead-after-ms',
    '60000',
    ...(options.metadataArgs ?? []),
  ];
  const stopAll = async (): Promise<void> => {
    await Promise.all([...replicas, ...nodes].map((p) => p?.kill('SIGKILL')));
    await etcd.cleanup();
    await dir.remove();
  };
  try {
    for (let i = 0; i < options.replicas; i++) {
      await mkdir(join(dir.path, `metadata-${i}`), { recursive: true });
      replicas.push(await startMetadataProcess(join(dir.path, `metadata-${i}`), replicaArgs()));
    }
    const ports = replicas.map((replica) => (replica as GranaryProcess).port);
    const urls = replicas.map((replica) => (replica as GranaryProcess).url);
    const leader = async (timeoutMs = 30_000): Promise<number> =>
      pollUntil(
        'a metadata replica to lead',
        async () => {
          for (let i = 0; i < urls.length; i++) {
            if (replicas[i] === undefined) continue;
            if ((await replicaHealth(urls[i] as string))?.role === 'leader') return i;
          }
          return undefined;
        },
        timeoutMs,
        100,
      );
    await leader();
    const adminToken = await pollUntil('the leader to write the admin token', async () => adminTokenOf(dir.path).catch(() => undefined));
    const list = urls.join(',');
    const credentials = await Promise.all(Array.from({ length: options.nodes }, (_, i) => nodeCredentialArgs(urls[0] as string, adminToken, `node-${i}`)));
    nodes.push(
      ...(await Promise.all(
        Array.from({ length: options.nodes }, (_, i) =>
          startNodeProcess(join(dir.path, `node-${i}`), [
            ...(credentials[i] as string[]),
            '--metadata',
            list,
            '--domain',
            `rack-${i % 3}`,
            '--heartbeat-interval-ms',
            '200',
            '--reserve',
            '0',
          ]),
        ),
      )),
    );
    await pollUntil('every storage node to register', async () => {
      const listed = await listNodes(urls[0] as string, undefined, adminToken).catch(() => []);
      return listed.filter((node) => node.state === 'alive').length === options.nodes ? true : undefined;
    });
    return {
      etcd,
      replicas,
      nodes,
      root: dir.path,
      adminToken,
      urls,
      leader,
      async restartReplica(index) {
        await replicas[index]?.kill('SIGKILL');
        const restarted = await startMetadataProcess(join(dir.path, `metadata-${index}`), replicaArgs(), ports[index]);
        replicas[index] = restarted;
        return restarted;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
