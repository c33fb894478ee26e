import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareDecimals,
  decimalFromNumber,
  decimalLiteral,
  decimalParamsOf,
  formatDecimal,
  isColumnType,
  kindOf,
  parseDecimalText,
  readColumnType,
} from '../../../protocol/index.js';

const P12S2 = { precision: 12, scale: 2 };
const MAX38 = 10n ** 38n - 1n;

function value(text: string, params = P12S2): bigint {
  const parsed = parseDecimalText(text, params);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function reason(text: string, params = P12S2): string {
  const parsed = parseDecimalText(text, params);
  if (parsed.ok) throw new Error(`${text} parsed as ${parsed.value}`);
  return parsed.reason;
}

describe('decimal column types', () => {
  it('reads decimal(p,s) as users write it and stores the canonical form', () => {
    expect(readColumnType('decimal(12,2)')).toEqual({ ok: true, type: 'decimal(12,2)' });
    expect(readColumnType('DECIMAL( 12 , 2 )')).toEqual({ ok: true, type: 'decimal(12,2)' });
    expect(readColumnType('decimal(7)')).toEqual({ ok: true, type: 'decimal(7,0)' });
    expect(readColumnType('decimal(38,38)')).toEqual({ ok: true, type: 'decimal(38,38)' });
    expect(readColumnType('decimal(1,0)')).toEqual({ ok: true, type: 'decimal(1,0)' });
    expect(readColumnType('string_list')).toEqual({ ok: true, type: 'string_list' });
  });

  it('refuses precision outside 1..38, scale above precision, and the bare kind', () => {
    expect(readColumnType('decimal(39,2)')).toMatchObject({ ok: false, reason: expect.stringMatching(/precision 39 is outside 1\.\.38/) });
    expect(readColumnType('decimal(0,0)')).toMatchObject({ ok: false, reason: expect.stringMatching(/precision 0/) });
    expect(readColumnType('decimal(5,6)')).toMatchObject({ ok: false, reason: expect.stringMatching(/scale 6 is larger than its precision 5/) });
    expect(readColumnType('decimal')).toMatchObject({ ok: false, reason: expect.stringMatching(/write decimal\(p,s\)/) });
    expect(readColumnType('decimal(12,2')).toMatchObject({ ok: false });
    expect(readColumnType('numeric')).toMatchObject({ ok: false, reason: expect.stringMatching(/types are .*decimal\(p,s\).*string_list/) });
    expect(isColumnType('decimal')).toBe(false);
    expect(isColumnType('decimal(12, 2)')).toBe(false);
    expect(isColumnType('decimal(012,2)')).toBe(false);
    expect(decimalParamsOf('decimal(38,9)')).toEqual({ precision: 38, scale: 9 });
    expect(kindOf('decimal(38,9)')).toBe('decimal');
    expect(kindOf('int64')).toBe('int64');
  });
});

describe('decimal text', () => {
  it('reads exact text at the column scale: signs, leading zeros, missing digits, exponents', () => {
    expect(value('123.45')).toBe(12345n);
    expect(value('-123.45')).toBe(-12345n);
    expect(value('+0.5')).toBe(50n);
    expect(value('.5')).toBe(50n);
    expect(value('12.')).toBe(1200n);
    expect(value('000012.30')).toBe(1230n);
    expect(value('-0')).toBe(0n);
    expect(value('  7  ')).toBe(700n);
    expect(value('1.5e3')).toBe(150000n);
    expect(reason('12345E-4')).toMatch(/would be rounded/);
    expect(value('12300E-4')).toBe(123n);
    expect(value('1.2300000000')).toBe(123n);
    expect(value('42', { precision: 2, scale: 0 })).toBe(42n);
  });

  it('refuses text that would round or overflow, saying which', () => {
    expect(reason('0.125')).toMatch(/more than 2 fraction digits and would be rounded in decimal\(12,2\)/);
    expect(reason('1e-3')).toMatch(/would be rounded/);
    expect(reason('10000000000.00')).toMatch(/does not fit decimal\(12,2\): at most 10 digits before the point/);
    expect(reason('1e10')).toMatch(/does not fit/);
    expect(reason('1e400')).toMatch(/not a decimal number|does not fit/);
    expect(reason('100', { precision: 2, scale: 0 })).toMatch(/does not fit decimal\(2,0\)/);
    for (const bad of ['', '-', '.', '1.2.3', '1,5', 'NaN', 'Infinity', '0x10', '1e', '--1', '1 000']) {
      expect(reason(bad)).toMatch(/is not a decimal number/);
    }
  });

  it('holds the 38-digit extremes of Decimal128 exactly', () => {
    const p38 = { precision: 38, scale: 0 };
    expect(value('99999999999999999999999999999999999999', p38)).toBe(MAX38);
    expect(value('-99999999999999999999999999999999999999', p38)).toBe(-MAX38);
    expect(reason('100000000000000000000000000000000000000', p38)).toMatch(/does not fit decimal\(38,0\)/);
    const p38s38 = { precision: 38, scale: 38 };
    expect(value('0.99999999999999999999999999999999999999', p38s38)).toBe(MAX38);
    expect(formatDecimal(MAX38, 38)).toBe('0.99999999999999999999999999999999999999');
    expect(reason('1', p38s38)).toMatch(/at most 0 digits before the point/);
  });

  it('formats with exactly s fraction digits, no exponent', () => {
    expect(formatDecimal(12345n, 2)).toBe('123.45');
    expect(formatDecimal(-50n, 2)).toBe('-0.50');
    expect(formatDecimal(5n, 3)).toBe('0.005');
    expect(formatDecimal(0n, 2)).toBe('0.00');
    expect(formatDecimal(-7n, 0)).toBe('-7');
    expect(formatDecimal(-MAX38, 0)).toBe('-99999999999999999999999999999999999999');
  });

  it('round-trips every value of a decimal(p,s) through its text', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 38 }).chain((p) => fc.tuple(fc.constant(p), fc.integer({ min: 0, max: p }), fc.bigInt({ min: -(10n ** BigInt(p) - 1n), max: 10n ** BigInt(p) - 1n }))), ([precision, scale, unscaled]) => {
        const text = formatDecimal(unscaled, scale);
        expect(value(text, { precision, scale })).toBe(unscaled);
      }),
      { numRuns: 500 },
    );
  });

  it('takes a JSON number only when its text has at most 15 significant digits', () => {
    expect(decimalFromNumber(123.45, P12S2)).toEqual({ ok: true, value: 12345n });
    expect(decimalFromNumber(0.1, P12S2)).toEqual({ ok: true, value: 10n });
    expect(decimalFromNumber(-0, P12S2)).toEqual({ ok: true, value: 0n });
    expect(decimalFromNumber(1e-7, { precision: 10, scale: 7 })).toEqual({ ok: true, value: 1n });
    expect(decimalFromNumber(123456789012345, { precision: 15, scale: 0 })).toEqual({ ok: true, value: 123456789012345n });
    // 0.1 + 0.2 is the double 0.30000000000000004: 17 digits, not what anyone meant.
    expect(decimalFromNumber(0.1 + 0.2, { precision: 20, scale: 17 })).toMatchObject({ ok: false, reason: expect.stringMatching(/more than 15 significant digits.*write it as a string \("0.30000000000000004"\)/) });
    expect(decimalFromNumber(12345678901234567, { precision: 20, scale: 0 })).toMatchObject({ ok: false });
    expect(decimalFromNumber(Number.NaN, P12S2)).toMatchObject({ ok: false });
    expect(decimalFromNumber(Infinity, P12S2)).toMatchObject({ ok: false });
  });

  it('compares where literals of any scale exactly', () => {
    const literal = (v: number | string) => {
      const parsed = decimalLiteral(v);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.literal;
    };
    expect(literal('12.50')).toEqual({ value: 1250n, scale: 2 });
    expect(literal(12.5)).toEqual({ value: 125n, scale: 1 });
    expect(literal('1e3')).toEqual({ value: 1000n, scale: 0 });
    expect(literal('-0.001')).toEqual({ value: -1n, scale: 3 });
    expect(decimalLiteral('abc').ok).toBe(false);
    expect(compareDecimals(1250n, 2, 125n, 1)).toBe(0);
    expect(compareDecimals(1249n, 2, 125n, 1)).toBe(-1);
    expect(compareDecimals(MAX38, 0, MAX38 - 1n, 0)).toBe(1);
    // 12.345 lies between 12.34 and 12.35 of a scale-2 column.
    expect(compareDecimals(1234n, 2, 12345n, 3)).toBe(-1);
    expect(compareDecimals(1235n, 2, 12345n, 3)).toBe(1);
  });
});
