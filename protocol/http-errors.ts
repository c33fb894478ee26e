/**
 * How every Granary HTTP service answers errors: `{ code, message, details? }` with the status of
 * the code in the catalogue. Schema validation failures and fastify's own client errors map to
 * catalogue codes; anything else is GRN_INTERNAL and is logged.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, GranaryError, toGranaryError } from './errors.js';

/**
 * fastify's own errors about a request carry a 4xx status; they map by status, so one fastify
 * adds later (or one this list forgot: FST_ERR_CTP_INVALID_JSON_BODY, which is also how a
 * `__proto__` key is refused, once answered 500) is still the client's fault, never GRN_INTERNAL.
 */
const CLIENT_ERRORS_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  404: 'GRN_NO_ROUTE',
  413: 'GRN_PAYLOAD_TOO_LARGE',
  415: 'GRN_UNSUPPORTED_MEDIA_TYPE',
  416: 'GRN_RANGE_NOT_SATISFIABLE',
};

/** Clearer words than fastify's for the errors a user meets most. */
const CLIENT_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'request body is not valid JSON, or holds a __proto__ or constructor.prototype key',
};

function fastifyClientError(error: FastifyError): GranaryError | undefined {
  const status = error.statusCode;
  if (error.code === undefined || !error.code.startsWith('FST_') || status === undefined || status < 400 || status >= 500) return undefined;
  return new GranaryError(CLIENT_ERRORS_BY_STATUS[status] ?? 'GRN_BAD_REQUEST', CLIENT_MESSAGES[error.code] ?? error.message);
}

export function installErrorHandlers(app: FastifyInstance, onAnswered: (error: GranaryError) => void = () => undefined): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let granary: GranaryError;
    if (error.validation !== undefined) {
      granary = new GranaryError('GRN_BAD_REQUEST', `invalid request: ${error.message}`);
    } else if (fastifyClientError(error) !== undefined) {
      granary = fastifyClientError(error) as GranaryError;
    } else if (error instanceof SyntaxError && error.statusCode === 400) {
      granary = new GranaryError('GRN_BAD_REQUEST', `request body is not valid JSON: ${error.message}`);
    } else {
      granary = toGranaryError(error);
    }
    onAnswered(granary);
    if (granary.statusCode >= 500) request.log.error({ err: error }, granary.message);
    // A body refused midway leaves bytes on the socket: close it rather than keep a connection
    // that can only stall.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(granary.statusCode).send(granary.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new GranaryError('GRN_NO_ROUTE', `no endpoint answers ${request.method} ${request.url}`);
    return reply.code(error.statusCode).send(error.toBody());
  });
}
