/** Splits merged for N workers, and the JSON answer the gateway gives for an error before a stream. */
import { describe, expect, it } from 'vitest';
import type { ScanSplit } from '../../../client/index.js';
import { errorAnswer } from '../../../gateway/error-answer.js';
import { mergeRuns } from '../../../gateway/splits-plan.js';
import { GranaryError } from '../../../protocol/index.js';

function oneStripeSplits(partitions: Record<string, number>): ScanSplit[] {
  return Object.entries(partitions).flatMap(([ds, stripes]) =>
    Array.from({ length: stripes }, (_, i) => ({ partitions: { ds: { eq: ds } }, stripes: { from: i, to: i + 1 } })),
  );
}

/** Every (partition, stripe) a set of splits covers, in order. */
function covered(splits: readonly ScanSplit[]): string[] {
  return splits.flatMap((split) => {
    const ds = (split.partitions.ds as { eq: string }).eq;
    return Array.from({ length: split.stripes.to - split.stripes.from }, (_, i) => `${ds}#${split.stripes.from + i}`);
  });
}

describe('mergeRuns', () => {
  it('merges consecutive stripes of one partition, never across partitions, covering each stripe once', () => {
    const single = oneStripeSplits({ a: 10, b: 3, c: 1 });
    const merged = mergeRuns(single, 4);
    expect(merged.map((s) => [(s.partitions.ds as { eq: string }).eq, s.stripes.from, s.stripes.to])).toEqual([
      ['a', 0, 4],
      ['a', 4, 8],
      ['a', 8, 10],
      ['b', 0, 3],
      ['c', 0, 1],
    ]);
    expect(covered(merged)).toEqual(covered(single));
  });

  it('keeps one-stripe splits as they are when each worker gets one', () => {
    const single = oneStripeSplits({ a: 3 });
    expect(mergeRuns(single, 1)).toEqual(single);
    expect(mergeRuns([], 5)).toEqual([]);
  });

  it('covers every stripe exactly once for any run length', () => {
    const single = oneStripeSplits({ a: 17, b: 5, c: 9 });
    for (let perSplit = 1; perSplit <= 40; perSplit++) expect(covered(mergeRuns(single, perSplit)), String(perSplit)).toEqual(covered(single));
  });
});

describe('errorAnswer', () => {
  it('answers a GranaryError with its status and {code, message}', () => {
    expect(errorAnswer(new GranaryError('GRN_TABLE_NOT_FOUND', 'no table x'))).toEqual({ status: 404, body: { code: 'GRN_TABLE_NOT_FOUND', message: 'no table x' } });
    expect(errorAnswer(new GranaryError('GRN_UNAUTHENTICATED', 'bad token')).status).toBe(401);
  });

  it('gives fastify\'s body errors GRN codes a caller can act on', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    expect(errorAnswer(tooLarge)).toMatchObject({ status: 413, body: { code: 'GRN_PAYLOAD_TOO_LARGE' } });
    const media = Object.assign(new Error('Unsupported Media Type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 });
    expect(errorAnswer(media)).toMatchObject({ status: 415, body: { code: 'GRN_UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json') } });
    const syntax = Object.assign(new SyntaxError('Unexpected token } in JSON'), { statusCode: 400 });
    expect(errorAnswer(syntax)).toMatchObject({ status: 400, body: { code: 'GRN_BAD_REQUEST', message: expect.stringContaining('not valid JSON') } });
  });

  it('answers anything else as an internal error, not a crash', () => {
    const answer = errorAnswer(new TypeError('boom'));
    expect(answer.status).toBe(500);
    expect(answer.body.code).toBe('GRN_INTERNAL');
  });
});
