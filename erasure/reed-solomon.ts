/**
 * Validated entry points for erasure coding. They check every argument, then hand equal-length
 * buffers to an `ErasureCodec`.
 *
 * Reed-Solomon works byte position by byte position, so every function here accepts either whole
 * shards or the same byte range `[a, b)` of each shard: reconstructing a range of a missing shard
 * from the same range of k present ones is just `reconstructShards` on the slices.
 */
import type { ErasureCodec } from './codec.js';
import { TooManyShardsMissingError, invalidArgument } from './errors.js';
import { type ErasurePolicy, totalShards, validatePolicy } from './policy.js';
import { type RsKernel, chooseRsKernel } from './rs-kernel.js';

const EMPTY_PLACEHOLDER = new Uint8Array(0);

/** Shards larger than this are refused: a block is at most a few hundred MiB. */
export const SHARD_BYTES_MAX = 256 * 1024 * 1024;

let rsWasmKernelInUse: RsKernel | undefined;

const codecs = new Map<string, () => ErasureCodec>([
  [
    'rs-wasm-v1',
    () => {
      const choice = chooseRsKernel();
      rsWasmKernelInUse = choice.kernel;
      return choice.codec;
    },
  ],
]);
const instances = new Map<string, ErasureCodec>();

/** The codec new blocks are written with. */
export const DEFAULT_CODEC_ID = 'rs-wasm-v1';

/** Returns the shared codec recorded under `id`; blocks are always repaired with their own codec. */
export function codecById(id: string = DEFAULT_CODEC_ID): ErasureCodec {
  let codec = instances.get(id);
  if (codec === undefined) {
    const factory = codecs.get(id);
    if (factory === undefined) {
      throw invalidArgument(`unknown erasure codec "${id}"; known: ${[...codecs.keys()].join(', ')}`);
    }
    codec = factory();
    instances.set(id, codec);
  }
  return codec;
}

/** What computes `rs-wasm-v1` in this process (see rs-kernel.ts and GRANARY_ERASURE_KERNEL). */
export function rsWasmKernel(): RsKernel {
  codecById('rs-wasm-v1');
  return rsWasmKernelInUse as RsKernel;
}

// The default codec is built, and its kernel self-tested, as the erasure layer loads: a process
// whose kernel disagrees with the known answers fails at start-up, not at its first write.
codecById(DEFAULT_CODEC_ID);

function checkShardLength(length: number, what: string): void {
  if (length > SHARD_BYTES_MAX) {
    throw invalidArgument(`${what} is ${length} bytes; shards are at most ${SHARD_BYTES_MAX} bytes`);
  }
}

/**
 * Computes the parity shards of `dataShards` (all of one length) under `policy`.
 * Returns `policy.parityShards` new buffers.
 */
export async function encodeParity(
  policy: ErasurePolicy,
  dataShards: readonly Uint8Array[],
  codec: ErasureCodec = codecById(),
): Promise<Uint8Array[]> {
  const shardBytes = dataShards[0]?.length ?? 0;
  const parity = Array.from({ length: policy.parityShards }, () => new Uint8Array(shardBytes));
  await encodeParityInto(policy, dataShards, parity, codec);
  return parity;
}

/**
 * Computes the parity shards of `dataShards` into `parity` (buffers the caller owns, say reused
 * from an earlier block): all k+m of one length.
 */
export async function encodeParityInto(
  policy: ErasurePolicy,
  dataShards: readonly Uint8Array[],
  parity: readonly Uint8Array[],
  codec: ErasureCodec = codecById(),
): Promise<void> {
  validatePolicy(policy);
  if (dataShards.length !== policy.dataShards) {
    throw invalidArgument(`RS ${policy.dataShards}+${policy.parityShards} needs ${policy.dataShards} data shards, got ${dataShards.length}`);
  }
  if (parity.length !== policy.parityShards) {
    throw invalidArgument(`RS ${policy.dataShards}+${policy.parityShards} makes ${policy.parityShards} parity shards, ${parity.length} buffers were given`);
  }
  const shardBytes = (dataShards[0] as Uint8Array).length;
  checkShardLength(shardBytes, 'data shard 0');
  [...dataShards, ...parity].forEach((shard, index) => {
    if (shard.length !== shardBytes) {
      throw invalidArgument(`shard ${index} is ${shard.length} bytes, shard 0 is ${shardBytes}: all shards must be one length`);
    }
  });
  if (policy.parityShards > 0 && shardBytes > 0) await codec.encodeParity(dataShards, parity);
}

/**
 * Rebuilds missing shards. `shards` has one entry per shard of the policy (data first, then
 * parity); `null` or `undefined` marks a missing one. Present entries are all of one length: whole
 * shards, or the same byte range of each. Returns the rebuilt buffers for `wanted` (default: every
 * missing shard), in the order asked; a wanted shard that is present is returned as given.
 *
 * Throws `TooManyShardsMissingError` naming the missing shards when fewer than k are present.
 */
export async function reconstructShards(
  policy: ErasurePolicy,
  shards: readonly (Uint8Array | null | undefined)[],
  wanted?: readonly number[],
  codec: ErasureCodec = codecById(),
): Promise<Uint8Array[]> {
  validatePolicy(policy);
  const total = totalShards(policy);
  const k = policy.dataShards;
  if (shards.length !== total) {
    throw invalidArgument(`RS ${k}+${policy.parityShards} has ${total} shards, got ${shards.length} entries`);
  }
  const missing: number[] = [];
  let shardBytes = -1;
  shards.forEach((shard, index) => {
    if (shard === null || shard === undefined) {
      missing.push(index);
      return;
    }
    if (shardBytes === -1) shardBytes = shard.length;
    if (shard.length !== shardBytes) {
      throw invalidArgument(`shard ${index} is ${shard.length} bytes, others are ${shardBytes}: give the same range of every shard`);
    }
  });
  const targets = wanted ?? missing;
  for (const index of targets) {
    if (!Number.isInteger(index) || index < 0 || index >= total) {
      throw invalidArgument(`wanted shard ${index} is not a shard of RS ${k}+${policy.parityShards}`);
    }
  }
  if (total - missing.length < k) {
    throw new TooManyShardsMissingError(missing, k, policy.parityShards);
  }
  checkShardLength(shardBytes, 'a shard');

  const present = shards.map((shard) => shard !== null && shard !== undefined);
  const needsParity = targets.some((index) => index >= k && !present[index]);
  // Missing data shards are rebuilt, so each needs its own buffer; missing parity is neither read
  // nor written unless re-encoded below, so an empty placeholder stands for them (codec.ts allows
  // it). A full-size one, even untouched, counted as external memory: the GCs it brought on made a
  // degraded read of 10 MiB ranges 1.7x slower.
  const placeholder = needsParity ? undefined : EMPTY_PLACEHOLDER;
  const full: Uint8Array[] = shards.map((shard, index) => shard ?? (index >= k && placeholder !== undefined ? placeholder : new Uint8Array(shardBytes)));
  const needsData = targets.some((index) => index < k && !present[index]) ||
    (needsParity && missing.some((index) => index < k));
  if (needsData && shardBytes > 0) await codec.reconstructData(full, present, k);
  if (needsParity && shardBytes > 0) {
    const parity = await encodeParity(policy, full.slice(0, k), codec);
    for (let j = 0; j < policy.parityShards; j++) {
      if (!present[k + j]) full[k + j] = parity[j] as Uint8Array;
    }
  }
  return targets.map((index) => full[index] as Uint8Array);
}
