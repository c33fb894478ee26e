/**
 * A Parquet file's footer, read with Thrift's compact protocol (thrift-tree.ts) independently of
 * the decoder: the page walk (page-checksums.ts) needs every column chunk's byte range, and the
 * error messages need each row group's rows and each chunk's column path. The whole struct tree is
 * kept too, for the footer repair (footer-repair.ts).
 *
 * Every number read is a claim of the file: offsets and sizes are checked against the file before
 * anyone seeks by them.
 */
import { readSync } from 'node:fs';
import { FormatError } from '../../../format/format-error.js';
import { type DroppedField, repairFooterTree } from './footer-repair.js';
import { type Int32DeltaColumn, int32DeltaAsInt64 } from './int32-delta-footer.js';
import { int96AsFixedBytes } from './int96-footer.js';
import {
  type ThriftField,
  type ThriftList,
  type ThriftStruct,
  ThriftType,
  fieldOf,
  readThriftStruct,
  thriftTypeName,
  writeThriftStruct,
} from './thrift-tree.js';

export const PARQUET_MAGIC = Buffer.from('PAR1');
/** The magic of a file whose footer is encrypted. */
const ENCRYPTED_MAGIC = Buffer.from('PARE');
/** Length (int32) and magic after the footer. */
export const FOOTER_TAIL_BYTES = 8;
/**
 * The largest footer read (256 MiB): a footer is read whole, and a flipped bit in its length
 * would otherwise ask for gigabytes. Footers of real files are kilobytes to a few megabytes.
 */
export const FOOTER_BYTES_MAX = 256 * 1024 * 1024;

export interface ColumnChunkInfo {
  /** The column's path in the schema, dotted (`arr.key_value.key`). */
  readonly path: string;
  /** Where the chunk's first page starts: its dictionary page, else its first data page. */
  readonly firstPageOffset: number;
  readonly totalCompressedBytes: number;
  readonly totalUncompressedBytes: number;
  /** Another file holds the chunk (ColumnChunk.file_path), which this reader does not follow. */
  readonly externalFile: string | undefined;
}

export interface RowGroupInfo {
  readonly rows: number;
  /** The first row of the group in the file. */
  readonly firstRow: number;
  readonly columns: readonly ColumnChunkInfo[];
}

export interface ParquetFooter {
  readonly fileBytes: number;
  /** Where the footer starts; column data ends here. */
  readonly footerOffset: number;
  /** The footer as the decoder should see it: repaired (footer-repair.ts) when it had to be. */
  readonly tree: ThriftStruct;
  /** What the repair removed; empty when the footer is read as stored. */
  readonly dropped: readonly DroppedField[];
  /**
   * INT96 columns (paths below the root) the decoder's footer declares FIXED_LEN_BYTE_ARRAY(12),
   * so it hands out their bytes for an exact conversion (int96-footer.ts, int96.ts).
   */
  readonly int96Columns: readonly (readonly string[])[];
  /**
   * INT32 columns whose pages are all DELTA_BINARY_PACKED, which the decoder's footer declares
   * INT64 and the reading thread narrows back (int32-delta-footer.ts).
   */
  readonly int32DeltaColumns: readonly Int32DeltaColumn[];
  readonly rowGroups: readonly RowGroupInfo[];
}

/** The footer's bytes, checked against the file's size and magic. */
export function readFooterBytes(fd: number, fileBytes: number, path: string): { bytes: Buffer; footerOffset: number } {
  const minimum = PARQUET_MAGIC.length + FOOTER_TAIL_BYTES;
  if (fileBytes < minimum) throw new FormatError(`${path}: ${fileBytes} bytes, too short for a Parquet file`);
  const tail = readAt(fd, fileBytes - FOOTER_TAIL_BYTES, FOOTER_TAIL_BYTES);
  const magic = tail.subarray(4);
  if (magic.equals(ENCRYPTED_MAGIC)) throw new FormatError(`${path}: an encrypted Parquet file (its footer is encrypted); Granary reads plaintext Parquet only`);
  if (!magic.equals(PARQUET_MAGIC)) throw new FormatError(`${path}: not a Parquet file (it does not end with PAR1): truncated, or another format`);
  // Readers that seek to the footer never look at the head; a file whose first bytes are not the
  // magic was damaged or cut and pasted, and its pages cannot be trusted either.
  if (!readAt(fd, 0, PARQUET_MAGIC.length).equals(PARQUET_MAGIC)) {
    throw new FormatError(`${path}: not a Parquet file (it does not start with PAR1): damaged, or another format`);
  }
  const footerBytes = tail.readUInt32LE(0);
  if (footerBytes === 0 || footerBytes > fileBytes - minimum || footerBytes > FOOTER_BYTES_MAX) {
    throw new FormatError(`${path}: the Parquet footer claims ${footerBytes} bytes, the file has room for ${Math.min(fileBytes - minimum, FOOTER_BYTES_MAX)}`);
  }
  const footerOffset = fileBytes - FOOTER_TAIL_BYTES - footerBytes;
  return { bytes: readAt(fd, footerOffset, footerBytes), footerOffset };
}

