/**
 * Parquet input of `granary ingest`, decoded by parquet-wasm on a thread of its own
 * (parquet-worker.ts). The thread is there for corrupt files: parquet-wasm traps on some of them
 * from a task no caller can catch, which on the CLI's thread ended the process with a stack trace;
 * a trap now ends the thread, and the read fails with one line naming the file. Decoding also
 * moves off the thread that encodes and uploads blocks, one batch ahead of it (memory: at most two
 * decoded batches at a time).
 */
import { Worker } from 'node:worker_threads';
import * as arrow from 'apache-arrow';
import { FormatError } from '../../format/index.js';
import { assertBatchIntact } from './arrow-validate.js';
import { conformBatch, planConform, usedColumns } from './conform.js';
import type { ShapeOptions, TableColumn } from './shape/options.js';

/** What the thread is started with. */
export interface ParquetWorkerData {
  readonly path: string;
  readonly batchRows: number;
}

/** The one request: read the next batch. */
export type ParquetWorkerRequest = 'next';

/** What the thread answers: the schema once, then a batch, the end or an error per request. */
export type ParquetWorkerMessage =
  | { readonly kind: 'schema'; readonly ipc: Uint8Array }
  | { readonly kind: 'batch'; readonly ipc: Uint8Array }
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly stage: 'open' | 'schema' | 'read'; readonly message: string };

/** A thread's end before it answered: a trap, an uncaught error, or an exit. */
type ThreadEnd = { readonly kind: 'crash'; readonly message: string };

/** Bytes of the thread's own stderr kept for the error message (a panic message, say). */
const WORKER_STDERR_BYTES_MAX = 4096;

export async function* readParquet(
  path: string,
  columns: readonly TableColumn[],
  batchRows: number,
  shape: ShapeOptions = {},
): AsyncGenerator<arrow.RecordBatch> {
  const thread = new ParquetThread({ path, batchRows });
  try {
    const head = await thread.receive();
    if (head.kind !== 'schema') throw headError(path, head);
    let fileSchema: arrow.Schema;
    try {
      fileSchema = arrow.tableFromIPC(head.ipc).schema;
    } catch (error) {
      throw new FormatError(`${path}: cannot read the Parquet schema: ${messageOf(error)}`, { cause: error });
    }
    const plan = planConform(fileSchema, columns, path, shape);
    const used = usedColumns(plan);
    let firstRow = 0;
    let batchIndex = 0;
    thread.request();
    for (;;) {
      const message = await thread.receive();
      if (message.kind === 'end') break;
      if (message.kind !== 'batch') {
        const what =
          message.kind === 'crash'
            ? `the Parquet decoder crashed (${message.message})`
            : message.kind === 'error'
              ? message.message
              : 'the reader sent a second schema';
        throw new FormatError(`${path}: Parquet read failed after row ${firstRow}: ${what}; the file is corrupt, or uses a Parquet feature parquet-wasm cannot read`);
      }
      thread.request();
      let table: arrow.Table;
      try {
        table = arrow.tableFromIPC(message.ipc);
      } catch (error) {
        throw new FormatError(`${path}: Parquet read failed after row ${firstRow}: ${messageOf(error)}`, { cause: error });
      }
      for (const batch of table.batches) {
        if (batch.numRows === 0) continue;
        assertBatchIntact(batch, `${path}: row group batch ${batchIndex} (rows from ${firstRow})`, used);
        yield conformBatch(plan, batch, firstRow);
        firstRow += batch.numRows;
        batchIndex++;
      }
    }
  } finally {
    await thread.close();
  }
}

function headError(path: string, head: ParquetWorkerMessage | ThreadEnd): FormatError {
  if (head.kind === 'error' && head.stage === 'open') return new FormatError(`${path}: cannot read it as Parquet: ${head.message}`);
  if (head.kind === 'error') return new FormatError(`${path}: cannot read the Parquet schema: ${head.message}`);
  if (head.kind === 'crash') return new FormatError(`${path}: cannot read it as Parquet: the Parquet decoder crashed (${head.message})`);
  return new FormatError(`${path}: cannot read it as Parquet: the reader answered ${head.kind} before the schema`);
}

/** One reading thread and the answers it sent that nobody has taken yet. */
class ParquetThread {
  private readonly worker: Worker;
  private readonly inbox: (ParquetWorkerMessage | ThreadEnd)[] = [];
  private waiting: ((message: ParquetWorkerMessage | ThreadEnd) => void) | undefined;
  private ended = false;
  private closing = false;
  private stderr = '';

  constructor(data: ParquetWorkerData) {
    this.worker = startWorker(data);
    this.worker.on('message', (message: ParquetWorkerMessage) => this.deliver(message));
    this.worker.on('error', (error: unknown) => this.end(describeCrash(error)));
    this.worker.on('exit', (code) => this.end(`the reading thread exited with code ${code}`));
    // The thread's output is not the CLI's: keep a little of stderr for the message, drop the rest.
    this.worker.stdout.resume();
    this.worker.stderr.setEncoding('utf8');
    this.worker.stderr.on('data', (text: string) => {
      if (this.stderr.length < WORKER_STDERR_BYTES_MAX) this.stderr = (this.stderr + text).slice(0, WORKER_STDERR_BYTES_MAX);
    });
  }

  request(): void {
    if (!this.ended) this.worker.postMessage('next' satisfies ParquetWorkerRequest);
  }

  receive(): Promise<ParquetWorkerMessage | ThreadEnd> {
    const next = this.inbox.shift();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ended = true;
    await this.worker.terminate();
  }

  private deliver(message: ParquetWorkerMessage | ThreadEnd): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) waiting(message);
    else this.inbox.push(message);
  }

  /** The first end of the thread is an answer to whoever waits; later ones say nothing new. */
  private end(description: string): void {
    if (this.ended || this.closing) return;
    this.ended = true;
    const said = this.stderr.split('\n').find((line) => line.trim() !== '');
    this.deliver({ kind: 'crash', message: said === undefined ? description : `${description}: ${said.trim()}` });
  }
}

function describeCrash(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function startWorker(data: ParquetWorkerData): Worker {
  // The process's own flags (say `--input-type` of `node -e`) are not the worker's business.
  const options = { execArgv: [], workerData: data, stdout: true, stderr: true };
  // From sources (tests under vitest or tsx) the worker is TypeScript too: load it through tsx.
  if (import.meta.url.endsWith('.ts')) {
    const entry = new URL('./parquet-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, {
      ...options,
      eval: true,
    });
  }
  return new Worker(new URL('./parquet-worker.js', import.meta.url), options);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
