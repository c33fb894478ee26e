/**
 * Leader election among metadata replicas over etcd (docs/design.md, "The metadata store").
 *
 * The leader is whoever created the leader key: a create-if-absent transaction puts it with a
 * lease of `ttlSeconds`, kept alive while the process runs. A replica that dies stops renewing,
 * etcd deletes the key when the lease runs out, and a follower (polling the key) creates it in
 * turn. The key's value is unique to one term of one replica, and every catalog write compares it
 * (metadata/store/etcd-store.ts), so a leader that was paused or cut off past its lease cannot
 * write after a successor is elected, even before it notices it lost.
 *
 * A leader steps down as soon as it sees its term end: the lease reported lost, the key holding
 * another value, or a write refused by the fence.
 */
import { randomBytes } from 'node:crypto';
import type { Lease } from 'etcd3';
import { GranaryError } from '../protocol/index.js';
import type { EtcdStore, Fence } from './store/etcd-store.js';

/** What the leader key holds: enough for followers to forward requests to the leader. */
export interface LeaderInfo {
  /** The leader's advertised URL. */
  readonly url: string;
  /** Unique per term: the fence value. */
  readonly term: string;
  readonly since: number;
}

export interface LeadershipEvents {
  /** This replica won: load the catalog and serve. Leadership is not announced until it resolves. */
  elected(fence: Fence): Promise<void>;
  /** This replica's term ended: stop serving and background work at once. */
  deposed(reason: string): Promise<void>;
  /** A failure of the election loop itself (etcd unreachable); the loop goes on. */
  error(error: unknown): void;
}

export interface LeadershipOptions {
  readonly advertiseUrl: string;
  /** Lease of the leader key: a dead leader is replaced this long (at most) after it stops. */
  readonly ttlSeconds: number;
  /** How often a follower looks for a free leader key, and a leader checks it still holds it. */
  readonly pollMs: number;
}

export const LEADER_TTL_SECONDS_DEFAULT = 5;
/**
 * The share of the lease a leader trusts after its last confirmed keep-alive (they come every
 * third of it): one late keep-alive is tolerated, and the rest is margin for clocks and delays.
 */
export const LEASE_TRUSTED_FRACTION = 2 / 3;
/** etcd refuses leases shorter than about 1.5 election timeouts; below 2 s they are raised anyway. */
export const LEADER_TTL_SECONDS_MIN = 2;

/** One term as leader. */
interface Term {
  readonly lease: Lease;
  readonly fence: Fence;
  /** Why it ended; undefined while it runs. */
  ended?: string;
  /** The lease runs at least LEASE_TRUSTED_FRACTION of its TTL from here (the last confirmed keep-alive's sending). */
  confirmedAt: number;
  /** When the keep-alive in flight was sent. */
  firedAt: number;
}

