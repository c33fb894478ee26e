/**
 * Single-chunk endpoints: put (streamed), read a range, info, delete, list.
 * Uploads are read as raw streams in this plugin only, so no other route accepts unparsed bodies.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { signReceipt } from '../../protocol/receipt.js';
import { finished } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { checksumFromHex, checksumToHex, xxh64 } from '../../erasure/index.js';
import { CHECKSUM_HEADER, CHUNK_ID_BYTES_MAX, GranaryError, OCTET_STREAM, REPLACE_HEADER, validateChunkId } from '../../protocol/index.js';
import type { ChunkStore } from '../chunk-store.js';
import type { NodeMetrics } from '../metrics.js';

export const LIST_LIMIT_MAX = 10_000;

const idParams = {
  type: 'object',
  required: ['id'],
  // Length and characters are checked by validateChunkId, whose message says what an id may hold.
  properties: { id: { type: 'string' } },
} as const;

export async function chunkRoutes(
  app: FastifyInstance,
  options: { readonly store: ChunkStore; readonly metrics: NodeMetrics; readonly receiptKey: KeyObject },
): Promise<void> {
  const { store, metrics, receiptKey } = options;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    done(null, payload);
  });

  app.put<{ Params: { id: string } }>('/v1/chunks/:id', { schema: { params: idParams } }, async (request, reply) => {
    const id = validateChunkId(request.params.id);
    const declared = request.headers[CHECKSUM_HEADER];
    if (typeof declared !== 'string') {
      throw new GranaryError('GRN_BAD_REQUEST', `a chunk upload needs the ${CHECKSUM_HEADER} header: the xxh64 of the body as 16 hex digits`);
    }
    const expectedChecksum = parseChecksum(declared);
    const lengthHeader = request.headers['content-length'];
    const expectedBytes = lengthHeader === undefined ? undefined : Number(lengthHeader);
    let result;
    try {
      // fastify runs no parser for a request without a body (and then leaves `body` undefined).
      result = await store.put(id, (request.body ?? request.raw) as AsyncIterable<Uint8Array>, {
        expectedChecksum,
        ...(expectedBytes === undefined ? {} : { expectedBytes }),
        ...(request.headers[REPLACE_HEADER] === 'true' ? { replace: true } : {}),
      });
    } finally {
      // A put answered without reading its body (an identical copy exists, the disk is full, the
      // id is busy) must still take the rest of it: a client still sending would otherwise see
      // its connection reset instead of the answer.
      await discardRest(request.raw);
    }
    if (result.created) {
      metrics.bytesWritten.inc(result.info.dataBytes);
      metrics.chunksWritten.inc();
    }
    // The receipt lets the writer prove to the metadata service that this node holds the chunk.
    const receipt = signReceipt(result.info.id, result.info.dataBytes, result.info.checksum, receiptKey);
    return reply.code(result.created ? 201 : 200).send({ ...infoBody(result.info), receipt });
  });

  app.get<{ Params: { id: string }; Querystring: { offset?: number; length?: number } }>(
    '/v1/chunks/:id',
    {
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          properties: { offset: { type: 'integer', minimum: 0 }, length: { type: 'integer', minimum: 0 } },
        },
      },
    },
    async (request, reply) => {
      const id = validateChunkId(request.params.id);
      const offset = request.query.offset ?? 0;
      const length = request.query.length ?? (await store.info(id)).dataBytes - offset;
      const bytes = await store.readRange(id, offset, length);
      metrics.bytesRead.inc(bytes.length);
      metrics.readSize.observe(bytes.length);
      metrics.rangesRead.inc({ status: 'ok' });
      return reply.type(OCTET_STREAM).header(CHECKSUM_HEADER, checksumToHex(xxh64(bytes))).send(bytes);
    },
  );

  app.get<{ Params: { id: string } }>('/v1/chunks/:id/info', { schema: { params: idParams } }, async (request) => {
    return infoBody(await store.info(validateChunkId(request.params.id)));
  });

  app.post<{ Params: { id: string } }>('/v1/chunks/:id/verify', { schema: { params: idParams } }, async (request) => {
    return store.verify(validateChunkId(request.params.id));
  });

  app.delete<{ Params: { id: string } }>('/v1/chunks/:id', { schema: { params: idParams } }, async (request, reply) => {
    const id = validateChunkId(request.params.id);
    if (!(await store.delete(id))) {
      throw new GranaryError('GRN_CHUNK_NOT_FOUND', `chunk ${id} is not stored on this node`, { details: { chunk: id } });
    }
    return reply.code(204).send();
  });

  app.get<{ Querystring: { after?: string; limit?: number } }>(
    '/v1/chunks',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'string', minLength: 1, maxLength: CHUNK_ID_BYTES_MAX },
            limit: { type: 'integer', minimum: 1, maximum: LIST_LIMIT_MAX, default: 1000 },
          },
        },
      },
    },
    async (request) => {
      const after = request.query.after === undefined ? undefined : validateChunkId(request.query.after);
      return store.list(after, request.query.limit ?? 1000);
    },
  );
}

async function discardRest(body: IncomingMessage): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  body.resume();
  await finished(body).catch(() => undefined);
}

function parseChecksum(text: string): bigint {
  try {
    return checksumFromHex(text);
  } catch {
    throw new GranaryError('GRN_BAD_REQUEST', `${CHECKSUM_HEADER} must be 16 hex digits (xxh64 of the body), got "${text.slice(0, 40)}"`);
  }
}

function infoBody(info: { id: string; dataBytes: number; checksum: bigint; pageBytes: number }) {
  return { id: info.id, dataBytes: info.dataBytes, checksum: checksumToHex(info.checksum), pageBytes: info.pageBytes };
}
