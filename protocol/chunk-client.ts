/**
 * The client side of the storage-node chunk API: storing chunks and batched range reads. Used by
 * the client library (writes, scans) and by storage nodes (repair reads from peers).
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { pack } from 'msgpackr';
import { checksumToHex, xxh64 } from '../erasure/index.js';
import { type BatchReadRequest, type Frame, FrameDecoder, type RangeRequest } from './batch-read.js';
import { GranaryError, errorFromAnswer } from './errors.js';
import { CAPABILITY_HEADER } from './capability.js';
import { CHECKSUM_HEADER, MSGPACK, OCTET_STREAM, REPLACE_HEADER } from './http.js';
import { BATCH_READ_DEADLINE_DEFAULTS, type HttpPools, batchReadDeadlineMs } from './http-pools.js';
import { transportError } from './tls.js';

/**
 * Stores a chunk; `checksum` is its xxh64 when the caller has it already (else it is computed).
 * `replace` (repair only) replaces an existing copy that differs. `capability` is the write (or
 * replace) capability for this chunk. Resolves with the node's receipt (protocol/receipt.ts),
 * which a commit hands back to the metadata service.
 */
export function putChunk(
  http: HttpPools,
  nodeUrl: string,
  chunkId: string,
  bytes: Uint8Array,
  checksum = xxh64(bytes),
  replace = false,
  capability?: string,
): Promise<string | undefined> {
  return sendChunk(http, nodeUrl, chunkId, bytes, {
    [CHECKSUM_HEADER]: checksumToHex(checksum),
    ...(replace ? { [REPLACE_HEADER]: 'true' } : {}),
    ...(capability === undefined ? {} : { [CAPABILITY_HEADER]: capability }),
  });
}

/**
 * Stores a chunk restored by repair, whose bytes arrive as a stream (window by window): `length`
 * and `checksum` are declared up front, and the node refuses the chunk unless the body matches
 * both, so a restore built from bad inputs is never stored. An existing copy that differs is
 * replaced: the catalog, not the old copy, says what the chunk holds.
 */
export function putRestoredChunk(
  http: HttpPools,
  nodeUrl: string,
  chunkId: string,
  body: Readable,
  length: number,
  checksum: bigint,
  signal?: AbortSignal,
  capability?: string,
): Promise<string | undefined> {
  const headers = {
    'content-length': String(length),
    [CHECKSUM_HEADER]: checksumToHex(checksum),
    [REPLACE_HEADER]: 'true',
    ...(capability === undefined ? {} : { [CAPABILITY_HEADER]: capability }),
  };
  return sendChunk(http, nodeUrl, chunkId, body, headers, signal);
}

