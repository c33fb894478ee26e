/** Sizes on the command line, for the service commands (bin/) and the client's alike. */
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
