/**
 * Input files of `granary ingest`: JSON Lines, CSV, Parquet and Arrow IPC, read as a stream of
 * Arrow record batches of the table's columns. Nothing here reads a whole file into memory: text
 * formats are parsed line by line into batches of `batchRows` rows, Parquet is read batch by batch
 * from a file-backed Blob (on a thread of its own, parquet-input.ts), Arrow IPC batch by batch from
 * a file handle. A bad line, cell, batch or column is a FormatError naming the file and the line
 * (or row, batch, column) and what is wrong; so is anything else that goes wrong while reading (a
 * reader library's own error is wrapped), so the CLI prints one line and never a stack trace.
 * Lines are bounded (`LINE_BYTES_MAX`) and Arrow batches are checked before use (arrow-validate.ts).
 */
import { isUtf8 } from 'node:buffer';
import { type FileHandle, open } from 'node:fs/promises';
import { extname } from 'node:path';
import { pipeline } from 'node:stream';
import * as arrow from 'apache-arrow';
import { type Info, parse as parseCsv } from 'csv-parse';
import type { ColumnType } from '../../../protocol/index.js';
import { FormatError, type NamedColumn } from '../../format/index.js';
import { ColumnLengthError, assertBatchIntact, checkColumnLengths } from './arrow-validate.js';
import { buildRecordBatch, conformBatch, planConform, usedColumns } from './conform.js';
import { CellError, type CsvCell, QUOTED_EMPTY, decodeCell } from './csv-cells.js';
import { readParquet } from './parquet-input.js';
import { JsonRowShaper } from './shape/json-rows.js';
import { NameMapper } from './shape/names.js';
import type { ShapeOptions, TableColumn } from './shape/options.js';
import { invalidUtf8Error, utf8Checker } from './utf8-check.js';

export type InputFormat = 'jsonl' | 'csv' | 'parquet' | 'arrow';

export const DEFAULT_BATCH_ROWS = 8192;

/**
 * The longest line of a JSON Lines file, and the longest CSV record, in bytes. A line is held
 * whole before it is parsed: without a bound one runaway line (a 560 MB one, say) ran the CLI out
 * of string length or heap instead of failing with a message naming it.
 */
export const LINE_BYTES_MAX = 64 * 1024 * 1024;

export interface ReadInputOptions {
  /** Longest line (JSON Lines) or record (CSV) accepted, in bytes; default `LINE_BYTES_MAX`. */
  readonly lineBytesMax?: number;
  /** Renaming, flattening and feature maps (shape/); default: columns as the file has them. */
  readonly shape?: ShapeOptions;
  /** Check the CRCs of Parquet pages that carry one (default true; `--no-page-checksums`). */
  readonly verifyPageChecksums?: boolean;
  /**
   * Called before each batch is yielded with the bytes of the file read so far, for progress:
   * text formats count what was read from disk, Arrow IPC the batches' buffers, Parquet the
   * file's size in proportion to the rows decoded.
   */
  readonly onBytesRead?: (bytesRead: number) => void;
}

const FORMAT_NAMES: Readonly<Record<InputFormat, string>> = {
  jsonl: 'JSON Lines',
  csv: 'CSV',
  parquet: 'Parquet',
  arrow: 'Arrow IPC',
};

const EXTENSIONS: Readonly<Record<string, InputFormat>> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'jsonl',
  '.csv': 'csv',
  '.parquet': 'parquet',
  '.pq': 'parquet',
  '.arrow': 'arrow',
  '.arrows': 'arrow',
  '.ipc': 'arrow',
  '.feather': 'arrow',
};

/** The input format a file name implies, by its extension (case-insensitive). */
export function formatFromPath(path: string): InputFormat {
  const extension = extname(path).toLowerCase();
  const format = EXTENSIONS[extension];
  if (format === undefined) {
    const known = Object.entries(EXTENSIONS)
      .map(([ext, fmt]) => `${ext} (${fmt})`)
      .join(', ');
    throw new FormatError(
      `${path}: cannot tell the format from the ${extension === '' ? 'missing extension' : `extension ${extension}`}; known extensions: ${known}`,
    );
  }
  return format;
}

