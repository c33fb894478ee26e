/**
 * One thread running parquet-wasm (../parquet-worker.ts) and the answers it sent that nobody has
 * taken yet. The thread is there for corrupt files: parquet-wasm traps on some of them from a task
 * no caller can catch, which on the caller's thread ended the process; a trap now ends the
 * thread, and its end is one more answer ('crash').
 */
import { Worker } from 'node:worker_threads';
import type { CompiledDecoder } from './decoder-module.js';

/** A row group's place in the file. */
export interface RowGroupRows {
  readonly rows: number;
  readonly firstRow: number;
}

/** What a thread is started with. */
export interface ParquetWorkerData {
  /** parquet-wasm compiled once for the process (decoder-module.ts). */
  readonly decoder: CompiledDecoder;
  readonly path: string;
  readonly batchRows: number;
  /** Check page CRCs (page-checksums.ts) before each row group is decoded. */
  readonly verifyPageChecksums: boolean;
  /**
   * Instead of streaming the file: read each of these columns of one row group alone, in turn,
   * answering 'probed' for each (then 'end'); a trap ends the thread at the column being read.
   */
  readonly probe?: { readonly rowGroup: number; readonly columns: readonly string[] };
}

/** The one request: read the next batch. */
export type ParquetWorkerRequest = 'next';

/**
 * What the thread answers: the schema once, then per request a batch, the end or an error (a
 * 'rowGroup' notice comes before the first batch of each row group).
 */
export type ParquetWorkerMessage =
  | {
      readonly kind: 'schema';
      readonly ipc: Uint8Array;
      readonly rowGroups: readonly RowGroupRows[];
      /** What a repair of the footer removed, in words, when it was repaired. */
      readonly repaired: string | undefined;
    }
  | { readonly kind: 'rowGroup'; readonly index: number }
  | { readonly kind: 'batch'; readonly ipc: Uint8Array }
  | { readonly kind: 'end' }
  /** Probe mode: whether a column of the row group reads alone. */
  | { readonly kind: 'probed'; readonly column: string; readonly failed: boolean }
  /** Refused by Granary's own checks: the message is whole (file, row group, column, page). */
  | { readonly kind: 'refused'; readonly message: string }
  /** The decoder's own error, with no location. */
  | { readonly kind: 'error'; readonly stage: 'open' | 'schema' | 'read'; readonly message: string };

/** A thread's end before it answered: a trap, an uncaught error, or an exit. */
export type ThreadEnd = { readonly kind: 'crash'; readonly message: string };

export type ThreadAnswer = ParquetWorkerMessage | ThreadEnd;

/** Bytes of the thread's own stderr kept for the error message (a panic message, say). */
const WORKER_STDERR_BYTES_MAX = 4096;

export class ParquetThread {
  private readonly worker: Worker;
  private readonly inbox: ThreadAnswer[] = [];
  private waiting: ((message: ThreadAnswer) => void) | undefined;
  private ended = false;
  private closing = false;
  private stderr = '';
  /** The thread's uncaught error, reported when it has exited. */
  private crash: string | undefined;

  constructor(data: ParquetWorkerData) {
    this.worker = startWorker(data);
    this.worker.on('message', (message: ParquetWorkerMessage) => this.deliver(message));
    // The crash is answered at 'exit', not at 'error': an uncaught error is reported as soon as
    // it is thrown, ahead of answers the thread posted before it, while 'exit' comes after they
    // are all delivered. Answered at 'error', a probe blamed the column before the one that trapped.
    this.worker.on('error', (error: unknown) => {
      this.crash ??= describeCrash(error);
    });
    this.worker.on('exit', (code) => this.end(this.crash ?? `the reading thread exited with code ${code}`));
    // The thread's output is not the caller's: keep a little of stderr for the message, drop the rest.
    this.worker.stdout.resume();
    this.worker.stderr.setEncoding('utf8');
    this.worker.stderr.on('data', (text: string) => {
      if (this.stderr.length < WORKER_STDERR_BYTES_MAX) this.stderr = (this.stderr + text).slice(0, WORKER_STDERR_BYTES_MAX);
    });
  }

  request(): void {
    if (!this.ended) this.worker.postMessage('next' satisfies ParquetWorkerRequest);
  }

  receive(): Promise<ThreadAnswer> {
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

  private deliver(message: ThreadAnswer): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) waiting(message);
    else this.inbox.push(message);
  }

  /** The first end of the thread is an answer to whoever waits; later ones say nothing new. */
  private end(description: string): void {
    if (this.ended || this.closing) return;
    this.ended = true;
    // A panic message, when the decoder prints one; not the trap's own echo of its location.
    const said = this.stderr
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '' && !line.startsWith('wasm://') && !description.includes(line));
    this.deliver({ kind: 'crash', message: said === undefined ? description : `${description}: ${said}` });
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
    const entry = new URL('../parquet-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, {
      ...options,
      eval: true,
    });
  }
  return new Worker(new URL('../parquet-worker.js', import.meta.url), options);
}
