/**
 * Lists of users' Parquet and Arrow files into `id_list`, buffer to buffer: List, LargeList or
 * FixedSizeList of any integer width widened to int64 (parquet-wasm hands out LIST<INT32>, Spark's
 * arrays of ints, and repeated INT32 fields as List<Int32>). A uint64 above int64's maximum and a
 * null element are refused naming file, row and column and the element's index within its list;
 * nothing of the ingest is stored. The id_list of the file that is already List<Int64> takes the
 * zero-copy path of conform.ts instead.
 */
import * as arrow from 'apache-arrow';
import type { ColumnType } from '../../../protocol/index.js';
import { FormatError, arrowTypeOf } from '../../format/index.js';
import { isValid, listChild, validityOf } from '../../format/arrow-access.js';
import type { DataConverter } from './temporal-convert.js';
import { rebasedValidity } from './validity-copy.js';

const INT64_MAX = 2n ** 63n - 1n;
/** Offsets are int32: a converted batch's list holds at most this many elements. */
const CHILD_COUNT_MAX = 0x7fff_ffff;

/** A converter into an id_list column from a list of integers, or undefined. */
export function idListConverter(type: ColumnType, fileType: arrow.DataType): DataConverter | undefined {
  if (type !== 'id_list') return undefined;
  if (!arrow.DataType.isList(fileType) && !arrow.DataType.isLargeList(fileType) && !arrow.DataType.isFixedSizeList(fileType)) return undefined;
  const item = fileType.children[0]?.type;
  if (item === undefined || !arrow.DataType.isInt(item)) return undefined;
  const itemName = `${item.isSigned ? 'int' : 'uint'}${item.bitWidth}`;
  const tableType = arrowTypeOf('id_list') as arrow.List<arrow.Int64>;
  const fixedSize = arrow.DataType.isFixedSizeList(fileType) ? fileType.listSize : undefined;
  return (data, label) => {
    const rows = data.length;
    const validity = validityOf(data);
    const start = (i: number): number => (fixedSize === undefined ? Number((data.valueOffsets as Int32Array | BigInt64Array)[i] as number | bigint) : (data.offset + i) * fixedSize);
    const child = listChild(data);
    const childValidity = validityOf(child);
    const values = child.values as ArrayLike<number | bigint>;
    let total = 0;
    for (let i = 0; i < rows; i++) if (isValid(validity, i)) total += start(i + 1) - start(i);
    if (total > CHILD_COUNT_MAX) throw new FormatError(`${label(0)}: ${total} list elements in one batch, at most ${CHILD_COUNT_MAX}`);
    const ids = new BigInt64Array(total);
    const offsets = new Int32Array(rows + 1);
    let next = 0;
    for (let i = 0; i < rows; i++) {
      if (isValid(validity, i)) {
        const from = start(i);
        const to = start(i + 1);
        for (let j = from; j < to; j++) {
          if (!isValid(childValidity, j)) {
            throw new FormatError(`${label(i)}: element ${j - from} of the list is null; an id_list holds no null ids (drop them, or make the whole list null)`);
          }
          const value = values[j] as number | bigint;
          if (typeof value === 'bigint' && value > INT64_MAX) {
            throw new FormatError(`${label(i)}: element ${j - from} of the list is ${itemName} ${value}, above int64's maximum; Granary does not wrap ids`);
          }
          ids[next++] = BigInt(value);
        }
      }
      offsets[i + 1] = next;
    }
    const { nullBitmap, nullCount } = rebasedValidity(data);
    const childData = arrow.makeData({ type: tableType.valueType, length: total, nullCount: 0, data: ids });
    return arrow.makeData({ type: tableType, length: rows, nullCount, nullBitmap, valueOffsets: offsets, child: childData });
  };
}
