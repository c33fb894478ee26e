/**
 * How long a scrub pass takes: bytes over rate. Worth stating because the rate is set once and the
 * disk fills later: at 32 MiB/s a full 4 TiB disk takes 36 h, longer than the default 24 h
 * interval, and an operator should learn that from the start-up log, not from a rotten chunk
 * found a month late.
 */

export interface ScrubEstimate {
  readonly rateBytesPerSecond: number;
  /** Time between the end of one pass and the start of the next; 0: passes only on request. */
  readonly intervalSeconds: number;
  /** Bytes of chunk files stored now. */
  readonly dataBytes: number;
  /** Size of the file system holding the data directory. */
  readonly capacityBytes: number;
  /** A pass over the data stored now. */
  readonly fullPassSeconds: number;
  /** A pass over a full disk. */
  readonly fullDiskPassSeconds: number;
  /** Whether a pass over a full disk fits in one interval (true when there is no interval). */
  readonly fullDiskFitsInterval: boolean;
  /** The rate, in whole MiB/s, at which a full disk takes one interval; null without an interval. */
  readonly rateToFitIntervalBytesPerSecond: number | null;
  readonly measuredAt: string;
}

const MIB = 1024 * 1024;
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
/** Figures below this are printed with one decimal ("1.2 TiB"), larger ones without ("36 h"). */
const ONE_DECIMAL_BELOW = 10;
/** A duration is told in the next larger unit from this many of the smaller one (90 s, then 2 min). */
const SECONDS_SHOWN_MAX = 90;
const MINUTES_SHOWN_MAX = 90;
const HOURS_SHOWN_MAX = 72;

export function scrubEstimate(input: {
  readonly dataBytes: number;
  readonly capacityBytes: number;
  readonly rateBytesPerSecond: number;
  readonly intervalMs: number;
  readonly now: Date;
}): ScrubEstimate {
  const { dataBytes, capacityBytes, rateBytesPerSecond, intervalMs } = input;
  const intervalSeconds = Math.max(0, intervalMs) / 1000;
  const fullDiskPassSeconds = capacityBytes / rateBytesPerSecond;
  return {
    rateBytesPerSecond,
    intervalSeconds,
    dataBytes,
    capacityBytes,
    fullPassSeconds: dataBytes / rateBytesPerSecond,
    fullDiskPassSeconds,
    fullDiskFitsInterval: intervalSeconds === 0 || fullDiskPassSeconds <= intervalSeconds,
    rateToFitIntervalBytesPerSecond: intervalSeconds === 0 ? null : Math.ceil(capacityBytes / intervalSeconds / MIB) * MIB,
    measuredAt: input.now.toISOString(),
  };
}

/** The start-up line, and a warning when a full disk cannot be scrubbed within the interval. */
export function describeScrubEstimate(estimate: ScrubEstimate): { readonly summary: string; readonly warning: string | undefined } {
  const rate = `${formatBinaryBytes(estimate.rateBytesPerSecond)}/s`;
  const disk = formatBinaryBytes(estimate.capacityBytes);
  const interval = estimate.intervalSeconds === 0 ? 'passes only on request' : `interval ${formatSeconds(estimate.intervalSeconds)}`;
  const summary =
    `scrub: ${disk} disk at ${rate} takes ${formatSeconds(estimate.fullDiskPassSeconds)} per full pass ` +
    `(the ${formatBinaryBytes(estimate.dataBytes)} stored now: ${formatSeconds(estimate.fullPassSeconds)}); ${interval}`;
  const fit = estimate.rateToFitIntervalBytesPerSecond;
  const warning =
    estimate.fullDiskFitsInterval || fit === null
      ? undefined
      : `scrub: a full pass of the ${disk} disk at ${rate} takes ${formatSeconds(estimate.fullDiskPassSeconds)}, ` +
        `longer than the ${formatSeconds(estimate.intervalSeconds)} interval; ` +
        `--scrub-rate ${fit / MIB}MiB or more would fit it (or a longer --scrub-interval-hours)`;
  return { summary, warning };
}

export function formatBinaryBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${roundForDisplay(value)} ${BINARY_UNITS[unit] as string}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < SECONDS_SHOWN_MAX) return `${roundForDisplay(seconds)} s`;
  if (seconds < MINUTES_SHOWN_MAX * 60) return `${roundForDisplay(seconds / 60)} min`;
  if (seconds < HOURS_SHOWN_MAX * 3600) return `${roundForDisplay(seconds / 3600)} h`;
  return `${roundForDisplay(seconds / 86_400)} d`;
}

function roundForDisplay(value: number): string {
  return value < ONE_DECIMAL_BELOW ? String(Math.round(value * 10) / 10) : String(Math.round(value));
}
