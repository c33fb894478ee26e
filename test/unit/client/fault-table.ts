/**
 * The reader's failure table, in the manner of MinIO's erasure-decode tests: per erasure policy,
 * cases that give each shard one fault, and what a read of a block range must then do.
 */
import type { ErasurePolicy } from '../../../erasure/index.js';

/**
 * What a shard's node does: `dead` drops every connection, `refused` answers every request 503,
 * `short` cuts its answer off mid-frame; `missing`, `corrupt`, `eio` and `slow` are the chunk's
 * (see MemoryChunkStore).
 */
/** The block ranges each case reads (fetcher-faults.test.ts). */
export type ReadName = 'inside one shard' | 'across two shards' | 'whole block';

export type ShardFault = 'ok' | 'dead' | 'refused' | 'missing' | 'corrupt' | 'eio' | 'short' | 'slow';

/** Faults that make a shard unreadable (a slow shard answers, late). */
export const UNREADABLE: ReadonlySet<ShardFault> = new Set(['dead', 'refused', 'missing', 'corrupt', 'eio', 'short']);

/**
 * Faults whose chunks the reader reports to the metadata service for repair: a node's `corrupt`
 * and `missing` answers (an EIO is answered `corrupt`), and bytes that fail their checksum. A
 * node that is down, refuses or breaks off names no chunk, so nothing is reported for it.
 */
export const REPORTED: ReadonlySet<ShardFault> = new Set(['corrupt', 'eio', 'missing']);

export interface FaultCase {
  readonly name: string;
  readonly policy: ErasurePolicy;
  /** By shard index; shards not named are ok. */
  readonly faults: Readonly<Record<number, ShardFault>>;
  /** Hedge requests not answered after this long (only in slow cases: on a loaded machine a short hedge fires on healthy reads too). */
  readonly hedgeAfterMs?: number;
}

export const RS_4_2: ErasurePolicy = { dataShards: 4, parityShards: 2 };
export const RS_6_3: ErasurePolicy = { dataShards: 6, parityShards: 3 };

/** Hedge delay in the hedged cases. */
export const HEDGE_AFTER_MS = 40;

const SINGLE_FAULTS: readonly ShardFault[] = ['dead', 'refused', 'missing', 'corrupt', 'eio', 'short'];

function named(policy: ErasurePolicy, faults: Record<number, ShardFault>): string {
  const entries = Object.entries(faults);
  const list = entries.length === 0 ? 'all ok' : entries.map(([shard, fault]) => `${shard}:${fault}`).join(' ');
  return `RS ${policy.dataShards}+${policy.parityShards} ${list}`;
}

function faultCase(policy: ErasurePolicy, faults: Record<number, ShardFault>, extra: Partial<FaultCase> = {}): FaultCase {
  return { name: named(policy, faults) + (extra.hedgeAfterMs === undefined ? '' : ' (hedged)'), policy, faults, ...extra };
}

