/** Storing chunks on, and reading ranges from, storage nodes. */
import { pack } from 'msgpackr';
import { checksumToHex, xxh64 } from '../erasure/index.js';
import {
  CHECKSUM_HEADER,
  type Frame,
  GranaryError,
  MSGPACK,
  OCTET_STREAM,
  type RangeRequest,
  errorFromAnswer,
  readFrames,
} from '../protocol/index.js';
import type { HttpPools } from './http.js';

export async function putChunk(http: HttpPools, nodeUrl: string, chunkId: string, bytes: Uint8Array): Promise<void> {
  let response;
  try {
    response = await http.pool(nodeUrl).request({
      method: 'PUT',
      path: `/v1/chunks/${chunkId}`,
      headers: { 'content-type': OCTET_STREAM, [CHECKSUM_HEADER]: checksumToHex(xxh64(bytes)) },
      body: bytes,
    });
  } catch (error) {
    throw new GranaryError('GRN_UNAVAILABLE', `storing chunk ${chunkId} on ${nodeUrl} failed: ${(error as Error).message}`, { cause: error });
  }
  const text = await response.body.text();
  if (response.statusCode === 200 || response.statusCode === 201) return;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text for the message.
  }
  throw errorFromAnswer(response.statusCode, body);
}

/** One batched read; resolves with a frame per range, in order. */
export async function readRanges(
  http: HttpPools,
  nodeUrl: string,
  ranges: readonly RangeRequest[],
  signal?: AbortSignal,
): Promise<Frame[]> {
  let response;
  try {
    response = await http.pool(nodeUrl).request({
      method: 'POST',
      path: '/v1/chunks/read',
      headers: { 'content-type': MSGPACK },
      body: pack({ ranges }),
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    throw new GranaryError('GRN_UNAVAILABLE', `reading from ${nodeUrl} failed: ${(error as Error).message}`, { cause: error });
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text for the message.
    }
    throw errorFromAnswer(response.statusCode, body);
  }
  const frames: Frame[] = [];
  try {
    for await (const frame of readFrames(response.body)) frames.push(frame);
  } catch (error) {
    response.body.destroy();
    if (error instanceof GranaryError) throw error;
    throw new GranaryError('GRN_UNAVAILABLE', `reading from ${nodeUrl} broke off: ${(error as Error).message}`, { cause: error });
  }
  if (frames.length !== ranges.length) {
    throw new GranaryError('GRN_UNAVAILABLE', `${nodeUrl} answered ${frames.length} ranges of ${ranges.length}`);
  }
  return frames;
}
