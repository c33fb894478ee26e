/**
 * What `granary up --ha` adds to the local cluster (deploy/local-cluster.ts): a three-member etcd
 * under DATA/etcd, kept running the way `up` keeps its other children (restart with back-off,
 * deploy/restart-backoff.ts), the ports of the three metadata replicas and etcd members, and the
 * wait for a replica to be elected leader. The point of --ha on one machine is to try failover: kill
 * a replica or an etcd member and watch the cluster carry on, before running it across machines.
 *
 * Under `up --tls` etcd serves TLS with a CA of its own (DATA/tls/etcd/) and requires client
 * certificates, which only the replicas have; without it, plain HTTP on loopback.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { GranaryError } from '../protocol/index.js';
import type { EtcdMemberTls } from './etcd-flags.js';
import { type LocalEtcd, findEtcdBinary, startLocalEtcd } from './local-etcd.js';
import { HEALTHY_AFTER_MS, RAPID_FAILURES_MAX, RestartBackoff } from './restart-backoff.js';

/** Metadata replicas: a majority (2) keeps serving with one down. */
export const HA_REPLICAS = 3;
/** etcd members: a majority (2) keeps the store writable with one down. */
export const HA_ETCD_MEMBERS = 3;
/** From `up`'s --port P: replicas on P, P+1, P+2; etcd clients on P+10..; etcd peers on P+20.. (storage nodes from P+31). */
export const HA_ETCD_CLIENT_PORT_OFFSET = 10;
export const HA_ETCD_PEER_PORT_OFFSET = 20;
/** Every port offset above P that `up --ha` takes besides the storage nodes' (for tests that pick free ports). */
export const HA_PORT_OFFSETS: readonly number[] = [
  ...Array.from({ length: HA_REPLICAS }, (_, i) => i),
  ...Array.from({ length: HA_ETCD_MEMBERS }, (_, i) => HA_ETCD_CLIENT_PORT_OFFSET + i),
  ...Array.from({ length: HA_ETCD_MEMBERS }, (_, i) => HA_ETCD_PEER_PORT_OFFSET + i),
];
/** The catalog's key prefix in etcd (`granary metadata --etcd-prefix`). */
export const HA_ETCD_PREFIX = 'granary';
/** A member still up this long after SIGTERM is killed; `up` stops members one at a time. */
const ETCD_STOP_GRACE_MS = 10_000;
const LEADER_POLL_MS = 200;
const HEALTH_PROBE_TIMEOUT_MS = 2_000;

/** Fails, saying how to install etcd, when it is not on the PATH: checked before `up --ha` does anything. */
export async function requireEtcd(): Promise<void> {
  try {
    await findEtcdBinary();
  } catch (error) {
    const message = (error as Error).message;
    throw new GranaryError('GRN_UNAVAILABLE', `granary up --ha keeps the catalog in a local etcd cluster: ${message}`, { cause: error });
  }
}

export function haReplicaPorts(port: number): number[] {
  return Array.from({ length: HA_REPLICAS }, (_, i) => port + i);
}

export interface SupervisedEtcdOptions {
  /** `up`'s data root: the members live in DATA/etcd, their logs in `logDir`. */
  readonly root: string;
  readonly logDir: string;
  /** `up`'s --port. */
  readonly port: number;
  readonly say: (line: string) => void;
  readonly warn: (line: string) => void;
  /** A majority of the members was given up on: the store, and so the cluster, is down. */
  readonly lost: (why: string) => void;
  /** Serve the client URLs over TLS (`up --tls`). */
  readonly tls?: EtcdMemberTls;
}

export interface SupervisedEtcd {
  readonly etcd: LocalEtcd;
  /** Cancels pending restarts and stops every member. */
  stop(): Promise<void>;
}

/**
 * Starts the etcd of `up --ha` and restarts a member that dies, after the same back-off as any
 * other child; gives up on it after RAPID_FAILURES_MAX quick failures, and reports the store lost
 * when a majority is given up on.
 */