/** The footer of the file open as `fd` (`fileBytes` long). */
export function readFooter(fd: number, fileBytes: number, path: string): ParquetFooter {
  const { bytes, footerOffset } = readFooterBytes(fd, fileBytes, path);
  let stored: ThriftStruct;
  try {
    stored = readThriftStruct(bytes).struct;
  } catch (error) {
    throw new FormatError(`${path}: the Parquet footer is not a valid FileMetaData struct: ${messageOf(error)}`, { cause: error });
  }
  const repaired = repairFooterTree(stored);
  const { dropped } = repaired;
  const { tree, columns: int96Columns } = int96AsFixedBytes(repaired.tree);
  const rowGroups: RowGroupInfo[] = [];
  let firstRow = 0;
  for (const [index, item] of listOf(tree, 4, 'FileMetaData.row_groups', path, true).entries()) {
    const where = `row group ${index}`;
    const group = asStruct(item, `${where}`, path);
    const rows = int(group, 3, `${where}: RowGroup.num_rows`, path);
    const columns = listOf(group, 1, `${where}: RowGroup.columns`, path, true).map((chunk, c) => {
      const info = columnChunk(asStruct(chunk, `${where}, column chunk ${c}`, path), `${where}, column chunk ${c}`, path);
      if (info.externalFile === undefined && info.firstPageOffset + info.totalCompressedBytes > footerOffset) {
        throw new FormatError(
          `${path}: ${where}, column ${info.path}: the chunk claims bytes ${info.firstPageOffset}-${info.firstPageOffset + info.totalCompressedBytes}, past the column data (which ends at ${footerOffset})`,
        );
      }
      return info;
    });
    rowGroups.push({ rows, firstRow, columns });
    firstRow += rows;
  }
  const int32Delta = int32DeltaAsInt64(tree, rowGroups, fd, path);
  return { fileBytes, footerOffset, tree: int32Delta.tree, dropped, int96Columns, int32DeltaColumns: int32Delta.columns, rowGroups };
}

function columnChunk(chunk: ThriftStruct, where: string, path: string): ColumnChunkInfo {
  const filePathField = fieldOf(chunk, 1);
  const externalFile = filePathField !== undefined && Buffer.isBuffer(filePathField.value) ? filePathField.value.toString('utf8') : undefined;
  const meta = fieldOf(chunk, 3);
  if (meta === undefined || meta.type !== ThriftType.STRUCT) {
    throw new FormatError(`${path}: ${where}: no ColumnMetaData (encrypted column metadata is not supported)`);
  }
  const metadata = meta.value as ThriftStruct;
  const names = listOf(metadata, 3, `${where}: ColumnMetaData.path_in_schema`, path, true).map((name) => {
    if (!Buffer.isBuffer(name)) throw new FormatError(`${path}: ${where}: a path_in_schema element is not a string`);
    return name.toString('utf8');
  });
  const column = names.join('.');
  const at = `${where} (column ${column})`;
  const dataPageOffset = int(metadata, 9, `${at}: ColumnMetaData.data_page_offset`, path);
  const dictionaryField = fieldOf(metadata, 11);
  const dictionaryPageOffset = dictionaryField === undefined ? 0 : int(metadata, 11, `${at}: ColumnMetaData.dictionary_page_offset`, path);
  const totalCompressedBytes = int(metadata, 7, `${at}: ColumnMetaData.total_compressed_size`, path);
  // The chunk starts at its dictionary page when it has one, else at its first data page. An
  // offset inside the magic means none: writers store 0 for "no dictionary page" (and, for a
  // chunk with no values, for "no data page").
  const offsets = [dataPageOffset, dictionaryPageOffset].filter((offset) => offset >= PARQUET_MAGIC.length);
  if (offsets.length === 0 && totalCompressedBytes > 0) {
    throw new FormatError(`${path}: ${at}: ${totalCompressedBytes} bytes of pages, but no page offset past the file's magic`);
  }
  const firstPageOffset = offsets.length === 0 ? PARQUET_MAGIC.length : Math.min(...offsets);
  return {
    path: column,
    firstPageOffset,
    totalCompressedBytes,
    totalUncompressedBytes: int(metadata, 6, `${at}: ColumnMetaData.total_uncompressed_size`, path),
    externalFile,
  };
}

