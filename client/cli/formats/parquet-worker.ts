/**
 * Entry of the Parquet reading thread (parquet-input.ts). parquet-wasm traps (`RuntimeError:
 * unreachable`) on some corrupt files, from a task no caller can catch: on the CLI's own thread
 * that ended the process with a stack trace. Here it ends this thread only, and the reader turns
 * that into an error naming the file.
 *
 * Protocol: the schema first, then one batch (or the end, or an error) per `next` request, each
 * batch as Arrow IPC stream bytes whose buffer is transferred.
 */
import { openAsBlob } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import * as parquet from 'parquet-wasm';
import type { ParquetWorkerData, ParquetWorkerMessage, ParquetWorkerRequest } from './parquet-input.js';

const port = parentPort;
if (port === null) throw new Error('parquet-worker runs as a worker thread only');
const { path, batchRows } = workerData as ParquetWorkerData;

function send(message: ParquetWorkerMessage): void {
  if (message.kind !== 'schema' && message.kind !== 'batch') {
    port?.postMessage(message);
    return;
  }
  // Transfer rather than copy, when the bytes own their whole buffer.
  const { ipc } = message;
  const owned = ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength && ipc.buffer instanceof ArrayBuffer;
  const bytes = owned ? ipc : ipc.slice();
  port?.postMessage({ ...message, ipc: bytes }, [bytes.buffer as ArrayBuffer]);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function open(): Promise<ReadableStreamDefaultReader<parquet.RecordBatch> | undefined> {
  let file: parquet.ParquetFile;
  try {
    file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  } catch (error) {
    send({ kind: 'error', stage: 'open', message: messageOf(error) });
    return undefined;
  }
  try {
    send({ kind: 'schema', ipc: file.schema().intoIPCStream() });
  } catch (error) {
    send({ kind: 'error', stage: 'schema', message: messageOf(error) });
    return undefined;
  }
  try {
    const stream = (await file.stream({ batchSize: batchRows })) as ReadableStream<parquet.RecordBatch>;
    return stream.getReader();
  } catch (error) {
    send({ kind: 'error', stage: 'read', message: messageOf(error) });
    return undefined;
  }
}

async function next(reader: ReadableStreamDefaultReader<parquet.RecordBatch>): Promise<void> {
  try {
    const item = await reader.read();
    if (item.done) send({ kind: 'end' });
    else send({ kind: 'batch', ipc: item.value.intoIPCStream() });
  } catch (error) {
    send({ kind: 'error', stage: 'read', message: messageOf(error) });
  }
}

const opened = open();
// Requests are served one after another, in order.
let served: Promise<void> = Promise.resolve();
port.on('message', (request: ParquetWorkerRequest) => {
  if (request !== 'next') return;
  served = served.then(async () => {
    const reader = await opened;
    if (reader !== undefined) await next(reader);
  });
});
