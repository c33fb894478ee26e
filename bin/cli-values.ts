/** Parsers for command-line values, shared by every `granary` command. */
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

export function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new InvalidArgumentError(`"${text}" is not a TCP port (0-65535; 0 picks a free one)`);
  }
  return value;
}

export function parseNonNegativeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError(`"${text}" is not a non-negative number`);
  return value;
}

export function parseLogLevel(text: string): string {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(text)) throw new InvalidArgumentError(`log level must be one of ${levels.join(', ')}`);
  return text;
}
