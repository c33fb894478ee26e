/**
 * `POST /v1/chunks/read`: many ranges of many chunks in one request, answered as a stream of
 * frames in request order (protocol/batch-read.ts). Ranges are read a few at a time ahead of the
 * socket, bounded in count and bytes, so a large batch never sits in memory whole; and every
 * byte read ahead comes out of one node-wide budget (ReadBudget), so many requests whose readers
 * do not consume their answers cannot add up to more than `--read-memory-max` either.
 */
import { CAPABILITY_TEXT_MAX } from '../../protocol/capability.js';
import { BATCH_CAPABILITIES_MAX } from '../node-auth.js';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { decodeUntrustedMsgpack } from '../../protocol/safe-msgpack.js';
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
import { FRAME_MESSAGE_BYTES_MAX } from '../../protocol/batch-read.js';
import type { ChunkStore } from '../chunk-store.js';
import type { JobCounts } from '../job-counts.js';
import type { HotCache } from '../hot-cache.js';
import { JOB_ID_PATTERN } from '../../protocol/scan-types.js';
import type { NodeMetrics } from '../metrics.js';
import { type BudgetRefusal, ReadBudget, ReadBufferPool } from '../read-buffers.js';

/** Ranges read ahead of the one being sent. */
const READ_AHEAD_RANGES = 16;
/** Bytes read ahead of the socket; one range larger than this is still read alone. */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
const REQUEST_BODY_BYTES_MAX = 4 * 1024 * 1024;
/** Free read buffers a node keeps for reuse: about two requests' read-ahead (less with a smaller budget). */
const READ_BUFFERS_KEPT_BYTES = 2 * READ_AHEAD_BYTES;

/** The node-wide bounds of batch-read memory and of how long a reader may hold it. */
export interface ReadMemoryOptions {
  /** Bytes read ahead of sockets across all batch reads (`--read-memory-max`). */
  readonly bytesMax: number;
  /** Requests waiting for read memory at once; one more is answered 503 at once. */
  readonly waitersMax: number;
  /** A request that waits longer than this for read memory is answered 503 (or its remaining ranges `error`). */
  readonly waitMsMax: number;
  /**
   * A socket that takes nothing of a payload for this long (its reader stopped reading) has its
   * connection destroyed and its read memory freed: a stalled reader must not hold the budget.
   */
  readonly drainMsMax: number;
}

export const READ_MEMORY_DEFAULTS: ReadMemoryOptions = {
  bytesMax: 256 * 1024 * 1024,
  waitersMax: 64,
  waitMsMax: 5_000,
  drainMsMax: 30_000,
};

const REFUSAL_TEXT: Readonly<Record<BudgetRefusal, string>> = {
  queue_full: 'too many batch reads are already waiting for read memory',
  timed_out: 'read memory did not come free in time',
  too_large: 'a range is larger than the whole read-memory budget',
  abandoned: 'the request went away while it waited for read memory',
};

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
    capabilities: { type: 'array', maxItems: BATCH_CAPABILITIES_MAX, items: { type: 'string', minLength: 1, maxLength: CAPABILITY_TEXT_MAX } },
    job: { type: 'string', pattern: JOB_ID_PATTERN },
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
  /** The payload is the range's bytes, not an error message. */
  readonly ok: boolean;
  /** The payload is a buffer of the read pool, given back once the socket took it (not a cached range). */
  readonly pooled: boolean;
}

/** A reason as a frame payload, cut to FRAME_MESSAGE_BYTES_MAX (possibly mid-character). */
function messagePayload(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return bytes.length <= FRAME_MESSAGE_BYTES_MAX ? bytes : bytes.subarray(0, FRAME_MESSAGE_BYTES_MAX);
}

