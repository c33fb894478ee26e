/**
 * Parquet input of `granary ingest`, decoded by parquet-wasm on a thread of its own
 * (parquet-worker.ts, parquet/reading-thread.ts). The thread is there for corrupt files:
 * parquet-wasm traps on some of them from a task no caller can catch, which on the CLI's thread
 * ended the process with a stack trace (and would end any program using the client library); a
 * trap now ends the thread. Decoding also moves off the thread that encodes and uploads blocks,
 * one batch ahead of it (memory: at most two decoded batches at a time).
 *
 * Every failure is one FormatError line naming the file, the row group and the column (and the
 * page, for a CRC): the thread reads one row group at a time and says which, and when the decoder
 * fails without naming a column, the row group's columns are probed one by one
 * (parquet/locate-failure.ts).
 */
import { stat } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import { FormatError } from '../../format/index.js';
import { assertBatchIntact } from './arrow-validate.js';
import { conformBatch, planConform, usedColumns } from './conform.js';
import { describeLocation, locateFailingColumns } from './parquet/locate-failure.js';
import { decoderModule } from './parquet/decoder-module.js';
import { ParquetThread, type RowGroupRows, type ThreadAnswer } from './parquet/reading-thread.js';
import type { ShapeOptions, TableColumn } from './shape/options.js';

export interface ParquetReadOptions {
  /** Check page CRCs where pages have them (default true). */
  readonly verifyPageChecksums?: boolean;
  /** Progress: the file's size in proportion to the rows decoded, before each batch is yielded. */
  readonly onBytesRead?: (bytesRead: number) => void;
}

const DECODER_HINT = 'the file is corrupt, or uses a Parquet feature parquet-wasm cannot read';

export async function* readParquet(
  path: string,
  columns: readonly TableColumn[],
  batchRows: number,
  shape: ShapeOptions = {},
  options: ParquetReadOptions = {},
): AsyncGenerator<arrow.RecordBatch> {
  const file = await ParquetFileReader.open(path, batchRows, options);
  try {
    const plan = planConform(file.schema, columns, path, shape);
    const used = usedColumns(plan);
    const fileBytes = options.onBytesRead === undefined ? 0 : (await stat(path)).size;
    for await (const { batch, rowGroup, firstRow } of file.batches()) {
      assertBatchIntact(batch, `${path}: row group ${rowGroup} (rows from ${firstRow})`, used);
      if (file.rows > 0) options.onBytesRead?.(Math.round((fileBytes * (firstRow + batch.numRows)) / file.rows));
      yield conformBatch(plan, batch, firstRow);
    }
  } finally {
    await file.close();
  }
}

/** A batch of the file as parquet-wasm decoded it, and where it is in the file. */
export interface ParquetFileBatch {
  readonly batch: arrow.RecordBatch;
  readonly rowGroup: number;
  /** The batch's first row in the file. */
  readonly firstRow: number;
}

/** A Parquet file's schema and batches, as decoded on the reading thread, every failure located. */
export class ParquetFileReader {
  private constructor(
    private readonly path: string,
    private readonly thread: ParquetThread,
    readonly schema: arrow.Schema,
    private readonly failure: FailureReport,
    /** Rows of the whole file, by its footer. */
    readonly rows: number,
  ) {}

  static async open(path: string, batchRows: number, options: ParquetReadOptions = {}): Promise<ParquetFileReader> {
    const thread = new ParquetThread({ decoder: await decoderModule(), path, batchRows, verifyPageChecksums: options.verifyPageChecksums ?? true });
    try {
      const head = await thread.receive();
      if (head.kind !== 'schema') throw headError(path, head);
      let schema: arrow.Schema;
      try {
        schema = arrow.tableFromIPC(head.ipc).schema;
      } catch (error) {
        throw new FormatError(`${path}: cannot read the Parquet schema: ${messageOf(error)}`, { cause: error });
      }
      const failure = new FailureReport(path, head.rowGroups, schema.fields.map((field) => field.name), batchRows);
      return new ParquetFileReader(path, thread, schema, failure, head.rowGroups.reduce((sum, group) => sum + group.rows, 0));
    } catch (error) {
      await thread.close();
      throw error;
    }
  }

