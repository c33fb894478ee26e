/**
 * The one error the stripe format raises. Stream bytes come back from disks and networks and rows
 * come from users' files; anything that does not match the format (a bad header, a short stream,
 * a value of the wrong shape) becomes a `FormatError` with a stable code and a message naming what
 * is wrong, never a RangeError from deep inside a typed array or wrong values.
 */

export const FORMAT_INVALID = 'GRN_FORMAT_INVALID';

export class FormatError extends Error {
  readonly code: typeof FORMAT_INVALID = FORMAT_INVALID;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FormatError';
  }
}