export async function batchReadRoute(
  app: FastifyInstance,
  options: {
    readonly store: ChunkStore;
    readonly metrics: NodeMetrics;
    readonly onError: (error: unknown) => void;
    readonly faults?: BatchAnswerFaults;
    readonly readMemory?: Partial<ReadMemoryOptions>;
    readonly jobCounts?: JobCounts;
    /** Unchecked reads are served from and offered to it (storage-node/hot-cache.ts). */
    readonly hotCache?: HotCache;
  },
): Promise<void> {
  const { store, metrics } = options;
  const memory: ReadMemoryOptions = { ...READ_MEMORY_DEFAULTS, ...options.readMemory };
  const buffers = new ReadBufferPool(Math.min(READ_BUFFERS_KEPT_BYTES, memory.bytesMax));
  const budget = new ReadBudget({ ...memory, onChange: (bytes) => metrics.readMemoryBytes.set(bytes) });
  metrics.readMemoryMaxBytes.set(memory.bytesMax);
  metrics.readMemoryBytes.set(0);

  const refusalMessage = (refusal: BudgetRefusal, bytes: number): string =>
    `${REFUSAL_TEXT[refusal]} (${bytes} bytes asked, ${budget.bytesInUse} of ${memory.bytesMax} in use, ${budget.waiting} waiting; --read-memory-max); read from other nodes or retry later`;
  const refused = (refusal: BudgetRefusal): void => {
    metrics.readMemoryRefusals.inc({ reason: refusal });
  };

  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer', bodyLimit: REQUEST_BODY_BYTES_MAX }, (_request, body, done) => {
    try {
      done(null, decodeUntrustedMsgpack(body as Buffer, { arrayLengthMax: BATCH_RANGES_MAX }));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  async function readOne(range: RangeRequest, checksums: boolean, verifyPages: boolean, job: string | undefined): Promise<ReadOutcome> {
    // Page-checked reads (rebuild inputs) always go to disk: the cache holds unchecked bytes.
    const cache = verifyPages ? undefined : options.hotCache;
    const cached = cache?.lookup(range.chunk, range.offset, range.length);
    if (cached !== undefined) {
      metrics.hotCacheHitBytes.inc(cached.length);
      metrics.rangesRead.inc({ status: 'ok' });
      if (job !== undefined) options.jobCounts?.cached(job, cached.length);
      return { header: encodeFrameHeader('ok', cached, checksums), payload: cached, ok: true, pooled: false };
    }
    try {
      const data = await store.readRange(range.chunk, range.offset, range.length, { verifyPages, alloc: buffers.take });
      metrics.bytesRead.inc(data.length);
      metrics.readSize.observe(data.length);
      metrics.rangesRead.inc({ status: 'ok' });
      cache?.offer(range.chunk, range.offset, data);
      return { header: encodeFrameHeader('ok', data, checksums), payload: data, ok: true, pooled: true };
    } catch (error) {
      const code = error instanceof GranaryError ? error.code : 'GRN_INTERNAL';
      const status = STATUS_BY_ERROR[code] ?? 'error';
      if (status === 'error') options.onError(error);
      metrics.rangesRead.inc({ status });
      metrics.errors.inc({ code });
      const message = messagePayload(error instanceof Error ? error.message : String(error));
      return { header: encodeFrameHeader(status, message, checksums), payload: message, ok: false, pooled: false };
    }
  }

  /**
   * Writes the frames of `ranges` in order, reading a bounded number of ranges ahead of the
   * socket and waiting for it to drain. Every range read ahead holds its length of the node's
   * budget (the first one's was taken before the answer began) until the socket has taken its
   * payload, the payload turned out to be an error message, or the connection closed; the
   * payload's buffer then goes back to the pool.
   */
  async function writeFrames(response: ServerResponse, ranges: readonly RangeRequest[], checksums: boolean, verifyPages: boolean, job: string | undefined): Promise<void> {
    const inFlight: { readonly range: RangeRequest; readonly outcome: Promise<ReadOutcome> }[] = [];
    let inFlightBytes = 0;
    let next = 0;
    let gone = response.destroyed;
    /** Payloads written and not yet taken by the socket, with the budget each holds. */
    const unsent = new Set<{ readonly bytes: number }>();
    const settle = (write: { readonly bytes: number }): void => {
      if (unsent.delete(write)) budget.give(write.bytes);
    };
    const leaving = new AbortController();
    const closed = new Promise<void>((resolve) => {
      const stop = (): void => {
        gone = true;
        // A closed socket sends nothing more: what it held is freed, whatever its callbacks do.
        for (const write of [...unsent]) settle(write);
        leaving.abort();
        resolve();
      };
      // A reader that hangs up ends the answer; its error is not the node's to report.
      response.once('close', stop);
      response.on('error', stop);
    });
    const start = (range: RangeRequest): void => {
      inFlight.push({ range, outcome: readOne(range, checksums, verifyPages, job) });
      inFlightBytes += range.length;
      next++;
    };
    const fill = (): void => {
      while (!gone && next < ranges.length && inFlight.length < READ_AHEAD_RANGES) {
        const range = ranges[next] as RangeRequest;
        if (inFlight.length > 0 && inFlightBytes + range.length > READ_AHEAD_BYTES) break;
        if (!budget.tryTake(range.length)) break;
        start(range);
      }
    };
    /** Waits for the socket to take a write; false when it took nothing for `drainMsMax`. */
    const drained = async (taken: Promise<void>): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => {
        timer = setTimeout(() => resolve('stalled'), memory.drainMsMax);
      });
      const outcome = await Promise.race([taken, closed, stalled]);
      clearTimeout(timer);
      return outcome !== 'stalled';
    };
    // The first range's bytes were taken by the handler.
    if (ranges.length > 0) start(ranges[0] as RangeRequest);
    fill();
    while (inFlight.length > 0 || (!gone && next < ranges.length)) {
      if (inFlight.length === 0) {
        // Nothing read ahead and no budget to read the next range: wait in line for it.
        const range = ranges[next] as RangeRequest;
        const refusal = await budget.take(range.length, leaving.signal);
        if (refusal !== undefined) {
          refused(refusal);
          if (!gone) await refuseRest(response, ranges.length - next, refusalMessage(refusal, range.length), checksums, drained, () => unsent.size > 0);
          return;
        }
        if (gone) {
          budget.give(range.length);
          return;
        }
        start(range);
        fill();
      }
      const head = inFlight.shift() as { range: RangeRequest; outcome: Promise<ReadOutcome> };
      const { header, payload, ok, pooled } = await head.outcome;
      inFlightBytes -= head.range.length;
      if (gone || !ok) {
        budget.give(head.range.length);
        if (gone) {
          if (pooled) buffers.give(payload);
          continue;
        }
      }
      if (options.faults?.cutsAnswerAt(head.range) === true) {
        const write = { bytes: ok ? head.range.length : 0 };
        unsent.add(write);
        response.write(Buffer.concat([header, payload.subarray(0, payload.length >> 1)]), () => {
          settle(write);
          response.destroy();
        });
        // The reads still in flight are waited for, to give back what they hold.
        gone = true;
        continue;
      }
      fill();
      response.cork();
      response.write(header);
      // Its callback says the socket has taken the payload: the buffer and its budget are free,
      // and when the socket's queue is full this is the moment to go on.
      let taken: Promise<void> | undefined;
      if (payload.length > 0) {
        const write = { bytes: ok ? head.range.length : 0 };
        unsent.add(write);
        taken = new Promise<void>((resolve) =>
          response.write(payload, () => {
            settle(write);
            if (pooled) buffers.give(payload);
            resolve();
          }),
        );
      } else if (ok) {
        budget.give(head.range.length);
      }
      response.uncork();
      if (taken !== undefined && response.writableNeedDrain && !(await drained(taken))) {
        stall(response);
        gone = true;
      }
    }
    if (!gone) await finish(response, unsent.size > 0, drained);
  }

  /** Cuts off an answer whose reader stopped reading; its 'close' frees what it held. */
  function stall(response: ServerResponse): void {
    metrics.readStalledAnswers.inc();
    response.destroy();
  }

  /**
   * Ends an answer. Payloads still in the socket's queue hold their budget until it takes them,
   * so a reader that stops reading at the very end is cut off too, not left holding it.
   */
  async function finish(response: ServerResponse, holding: boolean, drained: (taken: Promise<void>) => Promise<boolean>): Promise<void> {
    const ended = new Promise<void>((resolve) => response.end(() => resolve()));
    if (holding && !(await drained(ended))) stall(response);
  }

  /**
   * Ends an answer whose next range could get no read memory: every range left is answered
   * `error` (one shared message), so the reader keeps the frames it has and rebuilds the rest
   * from other shards instead of losing the whole answer.
   */
  async function refuseRest(
    response: ServerResponse,
    count: number,
    message: string,
    checksums: boolean,
    drained: (taken: Promise<void>) => Promise<boolean>,
    holding: () => boolean,
  ): Promise<void> {
    const payload = messagePayload(message);
    const header = encodeFrameHeader('error', payload, checksums);
    const frame = Buffer.concat([header, payload]);
    metrics.rangesRead.inc({ status: 'error' }, count);
    metrics.errors.inc({ code: 'GRN_UNAVAILABLE' });
    for (let i = 0; i < count; i++) {
      const taken = new Promise<void>((resolve) => response.write(frame, () => resolve()));
      if (response.writableNeedDrain && !(await drained(taken))) {
        stall(response);
        return;
      }
      if (response.destroyed) return;
    }
    await finish(response, holding(), drained);
  }

  app.post<{ Body: BatchReadRequest }>(
    '/v1/chunks/read',
    { schema: { body: bodySchema }, bodyLimit: REQUEST_BODY_BYTES_MAX },
    async (request, reply) => {
      const bytesAsked = validateBatchRequest(request.body);
      const ranges = request.body.ranges;
      if (request.body.job !== undefined) options.jobCounts?.served(request.body.job, bytesAsked);
      const largest = ranges.reduce((most, range) => Math.max(most, range.length), 0);
      if (largest > memory.bytesMax) {
        refused('too_large');
        throw new GranaryError('GRN_UNAVAILABLE', `this node cannot serve this batch read: ${refusalMessage('too_large', largest)}`);
      }
      const first = ranges[0];
      if (first !== undefined) {
        // Waited for before the answer begins, so a saturated node can still answer 503.
        const leaving = new AbortController();
        const abandon = (): void => leaving.abort();
        reply.raw.once('close', abandon);
        const refusal = await budget.take(first.length, leaving.signal);
        reply.raw.off('close', abandon);
        if (refusal !== undefined) {
          refused(refusal);
          throw new GranaryError('GRN_UNAVAILABLE', `this node cannot start a batch read now: ${refusalMessage(refusal, first.length)}`);
        }
      }
      // Written straight to the socket (the onResponse hook still runs): no stream between them,
      // and the write callbacks say when a payload's buffer can be reused.
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': FRAMES_CONTENT_TYPE, 'x-granary-frames': String(ranges.length) });
      await writeFrames(reply.raw, ranges, request.body.checksums === true, request.body.verifyPages !== false, request.body.job);
    },
  );
}
