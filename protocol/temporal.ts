/**
 * Text forms of the `timestamp` (int64 microseconds since 1970-01-01T00:00:00Z) and `date` (int32
 * days since 1970-01-01) column types. Ingest (JSON Lines, CSV), output, `--where` literals, the
 * reader's row filter and the planner's stats pruning all read and write these forms, so they
 * live here, at the bottom of the dependency arrows, once.
 *
 * In (RFC 3339, with two extensions a user of Parquet/DuckDB meets):
 *   timestamp  YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±HH:MM]  converted to UTC; without an offset the
 *              time is taken as UTC (as a timezone-less Parquet/Arrow timestamp is); a bare
 *              YYYY-MM-DD is its midnight UTC. A fraction has at most 6 significant digits: more
 *              digits are accepted only when they are zeros (`.123456000`), never rounded.
 *   date       YYYY-MM-DD (JSON Lines also takes integer days as a number)
 * Years beyond 0000..9999 use ISO 8601's expanded form, a sign and 6 or 7 digits (`+012345`,
 * `-000001` = 2 BC), as JavaScript's Date does, so every stored value has a text form.
 * Leap seconds (`:60`) are refused: like Unix time, Granary has none.
 *
 * Out (canonical, fixed width for 0000..9999, sorts as it compares):
 *   timestamp  2026-11-20T08:15:00.123456Z   (always UTC, always 6 fraction digits)
 *   date       2026-11-20
 *
 * Pure, and parse errors are a reason string: callers wrap it in their own error class.
 */

export const TIMESTAMP_MICROS_MIN = -(2n ** 63n);
export const TIMESTAMP_MICROS_MAX = 2n ** 63n - 1n;
export const DATE_DAYS_MIN = -(2 ** 31);
export const DATE_DAYS_MAX = 2 ** 31 - 1;

export const MICROS_PER_SECOND = 1_000_000;
export const MICROS_PER_DAY = 86_400_000_000;
const MICROS_PER_DAY_BIG = BigInt(MICROS_PER_DAY);
const SAFE_MICROS = BigInt(Number.MAX_SAFE_INTEGER);
/** Days whose microseconds, with a time of day and an offset of up to a day either way, stay below 2^53 (about years 1685..2255). */
const SAFE_DAYS = Math.floor(Number.MAX_SAFE_INTEGER / MICROS_PER_DAY) - 3;

/** A parsed value, or why the text is not one. */
export type TemporalParse<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const YEAR = '(\\d{4}|[+-]\\d{6,7})';
const DATE_TEXT = new RegExp(`^${YEAR}-(\\d{2})-(\\d{2})$`);
const TIMESTAMP_TEXT = new RegExp(
  `^${YEAR}-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,18}))?([Zz]|[+-]\\d{2}:\\d{2})?)?$`,
);
const DECIMAL_INT = /^-?\d{1,20}$/;
/** How much of a bad text a reason quotes. */
const QUOTE_CHARS_MAX = 60;

export const TIMESTAMP_FORMS = 'RFC 3339 text such as 2026-11-20T08:15:00.123456Z or 2026-11-20T13:45:00+05:30, or integer microseconds since 1970-01-01T00:00:00Z';
export const DATE_FORMS = 'a date such as 2026-11-20 (YYYY-MM-DD), or integer days since 1970-01-01 as a number';

// ---------------------------------------------------------------------------------------------
// Calendar (proleptic Gregorian, Howard Hinnant's days_from_civil / civil_from_days)

/** Days since 1970-01-01 of a calendar date; `month` 1..12. Exact for any year a double holds. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The calendar date of a day number. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : (MONTH_DAYS[month - 1] as number);
}

// ---------------------------------------------------------------------------------------------
// Parsing

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS_MAX ? `${text.slice(0, QUOTE_CHARS_MAX)}...` : text);
}

function fail<T>(reason: string): TemporalParse<T> {
  return { ok: false, reason };
}

/** Days of a checked `YYYY-MM-DD` (year, month, day groups), or why not. */
function civilDays(text: string, yearText: string, monthText: string, dayText: string): TemporalParse<number> {
  if (yearText === '-000000' || yearText === '-0000000') return fail(`${quote(text)}: year -000000 is not a year (write 0000)`);
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  if (month < 1 || month > 12) return fail(`${quote(text)}: month ${monthText} is not 01..12`);
  const last = daysInMonth(year, month);
  if (day < 1 || day > last) return fail(`${quote(text)}: day ${dayText} is not 01..${last} in ${yearText}-${monthText}`);
  return { ok: true, value: daysFromCivil(year, month, day) };
}