export class Leadership {
  private stopped = false;
  private term: Term | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly options: LeadershipOptions,
    private readonly events: LeadershipEvents,
  ) {
    if (!(Number.isInteger(options.ttlSeconds) && options.ttlSeconds >= LEADER_TTL_SECONDS_MIN)) {
      throw new GranaryError('GRN_BAD_REQUEST', `leader lease must be a whole number of seconds >= ${LEADER_TTL_SECONDS_MIN}, got ${options.ttlSeconds}`);
    }
    store.onTermInDoubt = (reason) => this.endTerm(reason);
  }

  get isLeader(): boolean {
    return this.term !== undefined && this.term.ended === undefined;
  }

  /**
   * True while this replica leads and its lease certainly still runs: etcd last extended it less
   * than LEASE_TRUSTED_FRACTION of its TTL ago, counted from when that keep-alive was sent. A
   * leader that was paused (SIGSTOP, a long GC) wakes believing it leads, with memory that missed
   * everything since (node heartbeats went to its successor); it must not answer from it, even
   * reads, until it knows. Writes are safe regardless: the fence refuses them.
   */
  leadsSafely(now = Date.now()): boolean {
    const term = this.term;
    return term !== undefined && term.ended === undefined && now - term.confirmedAt < this.options.ttlSeconds * 1000 * LEASE_TRUSTED_FRACTION;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** The current leader as the key says, or undefined during an election. */
  async leader(): Promise<LeaderInfo | undefined> {
    const answer = await this.store.client.kv.range({ key: Buffer.from(this.store.leaderKey()) });
    const kv = answer.kvs[0];
    if (kv === undefined) return undefined;
    return parseLeader(kv.value.toString('utf8'));
  }

  /** Ends this replica's term (if any) and the election loop; the key is deleted so a successor need not wait for the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.endTerm('the replica is stopping');
    await this.loop;
  }

  /** Ends the current term at once (a write refused by the fence, or in doubt). */
  endTerm(reason: string): void {
    if (this.term !== undefined && this.term.ended === undefined) this.term.ended = reason;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const won = await this.campaign();
        if (won) await this.serveTerm();
        else await this.pause(this.options.pollMs);
      } catch (error) {
        this.events.error(error);
        await this.pause(this.options.pollMs);
      }
    }
  }

  /** One attempt to create the leader key; true when this replica now holds it. */
  private async campaign(): Promise<boolean> {
    const key = Buffer.from(this.store.leaderKey());
    const existing = await this.store.client.kv.range({ key, count_only: true });
    if (Number(existing.count) > 0) return false;
    const requestedAt = Date.now();
    const lease = this.store.client.lease(this.options.ttlSeconds, { autoKeepAlive: true });
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (error) {
      lease.release();
      throw error;
    }
    const info: LeaderInfo = { url: this.options.advertiseUrl, term: randomBytes(12).toString('hex'), since: Date.now() };
    const value = JSON.stringify(info);
    const answer = await this.store.client.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key, value: Buffer.from(value), lease: leaseId } }],
    });
    if (!answer.succeeded) {
      await this.dropLease(lease);
      return false;
    }
    const fence: Fence = { key: this.store.leaderKey(), value };
    // The lease runs from when etcd granted it, after `requestedAt`: a conservative start.
    const term: Term = { lease, fence, confirmedAt: requestedAt, firedAt: requestedAt };
    this.term = term;
    lease.on('lost', (error) => this.endTerm(`its lease was lost (${error.message})`));
    // A keep-alive extends the lease from when etcd handled it, after it was sent.
    lease.on('keepaliveFired', () => {
      term.firedAt = Date.now();
    });
    lease.on('keepaliveSucceeded', () => {
      term.confirmedAt = term.firedAt;
    });
    return true;
  }

  private async serveTerm(): Promise<void> {
    const term = this.term;
    if (term === undefined) return;
    this.store.setFence(term.fence);
    try {
      await this.events.elected(term.fence);
      // Holds the term until something ends it; checks the key itself too, so a leader whose
      // lease was lost while it was paused steps down even if the client missed the event.
      while (term.ended === undefined && !this.stopped) {
        await this.pause(this.options.pollMs);
        if (term.ended !== undefined) break;
        const now = await this.store.client.kv.range({ key: Buffer.from(term.fence.key) }).catch((error: unknown) => {
          this.events.error(error);
          return undefined;
        });
        if (now !== undefined && now.kvs[0]?.value.toString('utf8') !== term.fence.value) this.endTerm('another replica holds the leader key');
      }
    } finally {
      this.store.setFence(undefined);
      const reason = term.ended ?? 'the replica is stopping';
      this.term = undefined;
      await this.events.deposed(reason).catch((error: unknown) => this.events.error(error));
      // Free the key at once when it is still ours (a clean stop); a lost lease is gone already.
      await this.store.client.kv
        .txn({
          compare: [{ key: Buffer.from(term.fence.key), target: 'Value', result: 'Equal', value: Buffer.from(term.fence.value) }],
          success: [{ request_delete_range: { key: Buffer.from(term.fence.key) } }],
        })
        .catch((error: unknown) => this.events.error(error));
      await this.dropLease(term.lease);
    }
  }

  /** Revokes a lease; when etcd cannot be reached it runs out by itself, so only keep-alives stop. */
  private async dropLease(lease: Lease): Promise<void> {
    try {
      await lease.revoke();
    } catch (error) {
      lease.release();
      this.events.error(error);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

export function parseLeader(text: string): LeaderInfo | undefined {
  try {
    const value = JSON.parse(text) as Partial<LeaderInfo>;
    return typeof value.url === 'string' && typeof value.term === 'string' && typeof value.since === 'number' ? { url: value.url, term: value.term, since: value.since } : undefined;
  } catch {
    return undefined;
  }
}
