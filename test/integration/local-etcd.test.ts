/**
 * deploy/local-etcd.ts with the real etcd binary: three members serve puts and gets through the
 * etcd3 client, keep serving with the leader SIGKILLed, take the member back with its data, come
 * back on the same ports and data when started again on the same directory, and leave no process
 * behind. Also the errors an operator sees: etcd missing from the PATH, a member that cannot start.
 */
import { Etcd3 } from 'etcd3';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findEtcdBinary, startLocalEtcd } from '../../deploy/local-etcd.js';
import { type TestEtcd, startTestEtcd } from '../helpers/etcd.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** An election after the leader dies takes a second or two; a loaded machine, more. */
const FAILOVER_DEADLINE_MS = 20_000;
const TEST_TIMEOUT_MS = 90_000;

const started: TestEtcd[] = [];
const clients: Etcd3[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await Promise.all(started.splice(0).map((t) => t.cleanup()));
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function clientOf(hosts: readonly string[]): Etcd3 {
  const client = new Etcd3({ hosts: [...hosts] });
  clients.push(client);
  return client;
}

/** The member a client URL reaches, and the leader it knows, from etcd's JSON gateway. */
async function status(clientUrl: string): Promise<{ member: string; leader: string }> {
  return new Promise((resolve, reject) => {
    const call = request(`${clientUrl}/v3/maintenance/status`, { method: 'POST', agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        body += text;
      });
      response.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { header: { member_id: string }; leader: string };
          resolve({ member: parsed.header.member_id, leader: parsed.leader });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    call.on('error', reject);
    call.end('{}');
  });
}

describe('a local etcd cluster of three', () => {
  it('serves puts and gets with its leader SIGKILLed, takes it back, restarts on the same directory, and stops every process', async () => {
    const exits: string[] = [];
    const t = await startTestEtcd(3, { onExit: (member, how) => exits.push(`${member} ${how}`) });
    started.push(t);
    const { etcd } = t;
    expect(etcd.clientUrls).toHaveLength(3);
    expect(etcd.endpoints).toBe(etcd.clientUrls.join(','));
    expect(etcd.reused).toBe(false);
    for (const url of etcd.clientUrls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const firstPids = etcd.pids() as number[];
    expect(firstPids.every((pid) => typeof pid === 'number' && alive(pid))).toBe(true);

    const client = clientOf(etcd.clientUrls);
    await client.put('granary/test/a').value('1');
    expect(await client.get('granary/test/a').string()).toBe('1');

    // The leader, found from any member's status.
    const statuses = await Promise.all(etcd.clientUrls.map(status));
    const leader = statuses.findIndex((s) => s.member === statuses[0]?.leader);
    expect(leader).toBeGreaterThanOrEqual(0);
    const leaderPid = etcd.pid(leader) as number;
    await etcd.kill(leader, 'SIGKILL');
    expect(alive(leaderPid)).toBe(false);
    expect(etcd.pid(leader)).toBeUndefined();
    // A kill through the API is not a crash.
    expect(exits).toEqual([]);

    // The survivors elect a leader; from then on every put and get succeeds.
    await pollUntil('a put with the leader down', async () => {
      await client.put('granary/test/b').value('2');
      return true;
    }, FAILOVER_DEADLINE_MS, 100);
    for (let i = 0; i < 20; i++) {
      await client.put(`granary/test/k${i}`).value(String(i));
      expect(await client.get(`granary/test/k${i}`).string()).toBe(String(i));
    }

    await etcd.restart(leader);
    const restartedPid = etcd.pid(leader) as number;
    expect(alive(restartedPid)).toBe(true);
    expect(restartedPid).not.toBe(leaderPid);
    // The restarted member caught up on what was written while it was down.
    const onlyRestarted = clientOf([etcd.clientUrls[leader] as string]);
    expect(await onlyRestarted.get('granary/test/k19').string()).toBe('19');

    // A member that dies on its own is reported.
    const other = (leader + 1) % 3;
    const otherPid = etcd.pid(other) as number;
    process.kill(otherPid, 'SIGKILL');
    await pollUntil('the exit to be reported', () => (exits.length > 0 ? true : undefined), 10_000);
    expect(exits).toEqual([`${other} exited with code none (signal SIGKILL)`]);
    await etcd.restart(other);

    const pids = etcd.pids() as number[];
    await etcd.stop();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(etcd.pids()).toEqual([undefined, undefined, undefined]);
    await expect(etcd.restart(0)).rejects.toThrow(/was stopped/);

    // Started again on the same directory: the same cluster, ports and data.
    const again = await startLocalEtcd({ dir: t.dir, members: 3, stopGraceMs: 2_000 });
    try {
      expect(again.reused).toBe(true);
      expect(again.clientUrls).toEqual(etcd.clientUrls);
      const second = clientOf(again.clientUrls);
      expect(await second.get('granary/test/b').string()).toBe('2');
    } finally {
      const againPids = again.pids() as number[];
      await again.stop();
      for (const pid of againPids) expect(alive(pid)).toBe(false);
    }
    await expect(startLocalEtcd({ dir: t.dir, members: 1 })).rejects.toThrow(/holds an etcd cluster of 3 members, not 1/);
  }, TEST_TIMEOUT_MS);
});

describe('local etcd errors', () => {
  it('names the package to install when etcd is not on the PATH', async () => {
    await expect(findEtcdBinary('/nonexistent-granary-bin')).rejects.toMatchObject({
      code: 'GRN_UNAVAILABLE',
      message: expect.stringMatching(/etcd was not found on the PATH.*apt-get install etcd-server/),
    });
    expect(await findEtcdBinary()).toMatch(/\/etcd$/);
  });

  it('quotes the log of a member that exits while starting', async () => {
    const dir = await makeTempDir('etcd-taken');
    // Hold the port the member is told to serve clients on. Health probes that reach the holder
    // are dropped at once: an idle accepted socket would keep close() waiting.
    const holder: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    const taken = (holder.address() as { port: number }).port;
    try {
      const peerServer = createServer();
      await new Promise<void>((resolve) => peerServer.listen(0, '127.0.0.1', () => resolve()));
      const peerPort = (peerServer.address() as { port: number }).port;
      await new Promise<void>((resolve) => peerServer.close(() => resolve()));
      await expect(startLocalEtcd({ dir: dir.path, members: 1, clientPorts: [taken], peerPorts: [peerPort] })).rejects.toMatchObject({
        code: 'GRN_UNAVAILABLE',
        message: expect.stringMatching(/etcd member etcd-0 exited while starting; the end of .*etcd-0\.log:\n[\s\S]*address already in use/),
      });
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      await dir.remove();
    }
  }, TEST_TIMEOUT_MS);
});