async function sendChunk(
  http: HttpPools,
  nodeUrl: string,
  chunkId: string,
  body: Uint8Array | Readable,
  headers: Readonly<Record<string, string>>,
  signal?: AbortSignal,
): Promise<string | undefined> {
  let response;
  try {
    response = await http.pool(nodeUrl).request({
      method: 'PUT',
      path: `/v1/chunks/${chunkId}`,
      headers: { 'content-type': OCTET_STREAM, ...headers },
      body,
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    throw transportError(error, `storing chunk ${chunkId} on ${nodeUrl}`, nodeUrl);
  }
  const text = await response.body.text();
  const answer = parseAnswer(text);
  if (response.statusCode === 200 || response.statusCode === 201) {
    const receipt = (answer as { receipt?: unknown } | undefined)?.receipt;
    return typeof receipt === 'string' ? receipt : undefined;
  }
  throw errorFromAnswer(response.statusCode, answer);
}

export interface ReadRangesOptions {
  /**
   * Ask the node to check page checksums before answering (default true). The reader turns it
   * off for first reads, whose streams it checks end to end, and keeps it on for the shard reads
   * a rebuild takes as input, which nothing else checks before they are decoded.
   */
  readonly verifyPages?: boolean;
  /** Read capabilities covering the ranges' blocks (one per block; protocol/capability.ts). */
  readonly capabilities?: readonly string[];
  /** The reading job (JOB_ID_PATTERN): the node counts what it serves per job. */
  readonly job?: string;
}

/** An error answer's body is kept up to this size for its message; a longer one is cut off. */
const REFUSAL_BODY_BYTES_MAX = 64 * 1024;

/**
 * One batched read; resolves with a frame per range, in order. Frames are decoded as the body
 * arrives, through undici's dispatch handler rather than a body stream: this is the hot path of
 * every scan, and a stream costs an async iteration and a buffer queue per network read.
 *
 * Nothing a node sends makes this allocate more than it asked for (FrameDecoder checks each
 * frame's declared length against its range first), and the read as a whole must end within its
 * deadline (`http.options.batchReadDeadline`, from the bytes asked): either failure rejects with
 * GRN_UNAVAILABLE and drops the connection, and callers read around the node.
 */
export function readRanges(http: HttpPools, nodeUrl: string, ranges: readonly RangeRequest[], options: ReadRangesOptions = {}): Promise<Frame[]> {
  const request: BatchReadRequest = {
    ranges,
    ...(options.verifyPages === false ? { verifyPages: false } : {}),
    ...(options.capabilities === undefined || options.capabilities.length === 0 ? {} : { capabilities: options.capabilities }),
    ...(options.job === undefined ? {} : { job: options.job }),
  };
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(
      ranges.map((range) => range.length),
      nodeUrl,
    );
    const frames: Frame[] = [];
    const collect = (frame: Frame): void => {
      frames.push(frame);
    };
    const refusal: Buffer[] = [];
    let refusalBytes = 0;
    let statusCode = 0;
    let settled = false;
    let dispatched: Dispatcher.DispatchController | undefined;
    const bytes = ranges.reduce((sum, range) => sum + range.length, 0);
    const deadline = http.options.batchReadDeadline ?? BATCH_READ_DEADLINE_DEFAULTS;
    const deadlineMs = batchReadDeadlineMs(bytes, deadline);
    const overdue = (): GranaryError =>
      new GranaryError(
        'GRN_UNAVAILABLE',
        `${nodeUrl} did not finish answering ${ranges.length} ranges (${bytes} bytes) within ${deadlineMs} ms (the deadline for reads of that size, at least ${deadline.bytesPerSecondMin} bytes/s); reading around it`,
      );
    const timer = setTimeout(() => {
      const error = overdue();
      fail(error);
      dispatched?.abort(error);
    }, deadlineMs);
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error instanceof GranaryError) reject(error);
      else reject(transportError(error, `reading from ${nodeUrl}`, nodeUrl));
    };
    http.pool(nodeUrl).dispatch(
      { method: 'POST', path: '/v1/chunks/read', headers: { 'content-type': MSGPACK }, body: pack(request) },
      {
        onRequestStart(controller) {
          dispatched = controller;
          // Past its deadline while it waited for a connection: it is not sent at all.
          if (settled) controller.abort(overdue());
        },
        onResponseStart(_controller, status) {
          statusCode = status;
        },
        onResponseData(controller, chunk) {
          if (statusCode !== 200) {
            if (refusalBytes < REFUSAL_BODY_BYTES_MAX) refusal.push(chunk.subarray(0, REFUSAL_BODY_BYTES_MAX - refusalBytes));
            refusalBytes += chunk.length;
            return;
          }
          try {
            decoder.push(chunk, collect);
          } catch (error) {
            fail(error);
            controller.abort(error as Error);
          }
        },
        onResponseEnd() {
          if (settled) return;
          if (statusCode !== 200) {
            fail(errorFromAnswer(statusCode, parseAnswer(Buffer.concat(refusal).toString('utf8'))));
            return;
          }
          try {
            decoder.end();
          } catch (error) {
            fail(error);
            return;
          }
          if (frames.length !== ranges.length) {
            fail(new GranaryError('GRN_UNAVAILABLE', `${nodeUrl} answered ${frames.length} ranges of ${ranges.length}`));
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve(frames);
        },
        onResponseError(_controller, error) {
          fail(error);
        },
      },
    );
  });
}

/** An error answer's body: JSON when it parses, else the text itself for the message. */
function parseAnswer(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
