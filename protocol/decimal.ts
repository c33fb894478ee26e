/**
 * `decimal(p,s)` columns: exact decimal numbers, stored as the integer value * 10^s (the
 * "unscaled" value, a 128-bit two's complement integer as in Arrow's Decimal128 and Parquet's
 * DECIMAL), with at most p digits in all and s of them after the point. Ingest, output, where
 * literals, the planner's pruning and the reader's row filter read and write the text form here,
 * once, so the same text is the same number everywhere.
 *
 * The type is written `decimal(p,s)` (1 <= p <= 38, 0 <= s <= p), and that text is the column's
 * type itself: every {name, type} carries p and s. Users may write `DECIMAL(12, 2)` or
 * `decimal(12)` (scale 0); it is stored as `decimal(12,2)`.
 *
 * Values: text `-123.45`, `+0.5`, `.5`, `12.`, `1.5e3` (an exponent is allowed: where literals and
 * the text of JSON numbers use it). Nothing is ever rounded: a value with more fraction digits
 * than s that are not zeros, or more than p - s integer digits, is refused with the reason. A
 * JSON number is a double: it is taken as its shortest text (what JSON.stringify writes) only
 * when that text has at most 15 significant digits, the most a double keeps for every decimal;
 * past that the digits the writer meant are unknowable and the value must be quoted.
 *
 * Out: the unscaled value with the point put back, exactly s fraction digits (`-0.50`, `12`
 * for scale 0), no exponent.
 *
 * Pure, and parse errors are a reason string: callers wrap it in their own error class.
 */

export const DECIMAL_PRECISION_MAX = 38;
/** Significant digits of a JSON number (a double) that are known to be the writer's. */
export const DECIMAL_NUMBER_DIGITS_MAX = 15;

/** A decimal column type, always in its canonical form `decimal(p,s)`. */
export type DecimalType = `decimal(${number},${number})`;

export interface DecimalParams {
  /** Digits in all, 1..38. */
  readonly precision: number;
  /** Digits after the point, 0..precision. */
  readonly scale: number;
}

/** A parsed value, or why the text is not one. */
export type DecimalParse = { readonly ok: true; readonly value: bigint } | { readonly ok: false; readonly reason: string };

export const DECIMAL_FORMS = 'an exact decimal as a string such as "123.45" (or a JSON number of at most 15 significant digits)';

const CANONICAL_TYPE = /^decimal\(([1-9]\d?),(0|[1-9]\d?)\)$/;
const WRITTEN_TYPE = /^\s*decimal\s*\(\s*(\d{1,3})\s*(?:,\s*(\d{1,3})\s*)?\)\s*$/i;
const DECIMAL_TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?$/;
/** Exponents beyond this are refused before any power of ten is built (a literal like 1e999999). */
const EXPONENT_MAX = 400;
const QUOTE_CHARS_MAX = 60;

const POW10: readonly bigint[] = Array.from({ length: 2 * EXPONENT_MAX + DECIMAL_PRECISION_MAX + 2 }, (_, i) => 10n ** BigInt(i));

/** 10^n as a bigint, 0 <= n. */
export function pow10(n: number): bigint {
  return POW10[n] ?? 10n ** BigInt(n);
}

/** p and s of a canonical decimal type, or undefined when `type` is not one (another type, or p/s out of range). */
export function decimalParamsOf(type: string): DecimalParams | undefined {
  const match = CANONICAL_TYPE.exec(type);
  if (match === null) return undefined;
  const precision = Number(match[1]);
  const scale = Number(match[2]);
  if (precision > DECIMAL_PRECISION_MAX || scale > precision) return undefined;
  return { precision, scale };
}

export function decimalTypeOf(precision: number, scale: number): DecimalType {
  return `decimal(${precision},${scale})`;
}

/**
 * A decimal type as users write it (`DECIMAL(12, 2)`, `decimal(12)`) in its canonical form, or the
 * reason it is not a valid one; undefined when the text is not a decimal type at all.
 */
export function readDecimalType(text: string): { readonly ok: true; readonly type: DecimalType } | { readonly ok: false; readonly reason: string } | undefined {
  const match = WRITTEN_TYPE.exec(text);
  if (match === null) return /^\s*decimal\b/i.test(text) ? { ok: false, reason: `${quote(text)} is not a decimal type; write decimal(p,s), e.g. decimal(12,2)` } : undefined;
  const precision = Number(match[1]);
  const scale = match[2] === undefined ? 0 : Number(match[2]);
  if (precision < 1 || precision > DECIMAL_PRECISION_MAX) {
    return { ok: false, reason: `decimal precision ${precision} is outside 1..${DECIMAL_PRECISION_MAX} (Decimal128 holds 38 digits)` };
  }
  if (scale > precision) return { ok: false, reason: `decimal scale ${scale} is larger than its precision ${precision} (scale is 0..p)` };
  return { ok: true, type: decimalTypeOf(precision, scale) };
}

/** The digits of a decimal text and the power of ten they are multiplied by. */
interface DecimalDigits {
  readonly negative: boolean;
  readonly digits: string;
  readonly exponent: number;
}

function digitsOf(text: string): DecimalDigits | undefined {
  const match = DECIMAL_TEXT.exec(text);
  if (match === null) return undefined;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole.length + fraction.length === 0) return undefined;
  const exponent = match[4] === undefined ? 0 : Number(match[4]);
  if (Math.abs(exponent) > EXPONENT_MAX) return undefined;
  // Leading zeros carry nothing; trailing zeros are kept (they may be what makes a value exact).
  const digits = (whole + fraction).replace(/^0+(?=\d)/, '');
  return { negative: match[1] === '-', digits, exponent: exponent - fraction.length };
}

