/** Sizes and durations on the command line, for the service commands (bin/) and the client's alike. */
import bytes from 'bytes';
import { InvalidArgumentError } from 'commander';

/** "64KiB", "256MB", "1gb" or a plain number of bytes (binary units: 1 KB = 1024 bytes). */
export function parseByteSize(text: string): number {
  const value = bytes.parse(text.replace(/ib$/i, 'b'));
  if (value === null || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`"${text}" is not a size; write e.g. 65536, 64KiB, 256MiB or 1GiB`);
  }
  return value;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "15s", "10m", "1h", "2d" or a plain number of milliseconds; positive. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const value = match === null ? Number.NaN : Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 'ms'] as number);
  if (!Number.isSafeInteger(Math.round(value)) || value <= 0) {
    throw new InvalidArgumentError(`"${text}" is not a duration; write e.g. 15s, 10m, 1h or a number of milliseconds`);
  }
  return Math.round(value);
}
