/**
 * Skipping stripes by their min/max stats. Stats are kept as float64 rounded outward (min down,
 * max up) and every comparison is non-strict, so rounding can only keep a stripe that could have
 * been skipped, never skip one that holds a matching row. Pure.
 */
import { type ColumnType, GranaryError, SCALAR_NUMERIC_TYPES, type StatsPredicate, decimalLiteral, hasStripeStats, kindOf, temporalLiteral } from '../protocol/index.js';
import type { ColumnRecord } from './records.js';

/** A predicate resolved against the schema: bounds as float64. */
export interface ResolvedPredicate {
  readonly cid: number;
  /** Rows can match only if the stripe's [min, max] meets [low, high]. */
  readonly low: number;
  readonly high: number;
}

export function toFloat(value: number | string, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return Number(BigInt(value));
  throw new GranaryError('GRN_BAD_REQUEST', `${what} must be a finite number (or a decimal integer string), got ${JSON.stringify(value)}`);
}

/**
 * A where value as a float64 bound. Timestamp and date columns also take their text forms
 * (`'2026-11-20T00:00:00Z'`, `'2026-11-20'`), read as the microseconds or days the stats hold.
 */
function boundOf(type: ColumnType, value: number | string, what: string): number {
  if (kindOf(type) === 'decimal') {
    // Decimal stats are doubles rounded outward; the literal's nearest double keeps every match.
    const literal = decimalLiteral(value);
    if (!literal.ok) throw new GranaryError('GRN_BAD_REQUEST', `${what}: ${literal.reason}`);
    return typeof value === 'number' ? value : Number(value.trim());
  }
  if (type !== 'timestamp' && type !== 'date') return toFloat(value, what);
  const literal = temporalLiteral(type, value);
  if (!literal.ok) throw new GranaryError('GRN_BAD_REQUEST', `${what}: ${literal.reason}`);
  // Round to nearest, as toFloat does: stats bounds are rounded outward, so nothing is lost.
  return Number(literal.value);
}

export function resolvePredicate(predicate: StatsPredicate, columns: ReadonlyMap<string, ColumnRecord>): ResolvedPredicate {
  const column = columns.get(predicate.column);
  if (column === undefined) {
    throw new GranaryError('GRN_BAD_REQUEST', `where: unknown column ${predicate.column}`);
  }
  if (!hasStripeStats(column.type)) {
    throw new GranaryError(
      'GRN_BAD_REQUEST',
      `where: column ${predicate.column} is ${column.type}; stripe stats exist only for ${SCALAR_NUMERIC_TYPES.join(', ')}, decimal(p,s)`,
    );
  }
  const what = `where ${predicate.column} ${predicate.op}`;
  if (predicate.op === 'between') {
    if (!Array.isArray(predicate.value) || predicate.value.length !== 2) {
      throw new GranaryError('GRN_BAD_REQUEST', `${what} needs a [low, high] pair`);
    }
    const [low, high] = predicate.value as readonly [number | string, number | string];
    return { cid: column.cid, low: boundOf(column.type, low, what), high: boundOf(column.type, high, what) };
  }
  if (Array.isArray(predicate.value)) throw new GranaryError('GRN_BAD_REQUEST', `${what} takes one value, not a list`);
  const value = boundOf(column.type, predicate.value as number | string, what);
  switch (predicate.op) {
    case '=':
      return { cid: column.cid, low: value, high: value };
    case '<':
    case '<=':
      return { cid: column.cid, low: -Infinity, high: value };
    case '>':
    case '>=':
      return { cid: column.cid, low: value, high: Infinity };
    default:
      throw new GranaryError('GRN_BAD_REQUEST', `where: unknown operator ${JSON.stringify(predicate.op)}`);
  }
}

/**
 * Whether a stripe may hold matching rows. `min`/`max` NaN means no stats: keep. A column the
 * stripe does not have at all (`present` false) is all null, and null matches no comparison.
 */
export function mayMatch(present: boolean, min: number, max: number, predicate: ResolvedPredicate): boolean {
  if (!present) return false;
  if (Number.isNaN(min) || Number.isNaN(max)) return true;
  return max >= predicate.low && min <= predicate.high;
}

/** Rounds a stats bound outward to float64: a lower bound down, an upper bound up. */
export function outwardFloat(value: number | string, direction: 'down' | 'up'): number {
  if (typeof value === 'number') return value;
  const exact = BigInt(value);
  const rounded = Number(exact);
  const back = BigInt(Math.trunc(rounded));
  if (direction === 'down' && back > exact) return nextDown(rounded);
  if (direction === 'up' && back < exact) return nextUp(rounded);
  return rounded;
}

function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigInt64(0);
  view.setBigInt64(0, x >= 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

function nextDown(x: number): number {
  return -nextUp(-x);
}
