/**
 * Timestamps and dates of users' Parquet and Arrow files, converted exactly to the table's
 * `timestamp` (microseconds, UTC) and `date` (days) columns. These are buffer-to-buffer
 * conversions, not the row path of conform.ts: apache-arrow's own accessors hand timestamps out as
 * float milliseconds, which loses microseconds and nanoseconds.
 *
 * Exact means no rounding and no wrap-around: a nanosecond value that is not a whole number of
 * microseconds, a second or millisecond value whose microseconds overflow int64, or a Date64 that
 * is not a whole day is refused with the file, row and column named, and nothing is stored. A
 * timestamp's timezone does not change its values (Arrow keeps zoned timestamps as UTC instants);
 * a timezone-less one is taken as UTC.
 */
import * as arrow from 'apache-arrow';
import { DATE_DAYS_MAX, DATE_DAYS_MIN, MICROS_PER_DAY, TIMESTAMP_MICROS_MAX, TIMESTAMP_MICROS_MIN } from '../../../protocol/index.js';
import { FormatError, arrowTypeOf } from '../../format/index.js';
import { isValid, validityOf } from '../../format/arrow-access.js';

/** Names the row of a file a failed value is in (file, row and column). */
export type RowLabel = (row: number) => string;

/** Converts one column chunk of the file to the table's type. */
export type DataConverter = (data: arrow.Data, label: RowLabel) => arrow.Data;

const MICROS_PER_DAY_BIG = BigInt(MICROS_PER_DAY);
const MILLIS_PER_DAY_BIG = 86_400_000n;

/** Short names of Arrow's TimeUnit values (SECOND, MILLISECOND, MICROSECOND, NANOSECOND), for messages. */
const UNIT_NAMES = ['s', 'ms', 'us', 'ns'] as const;

/**
 * A buffer conversion from a file column of Arrow type `fileType` into a `timestamp` or `date`
 * column, or undefined when there is none (the caller then tries other conversions or refuses).
 */
export function temporalConverter(type: 'timestamp' | 'date', fileType: arrow.DataType): DataConverter | undefined {
  if (type === 'timestamp') {
    if (arrow.DataType.isTimestamp(fileType)) return timestampFrom(fileType.unit);
    if (arrow.DataType.isDate(fileType)) return timestampFromDate(fileType.unit);
    return undefined;
  }
  if (arrow.DataType.isDate(fileType) && fileType.unit === arrow.DateUnit.MILLISECOND) return dateFromMillis;
  return undefined;
}

/** The table's type for the converted data, nulls where the file has them, values filled by `put`. */
function convert<T extends BigInt64Array | Int32Array>(
  data: arrow.Data,
  out: T,
  tableType: arrow.DataType,
  put: (value: bigint | number, row: number) => void,
): arrow.Data {
  const values = data.values as BigInt64Array | Int32Array;
  const validity = validityOf(data);
  for (let i = 0; i < data.length; i++) {
    if (isValid(validity, i)) put(values[i] as bigint | number, i);
  }
  // The validity bits re-based to bit 0 (a sliced Data indexes its parent's bitmap).
  const nullBitmap = new Uint8Array(validity === null ? 0 : Math.ceil(data.length / 8));
  let nullCount = 0;
  if (validity !== null) {
    for (let i = 0; i < data.length; i++) {
      if (isValid(validity, i)) nullBitmap[i >> 3] = (nullBitmap[i >> 3] as number) | (1 << (i & 7));
      else nullCount++;
    }
  }
  return arrow.makeData({
    type: tableType as arrow.TimestampMicrosecond,
    length: data.length,
    nullCount,
    nullBitmap,
    data: out as BigInt64Array,
  });
}

function timestampFrom(unit: arrow.TimeUnit): DataConverter {
  const unitName = UNIT_NAMES[unit] ?? `unit ${unit}`;
  const tableType = arrowTypeOf('timestamp');
  if (unit === arrow.TimeUnit.NANOSECOND) {
    return (data, label) => {
      const out = new BigInt64Array(data.length);
      return convert(data, out, tableType, (value, i) => {
        const nanos = value as bigint;
        if (nanos % 1000n !== 0n) {
          throw new FormatError(
            `${label(i)}: ${nanos} ns is not a whole number of microseconds; a timestamp column holds microseconds, and Granary does not round (truncate the column to microseconds before ingest)`,
          );
        }
        out[i] = nanos / 1000n;
      });
    };
  }
  const factor = unit === arrow.TimeUnit.SECOND ? 1_000_000n : unit === arrow.TimeUnit.MILLISECOND ? 1000n : 1n;
  return (data, label) => {
    const out = new BigInt64Array(data.length);
    return convert(data, out, tableType, (value, i) => {
      const micros = (value as bigint) * factor;
      if (micros < TIMESTAMP_MICROS_MIN || micros > TIMESTAMP_MICROS_MAX) {
        throw new FormatError(`${label(i)}: ${String(value)} ${unitName} is beyond the timestamp range (int64 microseconds, about years -290308..294247)`);
      }
      out[i] = micros;
    });
  };
}

function timestampFromDate(unit: arrow.DateUnit): DataConverter {
  const tableType = arrowTypeOf('timestamp');
  return (data, label) => {
    const out = new BigInt64Array(data.length);
    return convert(data, out, tableType, (value, i) => {
      // Date32 days always fit; Date64 milliseconds times 1000 may not.
      const micros = unit === arrow.DateUnit.DAY ? BigInt(value) * MICROS_PER_DAY_BIG : (value as bigint) * 1000n;
      if (micros < TIMESTAMP_MICROS_MIN || micros > TIMESTAMP_MICROS_MAX) {
        throw new FormatError(`${label(i)}: ${String(value)} ms is beyond the timestamp range (int64 microseconds)`);
      }
      out[i] = micros;
    });
  };
}

const dateFromMillis: DataConverter = (data, label) => {
  const out = new Int32Array(data.length);
  return convert(data, out, arrowTypeOf('date'), (value, i) => {
    const millis = value as bigint;
    if (millis % MILLIS_PER_DAY_BIG !== 0n) {
      throw new FormatError(`${label(i)}: Date64 ${millis} ms is not a whole day; a date column holds days (a time of day needs a timestamp column)`);
    }
    const days = Number(millis / MILLIS_PER_DAY_BIG);
    if (days < DATE_DAYS_MIN || days > DATE_DAYS_MAX) {
      throw new FormatError(`${label(i)}: Date64 ${millis} ms is ${days} days, beyond the date range (int32 days)`);
    }
    out[i] = days;
  });
};