/** A `date` from its text, `YYYY-MM-DD`. */
export function parseDateText(text: string): TemporalParse<number> {
  const match = DATE_TEXT.exec(text);
  if (match === null) return fail(`${quote(text)} is not a date: expected YYYY-MM-DD`);
  const days = civilDays(text, match[1] as string, match[2] as string, match[3] as string);
  if (!days.ok) return days;
  if (days.value < DATE_DAYS_MIN || days.value > DATE_DAYS_MAX) return fail(`${quote(text)} is outside the date range (int32 days)`);
  return days;
}

/** A `timestamp` in microseconds from RFC 3339 text (see the header for what is accepted). */
export function parseTimestampText(text: string): TemporalParse<bigint> {
  const match = TIMESTAMP_TEXT.exec(text);
  if (match === null) {
    return fail(`${quote(text)} is not an RFC 3339 timestamp: expected YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]`);
  }
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fraction, offset] = match as unknown as (string | undefined)[];
  const days = civilDays(text, yearText as string, monthText as string, dayText as string);
  if (!days.ok) return days;
  let seconds = 0;
  let fractionMicros = 0;
  if (hourText !== undefined) {
    const hour = Number(hourText);
    const minute = Number(minuteText);
    const second = Number(secondText);
    if (hour > 23) return fail(`${quote(text)}: hour ${hourText} is not 00..23`);
    if (minute > 59) return fail(`${quote(text)}: minute ${minuteText} is not 00..59`);
    if (second === 60) return fail(`${quote(text)}: leap seconds (:60) are not representable; Granary, like Unix time, has none`);
    if (second > 59) return fail(`${quote(text)}: second ${secondText} is not 00..59`);
    if (fraction !== undefined) {
      if (fraction.length > 6 && !/^0+$/.test(fraction.slice(6))) {
        return fail(`${quote(text)}: a timestamp holds whole microseconds (6 fraction digits); ${fraction.length} digits that are not zeros beyond the 6th would have to be rounded`);
      }
      fractionMicros = Number(fraction.slice(0, 6).padEnd(6, '0'));
    }
    let offsetMinutes = 0;
    if (offset !== undefined && offset !== 'Z' && offset !== 'z') {
      const offsetHours = Number(offset.slice(1, 3));
      const offsetMins = Number(offset.slice(4, 6));
      if (offsetHours > 23 || offsetMins > 59) return fail(`${quote(text)}: offset ${offset} is not -23:59..+23:59`);
      offsetMinutes = (offset[0] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
    }
    seconds = (hour * 60 + minute - offsetMinutes) * 60 + second;
  }
  // Exact in doubles for days near the epoch (the common case); bigint arithmetic beyond.
  const micros =
    Math.abs(days.value) <= SAFE_DAYS
      ? BigInt(days.value * MICROS_PER_DAY + seconds * MICROS_PER_SECOND + fractionMicros)
      : BigInt(days.value) * MICROS_PER_DAY_BIG + BigInt(seconds * MICROS_PER_SECOND + fractionMicros);
  if (micros < TIMESTAMP_MICROS_MIN || micros > TIMESTAMP_MICROS_MAX) {
    return fail(`${quote(text)} is outside the timestamp range (int64 microseconds, about years -290308..294247)`);
  }
  return { ok: true, value: micros };
}

/**
 * A `timestamp` as a user may give it: RFC 3339 text, integer microseconds as a safe integer, a
 * bigint, or a decimal string (for values beyond 2^53); or, from JavaScript, a Date.
 */
export function parseTimestampValue(value: unknown): TemporalParse<bigint> {
  if (typeof value === 'string') {
    if (DECIMAL_INT.test(value)) return int64Micros(BigInt(value), value);
    return parseTimestampText(value);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return fail(`${String(value)} is not a whole number of microseconds within 2^53 (write larger values as a decimal string)`);
    return { ok: true, value: BigInt(value) };
  }
  if (typeof value === 'bigint') return int64Micros(value, `${value}n`);
  // For callers building rows in JavaScript: a Date is an instant, to the millisecond.
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? fail('an invalid Date') : { ok: true, value: BigInt(ms) * 1000n };
  }
  return fail(`expected ${TIMESTAMP_FORMS}`);
}

