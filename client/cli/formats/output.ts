/**
 * Output formats of `granary read`: JSON Lines, CSV, Arrow IPC stream and Parquet, written batch
 * by batch to a Node writable (a file or stdout) with backpressure: `write` resolves once the
 * target has taken the bytes (or asked for them to wait: then after its 'drain').
 *
 * Parquet is streamed too: parquet-wasm's `transformParquetStream` encodes record batches into
 * row groups of at most PARQUET_ROW_GROUP_ROWS rows (or PARQUET_ROW_GROUP_BYTES) and hands out
 * each finished row group's bytes, then the footer on close. Memory is bounded by about one row
 * group, not by the output size; the target need not be seekable.
 *
 * `close` finishes the format (Arrow end-of-stream marker, Parquet footer) and waits until the
 * target has taken every byte; it does not end the target (it may be stdout): the caller ends a
 * file stream and waits for it to finish.
 */
import type { Writable } from 'node:stream';
import * as arrow from 'apache-arrow';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import * as parquet from 'parquet-wasm';
import { FormatError, recordBatchToRows } from '../../format/index.js';
import { alignToSchema, emptyBatch } from './conform.js';
import { encodeCell } from './csv-cells.js';

export type OutputFormat = 'jsonl' | 'csv' | 'arrow' | 'parquet';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['jsonl', 'csv', 'arrow', 'parquet'];

export interface OutputWriter {
  /** Writes one batch (its columns must be the schema's, by name, in any order). */
  write(batch: arrow.RecordBatch): Promise<void>;
  /** Writes what the format needs at the end; does not end `target`. */
  close(): Promise<void>;
}

/** Rows per Parquet row group (also the most rows the Parquet writer buffers). */
export const PARQUET_ROW_GROUP_ROWS = 65_536;
/** Bytes per Parquet row group at most, for wide rows (long lists). */
export const PARQUET_ROW_GROUP_BYTES = 128 * 1024 * 1024;

