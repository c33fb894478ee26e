/**
 * Entry of the Parquet reading thread (parquet/reading-thread.ts). parquet-wasm traps
 * (`RuntimeError: unreachable`) on some corrupt files, from a task no caller can catch: on the
 * CLI's own thread that ended the process with a stack trace. Here it ends this thread only.
 *
 * Before parquet-wasm sees the file, the footer is read here too (parquet/footer.ts), repaired
 * when other readers would read what arrow-rs refuses (parquet/footer-repair.ts), and the file is
 * streamed one row group at a time, each checked before it is decoded: its batches fit the
 * decoder (parquet/decode-limits.ts) and its page CRCs match (parquet/page-checksums.ts). So a
 * failure is always within a known row group.
 *
 * Protocol: the schema first, then one batch (or the end, or an error) per `next` request, each
 * batch as Arrow IPC stream bytes whose buffer is transferred. In probe mode (workerData.probe)
 * the thread reads columns of one row group one at a time and says of each whether it reads.
 */
import { closeSync, fstatSync, openAsBlob, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
// The build that takes a compiled module: the Node build compiles its own in every thread.
import * as parquet from 'parquet-wasm/esm';
// The error class alone, not the format's index: every module imported here loads again in each
// thread, and a failure starts probing threads (parquet/locate-failure.ts).
import { FormatError } from '../../format/format-error.js';
import { assertRowGroupDecodable } from './parquet/decode-limits.js';
import { type ParquetFooter, decoderBlob, describeDropped, readFooter } from './parquet/footer.js';
// Types only: the converters (and apache-arrow under them, a quarter second of CPU to load) are
// imported when a file has such columns, since every file read starts a thread of its own.
import type { Int32DeltaBatches } from './parquet/int32-delta-batches.js';
import type { Int96Batches } from './parquet/int96-batches.js';
import { verifyRowGroupPages } from './parquet/page-checksums.js';
import type { ParquetWorkerData, ParquetWorkerMessage, ParquetWorkerRequest } from './parquet/reading-thread.js';

const port = parentPort;
if (port === null) throw new Error('parquet-worker runs as a worker thread only');
const data = workerData as ParquetWorkerData;
const { path, batchRows } = data;
parquet.initSync({ module: data.decoder });

/** Dropped fields named in a message; the rest are counted. */
const REPAIRS_NAMED_MAX = 3;

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

/** Granary's own refusals are whole messages; anything else is the decoder's. */
function sendFailure(error: unknown, stage: 'open' | 'schema' | 'read'): void {
  if (error instanceof FormatError) send({ kind: 'refused', message: error.message });
  else send({ kind: 'error', stage, message: messageOf(error) });
}

interface Opened {
  readonly footer: ParquetFooter;
  readonly file: parquet.ParquetFile;
  /** The INT96 columns' conversion, when the file has any (decoded as bytes: parquet/int96.ts). */
  readonly int96: Int96Batches | undefined;
  /** The INT32 delta columns' narrowing, when the file has any (decoded as Int64: parquet/int32-delta-footer.ts). */
  readonly int32Delta: Int32DeltaBatches | undefined;
}

function repairNote(footer: ParquetFooter): string | undefined {
  if (footer.dropped.length === 0) return undefined;
  const named = describeDropped({ ...footer, dropped: footer.dropped.slice(0, REPAIRS_NAMED_MAX) });
  const more = footer.dropped.length - REPAIRS_NAMED_MAX;
  return more > 0 ? `${named}; and ${more} more` : named;
}

/**
 * `use` of the file open by descriptor, closed after: the thread may be terminated at any await,
 * and a descriptor held across one would outlive it (descriptors are the process's).
 */
function withFile<T>(use: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

async function open(): Promise<Opened | undefined> {
  try {
    const footer = withFile((fd) => readFooter(fd, fstatSync(fd).size, path));
    let file: parquet.ParquetFile;
    try {
      file = await parquet.ParquetFile.fromFile(decoderBlob(await openAsBlob(path), footer, path));
    } catch (error) {
      const note = repairNote(footer);
      const message = note === undefined ? messageOf(error) : `${messageOf(error)} (with the footer read as other readers read it, without ${note})`;
      send({ kind: 'error', stage: 'open', message });
      return undefined;
    }
    const int96 = footer.int96Columns.length === 0 ? undefined : new (await import('./parquet/int96-batches.js')).Int96Batches(footer.int96Columns);
    const int32Delta =
      footer.int32DeltaColumns.length === 0 ? undefined : new (await import('./parquet/int32-delta-batches.js')).Int32DeltaBatches(footer.int32DeltaColumns, path);
    if (data.probe === undefined) {
      const decoded = file.schema().intoIPCStream();
      const schema = int32Delta === undefined ? decoded : int32Delta.schema(decoded);
      send({
        kind: 'schema',
        ipc: int96 === undefined ? schema : int96.schema(schema),
        rowGroups: footer.rowGroups.map(({ rows, firstRow }) => ({ rows, firstRow })),
        repaired: repairNote(footer),
      });
    }
    return { footer, file, int96, int32Delta };
  } catch (error) {
    sendFailure(error, 'open');
    return undefined;
  }
}

/** The row group being read and its stream. */
let group = 0;
let reader: ReadableStreamDefaultReader<parquet.RecordBatch> | undefined;
/** Rows of the row group sent so far. */
let groupRows = 0;

async function next({ footer, file, int96, int32Delta }: Opened): Promise<void> {
  try {
    for (;;) {
      if (reader === undefined) {
        const info = footer.rowGroups[group];
        if (info === undefined) {
          send({ kind: 'end' });
          return;
        }
        if (info.rows === 0) {
          group++;
          continue;
        }
        send({ kind: 'rowGroup', index: group });
        assertRowGroupDecodable(path, group, info, batchRows);
        if (data.verifyPageChecksums) withFile((fd) => verifyRowGroupPages(fd, path, group, info));
        const stream = (await file.stream({ batchSize: batchRows, rowGroups: [group] })) as ReadableStream<parquet.RecordBatch>;
        reader = stream.getReader();
        groupRows = 0;
      }
      const item = await reader.read();
      if (item.done) {
        reader = undefined;
        group++;
        continue;
      }
      const rows = item.value.numRows;
      const decoded = item.value.intoIPCStream();
      const ipc = int32Delta === undefined ? decoded : int32Delta.batch(decoded);
      if (int96 === undefined) {
        send({ kind: 'batch', ipc });
      } else {
        const firstRow = (footer.rowGroups[group]?.firstRow ?? 0) + groupRows;
        send({ kind: 'batch', ipc: int96.batch(ipc, (column, index) => `${path}: row group ${group}, row ${firstRow + index}, column ${column}`) });
      }
      groupRows += rows;
      return;
    }
  } catch (error) {
    sendFailure(error, 'read');
  }
}

/** Probe mode: does each column of the row group read alone? */
async function probe({ file }: Opened, rowGroup: number, columns: readonly string[]): Promise<void> {
  for (const column of columns) {
    try {
      const stream = (await file.stream({ batchSize: batchRows, rowGroups: [rowGroup], columns: [column] })) as ReadableStream<parquet.RecordBatch>;
      const probeReader = stream.getReader();
      for (;;) {
        const item = await probeReader.read();
        if (item.done) break;
        item.value.free();
      }
      send({ kind: 'probed', column, failed: false });
    } catch {
      // The decoder's error, without a column: the column is the answer.
      send({ kind: 'probed', column, failed: true });
    }
  }
  send({ kind: 'end' });
}

const opened = open();
if (data.probe !== undefined) {
  const { rowGroup, columns } = data.probe;
  void opened.then((file) => (file === undefined ? undefined : probe(file, rowGroup, columns)));
} else {
  // Requests are served one after another, in order.
  let served: Promise<void> = Promise.resolve();
  port.on('message', (request: ParquetWorkerRequest) => {
    if (request !== 'next') return;
    served = served.then(async () => {
      const file = await opened;
      if (file !== undefined) await next(file);
    });
  });
}