/**
 * Streams `path` as record batches of `columns` (in that order, with their Arrow types). Text
 * formats yield batches of `batchRows` rows (the last one shorter); Parquet reads `batchRows` rows
 * at a time; Arrow IPC yields the file's own batches.
 */
export async function* readInput(
  path: string,
  format: InputFormat,
  columns: readonly TableColumn[],
  batchRows = DEFAULT_BATCH_ROWS,
  options: ReadInputOptions = {},
): AsyncGenerator<arrow.RecordBatch> {
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new FormatError(`batchRows must be a positive integer, got ${batchRows}`);
  }
  const lineBytesMax = options.lineBytesMax ?? LINE_BYTES_MAX;
  if (!Number.isSafeInteger(lineBytesMax) || lineBytesMax < 1) {
    throw new FormatError(`lineBytesMax must be a positive integer, got ${lineBytesMax}`);
  }
  const shape = options.shape ?? {};
  const onBytesRead = options.onBytesRead ?? noProgress;
  try {
    switch (format) {
      case 'jsonl':
        return yield* readJsonLines(path, columns, batchRows, lineBytesMax, shape, onBytesRead);
      case 'csv':
        return yield* readCsv(path, columns, batchRows, lineBytesMax, shape, onBytesRead);
      case 'parquet':
        return yield* readParquet(path, columns, batchRows, shape, { verifyPageChecksums: options.verifyPageChecksums ?? true, onBytesRead });
      case 'arrow':
        return yield* readArrow(path, columns, shape, onBytesRead);
      default:
        throw new FormatError(`unknown input format ${String(format)}; one of jsonl, csv, parquet, arrow`);
    }
  } catch (error) {
    if (error instanceof FormatError) throw error;
    // A reader library's own failure (a RangeError, a parser bug): still one line naming the file.
    throw new FormatError(`${path}: cannot read it as ${FORMAT_NAMES[format] ?? String(format)}: ${messageOf(error)}`, { cause: error });
  }
}

function noProgress(): void {
  // No one is watching.
}

// ---------------------------------------------------------------------------------------------
// JSON Lines

async function* readJsonLines(
  path: string,
  columns: readonly TableColumn[],
  batchRows: number,
  lineBytesMax: number,
  shape: ShapeOptions,
  onBytesRead: (bytesRead: number) => void,
): AsyncGenerator<arrow.RecordBatch> {
  const shaper = new JsonRowShaper(columns, shape, path);
  const handle = await openFile(path);
  const input = handle.createReadStream();
  const batcher = new RowBatcher(path, columns);
  try {
    let lineNumber = 0;
    for await (const raw of splitLines(input, path, lineBytesMax)) {
      lineNumber++;
      const line = lineNumber === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
      if (line.trim() === '') continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (error) {
        throw new FormatError(`${path}:${lineNumber}: not valid JSON (${(error as Error).message}): ${excerpt(line)}`);
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) {
        throw new FormatError(`${path}:${lineNumber}: expected a JSON object, got ${excerpt(line)}`);
      }
      batcher.push(shaper.shape(row as Record<string, unknown>, lineNumber), lineNumber);
      if (batcher.size >= batchRows) {
        onBytesRead(input.bytesRead);
        yield batcher.flush();
      }
    }
    onBytesRead(input.bytesRead);
    if (batcher.size > 0) yield batcher.flush();
  } finally {
    input.destroy();
    await closeQuietly(handle);
  }
}

/**
 * The lines of a byte stream as UTF-8 text, without their `\n` or `\r\n`. A line is split on
 * bytes (a `\n` byte is never part of a multi-byte character) and decoded once whole; one longer
 * than `lineBytesMax` is an error naming its line number, raised before more of it is held, and
 * so is one that is not UTF-8 (decoding would replace its bad bytes with U+FFFD unseen).
 */