/** Digits from the first non-zero one to the last non-zero one (0 for zero). */
function significantDigits(digits: string): number {
  const trimmed = digits.replace(/^0+/, '').replace(/0+$/, '');
  return trimmed.length;
}

/**
 * The unscaled value (value * 10^s) of a decimal text in a `decimal(p,s)` column, or why the text
 * is not one: not a decimal, more fraction digits than s that are not zeros (it would round), or
 * more than p digits (it would overflow).
 */
export function parseDecimalText(text: string, params: DecimalParams): DecimalParse {
  const parsed = digitsOf(text.trim());
  if (parsed === undefined) return { ok: false, reason: `${quote(text)} is not a decimal number` };
  return unscaledOf(parsed, params, text);
}

function unscaledOf(parsed: DecimalDigits, params: DecimalParams, text: string): DecimalParse {
  const { precision, scale } = params;
  let digits = parsed.digits;
  const shift = parsed.exponent + scale;
  if (shift < 0) {
    const dropped = digits.length >= -shift ? digits.slice(digits.length + shift) : digits;
    if (/[^0]/.test(dropped)) {
      return { ok: false, reason: `${quote(text)} has more than ${scale} fraction digits and would be rounded in decimal(${precision},${scale}); Granary does not round` };
    }
    digits = digits.length > -shift ? digits.slice(0, digits.length + shift) : '0';
  } else if (significantDigits(digits) > 0) {
    if (digits.replace(/^0+/, '').length + shift > precision) return overflow(text, params);
    digits += '0'.repeat(shift);
  }
  let value = BigInt(digits);
  if (value >= pow10(precision)) return overflow(text, params);
  if (parsed.negative) value = -value;
  return { ok: true, value };
}

function overflow(text: string, { precision, scale }: DecimalParams): DecimalParse {
  return {
    ok: false,
    reason: `${quote(text)} does not fit decimal(${precision},${scale}): at most ${precision - scale} digits before the point`,
  };
}

/**
 * The unscaled value of a JSON number: its shortest text, refused past 15 significant digits
 * (a double does not keep the digits its writer meant beyond that).
 */
export function decimalFromNumber(value: number, params: DecimalParams): DecimalParse {
  if (!Number.isFinite(value)) return { ok: false, reason: `${String(value)} is not a decimal number` };
  const text = Object.is(value, -0) ? '0' : String(value);
  const parsed = digitsOf(text);
  if (parsed === undefined) return { ok: false, reason: `${text} is not a decimal number` };
  if (significantDigits(parsed.digits) > DECIMAL_NUMBER_DIGITS_MAX) {
    return {
      ok: false,
      reason: `the number ${text} has more than ${DECIMAL_NUMBER_DIGITS_MAX} significant digits, more than a JSON number (a double) keeps exactly; write it as a string ("${text}") with the digits meant`,
    };
  }
  return unscaledOf(parsed, params, text);
}

/** A JSON Lines value (string, number, or bigint for an integer value) as an unscaled decimal. */
export function parseDecimalValue(value: unknown, params: DecimalParams): DecimalParse {
  if (typeof value === 'string') return parseDecimalText(value, params);
  if (typeof value === 'number') return decimalFromNumber(value, params);
  if (typeof value === 'bigint') return parseDecimalText(value.toString(), params);
  return { ok: false, reason: `expected ${DECIMAL_FORMS}` };
}

/** The text of unscaled value `value` at scale `scale`: exactly `scale` fraction digits. */
export function formatDecimal(value: bigint, scale: number): string {
  const negative = value < 0n;
  let digits = (negative ? -value : value).toString();
  if (scale > 0) {
    if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
    digits = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

/** An exact decimal of any scale: value * 10^-scale. */
export interface DecimalLiteral {
  readonly value: bigint;
  readonly scale: number;
}

/**
 * A where value against a decimal column: text is read exactly (any number of digits, any
 * scale), a number as its shortest text (`price >= 12.5`).
 */
export function decimalLiteral(value: number | string): { readonly ok: true; readonly literal: DecimalLiteral } | { readonly ok: false; readonly reason: string } {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value.trim();
  const parsed = digitsOf(text);
  if (parsed === undefined) return { ok: false, reason: `${quote(String(value))} is not a decimal number` };
  // value = digits * 10^exponent: a negative exponent is the scale; a positive one is folded in.
  const magnitude = parsed.exponent >= 0 ? BigInt(parsed.digits) * pow10(parsed.exponent) : BigInt(parsed.digits);
  const scale = parsed.exponent >= 0 ? 0 : -parsed.exponent;
  return { ok: true, literal: { value: parsed.negative ? -magnitude : magnitude, scale } };
}

/** Compares a * 10^-aScale with b * 10^-bScale exactly: -1, 0 or 1. */
export function compareDecimals(a: bigint, aScale: number, b: bigint, bScale: number): number {
  const left = aScale < bScale ? a * pow10(bScale - aScale) : a;
  const right = bScale < aScale ? b * pow10(aScale - bScale) : b;
  return left < right ? -1 : left > right ? 1 : 0;
}

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS_MAX ? `${text.slice(0, QUOTE_CHARS_MAX)}...` : text);
}
