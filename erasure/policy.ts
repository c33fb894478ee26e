import { invalidArgument } from './errors.js';

/** A Reed-Solomon policy: `dataShards` (k) data shards protected by `parityShards` (m). */
export interface ErasurePolicy {
  readonly dataShards: number;
  readonly parityShards: number;
}

/** Bounds every codec and test covers; wider policies are refused rather than half-supported. */
export const DATA_SHARDS_MAX = 32;
export const PARITY_SHARDS_MAX = 16;

const POLICY_PATTERN = /^(\d{1,2})\+(\d{1,2})$/;

export function validatePolicy(policy: ErasurePolicy): ErasurePolicy {
  const { dataShards, parityShards } = policy;
  if (!Number.isInteger(dataShards) || dataShards < 1 || dataShards > DATA_SHARDS_MAX) {
    throw invalidArgument(`data shard count must be an integer in 1..${DATA_SHARDS_MAX}, got ${dataShards}`);
  }
  if (!Number.isInteger(parityShards) || parityShards < 0 || parityShards > PARITY_SHARDS_MAX) {
    throw invalidArgument(`parity shard count must be an integer in 0..${PARITY_SHARDS_MAX}, got ${parityShards}`);
  }
  return policy;
}

/** Parses the `k+m` notation used in schemas and on the command line, e.g. `6+3`. */
export function parsePolicy(text: string): ErasurePolicy {
  const match = POLICY_PATTERN.exec(text.trim());
  if (match === null) {
    throw invalidArgument(`erasure policy must look like "6+3" (data+parity shards), got "${text}"`);
  }
  return validatePolicy({ dataShards: Number(match[1]), parityShards: Number(match[2]) });
}

export function formatPolicy(policy: ErasurePolicy): string {
  return `${policy.dataShards}+${policy.parityShards}`;
}

export function totalShards(policy: ErasurePolicy): number {
  return policy.dataShards + policy.parityShards;
}
