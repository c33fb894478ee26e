/**
 * Partition specs as users write them: `key=value[/key=value]`, e.g. `ds=2026-11-25` or
 * `ds=2026-11-25/region=eu`. Keys must be exactly the table's partition keys, in order.
 */
import { GranaryError } from './errors.js';

export type PartitionValues = Readonly<Record<string, string>>;

const VALUE_PATTERN = /^[A-Za-z0-9._:+-]{1,128}$/;

/** Parses and checks a spec against the table's keys; returns the values and the canonical spec. */
export function parsePartitionSpec(spec: string, keys: readonly string[]): { values: PartitionValues; spec: string } {
  const parts = spec.split('/');
  const values: Record<string, string> = {};
  const example = keys.map((key) => `${key}=VALUE`).join('/');
  if (parts.length !== keys.length) {
    throw new GranaryError('GRN_BAD_REQUEST', `partition "${spec}" must name the keys ${keys.join(', ')} in order, like ${example}`);
  }
  parts.forEach((part, index) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (eq <= 0 || key !== keys[index]) {
      throw new GranaryError('GRN_BAD_REQUEST', `partition "${spec}" must name the keys ${keys.join(', ')} in order, like ${example}`);
    }
    if (!VALUE_PATTERN.test(value)) {
      throw new GranaryError(
        'GRN_BAD_REQUEST',
        `partition value "${value}" for ${key} may hold 1-128 of A-Z a-z 0-9 . _ : + -`,
      );
    }
    values[key] = value;
  });
  return { values, spec: formatPartitionSpec(values, keys) };
}

export function formatPartitionSpec(values: PartitionValues, keys: readonly string[]): string {
  return keys.map((key) => `${key}=${values[key] ?? ''}`).join('/');
}