function int64Micros(micros: bigint, shown: string): TemporalParse<bigint> {
  if (micros < TIMESTAMP_MICROS_MIN || micros > TIMESTAMP_MICROS_MAX) return fail(`${shown} microseconds is outside int64`);
  return { ok: true, value: micros };
}

/**
 * A `date` as a user may give it: `YYYY-MM-DD`, or integer days as a number (or bigint). Not as
 * digits in a string: every int32 fits a JSON number, and "20261120" (ISO 8601's basic format)
 * must not become the year 57443.
 */
export function parseDateValue(value: unknown): TemporalParse<number> {
  if (typeof value === 'string') {
    if (/^\d{8}$/.test(value)) return fail(`${quote(value)} is not a date: write it as YYYY-MM-DD (or integer days as a number)`);
    return parseDateText(value);
  }
  const days = typeof value === 'bigint' ? Number(value) : value;
  if (typeof days !== 'number' || !Number.isInteger(days)) return fail(`expected ${DATE_FORMS}`);
  if (days < DATE_DAYS_MIN || days > DATE_DAYS_MAX) return fail(`${String(value)} days is outside int32`);
  return { ok: true, value: days };
}

// ---------------------------------------------------------------------------------------------
// Formatting: on the output path of every row, so no objects per value, two-digit strings from a
// table, and the date text of the last day formatted kept (event times come in runs of one day).

const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

function pad(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}

function yearText(year: number): string {
  if (year >= 0 && year <= 9999) return pad(year, 4);
  return `${year < 0 ? '-' : '+'}${pad(Math.abs(year), 6)}`;
}

let lastDays = Number.NaN;
let lastDateText = '';

/** `YYYY-MM-DD` of a day number. */
export function formatDate(days: number): string {
  if (days === lastDays) return lastDateText;
  const { year, month, day } = civilFromDays(days);
  const text = `${yearText(year)}-${TWO_DIGITS[month] as string}-${TWO_DIGITS[day] as string}`;
  lastDays = days;
  lastDateText = text;
  return text;
}

/** The canonical text of a timestamp: `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function formatTimestamp(micros: bigint): string {
  let days: number;
  let ofDay: number;
  if (micros >= -SAFE_MICROS && micros <= SAFE_MICROS) {
    // The common case without bigint arithmetic: both products and the difference stay exact.
    const value = Number(micros);
    days = Math.floor(value / MICROS_PER_DAY);
    ofDay = value - days * MICROS_PER_DAY;
  } else {
    let quotient = micros / MICROS_PER_DAY_BIG;
    if (quotient * MICROS_PER_DAY_BIG > micros) quotient -= 1n;
    days = Number(quotient);
    ofDay = Number(micros - quotient * MICROS_PER_DAY_BIG);
  }
  const seconds = Math.floor(ofDay / MICROS_PER_SECOND);
  const fraction = ofDay - seconds * MICROS_PER_SECOND;
  const hour = Math.floor(seconds / 3600);
  const minute = Math.floor((seconds - hour * 3600) / 60);
  const second = seconds - hour * 3600 - minute * 60;
  return `${formatDate(days)}T${TWO_DIGITS[hour] as string}:${TWO_DIGITS[minute] as string}:${TWO_DIGITS[second] as string}.${String(MICROS_PER_SECOND + fraction).slice(1)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Where literals

/**
 * A `where` value on a timestamp or date column as the number it compares to: microseconds (a
 * bigint, exact beyond 2^53) or days. Text is read as above (decimal text as microseconds or
 * days); a JSON number passes as it is, as it does for the numeric types.
 */
export function temporalLiteral(type: 'timestamp' | 'date', value: number | string): TemporalParse<number | bigint> {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? { ok: true, value } : fail(`${String(value)} is not a finite number`);
  }
  if (typeof value !== 'string') return fail(`expected ${type === 'timestamp' ? TIMESTAMP_FORMS : DATE_FORMS}`);
  return type === 'timestamp' ? parseTimestampValue(value) : parseDateValue(value);
}
