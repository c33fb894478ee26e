/** Selecting partitions by conditions on their key values. Pure. */
import { GranaryError, type PartitionPredicate, type PartitionValues } from '../protocol/index.js';

export type PartitionFilter = Readonly<Record<string, PartitionPredicate>>;

/** Checks a filter against the table's keys; unknown keys or empty conditions are errors. */
export function validatePartitionFilter(filter: PartitionFilter, keys: readonly string[]): void {
  for (const [key, predicate] of Object.entries(filter)) {
    if (!keys.includes(key)) {
      throw new GranaryError('GRN_BAD_REQUEST', `partition filter names ${key}, but the table is partitioned by ${keys.join(', ')}`);
    }
    const fields = Object.keys(predicate);
    const known = ['eq', 'in', 'gt', 'gte', 'lt', 'lte'];
    if (fields.length === 0 || fields.some((field) => !known.includes(field))) {
      throw new GranaryError('GRN_BAD_REQUEST', `partition filter on ${key} must use eq, in, or gt/gte/lt/lte, got ${JSON.stringify(predicate)}`);
    }
    if (('eq' in predicate || 'in' in predicate) && fields.length > 1) {
      throw new GranaryError('GRN_BAD_REQUEST', `partition filter on ${key}: eq and in cannot be combined with other conditions`);
    }
  }
}

export function matchesPartition(values: PartitionValues, filter: PartitionFilter): boolean {
  for (const [key, predicate] of Object.entries(filter)) {
    const value = values[key];
    if (value === undefined) return false;
    if ('eq' in predicate) {
      if (value !== predicate.eq) return false;
    } else if ('in' in predicate) {
      if (!predicate.in.includes(value)) return false;
    } else {
      if (predicate.gt !== undefined && !(value > predicate.gt)) return false;
      if (predicate.gte !== undefined && !(value >= predicate.gte)) return false;
      if (predicate.lt !== undefined && !(value < predicate.lt)) return false;
      if (predicate.lte !== undefined && !(value <= predicate.lte)) return false;
    }
  }
  return true;
}
