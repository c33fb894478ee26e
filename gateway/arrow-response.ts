/**
 * Writes a scan's batches to an HTTP response as an Arrow IPC stream, pulling the next batch
 * only once the socket has taken the last one (client/cli/formats/output.ts waits for 'drain'),
 * so a slow reader slows the scan instead of filling the gateway's memory.
 *
 * The end-of-stream marker and the chunked body's last chunk are written only after the scan's
 * last batch: a failure midway destroys the socket instead, so every reader sees a broken stream,
 * never a short one that looks complete.
 */
import type { ServerResponse } from 'node:http';
import type * as arrow from 'apache-arrow';
import { openOutput } from '../client/cli/formats/output.js';

export const ARROW_STREAM_TYPE = 'application/vnd.apache.arrow.stream';

/** How a stream ended: every batch and the marker sent, or the HTTP client went away first. */
export type StreamEnd = 'complete' | 'client-gone';

/**
 * Streams `first` and the rest of `batches`, telling `sent` each batch's size once the socket
 * took it (or buffered it within its limit). Throws the scan's error after destroying the
 * socket; the caller still owns `batches` and must `return()` it on every path.
 */
export async function streamBatches(
  response: ServerResponse,
  schema: arrow.Schema,
  first: IteratorResult<arrow.RecordBatch>,
  batches: AsyncIterator<arrow.RecordBatch>,
  sent: (batchBytes: number) => void,
): Promise<StreamEnd> {
  let gone = false;
  const onClose = (): void => {
    if (!response.writableFinished) gone = true;
  };
  response.on('close', onClose);
  try {
    response.writeHead(200, { 'content-type': ARROW_STREAM_TYPE, 'cache-control': 'no-store' });
    const output = openOutput('arrow', response, schema);
    let next = first;
    while (next.done !== true) {
      await output.write(next.value);
      sent(next.value.data.byteLength);
      if (gone) return 'client-gone';
      next = await batches.next();
      if (gone) return 'client-gone';
    }
    await output.close();
    await new Promise<void>((resolve) => response.end(resolve));
    return 'complete';
  } catch (error) {
    if (gone) return 'client-gone';
    // No final chunk, no end-of-stream marker: the reader's stream breaks.
    response.destroy();
    throw error;
  } finally {
    response.off('close', onClose);
  }
}
