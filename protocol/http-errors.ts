/**
 * How every Granary HTTP service answers errors: `{ code, message, details? }` with the status of
 * the code in the catalogue. Schema validation failures and fastify's own client errors map to
 * catalogue codes; anything else is GRN_INTERNAL and is logged.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, GranaryError, toGranaryError } from './errors.js';

const CLIENT_ERRORS: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GRN_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'GRN_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GRN_BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GRN_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_TYPE: 'GRN_BAD_REQUEST',
};

export function installErrorHandlers(app: FastifyInstance, onAnswered: (error: GranaryError) => void = () => undefined): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let granary: GranaryError;
    if (error.validation !== undefined) {
      granary = new GranaryError('GRN_BAD_REQUEST', `invalid request: ${error.message}`);
    } else if (error.code !== undefined && CLIENT_ERRORS[error.code] !== undefined) {
      granary = new GranaryError(CLIENT_ERRORS[error.code] as ErrorCode, error.message);
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
