/** Asserts `run` throws a FormatError (`GRN_FORMAT_INVALID`) whose message is, or matches, `message`. */
import { expect } from 'vitest';
import { FormatError } from '../../../../client/format/index.js';

export function expectFormatError(run: () => unknown, message?: string | RegExp): FormatError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FormatError);
  const error = caught as FormatError;
  expect(error.code).toBe('GRN_FORMAT_INVALID');
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}
