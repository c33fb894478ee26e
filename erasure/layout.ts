/**
 * Contiguous Reed-Solomon layout (docs/design.md, "Erasure layout"): a block's bytes are cut into k
 * equal data shards, the last one padded with zeros, so byte `o` of the block lives in shard
 * `floor(o / shardBytes)` at `o % shardBytes`. A small column stream is then one read from one
 * node instead of k reads.
 */
import { invalidArgument } from './errors.js';
import { type ErasurePolicy, validatePolicy } from './policy.js';
import { SHARD_BYTES_MAX } from './reed-solomon.js';

/** Shard sizes are rounded up to this, which native codecs need (multiples of 8 bytes). */
export const SHARD_ALIGNMENT_BYTES = 8;

export interface ContiguousLayout {
  readonly policy: ErasurePolicy;
  /** Stream bytes in the block, before padding. */
  readonly blockBytes: number;
  /** Bytes of every shard, data and parity alike. */
  readonly shardBytes: number;
}

/** One contiguous run of a block range inside one data shard. */
export interface ShardPiece {
  readonly shard: number;
  readonly shardOffset: number;
  readonly length: number;
  /** Where this piece starts in the block. */
  readonly blockOffset: number;
}

export function contiguousLayout(policy: ErasurePolicy, blockBytes: number): ContiguousLayout {
  validatePolicy(policy);
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) {
    throw invalidArgument(`block length must be a positive integer, got ${blockBytes}`);
  }
  const unaligned = Math.ceil(blockBytes / policy.dataShards);
  const shardBytes = Math.ceil(unaligned / SHARD_ALIGNMENT_BYTES) * SHARD_ALIGNMENT_BYTES;
  if (shardBytes > SHARD_BYTES_MAX) {
    throw invalidArgument(
      `a ${blockBytes}-byte block under RS ${policy.dataShards}+${policy.parityShards} makes ` +
        `${shardBytes}-byte shards; the maximum is ${SHARD_BYTES_MAX}`,
    );
  }
  return { policy, blockBytes, shardBytes };
}

/** Zero bytes appended after the block's data to fill k whole shards. */
export function paddingBytes(layout: ContiguousLayout): number {
  return layout.shardBytes * layout.policy.dataShards - layout.blockBytes;
}

/** Bytes of block data (not padding) held by data shard `shard`. */
export function dataBytesInShard(layout: ContiguousLayout, shard: number): number {
  const start = shard * layout.shardBytes;
  return Math.max(0, Math.min(layout.shardBytes, layout.blockBytes - start));
}

/** The pieces of data shards that hold block bytes `[offset, offset + length)`, in block order. */
export function shardPieces(layout: ContiguousLayout, offset: number, length: number): ShardPiece[] {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw invalidArgument(`block range must be non-negative integers, got offset ${offset} length ${length}`);
  }
  if (offset + length > layout.blockBytes) {
    throw invalidArgument(
      `block range [${offset}, ${offset + length}) runs past the block's ${layout.blockBytes} bytes`,
    );
  }
  const pieces: ShardPiece[] = [];
  let blockOffset = offset;
  const end = offset + length;
  while (blockOffset < end) {
    const shard = Math.floor(blockOffset / layout.shardBytes);
    const shardOffset = blockOffset - shard * layout.shardBytes;
    const pieceBytes = Math.min(end - blockOffset, layout.shardBytes - shardOffset);
    pieces.push({ shard, shardOffset, length: pieceBytes, blockOffset });
    blockOffset += pieceBytes;
  }
  return pieces;
}

/**
 * Cuts a block into its k data shards. Shards wholly inside `block` are views (no copy); the shard
 * that holds the end of the data, and any all-padding shard, are fresh zero-padded buffers.
 */
export function splitBlock(layout: ContiguousLayout, block: Uint8Array): Uint8Array[] {
  if (block.length !== layout.blockBytes) {
    throw invalidArgument(`block is ${block.length} bytes, layout expects ${layout.blockBytes}`);
  }
  const shards: Uint8Array[] = [];
  for (let shard = 0; shard < layout.policy.dataShards; shard++) {
    const start = shard * layout.shardBytes;
    const dataBytes = dataBytesInShard(layout, shard);
    if (dataBytes === layout.shardBytes) {
      shards.push(block.subarray(start, start + dataBytes));
    } else {
      const padded = new Uint8Array(layout.shardBytes);
      if (dataBytes > 0) padded.set(block.subarray(start, start + dataBytes));
      shards.push(padded);
    }
  }
  return shards;
}

/** Joins k data shards back into the block's bytes (drops the padding). */
export function joinShards(layout: ContiguousLayout, dataShards: readonly Uint8Array[]): Uint8Array {
  if (dataShards.length !== layout.policy.dataShards) {
    throw invalidArgument(`expected ${layout.policy.dataShards} data shards, got ${dataShards.length}`);
  }
  const block = new Uint8Array(layout.blockBytes);
  dataShards.forEach((shard, index) => {
    if (shard.length !== layout.shardBytes) {
      throw invalidArgument(`data shard ${index} is ${shard.length} bytes, layout expects ${layout.shardBytes}`);
    }
    const dataBytes = dataBytesInShard(layout, index);
    if (dataBytes > 0) block.set(shard.subarray(0, dataBytes), index * layout.shardBytes);
  });
  return block;
}