export function openOutput(format: OutputFormat, target: NodeJS.WritableStream, schema: arrow.Schema): OutputWriter {
  const sink = new Sink(target);
  let writer: FormatWriter;
  switch (format) {
    case 'jsonl':
      writer = new JsonLinesWriter(sink);
      break;
    case 'csv':
      writer = new CsvWriter(sink, schema);
      break;
    case 'arrow':
      writer = new ArrowStreamWriter(sink, schema);
      break;
    case 'parquet':
      writer = new ParquetWriter(sink, schema);
      break;
    default:
      throw new FormatError(`unknown output format ${String(format)}; one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  let closed = false;
  return {
    async write(batch) {
      if (closed) throw new FormatError('write after close');
      sink.check();
      await writer.write(alignToSchema(batch, schema));
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        sink.check();
        await writer.close();
        sink.check();
      } finally {
        sink.release();
      }
    },
  };
}

interface FormatWriter {
  write(batch: arrow.RecordBatch): Promise<void>;
  close(): Promise<void>;
}

/** The target with backpressure and its first error remembered (so no write waits forever). */
class Sink {
  private failure: Error | undefined;
  private readonly onError = (error: Error): void => {
    this.failure ??= error;
  };

  constructor(private readonly target: NodeJS.WritableStream) {
    target.on('error', this.onError);
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes the chunks; waits for 'drain' if the target's buffer filled up. */
  async write(chunks: string | Uint8Array | readonly (string | Uint8Array)[]): Promise<void> {
    this.check();
    let full = false;
    const list = typeof chunks === 'string' || chunks instanceof Uint8Array ? [chunks] : chunks;
    // An Arrow batch is a few hundred small buffers: corked, they leave in one writev (and, on an
    // HTTP response, as one chunk of the chunked body) instead of a syscall and a chunk header each.
    const corkable = list.length > 1 ? (this.target as Partial<Pick<Writable, 'cork' | 'uncork'>>) : undefined;
    corkable?.cork?.();
    try {
      for (const chunk of list) {
        if (chunk.length === 0) continue;
        if (!this.target.write(chunk)) full = true;
      }
    } finally {
      corkable?.uncork?.();
    }
    if (full) await this.drained();
    this.check();
  }

  release(): void {
    this.target.off('error', this.onError);
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error): void => {
        this.target.off('drain', onDrain);
        this.target.off('error', onError);
        this.target.off('close', onClose);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onDrain = (): void => done();
      const onError = (error: Error): void => done(error);
      const onClose = (): void => done(this.failure ?? new Error('the output was closed before all data was written'));
      this.target.on('drain', onDrain);
      this.target.on('error', onError);
      this.target.on('close', onClose);
    });
  }
}

// ---------------------------------------------------------------------------------------------

class JsonLinesWriter implements FormatWriter {
  constructor(private readonly sink: Sink) {}

  async write(batch: arrow.RecordBatch): Promise<void> {
    if (batch.numRows === 0) return;
    const lines = recordBatchToRows(batch).map((row) => JSON.stringify(row));
    lines.push('');
    await this.sink.write(lines.join('\n'));
  }

  async close(): Promise<void> {}
}

class CsvWriter implements FormatWriter {
  private headerWritten = false;

  constructor(
    private readonly sink: Sink,
    private readonly schema: arrow.Schema,
  ) {}

  async write(batch: arrow.RecordBatch): Promise<void> {
    const names = this.schema.fields.map((field) => field.name);
    const records = recordBatchToRows(batch).map((row) => names.map((name) => encodeCell(row[name])));
    if (!this.headerWritten) {
      records.unshift(names);
      this.headerWritten = true;
    }
    if (records.length === 0) return;
    await this.sink.write(
      stringifyCsv(records, {
        // An empty string is written "" so it reads back as '' (an empty cell is null).
        cast: { string: (value) => (value === '' ? { value: '', quoted_empty: true } : value) },
        record_delimiter: '\n',
      }),
    );
  }

  async close(): Promise<void> {
    // A result without rows still gets its header line.
    if (!this.headerWritten) await this.write(emptyBatch(this.schema));
  }
}

/**
 * Arrow IPC stream format. apache-arrow's writer puts its bytes into a queue that nothing
 * bounds; giving it a sink that collects the bytes of each batch lets us hand them to the target
 * with backpressure.
 */
class ArrowStreamWriter implements FormatWriter {
  private readonly collector = new ChunkCollector();
  private readonly writer = new arrow.RecordBatchStreamWriter();

  constructor(
    private readonly sink: Sink,
    schema: arrow.Schema,
  ) {
    this.writer.reset(this.collector as unknown as arrow.AsyncByteQueue<Uint8Array>, schema);
  }

  async write(batch: arrow.RecordBatch): Promise<void> {
    this.writer.write(batch);
    await this.sink.write(this.collector.take());
  }

  async close(): Promise<void> {
    this.writer.close();
    await this.sink.write(this.collector.take());
  }
}

class ChunkCollector extends arrow.AsyncByteQueue<Uint8Array> {
  private chunks: Uint8Array[] = [];

  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer): void {
    const bytes =
      value instanceof Uint8Array
        ? value
        : ArrayBuffer.isView(value)
          ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
          : new Uint8Array(value);
    if (bytes.byteLength > 0) this.chunks.push(bytes);
  }

  take(): Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    return chunks;
  }
}

/**
 * Parquet through parquet-wasm's streaming writer. Batches go in through a pull-based
 * ReadableStream (each `write` waits until the encoder asks for the next batch); the encoder's
 * output (one chunk per finished row group, the footer at the end) is pumped to the target.
 */
class ParquetWriter implements FormatWriter {
  private started = false;
  private pump: Promise<void> | undefined;
  private failed: Promise<never> | undefined;
  private controller: ReadableStreamDefaultController<parquet.RecordBatch> | undefined;
  private demand = deferred<void>();
  private delivered = deferred<void>();
  private batchesWritten = 0;

  constructor(
    private readonly sink: Sink,
    private readonly schema: arrow.Schema,
  ) {}

  async write(batch: arrow.RecordBatch): Promise<void> {
    if (batch.numRows === 0) return;
    await this.put(batch);
  }

  async close(): Promise<void> {
    // parquet-wasm cannot write a file from no batches at all: give it an empty one.
    if (this.batchesWritten === 0) await this.put(emptyBatch(this.schema));
    await this.offer(null);
    await this.pump;
  }

  private async put(batch: arrow.RecordBatch): Promise<void> {
    const ipc = arrow.tableToIPC(new arrow.Table([batch]), 'stream');
    const table = parquet.Table.fromIPCStream(ipc);
    let wasmBatches: parquet.RecordBatch[];
    try {
      wasmBatches = table.recordBatches();
    } finally {
      table.free();
    }
    for (const wasmBatch of wasmBatches) await this.offer(wasmBatch);
    this.batchesWritten++;
  }

  /** Hands one batch (null: the end) to the encoder when it asks for one. */
  private async offer(item: parquet.RecordBatch | null): Promise<void> {
    this.start();
    await Promise.race([this.demand.promise, this.failed]);
    this.demand = deferred();
    const controller = this.controller as ReadableStreamDefaultController<parquet.RecordBatch>;
    if (item === null) controller.close();
    else controller.enqueue(item);
    this.delivered.resolve();
  }

  private start(): void {
    if (this.started) return;
    const source = new ReadableStream<parquet.RecordBatch>(
      {
        pull: (controller) => {
          this.controller = controller;
          this.delivered = deferred();
          this.demand.resolve();
          return this.delivered.promise;
        },
      },
      { highWaterMark: 0 },
    );
    const properties = new parquet.WriterPropertiesBuilder()
      .setCompression(parquet.Compression.SNAPPY)
      .setMaxRowGroupSize(PARQUET_ROW_GROUP_ROWS)
      .setMaxRowGroupBytes(PARQUET_ROW_GROUP_BYTES)
      .setCreatedBy('granary')
      .build();
    this.started = true;
    this.pump = (async () => {
      try {
        const output = (await parquet.transformParquetStream(source, properties)) as ReadableStream<Uint8Array>;
        const reader = output.getReader();
        for (;;) {
          const next = await reader.read();
          if (next.done) break;
          await this.sink.write(next.value);
        }
      } catch (error) {
        throw new FormatError(`Parquet output failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    })();
    this.failed = this.pump.then(() => new Promise<never>(() => undefined));
    // The failure surfaces through write/close; do not let it count as unhandled meanwhile.
    this.failed.catch(() => undefined);
    this.pump.catch(() => undefined);
  }
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
