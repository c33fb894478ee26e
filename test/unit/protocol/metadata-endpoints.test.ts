/** The `--metadata` / GRANARY_METADATA list: one URL or several, and a clear refusal of anything else. */
import { describe, expect, it } from 'vitest';
import { GranaryError } from '../../../protocol/errors.js';
import { METADATA_URLS_MAX, parseMetadataUrls, sameEndpoint } from '../../../protocol/metadata-endpoints.js';

function refusal(value: string | readonly string[]): GranaryError {
  try {
    parseMetadataUrls(value);
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    return error as GranaryError;
  }
  throw new Error(`${String(value)} was accepted`);
}

describe('parseMetadataUrls', () => {
  it('takes one URL, or several separated by commas, in order, without trailing slashes or spaces', () => {
    expect(parseMetadataUrls('http://127.0.0.1:7070')).toEqual(['http://127.0.0.1:7070']);
    expect(parseMetadataUrls('http://m1:7070/, https://m2:7070 ,http://[::1]:7070')).toEqual(['http://m1:7070', 'https://m2:7070', 'http://[::1]:7070']);
    expect(parseMetadataUrls(['http://m1:7070', 'http://m2:7070,http://m3:7070'])).toEqual(['http://m1:7070', 'http://m2:7070', 'http://m3:7070']);
  });

  const cases: [string, string | readonly string[], RegExp][] = [
    ['an empty setting', '', /no metadata URL given/],
    ['only commas', ' , ', /no metadata URL given/],
    ['an empty list', [], /no metadata URL given/],
    ['a doubled comma', 'http://m1:7070,,http://m2:7070', /empty entry \(entry 2 of 3\)/],
    ['a trailing comma', 'http://m1:7070,', /empty entry \(entry 2 of 2\)/],
    ['a host without a scheme', 'localhost:7070', /"localhost:7070" is not an http\(s\) URL; write e\.g\./],
    ['another scheme', 'http://m1:7070,ftp://m2:7070', /"ftp:\/\/m2:7070" is not an http\(s\) URL \(entry 2 of 2\)/],
    ['a duplicate', 'http://m1:7070,http://m2:7070,http://M1:7070/', /"http:\/\/M1:7070\/" is listed twice \(entry 3 of 3\)/],
    ['a duplicate by default port', 'http://m1:80,http://m1', /listed twice/],
    ['too many', Array.from({ length: METADATA_URLS_MAX + 1 }, (_, i) => `http://m${i}:7070`).join(','), /more than the 16 allowed/],
  ];
  for (const [what, value, message] of cases) {
    it(`refuses ${what}, naming the setting`, () => {
      const error = refusal(value);
      expect(error.code).toBe('GRN_BAD_REQUEST');
      expect(error.message).toMatch(/^--metadata \/ GRANARY_METADATA: /);
      expect(error.message).toMatch(message);
    });
  }

  it('names the setting it was given', () => {
    expect(() => parseMetadataUrls('nope', 'metadata URL')).toThrow(/^metadata URL: "nope" is not an http\(s\) URL/);
  });
});

describe('sameEndpoint', () => {
  it('compares scheme, host, port and path, not spelling', () => {
    expect(sameEndpoint('http://M1:7070/', 'http://m1:7070')).toBe(true);
    expect(sameEndpoint('https://m1:443', 'https://m1')).toBe(true);
    expect(sameEndpoint('http://m1:7070', 'https://m1:7070')).toBe(false);
    expect(sameEndpoint('http://m1:7070', 'http://m1:7071')).toBe(false);
  });
});
