/**
 * Parquet INT96 timestamps (Spark, Impala, Hive) converted exactly to Granary's `timestamp`
 * (int64 microseconds, UTC). parquet-wasm turns INT96 into int64 nanoseconds with wrapping
 * arithmetic, so a date past 2262 (Spark writes them: its timestamps are microseconds) came out
 * centuries away without a word. The footer given to the decoder declares these columns
 * FIXED_LEN_BYTE_ARRAY(12) instead (int96-footer.ts), the decoder hands out the 12 raw bytes of
 * each value, and this module converts them, buffer to buffer.
 *
 * An INT96 value is 8 bytes of nanoseconds within the day (little-endian int64) and 4 bytes of
 * Julian day number (little-endian int32): (day - 2440588) * 86,400,000,000 + nanos / 1000
 * microseconds, in exact integers. Spark computes both from int64 Julian microseconds with
 * truncating division, so before Julian day 0 (4714 BC) its nanoseconds are negative, and past
 * about year 287,000 its Julian microseconds wrap past int64; both forms are read as Spark reads
 * them back, and they cannot be mistaken for any other value. Refused, naming file, row and
 * column: nanoseconds of the day beyond +-86,399,999,999,999 (no leap second: neither Impala nor
 * Spark writes one), or negative after Julian day 0; a nanosecond that is not a whole
 * microsecond (Granary does not round, as for every nanosecond timestamp: temporal-convert.ts);
 * an instant beyond int64 microseconds.
 */
import * as arrow from 'apache-arrow';
// Modules, not their indexes: everything imported here loads again in each reading thread.
import { MICROS_PER_DAY, TIMESTAMP_MICROS_MAX, TIMESTAMP_MICROS_MIN } from '../../../../protocol/temporal.js';
import { isValid, validityOf } from '../../../format/arrow-access.js';
import { arrowTypeOf } from '../../../format/arrow-types.js';
import { FormatError } from '../../../format/format-error.js';

/** Bytes of one INT96 value. */
export const INT96_BYTES = 12;
/** The Julian day number of 1970-01-01. */
export const JULIAN_DAY_OF_EPOCH = 2_440_588;
/** The last nanosecond of a day. */
export const NANOS_OF_DAY_MAX = 86_399_999_999_999;

const MICROS_PER_DAY_BIG = BigInt(MICROS_PER_DAY);
const TWO_POW_32 = 4_294_967_296;
const TWO_POW_64 = 2n ** 64n;
/** 1970-01-01 in Julian microseconds. */
const EPOCH_JULIAN_MICROS = BigInt(JULIAN_DAY_OF_EPOCH) * MICROS_PER_DAY_BIG;
/** The high word of NANOS_OF_DAY_MAX: any larger high word is past the day. */
const NANOS_HIGH_WORD_MAX = Math.floor(NANOS_OF_DAY_MAX / TWO_POW_32);

/** Names the place of a value (file, row and column) for a message. */
export type Int96Label = (index: number) => string;

/** Is `type` the decoder's form of an INT96 column re-declared as FIXED_LEN_BYTE_ARRAY(12)? */
export function isInt96Bytes(type: arrow.DataType): type is arrow.FixedSizeBinary {
  return arrow.DataType.isFixedSizeBinary(type) && type.byteWidth === INT96_BYTES;
}

/**
 * The microseconds since the epoch of one INT96 value (`view` at `at`, 12 bytes), or a
 * FormatError labelled `where()`.
 */
