/**
 * Buffers the batch-read route reads ranges into, taken back once the socket has sent them:
 * every byte a node serves passes through one, so they are reused (erasure/spare-buffers.ts).
 */
import { SpareBuffers } from '../erasure/index.js';

/** Buffers are kept in power-of-two sizes from this up. */
const SIZE_MIN = 64 * 1024;
/** Larger reads get a buffer of their own that is not kept. */
const SIZE_MAX = 32 * 1024 * 1024;

export class ReadBufferPool {
  private readonly spare: SpareBuffers;

  /** `keepBytes`: free bytes kept for reuse at most. */
  constructor(keepBytes: number) {
    this.spare = new SpareBuffers({ keepBytes, minBytes: SIZE_MIN, maxBytes: SIZE_MAX });
  }

  /** A buffer of `bytes` (not zeroed): a view of a pooled one when the size is pooled. */
  readonly take = (bytes: number): Buffer => {
    if (bytes > SIZE_MAX || bytes < SIZE_MIN / 4) return Buffer.allocUnsafe(bytes);
    return Buffer.from(this.spare.take(bytes), 0, bytes);
  };

  /** Takes back a buffer from `take` (or any view of one); others are left to the GC. */
  give(view: Uint8Array): void {
    this.spare.give(view.buffer);
  }
}

/**
 * Why a wait for read memory ended without it, a closed set: each is answered 503 (or, once an
 * answer has begun, an `error` frame for every range left), so the reader reads around this node.
 */
export type BudgetRefusal =
  /** `waitersMax` requests were already waiting: the node is saturated, not merely busy. */
  | 'queue_full'
  /** The bytes did not come free within `waitMsMax`. */
  | 'timed_out'
  /** More bytes than the whole budget: they could never be granted. */
  | 'too_large'
  /** The request went away while it waited. */
  | 'abandoned';

export interface ReadBudgetOptions {
  /** Bytes read ahead of sockets, across all requests, at most. */
  readonly bytesMax: number;
  /** Requests waiting for bytes at once, at most; one more is refused at once. */
  readonly waitersMax: number;
  /** A wait for bytes longer than this is refused. */
  readonly waitMsMax: number;
  /** Told the bytes in use after every change (the metrics gauge). */
  readonly onChange?: (bytesInUse: number) => void;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

/**
 * The node-wide budget of batch-read memory: bytes read from chunks that the sockets have not
 * taken yet. Each request reads ahead of its socket, and without one budget across requests a few
 * readers that never consume their answers hold gigabytes. Waiters are served first come first
 * served, so a large range is not starved by a stream of small ones.
 */
export class ReadBudget {
  private inUse = 0;
  private inUseHighest = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly options: ReadBudgetOptions) {
    if (!(Number.isSafeInteger(options.bytesMax) && options.bytesMax > 0)) throw new Error(`read budget: bytesMax must be a positive integer, got ${options.bytesMax}`);
    if (!(Number.isSafeInteger(options.waitersMax) && options.waitersMax >= 0)) throw new Error(`read budget: waitersMax must be a non-negative integer, got ${options.waitersMax}`);
  }

  get bytesMax(): number {
    return this.options.bytesMax;
  }

  get bytesInUse(): number {
    return this.inUse;
  }

  /** The most bytes ever in use at once: never above `bytesMax`. */
  get bytesInUseHighest(): number {
    return this.inUseHighest;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes `bytes` if they are free now and nobody waits ahead; never waits. */
  tryTake(bytes: number): boolean {
    checkBytes(bytes);
    if (this.waiters.length > 0 || this.inUse + bytes > this.options.bytesMax) return false;
    this.change(bytes);
    return true;
  }

  /**
   * Takes `bytes`, waiting in line for them at most `waitMsMax`; resolves undefined once they are
   * taken, or with why not. `signal` ends the wait early (the request went away).
   */
  take(bytes: number, signal?: AbortSignal): Promise<BudgetRefusal | undefined> {
    checkBytes(bytes);
    if (bytes > this.options.bytesMax) return Promise.resolve('too_large');
    if (this.tryTake(bytes)) return Promise.resolve(undefined);
    if (this.waiters.length >= this.options.waitersMax) return Promise.resolve('queue_full');
    if (signal?.aborted === true) return Promise.resolve('abandoned');
    return new Promise((resolve) => {
      const end = (outcome: BudgetRefusal | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const waiter: Waiter = { bytes, grant: () => end(undefined) };
      const leave = (outcome: BudgetRefusal): void => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return;
        this.waiters.splice(at, 1);
        end(outcome);
        // The head leaving may let the next in line fit.
        if (at === 0) this.grantWaiters();
      };
      const onAbort = (): void => leave('abandoned');
      const timer = setTimeout(() => leave('timed_out'), this.options.waitMsMax);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives back bytes taken earlier. */
  give(bytes: number): void {
    checkBytes(bytes);
    if (bytes > this.inUse) throw new Error(`read budget: ${bytes} bytes given back, only ${this.inUse} were taken`);
    this.change(-bytes);
    this.grantWaiters();
  }

  private grantWaiters(): void {
    for (let head = this.waiters[0]; head !== undefined && this.inUse + head.bytes <= this.options.bytesMax; head = this.waiters[0]) {
      this.waiters.shift();
      this.change(head.bytes);
      head.grant();
    }
  }

  private change(bytes: number): void {
    this.inUse += bytes;
    if (this.inUse > this.options.bytesMax) throw new Error(`read budget: ${this.inUse} bytes in use, above the budget of ${this.options.bytesMax}`);
    this.inUseHighest = Math.max(this.inUseHighest, this.inUse);
    this.options.onChange?.(this.inUse);
  }
}

function checkBytes(bytes: number): void {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new Error(`read budget: a byte count must be a non-negative integer, got ${bytes}`);
}
