/**
 * Row filtering after stripe pruning: a stripe whose stats allow a match may still hold rows that
 * do not. Matching rows are found column by column on the decoded values, and the batch is cut
 * into zero-copy slices of consecutive matching rows.
 */
import type * as arrow from 'apache-arrow';
import { GranaryError, type StatsPredicate } from '../../protocol/index.js';

function bound(value: number | string): number | bigint {
  return typeof value === 'string' ? BigInt(value) : value;
}

function compare(a: number | bigint, b: number | bigint): number {
  // Mixed number/bigint comparisons are exact in JS.
  return a < b ? -1 : a > b ? 1 : 0;
}

function matcher(predicate: StatsPredicate): (value: number | bigint) => boolean {
  const { op, value } = predicate;
  if (op === 'between') {
    const [low, high] = (value as readonly [number | string, number | string]).map(bound) as [number | bigint, number | bigint];
    return (v) => compare(v, low) >= 0 && compare(v, high) <= 0;
  }
  const target = bound(value as number | string);
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
    const test = matcher(predicate);
    for (let row = 0; row < batch.numRows; row++) {
      if (keep[row] === 0) continue;
      const value = vector.get(row) as number | bigint | boolean | null;
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
