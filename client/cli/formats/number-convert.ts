/**
 * Numbers of users' Parquet and Arrow files widened into the table's types, buffer to buffer and
 * bit for bit: Float16 into `float` or `double` and Float32 into `double` by moving the sign,
 * exponent and mantissa bits (never through a JavaScript number, which may not keep a NaN's sign
 * or payload: a -NaN float16 came back as +NaN that way), and integers of any width and
 * signedness into `int32` or `int64` where each value fits. A value that does not fit (a uint64
 * above int64's maximum, an int64 beyond int32) is refused naming file, row and column and saying
 * the value and why; nothing of the ingest is stored.
 *
 * NaN is widened as hardware does it (x86 cvtss2sd, IEEE 754's recommended conversion): sign
 * kept, payload shifted into the high mantissa bits; a signalling NaN stays signalling, since no
 * bit is set that the file did not set.
 */
import * as arrow from 'apache-arrow';
import type { ColumnType } from '../../../protocol/index.js';
import { FormatError, arrowTypeOf } from '../../format/index.js';
import { isValid, validityOf } from '../../format/arrow-access.js';
import type { DataConverter } from './temporal-convert.js';
import { rebasedValidity } from './validity-copy.js';

const INT64_MAX = 2n ** 63n - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A converter into a float, double, int32 or int64 column, or undefined when this file type needs none here. */
export function numberConverter(type: ColumnType, fileType: arrow.DataType): DataConverter | undefined {
  if (arrow.DataType.isFloat(fileType)) {
    if (fileType.precision === arrow.Precision.HALF && (type === 'float' || type === 'double')) return fromHalf(type);
    if (fileType.precision === arrow.Precision.SINGLE && type === 'double') return floatToDouble;
    return undefined;
  }
  if (arrow.DataType.isInt(fileType) && (type === 'int32' || type === 'int64')) {
    if (fileType.bitWidth === (type === 'int32' ? 32 : 64) && fileType.isSigned) return undefined;
    return fromInteger(type, fileType);
  }
  return undefined;
}

/** float32 bits of float16 bits. */
export function halfToFloatBits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f80_0000 | (mantissa << 13)) >>> 0;
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0;
    // Subnormal: normalise (the float32 exponent range holds every float16 subnormal).
    let e = 127 - 14;
    while ((mantissa & 0x400) === 0) {
      mantissa <<= 1;
      e--;
    }
    return (sign | (e << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13)) >>> 0;
}

/** float64 bits (high word, low word) of float32 bits. */
export function floatToDoubleBits(bits: number): [number, number] {
  const sign = (bits & 0x8000_0000) >>> 0;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7f_ffff;
  let e: number;
  if (exponent === 0xff) e = 0x7ff;
  else if (exponent === 0) {
    if (mantissa === 0) return [sign, 0];
    e = 1023 - 126;
    while ((mantissa & 0x80_0000) === 0) {
      mantissa <<= 1;
      e--;
    }
    mantissa &= 0x7f_ffff;
  } else e = exponent - 127 + 1023;
  // 23 mantissa bits become the top of 52: 20 in the high word, 3 at the top of the low word.
  return [(sign | (e << 20) | (mantissa >>> 3)) >>> 0, ((mantissa & 7) << 29) >>> 0];
}

function fromHalf(type: 'float' | 'double'): DataConverter {
  const tableType = arrowTypeOf(type);
  return (data) => {
    const halves = data.values as Uint16Array;
    const { nullBitmap, nullCount } = rebasedValidity(data);
    if (type === 'float') {
      const out = new Uint32Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = halfToFloatBits(halves[i] as number);
      return arrow.makeData({ type: tableType as arrow.Float32, length: data.length, nullCount, nullBitmap, data: new Float32Array(out.buffer) });
    }
    const out = new Uint32Array(data.length * 2);
    for (let i = 0; i < data.length; i++) {
      const [high, low] = floatToDoubleBits(halfToFloatBits(halves[i] as number));
      out[2 * i] = low;
      out[2 * i + 1] = high;
    }
    return arrow.makeData({ type: tableType as arrow.Float64, length: data.length, nullCount, nullBitmap, data: new Float64Array(out.buffer) });
  };
}

const floatToDouble: DataConverter = (data) => {
  const values = data.values as Float32Array;
  const bits = new Uint32Array(values.buffer, values.byteOffset, data.length);
  const out = new Uint32Array(data.length * 2);
  for (let i = 0; i < data.length; i++) {
    const [high, low] = floatToDoubleBits(bits[i] as number);
    out[2 * i] = low;
    out[2 * i + 1] = high;
  }
  const { nullBitmap, nullCount } = rebasedValidity(data);
  return arrow.makeData({ type: arrowTypeOf('double') as arrow.Float64, length: data.length, nullCount, nullBitmap, data: new Float64Array(out.buffer) });
};

function fromInteger(type: 'int32' | 'int64', fileType: arrow.Int): DataConverter {
  const tableType = arrowTypeOf(type);
  const fileName = `${fileType.isSigned ? 'int' : 'uint'}${fileType.bitWidth}`;
  return (data, label) => {
    const values = data.values as ArrayLike<number | bigint>;
    const validity = validityOf(data);
    const { nullBitmap, nullCount } = rebasedValidity(data);
    if (type === 'int64') {
      const out = new BigInt64Array(data.length);
      for (let i = 0; i < data.length; i++) {
        if (!isValid(validity, i)) continue;
        const value = values[i] as number | bigint;
        if (typeof value === 'bigint' && value > INT64_MAX) {
          throw new FormatError(`${label(i)}: ${fileName} ${value} is above int64's maximum ${INT64_MAX}; the column is int64 and Granary does not wrap values (store it as decimal(20,0) or string)`);
        }
        out[i] = BigInt(value);
      }
      return arrow.makeData({ type: tableType as arrow.Int64, length: data.length, nullCount, nullBitmap, data: out });
    }
    const out = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      if (!isValid(validity, i)) continue;
      const value = values[i] as number | bigint;
      if (value < INT32_MIN || value > INT32_MAX) {
        throw new FormatError(`${label(i)}: ${fileName} ${value} is outside int32's range ${INT32_MIN}..${INT32_MAX}; declare the column int64`);
      }
      out[i] = Number(value);
    }
    return arrow.makeData({ type: tableType as arrow.Int32, length: data.length, nullCount, nullBitmap, data: out });
  };
}