async function* splitLines(input: AsyncIterable<Buffer>, path: string, lineBytesMax: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let lineNumber = 1;
  const tooLong = (): FormatError =>
    new FormatError(
      `${path}:${lineNumber}: the line is longer than ${formatLimit(lineBytesMax)}, the longest line read (--max-line-bytes raises it)`,
    );
  const text = (last: Buffer): string => {
    const whole = parts.length === 0 ? last : Buffer.concat([...parts, last]);
    const end = whole.length > 0 && whole[whole.length - 1] === 0x0d ? whole.length - 1 : whole.length;
    const bytes = whole.subarray(0, end);
    if (!isUtf8(bytes)) throw invalidUtf8Error(`${path}:${lineNumber}`, bytes);
    return bytes.toString('utf8');
  };
  for await (const chunk of input) {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      if (partBytes + (end - start) > lineBytesMax) throw tooLong();
      if (newline < 0) {
        if (end > start) {
          parts.push(chunk.subarray(start));
          partBytes += end - start;
        }
        break;
      }
      yield text(chunk.subarray(start, newline));
      parts = [];
      partBytes = 0;
      lineNumber++;
      start = newline + 1;
    }
  }
  if (partBytes > 0) yield text(Buffer.alloc(0));
}

function formatLimit(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

/** Rows of a text format with their line numbers, turned into record batches on demand. */
class RowBatcher {
  private rows: Record<string, unknown>[] = [];
  private lines: number[] = [];

  constructor(
    private readonly path: string,
    private readonly columns: readonly NamedColumn[],
  ) {}

  get size(): number {
    return this.rows.length;
  }

  push(row: Record<string, unknown>, line: number): void {
    this.rows.push(row);
    this.lines.push(line);
  }

  /** A batch of the rows so far; errors name the file and line of the offending row. */
  flush(): arrow.RecordBatch {
    const lines = this.lines;
    const batch = buildRecordBatch(this.columns, this.rows, (r) => `${this.path}:${lines[r]}`);
    this.rows = [];
    this.lines = [];
    return batch;
  }
}

// ---------------------------------------------------------------------------------------------
// CSV

async function* readCsv(
  path: string,
  columns: readonly NamedColumn[],
  batchRows: number,
  lineBytesMax: number,
  shape: ShapeOptions,
  onBytesRead: (bytesRead: number) => void,
): AsyncGenerator<arrow.RecordBatch> {
  const types = new Map<string, ColumnType>(columns.map((column) => [column.name, column.type]));
  const handle = await openFile(path);
  const parser = parseCsv({
    bom: true,
    info: true,
    skip_empty_lines: true,
    relax_column_count: false,
    max_record_size: lineBytesMax,
    cast: (value, context) => (value === '' && context.quoting ? QUOTED_EMPTY : value),
  });
  const input = handle.createReadStream();
  // csv-parse decodes with replacement: bytes that are not UTF-8 are refused before it sees them.
  pipeline(input, utf8Checker(path), parser, () => {
    // Errors reach the loop below through the parser's async iterator.
  });
  let header: { name: string; type: ColumnType }[] | undefined;
  const batcher = new RowBatcher(path, columns);
  try {
    for await (const item of parserRecords(parser, path, lineBytesMax)) {
      const { record, info } = item;
      if (header === undefined) {
        header = readHeader(path, record, types, columns, new NameMapper(shape, path));
        continue;
      }
      const row = Object.create(null) as Record<string, unknown>;
      header.forEach((column, i) => {
        try {
          row[column.name] = decodeCell(column.type, record[i] as CsvCell);
        } catch (error) {
          if (!(error instanceof CellError)) throw error;
          throw new FormatError(`${path}:${info.lines}: column ${column.name} (${column.type}): ${error.message}`);
        }
      });
      batcher.push(row, info.lines);
      if (batcher.size >= batchRows) {
        onBytesRead(input.bytesRead);
        yield batcher.flush();
      }
    }
    onBytesRead(input.bytesRead);
    if (batcher.size > 0) yield batcher.flush();
  } finally {
    parser.destroy();
    input.destroy();
    await closeQuietly(handle);
  }
}

/** The parser's records, with its errors (bad quoting, wrong cell count) naming the file. */
async function* parserRecords(
  parser: AsyncIterable<unknown>,
  path: string,
  lineBytesMax: number,
): AsyncGenerator<{ record: CsvCell[]; info: Info }> {
  try {
    for await (const item of parser) yield item as { record: CsvCell[]; info: Info };
  } catch (error) {
    if (error instanceof FormatError) throw error;
    const { code, lines } = error as { code?: unknown; lines?: unknown };
    if (code === 'CSV_MAX_RECORD_SIZE') {
      throw new FormatError(
        `${path}:${typeof lines === 'number' ? lines : '?'}: the record is longer than ${formatLimit(lineBytesMax)}, the longest record read (--max-line-bytes raises it)`,
        { cause: error },
      );
    }
    throw new FormatError(`${path}: ${messageOf(error)}`, { cause: error });
  }
}

function readHeader(
  path: string,
  record: readonly CsvCell[],
  types: ReadonlyMap<string, ColumnType>,
  columns: readonly NamedColumn[],
  mapper: NameMapper,
): { name: string; type: ColumnType }[] {
  const fileNames = record.map((cell) => (cell === QUOTED_EMPTY ? '' : cell.trim()));
  const names = fileNames.map((name) => mapper.map(name));
  const unknown = names.flatMap((name, i) => (types.has(name) ? [] : [name === fileNames[i] ? JSON.stringify(name) : `${JSON.stringify(name)} (file column ${JSON.stringify(fileNames[i])})`]));
  if (unknown.length > 0) {
    throw new FormatError(
      `${path}:1: the header names column ${unknown.join(', ')}, which the table does not have (table columns: ${columns.map((c) => c.name).join(', ')})`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new FormatError(`${path}:1: the header names column ${JSON.stringify(name)} twice`);
    seen.add(name);
  }
  return names.map((name) => ({ name, type: types.get(name) as ColumnType }));
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC

const ARROW_FILE_MAGIC = Buffer.from('ARROW1');
const IPC_CONTINUATION = 0xffffffff;

/**
 * Whether `handle` holds the Arrow IPC file format (true) or the stream format (false); throws
 * for anything else, and for a file whose footer cannot be where it says.
 */
async function checkArrowHead(handle: FileHandle, path: string): Promise<boolean> {
  const head = Buffer.alloc(8);
  const { bytesRead } = await handle.read(head, 0, 8, 0);
  const isFile = bytesRead >= ARROW_FILE_MAGIC.length && head.subarray(0, ARROW_FILE_MAGIC.length).equals(ARROW_FILE_MAGIC);
  const isStream = bytesRead >= 4 && head.readUInt32LE(0) === IPC_CONTINUATION;
  if (!isFile && !isStream) {
    throw new FormatError(
      `${path}: not an Arrow IPC file (it would start with ARROW1) or stream (it would start with 0xFFFFFFFF)${bytesRead === 0 ? '; the file is empty' : ''}`,
    );
  }
  if (isFile) await checkArrowFileTail(handle, path);
  return isFile;
}

/** The schema of an Arrow IPC file or stream (`table create --like`), checked as readArrow checks it. */
export async function readArrowSchema(path: string): Promise<arrow.Schema> {
  const handle = await openFile(path);
  try {
    const isFile = await checkArrowHead(handle, path);
    try {
      const reader = await (await arrow.RecordBatchReader.from(handle)).open();
      const { schema } = reader;
      await reader.cancel();
      return schema;
    } catch (error) {
      throw new FormatError(`${path}: cannot read it as Arrow IPC ${isFile ? 'file' : 'stream'}: ${messageOf(error)}`, { cause: error });
    }
  } finally {
    await closeQuietly(handle);
  }
}

async function* readArrow(path: string, columns: readonly TableColumn[], shape: ShapeOptions, onBytesRead: (bytesRead: number) => void): AsyncGenerator<arrow.RecordBatch> {
  const handle = await openFile(path);
  try {
    const isFile = await checkArrowHead(handle, path);
    // From a file handle apache-arrow reads the file format by random access (footer, then one
    // batch at a time) and the stream format sequentially; neither loads the whole file.
    let reader: arrow.AsyncRecordBatchFileReader | arrow.AsyncRecordBatchStreamReader;
    try {
      reader = await (await arrow.RecordBatchReader.from(handle)).open();
    } catch (error) {
      throw new FormatError(`${path}: cannot read it as Arrow IPC ${isFile ? 'file' : 'stream'}: ${messageOf(error)}`, { cause: error });
    }
    checkColumnLengths(reader);
    const plan = planConform(reader.schema, columns, path, shape);
    const used = usedColumns(plan);
    let firstRow = 0;
    let batchIndex = 0;
    let bodyBytes = 0;
    const batches = reader.isFile() ? fileBatches(reader) : reader[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<arrow.RecordBatch>;
      try {
        next = await batches.next();
      } catch (error) {
        if (error instanceof ColumnLengthError) {
          const batch = error.dictionary ? `a dictionary batch before record batch ${batchIndex}` : `record batch ${batchIndex} (rows from ${firstRow})`;
          throw new FormatError(`${path}: ${batch}, ${error.message}`, { cause: error });
        }
        const hint = /codec not found/i.test(messageOf(error))
          ? ' (compressed Arrow IPC, e.g. the LZ4 default of pyarrow feather.write_feather, is not supported: write it with compression="uncompressed")'
          : '';
        throw new FormatError(`${path}: Arrow IPC read failed after row ${firstRow}: ${messageOf(error)}${hint}`, { cause: error });
      }
      if (next.done === true) break;
      const batch = next.value;
      const index = batchIndex++;
      if (batch.numRows === 0) continue;
      // The file's own lengths are claims: check them before anything reads the buffers.
      assertBatchIntact(batch, `${path}: record batch ${index} (rows from ${firstRow})`, used);
      // Uncompressed IPC (compressed is refused): a batch's buffers are about its bytes in the file.
      bodyBytes += batch.data.byteLength;
      onBytesRead(bodyBytes);
      yield conformBatch(plan, batch, firstRow);
      firstRow += batch.numRows;
    }
    await reader.cancel();
  } finally {
    await closeQuietly(handle);
  }
}

/**
 * The batches of an Arrow IPC file, one per footer block. Not the reader's own iterator: it
 * re-reads a block that holds some other message (a schema, say) forever; `readRecordBatch`
 * insists on a record batch.
 */
async function* fileBatches(reader: arrow.AsyncRecordBatchFileReader): AsyncGenerator<arrow.RecordBatch> {
  const count = reader.numRecordBatches;
  for (let i = 0; i < count; i++) {
    const batch = await reader.readRecordBatch(i);
    if (batch === null) throw new FormatError(`footer block ${i} of ${count} points at no record batch`);
    yield batch;
  }
}

/** Bytes of an Arrow IPC file around its footer: the footer's length (int32) and ARROW1. */
const ARROW_FILE_TAIL_BYTES = 10;

/**
 * The end of an Arrow IPC file: ARROW1 after a footer that fits in the file. apache-arrow would
 * allocate whatever footer length the file states (a flipped bit there asked for gigabytes) and
 * reads a truncated file's last bytes as a footer.
 */
async function checkArrowFileTail(handle: FileHandle, path: string): Promise<void> {
  const { size } = await handle.stat();
  const tail = Buffer.alloc(ARROW_FILE_TAIL_BYTES);
  const minimum = 8 + ARROW_FILE_TAIL_BYTES;
  if (size >= minimum) await handle.read(tail, 0, ARROW_FILE_TAIL_BYTES, size - ARROW_FILE_TAIL_BYTES);
  if (size < minimum || !tail.subarray(4).equals(ARROW_FILE_MAGIC)) {
    throw new FormatError(`${path}: an Arrow IPC file that does not end with ARROW1: it is truncated or not an Arrow IPC file`);
  }
  const footerBytes = tail.readInt32LE(0);
  if (footerBytes <= 0 || footerBytes > size - minimum) {
    throw new FormatError(`${path}: the Arrow IPC footer claims ${footerBytes} bytes, the file has room for ${size - minimum}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    throw new FormatError(`${path}: cannot open it: ${messageOf(error)}`, { cause: error });
  }
}

async function closeQuietly(handle: FileHandle): Promise<void> {
  await handle.close().catch(() => undefined);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function excerpt(line: string): string {
  return line.length > 60 ? `${line.slice(0, 60)}...` : line;
}
