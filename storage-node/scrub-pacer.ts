/**
 * Holds the scrubber's reads to a rate, so scrubbing never starves client reads. Time is the
 * monotonic clock: a wall-clock step (NTP) must neither stall the scrub nor let it burst.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

/**
 * How far behind schedule the reads may fall (a slow disk, a busy event loop) before the pacer
 * stops trying to catch up; without it, minutes spent behind would be repaid by reading at full
 * disk speed, which is the very burst the rate is there to prevent.
 */
export const PACE_CATCH_UP_MAX_MS = 1_000;
/** Sleeps shorter than this are not worth a timer. */
const PACE_SLEEP_MIN_MS = 1;

export class ScrubPacer {
  private windowStartMs = performance.now();
  private windowBytes = 0;

  constructor(
    private readonly rateBytesPerSecond: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Accounts for `bytes` just read, and waits until reading them was due. */
  async spend(bytes: number): Promise<void> {
    this.windowBytes += bytes;
    const dueMs = this.windowStartMs + (this.windowBytes / this.rateBytesPerSecond) * 1000;
    const nowMs = performance.now();
    if (dueMs - nowMs > PACE_SLEEP_MIN_MS) {
      await sleep(dueMs - nowMs, undefined, { signal: this.signal });
    } else if (nowMs - dueMs > PACE_CATCH_UP_MAX_MS) {
      this.windowStartMs = nowMs;
      this.windowBytes = 0;
    }
  }
}
