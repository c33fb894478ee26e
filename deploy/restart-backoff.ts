/**
 * When `granary up` restarts a child service that died, and when it stops trying.
 *
 * A child that crashes once (killed by the OOM killer, a bug on one request) should be back in a
 * second; one that crashes on every start (a full disk, a corrupt data directory, a port taken)
 * must not spin: restarts back off from RESTART_DELAY_MS_MIN doubling to RESTART_DELAY_MS_MAX, and
 * after RAPID_FAILURES_MAX failures in a row, each within HEALTHY_AFTER_MS of its start, `up` gives
 * up on it with a message naming its log. A child that ran for HEALTHY_AFTER_MS was healthy: its
 * next failure starts the back-off afresh. Pure: the caller passes the clock.
 */

/** First restart delay. */
export const RESTART_DELAY_MS_MIN = 1_000;
/** Restart delays double up to this. */
export const RESTART_DELAY_MS_MAX = 30_000;
/** A child that ran this long before dying was healthy: its back-off and failure count reset. */
export const HEALTHY_AFTER_MS = 60_000;
/**
 * Failures in a row (each sooner than HEALTHY_AFTER_MS after its start) that make `up` give up:
 * restarts after 1, 2, 4, 8, 16, 30 and 30 s, about a minute and a half of trying.
 */
export const RAPID_FAILURES_MAX = 8;

/** What to do about a child that exited on its own. A closed set. */
export type RestartDecision =
  /** Start it again after `delayMs`; `attempt` counts the rapid failures so far (1-based). */
  | { readonly action: 'restart'; readonly delayMs: number; readonly attempt: number }
  /** The RAPID_FAILURES_MAX-th failure in a row: leave it down. */
  | { readonly action: 'give-up'; readonly failures: number };

export interface RestartLimits {
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly healthyAfterMs: number;
  readonly rapidFailuresMax: number;
}

export const RESTART_LIMITS: RestartLimits = {
  delayMsMin: RESTART_DELAY_MS_MIN,
  delayMsMax: RESTART_DELAY_MS_MAX,
  healthyAfterMs: HEALTHY_AFTER_MS,
  rapidFailuresMax: RAPID_FAILURES_MAX,
};

/** One child's restart history. */
export class RestartBackoff {
  private startedAt: number;
  /** Failures in a row, each before the child had run HEALTHY_AFTER_MS. */
  private rapidFailures = 0;

  constructor(
    startedAt: number,
    private readonly limits: RestartLimits = RESTART_LIMITS,
  ) {
    if (!(limits.delayMsMin > 0 && limits.delayMsMax >= limits.delayMsMin && limits.rapidFailuresMax >= 1 && limits.healthyAfterMs > 0)) {
      throw new Error(`restart limits out of range: ${JSON.stringify(limits)}`);
    }
    this.startedAt = startedAt;
  }

  /** The child (re)started at `now`. */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The child died (or failed to start) at `now`. */
  exited(now: number): RestartDecision {
    if (now - this.startedAt >= this.limits.healthyAfterMs) this.rapidFailures = 0;
    this.rapidFailures++;
    if (this.rapidFailures >= this.limits.rapidFailuresMax) return { action: 'give-up', failures: this.rapidFailures };
    const delayMs = Math.min(this.limits.delayMsMax, this.limits.delayMsMin * 2 ** (this.rapidFailures - 1));
    return { action: 'restart', delayMs, attempt: this.rapidFailures };
  }
}

/** `code 1 (signal none)`, `code none (signal SIGKILL)`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return `code ${code ?? 'none'} (signal ${signal ?? 'none'})`;
}
