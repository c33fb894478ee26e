/**
 * `POST /v1/chunks/read`: many ranges of many chunks in one request, answered as a stream of
 * frames in request order (protocol/batch-read.ts). Ranges are read a few at a time ahead of the
 * socket, bounded in count and bytes, so a large batch never sits in memory whole.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { unpack } from 'msgpackr';
import {
  BATCH_RANGES_MAX,
  type BatchReadRequest,
  CHUNK_ID_BYTES_MAX,
  FRAMES_CONTENT_TYPE,
  type FrameStatus,
  GranaryError,
  MSGPACK,
  type RangeRequest,
  encodeFrameHeader,
  validateBatchRequest,
} from '../../protocol/index.js';
import type { ChunkStore } from '../chunk-store.js';
import type { NodeMetrics } from '../metrics.js';
import { ReadBufferPool } from '../read-buffers.js';

/** Ranges read ahead of the one being sent. */
const READ_AHEAD_RANGES = 16;
/** Bytes read ahead of the socket; one range larger than this is still read alone. */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
const REQUEST_BODY_BYTES_MAX = 4 * 1024 * 1024;
/** Free read buffers a node keeps for reuse: about two requests' read-ahead. */
const READ_BUFFERS_KEPT_BYTES = 2 * READ_AHEAD_BYTES;

const STATUS_BY_ERROR: Readonly<Record<string, FrameStatus>> = {
  GRN_CHUNK_NOT_FOUND: 'missing',
  GRN_CHUNK_CORRUPT: 'corrupt',
  GRN_RANGE_NOT_SATISFIABLE: 'out_of_range',
  GRN_INVALID_CHUNK_ID: 'error',
};

const bodySchema = {
  type: 'object',
  required: ['ranges'],
  additionalProperties: false,
  properties: {
    ranges: {
      type: 'array',
      maxItems: BATCH_RANGES_MAX,
      items: {
        type: 'object',
        required: ['chunk', 'offset', 'length'],
        additionalProperties: false,
        properties: {
          chunk: { type: 'string', minLength: 1, maxLength: CHUNK_ID_BYTES_MAX },
          offset: { type: 'integer', minimum: 0 },
          length: { type: 'integer', minimum: 0 },
        },
      },
    },
    checksums: { type: 'boolean' },
    verifyPages: { type: 'boolean' },
  },
} as const;

/** A test hook (MemoryChunkStore.serverFaults): answers cut short, as by a node dying mid-answer. */
export interface BatchAnswerFaults {
  /** True when the answer should break off halfway through this range's frame, its connection dropped. */
  cutsAnswerAt(range: RangeRequest): boolean;
}

interface ReadOutcome {
  readonly header: Buffer;
  readonly payload: Buffer;
}

export async function batchReadRoute(
  app: FastifyInstance,
  options: {
    readonly store: ChunkStore;
    readonly metrics: NodeMetrics;
    readonly onError: (error: unknown) => void;
    readonly faults?: BatchAnswerFaults;
  },
): Promise<void> {
  const { store, metrics } = options;
  const buffers = new ReadBufferPool(READ_BUFFERS_KEPT_BYTES);

  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer', bodyLimit: REQUEST_BODY_BYTES_MAX }, (_request, body, done) => {
    try {
      done(null, unpack(body as Buffer));
    } catch (error) {
      done(new GranaryError('GRN_BAD_REQUEST', `request body is not valid msgpack: ${(error as Error).message}`), undefined);
    }
  });

  async function readOne(range: RangeRequest, checksums: boolean, verifyPages: boolean): Promise<ReadOutcome> {
    try {
      const data = await store.readRange(range.chunk, range.offset, range.length, { verifyPages, alloc: buffers.take });
      metrics.bytesRead.inc(data.length);
      metrics.readSize.observe(data.length);
      metrics.rangesRead.inc({ status: 'ok' });
      return { header: encodeFrameHeader('ok', data, checksums), payload: data };
    } catch (error) {
      const code = error instanceof GranaryError ? error.code : 'GRN_INTERNAL';
      const status = STATUS_BY_ERROR[code] ?? 'error';
      if (status === 'error') options.onError(error);
      metrics.rangesRead.inc({ status });
      metrics.errors.inc({ code });
      const message = Buffer.from(error instanceof Error ? error.message : String(error), 'utf8');
      return { header: encodeFrameHeader(status, message, checksums), payload: message };
    }
  }

  /**
   * Writes the frames of `ranges` in order, reading a bounded number of ranges ahead of the
   * socket and waiting for it to drain. A payload's buffer goes back to the pool once the socket
   * has taken it.
   */
  async function writeFrames(response: ServerResponse, ranges: readonly RangeRequest[], checksums: boolean, verifyPages: boolean): Promise<void> {
    const inFlight: { readonly range: RangeRequest; readonly outcome: Promise<ReadOutcome> }[] = [];
    let inFlightBytes = 0;
    let next = 0;
    let gone = false;
    const closed = new Promise<void>((resolve) => {
      const stop = (): void => {
        gone = true;
        resolve();
      };
      // A reader that hangs up ends the answer; its error is not the node's to report.
      response.once('close', stop);
      response.on('error', stop);
    });
    const fill = (): void => {
      while (!gone && next < ranges.length && inFlight.length < READ_AHEAD_RANGES) {
        const range = ranges[next] as RangeRequest;
        if (inFlight.length > 0 && inFlightBytes + range.length > READ_AHEAD_BYTES) break;
        inFlight.push({ range, outcome: readOne(range, checksums, verifyPages) });
        inFlightBytes += range.length;
        next++;
      }
    };
    fill();
    while (inFlight.length > 0) {
      const head = inFlight.shift() as { range: RangeRequest; outcome: Promise<ReadOutcome> };
      const { header, payload } = await head.outcome;
      inFlightBytes -= head.range.length;
      if (gone) continue;
      if (options.faults?.cutsAnswerAt(head.range) === true) {
        response.write(Buffer.concat([header, payload.subarray(0, payload.length >> 1)]), () => response.destroy());
        return;
      }
      fill();
      response.cork();
      response.write(header);
      // Its callback says the socket has taken the payload: the buffer is free, and when the
      // socket's queue is full this is the moment to go on.
      const taken = payload.length === 0 ? undefined : new Promise<void>((resolve) => response.write(payload, () => resolve()));
      response.uncork();
      void taken?.then(() => buffers.give(payload));
      if (taken !== undefined && response.writableNeedDrain) await Promise.race([taken, closed]);
    }
    if (!gone) response.end();
  }

  app.post<{ Body: BatchReadRequest }>(
    '/v1/chunks/read',
    { schema: { body: bodySchema }, bodyLimit: REQUEST_BODY_BYTES_MAX },
    async (request, reply) => {
      validateBatchRequest(request.body);
      const ranges = request.body.ranges;
      // Written straight to the socket (the onResponse hook still runs): no stream between them,
      // and the write callbacks say when a payload's buffer can be reused.
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': FRAMES_CONTENT_TYPE, 'x-granary-frames': String(ranges.length) });
      await writeFrames(reply.raw, ranges, request.body.checksums === true, request.body.verifyPages !== false);
    },
  );
}
