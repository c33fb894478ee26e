/**
 * Leader election and fencing on a real etcd (metadata/leadership.ts, metadata/store/etcd-store.ts):
 * one leader at a time, a successor within the lease after the leader vanishes, and a deposed
 * leader that has not noticed yet still cannot write a single key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeadershipEvents, Leadership } from '../../metadata/leadership.js';
import { EtcdStore } from '../../metadata/store/etcd-store.js';
import { type TestEtcd, startTestEtcd } from '../helpers/etcd.js';
import { pollUntil } from '../helpers/poll.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startTestEtcd(1);
});
afterAll(async () => {
  await etcd?.cleanup();
});

interface Candidate {
  readonly store: EtcdStore;
  readonly leadership: Leadership;
  readonly log: string[];
  elected(): boolean;
}

function candidate(prefix: string, name: string, pollMs: number, ttlSeconds = 2): Candidate {
  const store = new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix, fenced: true });
  const log: string[] = [];
  let leading = false;
  const events: LeadershipEvents = {
    elected: async () => {
      leading = true;
      log.push('elected');
    },
    deposed: async (reason) => {
      leading = false;
      log.push(`deposed: ${reason}`);
    },
    error: (error) => log.push(`error: ${String(error)}`),
  };
  const leadership = new Leadership(store, { advertiseUrl: `http://${name}.test:7070`, ttlSeconds, pollMs }, events);
  return { store, leadership, log, elected: () => leading };
}

const put = (key: string) => [{ type: 'put' as const, space: 'tables', key, value: Buffer.from(key) }];

describe('leadership on etcd', () => {
  it('elects one leader; only it writes; a successor takes over within the lease when it stops', async () => {
    const prefix = `lead-${randomBytes(4).toString('hex')}`;
    const a = candidate(prefix, 'a', 100);
    const b = candidate(prefix, 'b', 100);
    try {
      a.leadership.start();
      await pollUntil('a to lead', () => (a.elected() ? true : undefined));
      b.leadership.start();
      // b campaigns every 100 ms and must not win while a holds the key.
      expect(b.elected()).toBe(false);
      expect((await b.leadership.leader())?.url).toBe('http://a.test:7070');
      await a.store.write(put('by-a'));
      await expect(b.store.write(put('by-b'))).rejects.toMatchObject({ code: 'GRN_NOT_LEADER' });
      expect(await a.store.get('tables', 'by-b')).toBeUndefined();

      const stoppedAt = Date.now();
      await a.leadership.stop();
      await pollUntil('b to lead', () => (b.elected() ? true : undefined), 10_000);
      // A clean stop frees the key at once: no wait for the lease.
      expect(Date.now() - stoppedAt).toBeLessThan(2_000);
      await b.store.write(put('by-b'));
      await expect(a.store.write(put('by-a-late'))).rejects.toMatchObject({ code: 'GRN_NOT_LEADER' });
      expect(a.log).toContain('deposed: the replica is stopping');
    } finally {
      await a.leadership.stop();
      await b.leadership.stop();
      await a.store.close();
      await b.store.close();
    }
  });

  it('fences a leader that lost its key without noticing: its next write fails whole and ends its term', async () => {
    const prefix = `fence-${randomBytes(4).toString('hex')}`;
    // `a` checks its key only once a minute: it will not notice the loss by itself in time.
    const a = candidate(prefix, 'a', 60_000);
    const b = candidate(prefix, 'b', 100);
    try {
      a.leadership.start();
      await pollUntil('a to lead', () => (a.elected() ? true : undefined));
      b.leadership.start();
      // What a lease running out while `a` was paused looks like to everyone else: the key is gone.
      await a.store.client.kv.deleteRange({ key: Buffer.from(a.store.leaderKey()) });
      await pollUntil('b to lead', () => (b.elected() ? true : undefined), 10_000);
      expect(a.elected()).toBe(true);
      // The zombie's batch, two keys: neither lands.
      await expect(a.store.write([...put('zombie-1'), ...put('zombie-2')])).rejects.toMatchObject({ code: 'GRN_NOT_LEADER' });
      expect(await b.store.get('tables', 'zombie-1')).toBeUndefined();
      expect(await b.store.get('tables', 'zombie-2')).toBeUndefined();
      await pollUntil('a to step down', () => (a.elected() ? undefined : true), 10_000);
      expect(a.log.some((line) => line.startsWith('deposed: a write was refused by the leader fence'))).toBe(true);
      // And it stays refused: no write of that term gets through later either.
      await expect(a.store.write(put('zombie-3'))).rejects.toMatchObject({ code: 'GRN_NOT_LEADER' });
      await b.store.write(put('by-b'));
      expect((await b.leadership.leader())?.url).toBe('http://b.test:7070');
    } finally {
      await a.leadership.stop();
      await b.leadership.stop();
      await a.store.close();
      await b.store.close();
    }
  });

  it('refuses a lease shorter than etcd allows', () => {
    const store = new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix: 'short', fenced: true });
    const events: LeadershipEvents = { elected: async () => undefined, deposed: async () => undefined, error: () => undefined };
    expect(() => new Leadership(store, { advertiseUrl: 'http://x.test', ttlSeconds: 1, pollMs: 100 }, events)).toThrow(/at least|>= 2/);
    return store.close();
  });
});
