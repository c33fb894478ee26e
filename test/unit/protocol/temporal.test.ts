import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DATE_DAYS_MAX,
  DATE_DAYS_MIN,
  TIMESTAMP_MICROS_MAX,
  TIMESTAMP_MICROS_MIN,
  civilFromDays,
  daysFromCivil,
  formatDate,
  formatTimestamp,
  parseDateText,
  parseDateValue,
  parseTimestampText,
  parseTimestampValue,
  temporalLiteral,
} from '../../../protocol/index.js';
import { isoText, oracleMicros } from '../client/format/format-arbitraries.js';

function micros(text: string): bigint {
  const parsed = parseTimestampText(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function refusal(text: string): string {
  const parsed = parseTimestampText(text);
  if (parsed.ok) throw new Error(`${text} was accepted as ${parsed.value}`);
  return parsed.reason;
}

/** Microseconds JavaScript's Date reaches (±8.64e15 ms), less a day for offsets. */
const ORACLE_MICROS_MAX = 8_639_999_000_000_000_000n;

describe('timestamp text', () => {
  it('reads and writes the boundaries exactly', () => {
    const cases: [string, bigint, string][] = [
      ['1970-01-01T00:00:00Z', 0n, '1970-01-01T00:00:00.000000Z'],
      ['1969-12-31T23:59:59.999999Z', -1n, '1969-12-31T23:59:59.999999Z'],
      ['1970-01-01T00:00:00.000001Z', 1n, '1970-01-01T00:00:00.000001Z'],
      ['0001-01-01T00:00:00Z', -62_135_596_800_000_000n, '0001-01-01T00:00:00.000000Z'],
      ['0000-03-01T00:00:00Z', -62_162_035_200_000_000n, '0000-03-01T00:00:00.000000Z'],
      ['9999-12-31T23:59:59.999999Z', 253_402_300_799_999_999n, '9999-12-31T23:59:59.999999Z'],
      ['2000-02-29T12:00:00Z', 951_825_600_000_000n, '2000-02-29T12:00:00.000000Z'],
      ['2024-02-29T23:59:59.5Z', 1_709_251_199_500_000n, '2024-02-29T23:59:59.500000Z'],
      ['+294247-01-10T04:00:54.775807Z', TIMESTAMP_MICROS_MAX, '+294247-01-10T04:00:54.775807Z'],
      ['-290308-12-21T19:59:05.224192Z', TIMESTAMP_MICROS_MIN, '-290308-12-21T19:59:05.224192Z'],
    ];
    for (const [text, value, canonical] of cases) {
      expect(micros(text), text).toBe(value);
      expect(formatTimestamp(value)).toBe(canonical);
      expect(micros(canonical)).toBe(value);
    }
  });

  it('converts any offset to UTC, across day, month and year boundaries', () => {
    expect(micros('2026-11-20T13:45:00+05:30')).toBe(micros('2026-11-20T08:15:00Z'));
    expect(micros('2026-11-20T00:15:00-08:00')).toBe(micros('2026-11-20T08:15:00Z'));
    expect(micros('2026-01-01T01:00:00+05:30')).toBe(micros('2025-12-31T19:30:00Z'));
    expect(micros('2024-02-28T23:00:00-02:00')).toBe(micros('2024-02-29T01:00:00Z'));
    expect(micros('2026-11-20T08:15:00-00:00')).toBe(micros('2026-11-20T08:15:00Z'));
    expect(micros('2026-11-20T08:15:00+23:59')).toBe(micros('2026-11-19T08:16:00Z'));
    expect(formatTimestamp(micros('2026-11-20T13:45:00.123456+05:30'))).toBe('2026-11-20T08:15:00.123456Z');
  });

  it('takes a time without an offset, or a bare date, as UTC; T, t or a space; z as Z', () => {
    const utc = micros('2026-11-20T08:15:00Z');
    expect(micros('2026-11-20T08:15:00')).toBe(utc);
    expect(micros('2026-11-20 08:15:00')).toBe(utc);
    expect(micros('2026-11-20t08:15:00z')).toBe(utc);
    expect(micros('2026-11-20')).toBe(micros('2026-11-20T00:00:00Z'));
  });

  it('keeps up to 6 fraction digits and refuses to round more', () => {
    expect(micros('2026-11-20T08:15:00.1Z') - micros('2026-11-20T08:15:00Z')).toBe(100_000n);
    expect(micros('2026-11-20T08:15:00.123456000Z') - micros('2026-11-20T08:15:00Z')).toBe(123_456n);
    expect(refusal('2026-11-20T08:15:00.1234567Z')).toMatch(/whole microseconds .* would have to be rounded/);
    expect(refusal('2026-11-20T08:15:00.123456001Z')).toMatch(/rounded/);
  });

  it('refuses what is not a timestamp, saying what is wrong', () => {
    expect(refusal('2023-02-29T00:00:00Z')).toMatch(/day 29 is not 01..28 in 2023-02/);
    expect(refusal('1900-02-29T00:00:00Z')).toMatch(/day 29 is not 01..28/);
    expect(refusal('2026-13-01T00:00:00Z')).toMatch(/month 13/);
    expect(refusal('2026-11-20T24:00:00Z')).toMatch(/hour 24/);
    expect(refusal('2026-11-20T08:60:00Z')).toMatch(/minute 60/);
    expect(refusal('2016-12-31T23:59:60Z')).toMatch(/leap seconds/);
    expect(refusal('2026-11-20T08:15Z')).toMatch(/not an RFC 3339 timestamp/);
    expect(refusal('2026-11-20T08:15:00+24:00')).toMatch(/offset \+24:00/);
    expect(refusal('2026-11-20T08:15:00+0530')).toMatch(/not an RFC 3339 timestamp/);
    expect(refusal('20261120T081500Z')).toMatch(/not an RFC 3339 timestamp/);
    expect(refusal('-000000-01-01T00:00:00Z')).toMatch(/not a year/);
    expect(refusal('+294247-01-10T04:00:54.775808Z')).toMatch(/outside the timestamp range/);
    expect(refusal('-290308-12-21T19:59:05.224191Z')).toMatch(/outside the timestamp range/);
    expect(refusal('x'.repeat(100))).toMatch(/^"x{60}\.\.\." is not/);
  });

  it('formats every int64 and reads it back; matches Date#toISOString where Date reaches', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: TIMESTAMP_MICROS_MIN, max: TIMESTAMP_MICROS_MAX }), (value) => {
        const text = formatTimestamp(value);
        expect(micros(text)).toBe(value);
        if (value > -ORACLE_MICROS_MAX && value < ORACLE_MICROS_MAX) expect(text).toBe(isoText(value, 0));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads text at any offset as Date.parse does', () => {
    const range = fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n });
    const offset = fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 });
    fc.assert(
      fc.property(range, offset, (value, minutes) => {
        const text = isoText(value, minutes);
        expect(micros(text)).toBe(oracleMicros(text));
        expect(micros(text)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('timestamp text near the 2^53 microsecond edge (where parsing leaves doubles for bigints)', () => {
  it('reads every time of day at any offset exactly on both sides of it', () => {
    const edgeDays = fc.oneof(fc.integer({ min: 104_230, max: 104_260 }), fc.integer({ min: -104_260, max: -104_230 }));
    const ofDay = fc.integer({ min: 0, max: 86_400_000_000 - 1 });
    const offset = fc.oneof(fc.constantFrom(-(23 * 60 + 59), 23 * 60 + 59), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }));
    fc.assert(
      fc.property(edgeDays, ofDay, offset, (days, micros, minutes) => {
        const value = BigInt(days) * 86_400_000_000n + BigInt(micros);
        expect(parseTimestampText(isoText(value, minutes))).toEqual({ ok: true, value });
        expect(parseTimestampText(formatTimestamp(value))).toEqual({ ok: true, value });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('timestamp values', () => {
  it('takes integer microseconds as a safe number, a decimal string or a bigint', () => {
    expect(parseTimestampValue(1_795_162_500_000_000)).toEqual({ ok: true, value: 1_795_162_500_000_000n });
    expect(parseTimestampValue('-9223372036854775808')).toEqual({ ok: true, value: TIMESTAMP_MICROS_MIN });
    expect(parseTimestampValue(TIMESTAMP_MICROS_MAX)).toEqual({ ok: true, value: TIMESTAMP_MICROS_MAX });
    expect(parseTimestampValue('2026-11-20T08:15:00Z')).toEqual({ ok: true, value: 1_795_162_500_000_000n });
  });

  it('takes a JavaScript Date as its instant, to the millisecond', () => {
    expect(parseTimestampValue(new Date('2026-11-20T08:15:00.123Z'))).toEqual({ ok: true, value: 1_795_162_500_123_000n });
    expect(parseTimestampValue(new Date(-1))).toEqual({ ok: true, value: -1000n });
    expect(parseTimestampValue(new Date(Number.NaN))).toMatchObject({ ok: false, reason: 'an invalid Date' });
  });

  it('refuses unsafe numbers, fractions, int64 overflow and other shapes', () => {
    expect(parseTimestampValue(2 ** 53)).toMatchObject({ ok: false, reason: expect.stringMatching(/within 2\^53/) });
    expect(parseTimestampValue(1.5)).toMatchObject({ ok: false });
    expect(parseTimestampValue('9223372036854775808')).toMatchObject({ ok: false, reason: expect.stringMatching(/outside int64/) });
    expect(parseTimestampValue(2n ** 63n)).toMatchObject({ ok: false, reason: expect.stringMatching(/outside int64/) });
    expect(parseTimestampValue(true)).toMatchObject({ ok: false, reason: expect.stringMatching(/RFC 3339/) });
    expect(parseTimestampValue({})).toMatchObject({ ok: false });
  });
});

describe('date text', () => {
  it('reads and writes the boundaries exactly', () => {
    const cases: [string, number][] = [
      ['1970-01-01', 0],
      ['1969-12-31', -1],
      ['0001-01-01', -719_162],
      ['9999-12-31', 2_932_896],
      ['2000-02-29', 11_016],
      ['2026-11-20', 20_777],
      ['+5881580-07-11', DATE_DAYS_MAX],
      ['-5877641-06-23', DATE_DAYS_MIN],
    ];
    for (const [text, days] of cases) {
      expect(parseDateText(text), text).toEqual({ ok: true, value: days });
      expect(formatDate(days)).toBe(text);
    }
  });

  it('refuses impossible dates, other shapes and dates beyond int32 days', () => {
    for (const [text, reason] of [
      ['2023-02-29', /day 29 is not 01..28/],
      ['2026-04-31', /day 31 is not 01..30/],
      ['2026-00-10', /month 00/],
      ['2026-11-20T00:00:00Z', /expected YYYY-MM-DD/],
      ['26-11-20', /expected YYYY-MM-DD/],
      ['+5881580-07-12', /outside the date range/],
      ['-5877641-06-22', /outside the date range/],
    ] as const) {
      expect(parseDateText(text)).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
    }
    expect(parseDateValue(2 ** 31)).toMatchObject({ ok: false, reason: expect.stringMatching(/outside int32/) });
    expect(parseDateValue(1.5)).toMatchObject({ ok: false });
    expect(parseDateValue(20_777)).toEqual({ ok: true, value: 20_777 });
    expect(parseDateValue(20_777n)).toEqual({ ok: true, value: 20_777 });
    expect(parseDateValue('20261120')).toMatchObject({ ok: false, reason: expect.stringMatching(/write it as YYYY-MM-DD/) });
    expect(parseDateValue('20777')).toMatchObject({ ok: false, reason: expect.stringMatching(/expected YYYY-MM-DD/) });
  });

  it('agrees with Date.UTC on the calendar, and round-trips every int32 day', () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000_000, max: 100_000_000 }), (days) => {
        const date = new Date(days * 86_400_000);
        const civil = civilFromDays(days);
        expect(civil).toEqual({ year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() });
        expect(daysFromCivil(civil.year, civil.month, civil.day)).toBe(days);
        expect(formatDate(days)).toBe(date.toISOString().slice(0, -14));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: DATE_DAYS_MIN, max: DATE_DAYS_MAX }), (days) => {
        expect(parseDateText(formatDate(days))).toEqual({ ok: true, value: days });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('where literals', () => {
  it('read text as microseconds or days and pass numbers through', () => {
    expect(temporalLiteral('timestamp', '2026-11-20T00:00:00Z')).toEqual({ ok: true, value: 1_795_132_800_000_000n });
    expect(temporalLiteral('timestamp', '9223372036854775807')).toEqual({ ok: true, value: TIMESTAMP_MICROS_MAX });
    expect(temporalLiteral('timestamp', 12.5)).toEqual({ ok: true, value: 12.5 });
    expect(temporalLiteral('date', '2026-11-20')).toEqual({ ok: true, value: 20_777 });
    expect(temporalLiteral('date', 20_777)).toEqual({ ok: true, value: 20_777 });
    expect(temporalLiteral('date', 'tomorrow')).toMatchObject({ ok: false, reason: expect.stringMatching(/YYYY-MM-DD/) });
    expect(temporalLiteral('timestamp', Number.NaN)).toMatchObject({ ok: false });
  });
});