/**
 * The file for the decoder: `file` itself, or, when the footer was repaired or declares INT96
 * columns as bytes or INT32 delta columns as INT64, the file's bytes up to the footer (a slice: still read from disk on demand)
 * followed by the decoder's footer, its length and the magic.
 */
export function decoderBlob(file: Blob, footer: ParquetFooter, path: string): Blob {
  if (footer.dropped.length === 0 && footer.int96Columns.length === 0 && footer.int32DeltaColumns.length === 0) return file;
  let bytes: Buffer;
  try {
    bytes = writeThriftStruct(footer.tree);
  } catch (error) {
    throw new FormatError(`${path}: cannot re-encode the repaired Parquet footer: ${messageOf(error)}`, { cause: error });
  }
  const length = Buffer.alloc(FOOTER_TAIL_BYTES - PARQUET_MAGIC.length);
  length.writeUInt32LE(bytes.length, 0);
  return new Blob([file.slice(0, footer.footerOffset), bytes, length, PARQUET_MAGIC]);
}

/** What the repair dropped, in words: `row group 1, column uint8: ColumnMetaData field 2 (...)`. */
export function describeDropped(footer: ParquetFooter): string {
  return footer.dropped
    .map((field) => {
      const column = field.rowGroup === undefined || field.columnChunk === undefined ? undefined : footer.rowGroups[field.rowGroup]?.columns[field.columnChunk]?.path;
      const chunk = column === undefined ? `column chunk ${field.columnChunk ?? '?'}` : `column ${column}`;
      const place = field.rowGroup === undefined ? '' : `row group ${field.rowGroup}, ${chunk}: `;
      return `${place}${field.field} (${field.reason})`;
    })
    .join('; ');
}

/** A non-negative integer field (i32 or i64) that fits a JS number. */
export function int(struct: ThriftStruct, id: number, what: string, path: string): number {
  const field = fieldOf(struct, id);
  if (field === undefined) throw new FormatError(`${path}: ${what} is missing`);
  return intValue(field, what, path);
}

export function intValue(field: ThriftField, what: string, path: string): number {
  const { value } = field;
  if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  if (typeof value === 'number' && field.type !== ThriftType.DOUBLE && value >= 0) return value;
  throw new FormatError(`${path}: ${what} is ${typeof value === 'object' ? thriftTypeName(field.type) : String(value)}, not a size or an offset`);
}

function listOf(struct: ThriftStruct, id: number, what: string, path: string, required: boolean): readonly unknown[] {
  const field = fieldOf(struct, id);
  if (field === undefined) {
    if (required) throw new FormatError(`${path}: ${what} is missing`);
    return [];
  }
  if (field.type !== ThriftType.LIST) throw new FormatError(`${path}: ${what} is a ${thriftTypeName(field.type)}, not a list`);
  return (field.value as ThriftList).items;
}

function asStruct(value: unknown, what: string, path: string): ThriftStruct {
  if (typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'struct') return value as ThriftStruct;
  throw new FormatError(`${path}: ${what} is not a struct`);
}

/** `length` bytes at `position`; fewer is an error (the file changed or lies about its size). */
export function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  readInto(fd, out, length, position);
  return out;
}

/** `length` bytes at `position` into the start of `out`. */
export function readInto(fd: number, out: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const read = readSync(fd, out, done, length - done, position + done);
    if (read === 0) throw new FormatError(`a read of ${length} bytes at offset ${position} ended after ${done}: the file is shorter than it was`);
    done += read;
  }
}

/** An error's message; thrift's protocol errors may carry none, only a name. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message === '' || error.message === undefined ? error.name || 'an error without a message' : error.message;
  return String(error);
}
