/** The back-off `granary up` restarts dead children with (deploy/restart-backoff.ts), on a fake clock. */
import { describe, expect, it } from 'vitest';
import { HEALTHY_AFTER_MS, RAPID_FAILURES_MAX, RESTART_DELAY_MS_MAX, RestartBackoff, describeExit } from '../../../deploy/restart-backoff.js';

describe('restart back-off', () => {
  it('doubles from 1 s to the 30 s cap over rapid failures, then gives up at the named count', () => {
    let now = 0;
    const backoff = new RestartBackoff(now);
    const delays: number[] = [];
    for (;;) {
      now += 500;
      const decision = backoff.exited(now);
      if (decision.action === 'give-up') {
        expect(decision.failures).toBe(RAPID_FAILURES_MAX);
        break;
      }
      expect(decision.attempt).toBe(delays.length + 1);
      delays.push(decision.delayMs);
      now += decision.delayMs;
      backoff.started(now);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(Math.max(...delays)).toBe(RESTART_DELAY_MS_MAX);
  });

  it('starts afresh after a child ran for the healthy period', () => {
    let now = 0;
    const backoff = new RestartBackoff(now);
    for (let i = 0; i < 3; i++) {
      now += 100;
      backoff.exited(now);
      backoff.started(now);
    }
    now += HEALTHY_AFTER_MS - 1;
    expect(backoff.exited(now)).toEqual({ action: 'restart', delayMs: 8_000, attempt: 4 });
    backoff.started(now);
    now += HEALTHY_AFTER_MS;
    expect(backoff.exited(now)).toEqual({ action: 'restart', delayMs: 1_000, attempt: 1 });
  });

  it('refuses limits that would spin or never restart', () => {
    expect(() => new RestartBackoff(0, { delayMsMin: 0, delayMsMax: 1, healthyAfterMs: 1, rapidFailuresMax: 1 })).toThrow(/out of range/);
    expect(() => new RestartBackoff(0, { delayMsMin: 10, delayMsMax: 5, healthyAfterMs: 1, rapidFailuresMax: 1 })).toThrow(/out of range/);
  });

  it('names code and signal the way the restart message prints them', () => {
    expect(describeExit(null, 'SIGKILL')).toBe('code none (signal SIGKILL)');
    expect(describeExit(3, null)).toBe('code 3 (signal none)');
  });
});