export async function startSupervisedEtcd(options: SupervisedEtcdOptions): Promise<SupervisedEtcd> {
  await requireEtcd();
  const timers = new Set<NodeJS.Timeout>();
  const backoffs = new Map<number, RestartBackoff>();
  /**
   * Members with a restart scheduled or under way: an exit meanwhile (while starting, or of a
   * member not yet healthy) is that restart's failure, not a second crash to schedule for.
   */
  const pending = new Set<number>();
  const givenUp = new Set<number>();
  let stopping = false;
  let etcd: LocalEtcd | undefined;

  const name = (member: number): string => `etcd member etcd-${member}`;
  const failed = (member: number, what: string): void => {
    if (stopping || etcd === undefined) return;
    const logFile = etcd.logFile(member);
    const backoff = backoffs.get(member) ?? new RestartBackoff(Date.now());
    backoffs.set(member, backoff);
    const decision = backoff.exited(Date.now());
    if (decision.action === 'give-up') {
      givenUp.add(member);
      const majorityLost = givenUp.size > HA_ETCD_MEMBERS / 2;
      options.warn(
        `${name(member)} ${what}: ${decision.failures} failures in a row, each within ${HEALTHY_AFTER_MS / 1000} s of starting; giving up on it (see ${logFile}); ${majorityLost ? 'etcd has lost its majority' : 'etcd goes on with the others'}`,
      );
      if (majorityLost) options.lost(`${givenUp.size} of ${HA_ETCD_MEMBERS} etcd members failed ${RAPID_FAILURES_MAX} times in a row`);
      return;
    }
    pending.add(member);
    options.warn(`${name(member)} ${what}; restarting in ${decision.delayMs / 1000} s (failure ${decision.attempt} in a row, up gives up at ${RAPID_FAILURES_MAX}; log ${logFile})`);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopping || etcd === undefined) return;
      backoff.started(Date.now());
      etcd.restart(member).then(
        () => {
          pending.delete(member);
          options.say(`${name(member)} restarted`);
        },
        (error: unknown) => {
          pending.delete(member);
          failed(member, `did not start again (${(error as Error).message.split('\n')[0] ?? ''})`);
        },
      );
    }, decision.delayMs);
    timers.add(timer);
  };

  const dir = join(options.root, 'etcd');
  etcd = await startLocalEtcd({
    dir,
    members: HA_ETCD_MEMBERS,
    clientPorts: Array.from({ length: HA_ETCD_MEMBERS }, (_, i) => options.port + HA_ETCD_CLIENT_PORT_OFFSET + i),
    peerPorts: Array.from({ length: HA_ETCD_MEMBERS }, (_, i) => options.port + HA_ETCD_PEER_PORT_OFFSET + i),
    logDir: options.logDir,
    stopGraceMs: ETCD_STOP_GRACE_MS,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    onExit: (member, how) => {
      if (!pending.has(member)) failed(member, how);
    },
  });
  for (let member = 0; member < HA_ETCD_MEMBERS; member++) backoffs.set(member, new RestartBackoff(Date.now()));
  const started = etcd;
  return {
    etcd: started,
    stop: async () => {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await started.stop();
    },
  };
}

/** What a replica's GET /health says about leadership (metadata/server.ts, metadata/follower-app.ts). */
interface ReplicaHealth {
  readonly role?: unknown;
  readonly leader?: unknown;
}

/**
 * Waits until some replica says it is the leader, and returns its URL. Before that, every write
 * (node tokens, the sample table) would be answered GRN_NO_LEADER.
 */
export async function waitForLeader(replicaUrls: readonly string[], caFile: string | undefined, timeoutMs: number): Promise<string> {
  const ca = caFile === undefined ? undefined : await readFile(caFile);
  const dispatcher = new Agent({ connect: { timeout: HEALTH_PROBE_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) } });
  const deadline = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  try {
    for (;;) {
      for (const url of replicaUrls) {
        try {
          const answer = await request(`${url}/health`, { dispatcher, headersTimeout: HEALTH_PROBE_TIMEOUT_MS, bodyTimeout: HEALTH_PROBE_TIMEOUT_MS });
          const health = (await answer.body.json()) as ReplicaHealth;
          if (health.role === 'leader') return url;
          seen.set(url, `${String(health.role)}, leader ${String(health.leader)}`);
        } catch (error) {
          seen.set(url, (error as Error).message);
        }
      }
      if (Date.now() > deadline) {
        const states = replicaUrls.map((url) => `${url}: ${seen.get(url) ?? 'no answer'}`).join('; ');
        throw new GranaryError('GRN_NO_LEADER', `no metadata replica became leader within ${timeoutMs / 1000} s (${states}); see the replicas' and etcd members' logs`);
      }
      await new Promise((done) => setTimeout(done, LEADER_POLL_MS));
    }
  } finally {
    await dispatcher.close();
  }
}