  /** The file's batches (none empty), in order; once. */
  async *batches(): AsyncGenerator<ParquetFileBatch> {
    let firstRow = 0;
    let rowGroup: number | undefined;
    this.thread.request();
    for (;;) {
      const message = await this.thread.receive();
      if (message.kind === 'end') return;
      if (message.kind === 'rowGroup') {
        rowGroup = message.index;
        continue;
      }
      if (message.kind !== 'batch' || rowGroup === undefined) {
        throw await this.failure.of(message.kind === 'batch' ? { kind: 'error', stage: 'read', message: 'a batch before its row group' } : message, firstRow, rowGroup);
      }
      this.thread.request();
      let table: arrow.Table;
      try {
        table = arrow.tableFromIPC(message.ipc);
      } catch (error) {
        throw new FormatError(`${this.path}: Parquet read failed after row ${firstRow}${this.failure.inGroup(rowGroup)}: ${messageOf(error)}`, { cause: error });
      }
      for (const batch of table.batches) {
        if (batch.numRows === 0) continue;
        yield { batch, rowGroup, firstRow };
        firstRow += batch.numRows;
      }
    }
  }

  async close(): Promise<void> {
    await this.thread.close();
  }
}

/**
 * The Arrow schema parquet-wasm reads `path` with (footer repaired as for reading), from a
 * thread of its own like the rows; no page is decoded.
 */
export async function readParquetSchema(path: string): Promise<arrow.Schema> {
  const file = await ParquetFileReader.open(path, 1, { verifyPageChecksums: false });
  await file.close();
  return file.schema;
}

/** Turns what the thread answered instead of a batch into one line with a location. */
class FailureReport {
  constructor(
    private readonly path: string,
    private readonly rowGroups: readonly RowGroupRows[],
    private readonly columns: readonly string[],
    private readonly batchRows: number,
  ) {}

  /** `, in row group 2 (rows 10000-14999)`, or nothing when no row group was started. */
  inGroup(rowGroup: number | undefined): string {
    if (rowGroup === undefined) return '';
    const rows = this.rowGroups[rowGroup];
    return rows === undefined ? `, in row group ${rowGroup}` : `, in row group ${rowGroup} (rows ${rows.firstRow}-${rows.firstRow + rows.rows - 1})`;
  }

  async of(message: Exclude<ThreadAnswer, { kind: 'batch' | 'end' | 'rowGroup' }>, firstRow: number, rowGroup: number | undefined): Promise<FormatError> {
    if (message.kind === 'refused') return new FormatError(message.message);
    const what =
      message.kind === 'crash'
        ? `the Parquet decoder crashed (${message.message})`
        : message.kind === 'error'
          ? message.message
          : 'the reader sent a second schema';
    let where = this.inGroup(rowGroup);
    if (rowGroup !== undefined && message.kind !== 'schema') {
      const location = await locateFailingColumns(this.path, rowGroup, this.columns, this.batchRows);
      where += `, ${describeLocation(location)}`;
    }
    return new FormatError(`${this.path}: Parquet read failed after row ${firstRow}: ${what}${where}; ${DECODER_HINT}`);
  }
}

function headError(path: string, head: ThreadAnswer): FormatError {
  if (head.kind === 'refused') return new FormatError(head.message);
  if (head.kind === 'error' && head.stage === 'open') return new FormatError(`${path}: cannot read it as Parquet: ${head.message}`);
  if (head.kind === 'error') return new FormatError(`${path}: cannot read the Parquet schema: ${head.message}`);
  if (head.kind === 'crash') return new FormatError(`${path}: cannot read it as Parquet: the Parquet decoder crashed (${head.message})`);
  return new FormatError(`${path}: cannot read it as Parquet: the reader answered ${head.kind} before the schema`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
