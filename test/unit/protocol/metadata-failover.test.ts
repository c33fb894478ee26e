/**
 * How a failed metadata call bears on trying another replica, as a table of cases: an answer
 * that promises nothing changed and a connection that never opened move on for any call; a
 * connection dropped once the request went out moves on only for calls that may run twice; any
 * other answer, and a setting to fix, is final.
 */
import { describe, expect, it } from 'vitest';
import { GranaryError, errorFromAnswer } from '../../../protocol/errors.js';
import { type FailureKind, MetadataEndpoints, failureKind } from '../../../protocol/metadata-failover.js';
import { transportError } from '../../../protocol/tls.js';

const URL_A = 'http://10.0.0.1:7070';

function sys(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/** A failure as HttpPools.call raises it for `cause` before any answer. */
function transport(cause: unknown): GranaryError {
  return transportError(cause, `GET ${URL_A}/v1/tables`, URL_A);
}

const CASES: readonly [string, unknown, FailureKind][] = [
  ['503 GRN_NOT_LEADER', errorFromAnswer(503, { code: 'GRN_NOT_LEADER', message: 'x', details: { leader: URL_A } }), 'unsent'],
  ['503 GRN_NO_LEADER', errorFromAnswer(503, { code: 'GRN_NO_LEADER', message: 'x' }), 'unsent'],
  ['503 GRN_STORE_UNAVAILABLE', errorFromAnswer(503, { code: 'GRN_STORE_UNAVAILABLE', message: 'x' }), 'unsent'],
  ['503 GRN_UNAVAILABLE', errorFromAnswer(503, { code: 'GRN_UNAVAILABLE', message: 'x' }), 'unsent'],
  ['503 from a proxy, no error body', errorFromAnswer(503, '<html>busy</html>'), 'unsent'],
  ['404 GRN_TABLE_NOT_FOUND', errorFromAnswer(404, { code: 'GRN_TABLE_NOT_FOUND', message: 'x' }), 'final'],
  ['409 GRN_TABLE_EXISTS', errorFromAnswer(409, { code: 'GRN_TABLE_EXISTS', message: 'x' }), 'final'],
  ['503 GRN_DATA_UNAVAILABLE', errorFromAnswer(503, { code: 'GRN_DATA_UNAVAILABLE', message: 'x' }), 'final'],
  ['500 from a proxy', errorFromAnswer(500, 'oops'), 'final'],
  ['connection refused', transport(sys('ECONNREFUSED')), 'unsent'],
  ['connect timeout', transport(sys('UND_ERR_CONNECT_TIMEOUT')), 'unsent'],
  ['unknown host', transport(sys('ENOTFOUND')), 'unsent'],
  ['host unreachable', transport(sys('EHOSTUNREACH')), 'unsent'],
  ['connection reset', transport(sys('ECONNRESET')), 'dropped'],
  ['socket closed before the answer', transport(sys('UND_ERR_SOCKET', 'other side closed')), 'dropped'],
  ['no answer headers in time', transport(sys('UND_ERR_HEADERS_TIMEOUT')), 'dropped'],
  ['a caller timeout abort', transport(new DOMException('timed out', 'TimeoutError')), 'dropped'],
  ['an answer body cut off (raw)', sys('UND_ERR_SOCKET', 'other side closed'), 'dropped'],
  ['untrusted certificate', transport(sys('SELF_SIGNED_CERT_IN_CHAIN')), 'final'],
  ['https to a plain http port', transport(sys('ERR_SSL_WRONG_VERSION_NUMBER')), 'final'],
  ['a programming error', new TypeError('x is not a function'), 'final'],
];

describe('failureKind', () => {
  for (const [what, error, kind] of CASES) {
    it(`${what}: ${kind}`, () => {
      expect(failureKind(error)).toBe(kind);
    });
  }
});

describe('MetadataEndpoints', () => {
  const urls = ['http://m1:7070', 'http://m2:7070', 'http://m3:7070'];

  it('moves to the named leader when the list holds it, else to the next URL, wrapping', () => {
    const endpoints = new MetadataEndpoints(urls);
    endpoints.moveOn('http://m1:7070', endpoints.find('http://M3:7070/'));
    expect(endpoints.current).toBe('http://m3:7070');
    endpoints.moveOn('http://m3:7070', endpoints.find('http://elsewhere:7070'));
    expect(endpoints.current).toBe('http://m1:7070');
  });

  it('moves once for calls that failed together on one replica', () => {
    const endpoints = new MetadataEndpoints(urls);
    endpoints.moveOn('http://m1:7070');
    endpoints.moveOn('http://m1:7070');
    expect(endpoints.current).toBe('http://m2:7070');
    endpoints.answered('http://m3:7070');
    expect(endpoints.current).toBe('http://m3:7070');
  });
});
