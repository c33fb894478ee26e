/**
 * Decimals and integers of users' Parquet and Arrow files into `decimal(p,s)` columns, buffer to
 * buffer and exactly. parquet-wasm hands out every Parquet DECIMAL (INT32, INT64,
 * FIXED_LEN_BYTE_ARRAY or BYTE_ARRAY backed) as Arrow Decimal128 of the file's precision and
 * scale; Arrow IPC files may also hold Decimal256.
 *
 * A file value is rescaled to the column's scale: multiplied when the file's scale is lower,
 * divided when it is higher and the digits dropped are zeros. A value that would round, or whose
 * digits pass the column's precision, is refused naming file, row and column; nothing of the
 * ingest is stored. A file column already of the column's type is checked the same way (a file's
 * declared precision is not a promise its values keep) but not copied.
 */
import * as arrow from 'apache-arrow';
import { type DecimalParams, type ColumnType, decimalParamsOf, formatDecimal, pow10 } from '../../../protocol/index.js';
import { FormatError, arrowTypeOf } from '../../format/index.js';
import { isValid, validityOf } from '../../format/arrow-access.js';
import { DECIMAL_WORDS, decimalAt, setDecimal, withinBound } from '../../format/decimal128.js';
import type { DataConverter } from './temporal-convert.js';
import { rebasedValidity } from './validity-copy.js';

/** A converter into decimal column `type` from a file column of Arrow type `fileType`, or undefined. */
export function decimalConverter(type: ColumnType, fileType: arrow.DataType): DataConverter | undefined {
  const params = decimalParamsOf(type);
  if (params === undefined) return undefined;
  if (arrow.DataType.isDecimal(fileType) && (fileType.bitWidth === 128 || fileType.bitWidth === 256)) {
    return fromDecimal(type, params, fileType);
  }
  if (arrow.DataType.isInt(fileType)) return fromInteger(type, params);
  return undefined;
}

function fromDecimal(type: ColumnType, params: DecimalParams, fileType: arrow.Decimal): DataConverter {
  const tableType = arrowTypeOf(type);
  const words = fileType.bitWidth / 32;
  const up = params.scale >= fileType.scale ? pow10(params.scale - fileType.scale) : 1n;
  const down = params.scale < fileType.scale ? pow10(fileType.scale - params.scale) : 1n;
  const bound = pow10(params.precision);
  const same = words === DECIMAL_WORDS && up === 1n && down === 1n;
  return (data, label) => {
    const values = data.values as Uint32Array;
    const validity = validityOf(data);
    // Values of the column's own type are only checked: no copy.
    const out = same ? undefined : new Uint32Array(data.length * DECIMAL_WORDS);
    for (let i = 0; i < data.length; i++) {
      if (!isValid(validity, i)) continue;
      let value: number | bigint = words === DECIMAL_WORDS ? decimalAt(values, i) : wideAt(values, i, words);
      if (up !== 1n) value = BigInt(value) * up;
      else if (down !== 1n) {
        const big = BigInt(value);
        if (big % down !== 0n) {
          throw new FormatError(
            `${label(i)}: ${formatDecimal(big, fileType.scale)} has more than ${params.scale} fraction digits and would be rounded in ${type}; Granary does not round (declare the column with scale ${fileType.scale})`,
          );
        }
        value = big / down;
      }
      if (!withinBound(value, bound)) {
        throw new FormatError(
          `${label(i)}: ${formatDecimal(BigInt(value), params.scale)} does not fit ${type}: at most ${params.precision - params.scale} digits before the point (declare a larger precision)`,
        );
      }
      if (out !== undefined) setDecimal(out, i, value);
    }
    if (out === undefined) return data.type === tableType ? data : data.clone(tableType);
    const { nullBitmap, nullCount } = rebasedValidity(data);
    return arrow.makeData({ type: tableType as arrow.Decimal, length: data.length, nullCount, nullBitmap, data: out });
  };
}

/** Value `i` of a Decimal256 (or any multiple of 32 bits) as a bigint. */
function wideAt(words: Uint32Array, i: number, count: number): bigint {
  let value = 0n;
  for (let w = count - 1; w >= 0; w--) value = (value << 32n) | BigInt(words[i * count + w] as number);
  return BigInt.asIntN(count * 32, value);
}

function fromInteger(type: ColumnType, params: DecimalParams): DataConverter {
  const tableType = arrowTypeOf(type);
  const factor = pow10(params.scale);
  const bound = pow10(params.precision);
  return (data, label) => {
    const values = data.values as ArrayLike<number | bigint>;
    const validity = validityOf(data);
    const out = new Uint32Array(data.length * DECIMAL_WORDS);
    for (let i = 0; i < data.length; i++) {
      if (!isValid(validity, i)) continue;
      const raw = values[i] as number | bigint;
      // An unsigned 64-bit value comes out of a BigUint64Array as a non-negative bigint already.
      const value = BigInt(raw) * factor;
      if (!withinBound(value, bound)) {
        throw new FormatError(`${label(i)}: ${String(raw)} does not fit ${type}: at most ${params.precision - params.scale} digits before the point`);
      }
      setDecimal(out, i, value);
    }
    const { nullBitmap, nullCount } = rebasedValidity(data);
    return arrow.makeData({ type: tableType as arrow.Decimal, length: data.length, nullCount, nullBitmap, data: out });
  };
}
