/**
 * What the gateway answers for an error raised before a scan's first batch: the status its GRN
 * code maps to and the body `{code, message}` (python/granary/_http.py reads either this or
 * `{error: {...}}`). fastify's own request errors (a body too large, not JSON) get GRN codes too,
 * so a caller never has to parse two shapes.
 */
import { type ErrorBody, GranaryError, toGranaryError } from '../protocol/index.js';

export interface ErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
}

/** fastify's request-parsing errors, by their code, and what they mean to a gateway caller. */
const FASTIFY_ERRORS: Readonly<Record<string, (message: string) => GranaryError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new GranaryError('GRN_PAYLOAD_TOO_LARGE', 'the request body is larger than the gateway accepts (1 MiB): a scan body names columns and predicates, never data'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new GranaryError('GRN_UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON with Content-Type: application/json'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new GranaryError('GRN_BAD_REQUEST', 'the body is empty but declared JSON: send {} to scan everything'),
  FST_ERR_CTP_INVALID_JSON_BODY: (message) => new GranaryError('GRN_BAD_REQUEST', `the body is not valid JSON: ${message}`),
};

export function errorAnswer(error: unknown): ErrorAnswer {
  const granary = fromFastify(error) ?? toGranaryError(error);
  return { status: granary.statusCode, body: granary.toBody() };
}

function fromFastify(error: unknown): GranaryError | undefined {
  if (error instanceof GranaryError || typeof error !== 'object' || error === null) return undefined;
  const { code, message, statusCode } = error as { code?: unknown; message?: unknown; statusCode?: unknown };
  const text = typeof message === 'string' ? message : '';
  if (typeof code === 'string' && code in FASTIFY_ERRORS) return (FASTIFY_ERRORS[code] as (m: string) => GranaryError)(text);
  // A JSON syntax error from the body parser carries a 400 status and no FST code.
  if (error instanceof SyntaxError && statusCode === 400) return new GranaryError('GRN_BAD_REQUEST', `the body is not valid JSON: ${text}`);
  return undefined;
}
