/**
 * Row filtering after stripe pruning: a stripe whose stats allow a match may still hold rows that
 * do not. Matching rows are found column by column on the decoded values, and the batch is cut
 * into zero-copy slices of consecutive matching rows.
 *
 * Timestamps and dates are compared as the microseconds and days they store (apache-arrow's
 * `get` hands them out as float milliseconds, which loses microseconds), and their where values
 * may be text (`'2026-11-20T00:00:00Z'`, `'2026-11-20'`), read as protocol/temporal.ts reads it.
 * Decimals are compared exactly too: the stored unscaled value against the literal scaled to the
 * column's scale (a literal with more fraction digits compares as the rational it is), never as
 * doubles.
 */
import * as arrow from 'apache-arrow';
import { type DecimalLiteral, GranaryError, type StatsPredicate, decimalLiteral, pow10, temporalLiteral } from '../../protocol/index.js';
import { decimalAt } from '../format/decimal128.js';

type Bound = (value: number | string) => number | bigint;

function bound(value: number | string): number | bigint {
  return typeof value === 'string' ? BigInt(value) : value;
}

/** Which stored number a column's values and where values are compared as; undefined for the plain types. */
function temporalKind(type: arrow.DataType): 'timestamp' | 'date' | undefined {
  if (arrow.DataType.isTimestamp(type)) return 'timestamp';
  if (arrow.DataType.isDate(type) && type.unit === arrow.DateUnit.DAY) return 'date';
  return undefined;
}

function temporalBound(kind: 'timestamp' | 'date', column: string): Bound {
  return (value) => {
    const literal = temporalLiteral(kind, value);
    if (!literal.ok) throw new GranaryError('GRN_BAD_REQUEST', `where ${column}: ${literal.reason}`);
    return literal.value;
  };
}

/**
 * Row `row`'s value of `vector` as it is stored, or null; chunk by chunk, not through `get`. Rows
 * are asked for in ascending order, so the chunk is found by moving forward from the last one.
 */
function storedValues(vector: arrow.Vector): (row: number) => number | bigint | null {
  return chunkValues(vector, (data, i) => (data.values as BigInt64Array | Int32Array)[i] as number | bigint);
}

/** Row `row`'s value of `vector` read by `at` from its chunk, or null; rows asked for in ascending order. */
function chunkValues(vector: arrow.Vector, at: (data: arrow.Data, index: number) => number | bigint): (row: number) => number | bigint | null {
  const starts: number[] = [];
  let base = 0;
  for (const data of vector.data) {
    starts.push(base);
    base += data.length;
  }
  let c = 0;
  return (row) => {
    if (row < (starts[c] as number)) c = 0;
    while (c + 1 < starts.length && (starts[c + 1] as number) <= row) c++;
    const data = vector.data[c] as arrow.Data;
    const i = row - (starts[c] as number);
    if (!data.getValid(i)) return null;
    return at(data, i);
  };
}

/** The where values of a predicate, one or two. */
function literalsOf(predicate: StatsPredicate): readonly (number | string)[] {
  return Array.isArray(predicate.value) ? (predicate.value as readonly (number | string)[]) : [predicate.value as number | string];
}

/**
 * A decimal column is compared at one scale: the column's, or a literal's when it has more
 * fraction digits (`price < 12.345` on a scale-2 column). Both sides are integers there, so the
 * comparison is exact.
 */
function decimalComparison(predicate: StatsPredicate, type: arrow.Decimal, vector: arrow.Vector): { bound: Bound; get: (row: number) => number | bigint | null } {
  const literals = literalsOf(predicate).map((value) => {
    const parsed = decimalLiteral(value);
    if (!parsed.ok) throw new GranaryError('GRN_BAD_REQUEST', `where ${predicate.column}: ${parsed.reason}`);
    return parsed.literal;
  });
  const scale = Math.max(type.scale, ...literals.map((literal) => literal.scale));
  const factor = pow10(scale - type.scale);
  const stored = decimalValues(vector);
  return {
    bound: (value) => {
      const { literal } = decimalLiteral(value) as { literal: DecimalLiteral };
      return literal.value * pow10(scale - literal.scale);
    },
    get: factor === 1n ? stored : (row) => {
      const value = stored(row);
      return value === null ? null : BigInt(value) * factor;
    },
  };
}

function decimalValues(vector: arrow.Vector): (row: number) => number | bigint | null {
  return chunkValues(vector, (data, i) => decimalAt(data.values as Uint32Array, i));
}

function compare(a: number | bigint, b: number | bigint): number {
  // Mixed number/bigint comparisons are exact in JS.
  return a < b ? -1 : a > b ? 1 : 0;
}

function matcher(predicate: StatsPredicate, literal: Bound): (value: number | bigint) => boolean {
  const { op, value } = predicate;
  if (op === 'between') {
    const [low, high] = (value as readonly [number | string, number | string]).map(literal) as [number | bigint, number | bigint];
    return (v) => compare(v, low) >= 0 && compare(v, high) <= 0;
  }
  const target = literal(value as number | string);
  switch (op) {
    case '=':
      return (v) => compare(v, target) === 0;
    case '<':
      return (v) => compare(v, target) < 0;
    case '<=':
      return (v) => compare(v, target) <= 0;
    case '>':
      return (v) => compare(v, target) > 0;
    case '>=':
      return (v) => compare(v, target) >= 0;
    default:
      throw new GranaryError('GRN_BAD_REQUEST', `unknown operator ${String(op)}`);
  }
}

/** Rows of `batch` matching every predicate (nulls match nothing), as slices of consecutive rows. */
export function filterRows(batch: arrow.RecordBatch, predicates: readonly StatsPredicate[]): arrow.RecordBatch[] {
  if (predicates.length === 0 || batch.numRows === 0) return batch.numRows === 0 ? [] : [batch];
  const keep = new Uint8Array(batch.numRows).fill(1);
  for (const predicate of predicates) {
    const vector = batch.getChild(predicate.column);
    if (vector === null) throw new GranaryError('GRN_BAD_REQUEST', `where: column ${predicate.column} was not read`);
    const kind = temporalKind(vector.type);
    const decimal = arrow.DataType.isDecimal(vector.type) ? decimalComparison(predicate, vector.type, vector) : undefined;
    const test = matcher(predicate, decimal?.bound ?? (kind === undefined ? bound : temporalBound(kind, predicate.column)));
    const get = decimal?.get ?? (kind === undefined ? (row: number) => vector.get(row) as number | bigint | boolean | null : storedValues(vector));
    for (let row = 0; row < batch.numRows; row++) {
      if (keep[row] === 0) continue;
      const value = get(row);
      keep[row] = value !== null && test(typeof value === 'boolean' ? Number(value) : value) ? 1 : 0;
    }
  }
  const slices: arrow.RecordBatch[] = [];
  let start = -1;
  for (let row = 0; row <= batch.numRows; row++) {
    const match = row < batch.numRows && keep[row] === 1;
    if (match && start < 0) start = row;
    if (!match && start >= 0) {
      slices.push(batch.slice(start, row));
      start = -1;
    }
  }
  return slices;
}
