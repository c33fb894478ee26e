/**
 * Input files of `granary ingest`: JSON Lines, CSV, Parquet and Arrow IPC, read as a stream of
 * Arrow record batches of the table's columns. Nothing here reads a whole file into memory: text
 * formats are parsed line by line into batches of `batchRows` rows, Parquet is read batch by batch
 * from a file-backed Blob, Arrow IPC batch by batch from a file handle. A bad line, cell or column
 * is a FormatError naming the file and the line (or row, or column) and what is wrong.
 */
import { openAsBlob } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { extname } from 'node:path';
import * as readline from 'node:readline';
import { pipeline } from 'node:stream';
import * as arrow from 'apache-arrow';
import { type Info, parse as parseCsv } from 'csv-parse';
import * as parquet from 'parquet-wasm';
import type { ColumnType } from '../../../protocol/index.js';
import { FormatError, type NamedColumn } from '../../format/index.js';
import { buildRecordBatch, conformBatch, planConform } from './conform.js';
import { CellError, type CsvCell, QUOTED_EMPTY, decodeCell } from './csv-cells.js';

export type InputFormat = 'jsonl' | 'csv' | 'parquet' | 'arrow';

export const DEFAULT_BATCH_ROWS = 8192;

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
  columns: readonly NamedColumn[],
  batchRows = DEFAULT_BATCH_ROWS,
): AsyncGenerator<arrow.RecordBatch> {
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new FormatError(`batchRows must be a positive integer, got ${batchRows}`);
  }
  switch (format) {
    case 'jsonl':
      return yield* readJsonLines(path, columns, batchRows);
    case 'csv':
      return yield* readCsv(path, columns, batchRows);
    case 'parquet':
      return yield* readParquet(path, columns, batchRows);
    case 'arrow':
      return yield* readArrow(path, columns);
    default:
      throw new FormatError(`unknown input format ${String(format)}; one of jsonl, csv, parquet, arrow`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON Lines

async function* readJsonLines(
  path: string,
  columns: readonly NamedColumn[],
  batchRows: number,
): AsyncGenerator<arrow.RecordBatch> {
  const known = new Set(columns.map((column) => column.name));
  const handle = await openFile(path);
  const input = handle.createReadStream({ encoding: 'utf8' });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  const batcher = new RowBatcher(path, columns);
  try {
    let lineNumber = 0;
    for await (const raw of lines) {
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
      for (const key of Object.keys(row)) {
        if (!known.has(key)) throw new FormatError(`${path}:${lineNumber}: the table has no column ${JSON.stringify(key)}`);
      }
      batcher.push(row as Record<string, unknown>, lineNumber);
      if (batcher.size >= batchRows) yield batcher.flush();
    }
    if (batcher.size > 0) yield batcher.flush();
  } finally {
    lines.close();
    input.destroy();
    await closeQuietly(handle);
  }
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

async function* readCsv(path: string, columns: readonly NamedColumn[], batchRows: number): AsyncGenerator<arrow.RecordBatch> {
  const types = new Map<string, ColumnType>(columns.map((column) => [column.name, column.type]));
  const handle = await openFile(path);
  const parser = parseCsv({
    bom: true,
    info: true,
    skip_empty_lines: true,
    relax_column_count: false,
    cast: (value, context) => (value === '' && context.quoting ? QUOTED_EMPTY : value),
  });
  const input = handle.createReadStream();
  pipeline(input, parser, () => {
    // Errors reach the loop below through the parser's async iterator.
  });
  let header: { name: string; type: ColumnType }[] | undefined;
  const batcher = new RowBatcher(path, columns);
  try {
    for await (const item of parserRecords(parser, path)) {
      const { record, info } = item;
      if (header === undefined) {
        header = readHeader(path, record, types, columns);
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
      if (batcher.size >= batchRows) yield batcher.flush();
    }
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
): AsyncGenerator<{ record: CsvCell[]; info: Info }> {
  try {
    for await (const item of parser) yield item as { record: CsvCell[]; info: Info };
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

function readHeader(
  path: string,
  record: readonly CsvCell[],
  types: ReadonlyMap<string, ColumnType>,
  columns: readonly NamedColumn[],
): { name: string; type: ColumnType }[] {
  const names = record.map((cell) => (cell === QUOTED_EMPTY ? '' : cell.trim()));
  const unknown = names.filter((name) => !types.has(name));
  if (unknown.length > 0) {
    throw new FormatError(
      `${path}:1: the header names column ${unknown.map((name) => JSON.stringify(name)).join(', ')}, which the table does not have (table columns: ${columns.map((c) => c.name).join(', ')})`,
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
// Parquet

async function* readParquet(
  path: string,
  columns: readonly NamedColumn[],
  batchRows: number,
): AsyncGenerator<arrow.RecordBatch> {
  let file: parquet.ParquetFile;
  try {
    file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  } catch (error) {
    throw new FormatError(`${path}: cannot read it as Parquet: ${messageOf(error)}`, { cause: error });
  }
  try {
    let fileSchema: arrow.Schema;
    try {
      fileSchema = arrow.tableFromIPC(file.schema().intoIPCStream()).schema;
    } catch (error) {
      throw new FormatError(`${path}: cannot read the Parquet schema: ${messageOf(error)}`, { cause: error });
    }
    const plan = planConform(fileSchema, columns, path);
    const stream = (await file.stream({ batchSize: batchRows })) as ReadableStream<parquet.RecordBatch>;
    let firstRow = 0;
    const reader = stream.getReader();
    try {
      for (;;) {
        const next = await reader.read().catch((error: unknown) => {
          throw new FormatError(`${path}: Parquet read failed after row ${firstRow}: ${messageOf(error)}`, { cause: error });
        });
        if (next.done) break;
        const table = arrow.tableFromIPC(next.value.intoIPCStream());
        for (const batch of table.batches) {
          if (batch.numRows === 0) continue;
          yield conformBatch(plan, batch, firstRow);
          firstRow += batch.numRows;
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  } finally {
    file.free();
  }
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC

const ARROW_FILE_MAGIC = Buffer.from('ARROW1');
const IPC_CONTINUATION = 0xffffffff;

async function* readArrow(path: string, columns: readonly NamedColumn[]): AsyncGenerator<arrow.RecordBatch> {
  const handle = await openFile(path);
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    const isFile = bytesRead >= ARROW_FILE_MAGIC.length && head.subarray(0, ARROW_FILE_MAGIC.length).equals(ARROW_FILE_MAGIC);
    const isStream = bytesRead >= 4 && head.readUInt32LE(0) === IPC_CONTINUATION;
    if (!isFile && !isStream) {
      throw new FormatError(
        `${path}: not an Arrow IPC file (it would start with ARROW1) or stream (it would start with 0xFFFFFFFF)${bytesRead === 0 ? '; the file is empty' : ''}`,
      );
    }
    // From a file handle apache-arrow reads the file format by random access (footer, then one
    // batch at a time) and the stream format sequentially; neither loads the whole file.
    let reader: arrow.AsyncRecordBatchFileReader | arrow.AsyncRecordBatchStreamReader;
    try {
      reader = await (await arrow.RecordBatchReader.from(handle)).open();
    } catch (error) {
      throw new FormatError(`${path}: cannot read it as Arrow IPC ${isFile ? 'file' : 'stream'}: ${messageOf(error)}`, { cause: error });
    }
    const plan = planConform(reader.schema, columns, path);
    let firstRow = 0;
    const batches = reader[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<arrow.RecordBatch>;
      try {
        next = await batches.next();
      } catch (error) {
        const hint = /codec not found/i.test(messageOf(error))
          ? ' (compressed Arrow IPC, e.g. the LZ4 default of pyarrow feather.write_feather, is not supported: write it with compression="uncompressed")'
          : '';
        throw new FormatError(`${path}: Arrow IPC read failed after row ${firstRow}: ${messageOf(error)}${hint}`, { cause: error });
      }
      if (next.done === true) break;
      const batch = next.value;
      if (batch.numRows === 0) continue;
      yield conformBatch(plan, batch, firstRow);
      firstRow += batch.numRows;
    }
    await reader.cancel();
  } finally {
    await closeQuietly(handle);
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
