/**
 * The columns of `granary table create NAME --like FILE`: the file's schema read the way ingest
 * reads the file (Parquet on a decoding thread, Arrow IPC with its footer checked), then mapped by
 * infer-columns.ts. A column the table could not take fails the whole command, every such column
 * named with its reason in one line: a table made without it would refuse the file at ingest.
 */
import type * as arrow from 'apache-arrow';
import type { ColumnSpec } from '../../../protocol/index.js';
import { FormatError } from '../../format/index.js';
import { type ColumnNote, type InferOptions, describeRefusals, inferColumns } from './infer-columns.js';
import { type InputFormat, formatFromPath, readArrowSchema } from './input.js';
import { readParquetSchema } from './parquet-input.js';

export interface TableLike {
  readonly columns: readonly ColumnSpec[];
  readonly notes: readonly ColumnNote[];
}

/** The file's schema, for a format that has one (Parquet, Arrow IPC). */
export async function readFileSchema(path: string, format: InputFormat = formatFromPath(path)): Promise<arrow.Schema> {
  switch (format) {
    case 'parquet':
      return readParquetSchema(path);
    case 'arrow':
      return readArrowSchema(path);
    default:
      throw new FormatError(`${path}: --like takes the column types of a Parquet or Arrow IPC file; a ${format === 'csv' ? 'CSV' : 'JSON Lines'} file has none (write a schema file for --schema)`);
  }
}

/** The table columns that take `path` as it is, or a FormatError naming every column that cannot be taken. */
export async function columnsLike(path: string, options: InferOptions & { readonly format?: InputFormat } = {}): Promise<TableLike> {
  const schema = await readFileSchema(path, options.format);
  if (schema.fields.length === 0) throw new FormatError(`${path}: the file has no columns`);
  const inferred = inferColumns(schema, options);
  if (inferred.refused.length > 0) {
    throw new FormatError(`${path}: cannot make a table like it: ${describeRefusals(inferred.refused)}`);
  }
  return { columns: inferred.columns, notes: inferred.notes };
}
