/**
 * How much of one column the decoder may hold at once. parquet-wasm decodes a batch of rows of
 * every column into its own memory (wasm32: 4 GiB at most, in this process); a column chunk of a
 * few kilobytes of Brotli can claim gigabytes (large_string_map.brotli.parquet: two strings of
 * 1 GiB), which took 25 s and 3.2 GB before the decoder trapped. So before a row group is decoded,
 * the footer's uncompressed size of each column chunk, spread over its rows, says how big a batch
 * of that column will be, and a batch above DECODED_BATCH_COLUMN_BYTES_MAX is refused: Granary
 * could not store it anyway (1 GiB is also the largest stream a stripe holds,
 * client/format/encodings/decode.ts).
 */
import { FormatError } from '../../../format/format-error.js';
import type { RowGroupInfo } from './footer.js';

export const DECODED_BATCH_COLUMN_BYTES_MAX = 1024 * 1024 * 1024;

/** Throws a FormatError naming the file, row group and column whose batch would be too big. */
export function assertRowGroupDecodable(path: string, index: number, group: RowGroupInfo, batchRows: number): void {
  if (group.rows === 0) return;
  const rows = Math.min(batchRows, group.rows);
  for (const column of group.columns) {
    const perRow = column.totalUncompressedBytes / group.rows;
    const batchBytes = Math.ceil(perRow * rows);
    if (batchBytes > DECODED_BATCH_COLUMN_BYTES_MAX) {
      throw new FormatError(
        `${path}: row group ${index}, column ${column.path}: ${group.rows} rows that decode to ${column.totalUncompressedBytes} bytes, so a batch of ${rows} rows would hold ${batchBytes} bytes of this column, above the ${DECODED_BATCH_COLUMN_BYTES_MAX} bytes a batch column may hold`,
      );
    }
  }
}