/** The cases for one policy: shards 0..k-1 are data, k..k+m-1 parity. */
export function casesFor(policy: ErasurePolicy): FaultCase[] {
  const k = policy.dataShards;
  const m = policy.parityShards;
  const cases: FaultCase[] = [faultCase(policy, {})];
  // One bad data shard: shard 0 holds the inside-one-shard stream, shard 2 half the spanning one.
  for (const fault of SINGLE_FAULTS) {
    cases.push(faultCase(policy, { 0: fault }), faultCase(policy, { 2: fault }));
  }
  cases.push(faultCase(policy, { [k]: 'dead' }), faultCase(policy, { [k + m - 1]: 'corrupt' }));
  // m bad of mixed kinds: data shards only, then data and parity.
  cases.push(faultCase(policy, spread(m, (i) => i, ['dead', 'corrupt', 'missing', 'eio', 'short'])));
  cases.push(faultCase(policy, spread(m, (i) => (i === 0 ? 1 : k + i), ['short', 'eio', 'refused'])));
  // Both shards under the spanning stream rotten: within parity's reach, so the scan must find
  // the combination of rebuilt reads that matches the writer's checksum.
  cases.push(faultCase(policy, { 1: 'corrupt', 2: 'corrupt' }));
  // The second shard under the spanning stream rotten, m - 1 others lost: rebuilding the first
  // (healthy) shard's read needs the rotten one and fails; the scan goes on to the rotten one.
  const lost: [number, ShardFault][] = [[0, 'dead'], [3, 'missing'], [k, 'refused']];
  cases.push(faultCase(policy, Object.fromEntries([...lost.slice(0, m - 1), [2, 'corrupt']])));
  // m + 1 bad: reads that need a bad shard must fail naming the block; others still succeed.
  cases.push(faultCase(policy, spread(m + 1, (i) => i, ['dead', 'corrupt', 'missing', 'eio'])));
  cases.push(faultCase(policy, { 2: 'missing', ...spread(m, (i) => k + i, ['dead', 'eio']) }));
  // Slow: hedged reads finish long before the node answers; unhedged ones wait and are still right.
  cases.push(faultCase(policy, { 0: 'slow', 2: 'slow' }, { hedgeAfterMs: HEDGE_AFTER_MS }));
  // A slow shard and m - 1 bad ones: the slow shard's ranges are still rebuilt without waiting for it.
  const others: [number, ShardFault][] = [[3, 'corrupt'], [k, 'dead'], [k + 1, 'missing']];
  cases.push(faultCase(policy, Object.fromEntries([[2, 'slow'], ...others.slice(0, m - 1)]), { hedgeAfterMs: HEDGE_AFTER_MS }));
  cases.push(faultCase(policy, { 2: 'slow' }));
  return cases;
}

/** `count` shards, the i-th at `shardOf(i)`, their faults taken from `kinds` in turn. */
function spread(count: number, shardOf: (i: number) => number, kinds: readonly ShardFault[]): Record<number, ShardFault> {
  const faults: Record<number, ShardFault> = {};
  for (let i = 0; i < count; i++) faults[shardOf(i)] = kinds[i % kinds.length] as ShardFault;
  return faults;
}

/** Shards with a fault that makes them unreadable. */
export function unreadableShards(faultCase: FaultCase): number[] {
  return Object.entries(faultCase.faults)
    .filter(([, fault]) => UNREADABLE.has(fault))
    .map(([shard]) => Number(shard));
}

export function shardsWith(faultCase: FaultCase, wanted: ReadonlySet<ShardFault>): number[] {
  return Object.entries(faultCase.faults)
    .filter(([, fault]) => wanted.has(fault))
    .map(([shard]) => Number(shard));
}

/** What reading a range that needs `needed` data shards must do under a case. */
export interface Expectation {
  /** The read fails with DataUnavailableError naming the block. */
  readonly unavailable: boolean;
  /** Some needed shard is unreadable, or slow and hedged: the read rebuilds from parity. */
  readonly degraded: boolean;
  readonly hedged: boolean;
  /** A needed shard is slow and nothing hedges: the read waits for it. */
  readonly waitsForSlow: boolean;
  /** Needed shards whose chunk must be reported (only checked when the read succeeds). */
  readonly mustReport: readonly number[];
  /** Of the reportable shards, those reported as missing (the others as corrupt). */
  readonly missing: readonly number[];
  /** Shards whose chunk may be reported (rebuild inputs included); any other report is wrong. */
  readonly mayReport: readonly number[];
}

export function expectationFor(faultCase: FaultCase, needed: readonly number[]): Expectation {
  const unreadable = new Set(unreadableShards(faultCase));
  const neededBad = needed.filter((shard) => unreadable.has(shard));
  const slowNeeded = needed.some((shard) => faultCase.faults[shard] === 'slow');
  const hedged = faultCase.hedgeAfterMs !== undefined && slowNeeded;
  const reportable = new Set(shardsWith(faultCase, REPORTED));
  return {
    unavailable: neededBad.length > 0 && unreadable.size > faultCase.policy.parityShards,
    degraded: neededBad.length > 0 || hedged,
    hedged,
    waitsForSlow: slowNeeded && !hedged,
    mustReport: needed.filter((shard) => reportable.has(shard)),
    missing: shardsWith(faultCase, new Set(['missing'])),
    mayReport: [...reportable],
  };
}