export function int96Micros(view: DataView, at: number, where: () => string): bigint {
  const low = view.getUint32(at, true);
  const high = view.getInt32(at + 4, true);
  const julianDay = view.getInt32(at + 8, true);
  // In range, the day's nanoseconds fit a double exactly (|n| < 2^47): no BigInt until the end.
  const nanos = high * TWO_POW_32 + low;
  // Negative only as Spark writes them: before Julian day 0, or wrapped (below).
  const inRange = nanos >= 0 ? nanos <= NANOS_OF_DAY_MAX : nanos >= -NANOS_OF_DAY_MAX && julianDay <= 0;
  if (high < -NANOS_HIGH_WORD_MAX - 1 || high > NANOS_HIGH_WORD_MAX || !inRange) {
    const stored = (BigInt(high) << 32n) | BigInt(low);
    throw new FormatError(
      `${where()}: INT96 timestamp of Julian day ${julianDay} holds ${stored} nanoseconds of the day, outside -${NANOS_OF_DAY_MAX}..${NANOS_OF_DAY_MAX} (negative only on or before Julian day 0): a corrupt value, or not a timestamp`,
    );
  }
  if (nanos % 1000 !== 0) {
    throw new FormatError(
      `${where()}: INT96 timestamp ${describe(julianDay, nanos)} is not a whole number of microseconds; a timestamp column holds microseconds, and Granary does not round (truncate the column to microseconds before ingest)`,
    );
  }
  const exact = BigInt(julianDay - JULIAN_DAY_OF_EPOCH) * MICROS_PER_DAY_BIG + BigInt(nanos / 1000);
  if (exact >= TIMESTAMP_MICROS_MIN && exact <= TIMESTAMP_MICROS_MAX) return exact;
  // Spark writes an instant past 9012505233654775807 us (about year 287,000) with its Julian
  // microseconds (the instant plus 2440588 days) wrapped past int64: a day <= 0 and nanoseconds
  // <= 0 whose exact value is below int64. No other value decodes there, so it is read as Spark
  // reads it back; anything still beyond int64 is refused.
  const wrapped = exact + TWO_POW_64;
  if (julianDay <= 0 && nanos <= 0 && exact < TIMESTAMP_MICROS_MIN && wrapped <= TIMESTAMP_MICROS_MAX && wrapped + EPOCH_JULIAN_MICROS > TIMESTAMP_MICROS_MAX) {
    return wrapped;
  }
  throw new FormatError(`${where()}: INT96 timestamp ${describe(julianDay, nanos)} is beyond the timestamp range (int64 microseconds, about years -290308..294247)`);
}

function describe(julianDay: number, nanos: number): string {
  return `(Julian day ${julianDay}, ${nanos} ns into the day, ${julianDay - JULIAN_DAY_OF_EPOCH} days from 1970-01-01)`;
}

/**
 * `data` (FixedSizeBinary(12), the decoder's INT96 bytes) as Timestamp<MICROSECOND, "UTC">, the
 * type of a `timestamp` column; nulls stay null. `label(i)` names the place of value `i`.
 */
export function int96ToTimestamp(data: arrow.Data<arrow.FixedSizeBinary>, label: Int96Label): arrow.Data<arrow.TimestampMicrosecond> {
  const bytes = data.values;
  // apache-arrow slices a sliced Data's values (data.offset applies to its validity bits only).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length * INT96_BYTES > bytes.byteLength) {
    throw new FormatError(`${label(0)}: the decoder handed out ${bytes.byteLength} bytes for ${data.length} INT96 values`);
  }
  const out = new BigInt64Array(data.length);
  const validity = validityOf(data);
  const nullBitmap = new Uint8Array(validity === null ? 0 : Math.ceil(data.length / 8));
  let nullCount = 0;
  for (let i = 0; i < data.length; i++) {
    if (validity !== null && !isValid(validity, i)) {
      nullCount++;
      continue;
    }
    // Re-based to bit 0: a sliced Data indexes its parent's bitmap.
    if (validity !== null) nullBitmap[i >> 3] = (nullBitmap[i >> 3] as number) | (1 << (i & 7));
    out[i] = int96Micros(view, i * INT96_BYTES, () => label(i));
  }
  return arrow.makeData({
    type: arrowTypeOf('timestamp') as arrow.TimestampMicrosecond,
    length: data.length,
    nullCount,
    nullBitmap,
    data: out,
  });
}
