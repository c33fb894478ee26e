/** The JSON answer the gateway gives for an error before a stream. */
import { describe, expect, it } from 'vitest';
import { errorAnswer } from '../../../gateway/error-answer.js';
import { GranaryError } from '../../../protocol/index.js';

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
