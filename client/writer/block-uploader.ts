/**
 * Erasure codes a block and stores its k+m chunks on the nodes the metadata service placed them
 * on, in parallel. A chunk a node refuses or cannot take (down, disk full) is placed again on a
 * replacement node, a bounded number of times.
 */
import { checksumToHex, contiguousLayout, encodeParityInto, threadedCodecById, xxh64 } from '../../erasure/index.js';
import { type BlockManifest, type BlockPlacement, GranaryError, type HttpPools, putChunk } from '../../protocol/index.js';
import type { MetadataClient } from '../metadata-client.js';

/** Replacement placements tried per shard before the block write fails. */
export const SHARD_REPLACEMENTS_MAX = 3;

/**
 * `space`, when given, starts with `bytes` and is zero after them: when it holds all k+m shards
 * of the placement's policy, data shards are views of it and parity is computed into it (the
 * writer's reused block spaces, shared with the codec threads).
 */
export async function uploadBlock(
  http: HttpPools,
  metadata: MetadataClient,
  sessionId: string,
  bytes: Uint8Array,
  space?: Uint8Array,
): Promise<BlockManifest> {
  let placement: BlockPlacement = await metadata.allocateBlock(sessionId);
  const policy = { dataShards: placement.dataShards, parityShards: placement.parityShards };
  const layout = contiguousLayout(policy, bytes.length);
  // The codec the service placed the block for (and will repair it with).
  const codec = threadedCodecById(placement.codec);
  const { shardBytes } = layout;
  const total = policy.dataShards + policy.parityShards;
  // One layout for both cases: k data shards then m parity shards, back to back. Without a space
  // that holds them (callers other than the writer), the block is copied into a fresh one.
  let room = space;
  if (room === undefined || room.buffer !== bytes.buffer || room.byteOffset !== bytes.byteOffset || room.length < total * shardBytes) {
    room = new Uint8Array(total * shardBytes);
    room.set(bytes);
  }
  const shards = Array.from({ length: total }, (_, i) => (room as Uint8Array).subarray(i * shardBytes, (i + 1) * shardBytes));
  await encodeParityInto(policy, shards.slice(0, policy.dataShards), shards.slice(policy.dataShards), codec);
  // Recorded with the block: repair checks a rebuilt chunk against it before it is used.
  const checksums = shards.map((shard) => xxh64(shard));
  // Replacements for different shards are asked one at a time so each sees the others' choices.
  let placementLock: Promise<unknown> = Promise.resolve();
  // Each node's receipt for its shard: the commit proves with them that every chunk was stored.
  const receipts = new Array<string | undefined>(total).fill(undefined);
  // Settle every shard before failing: a put still in flight could land after the block has been
  // handed to garbage collection, and be orphaned.
  const outcomes = await Promise.allSettled(
    shards.map(async (shard, index) => {
      const errors: string[] = [];
      for (let attempt = 0; attempt <= SHARD_REPLACEMENTS_MAX; attempt++) {
        const chunk = placement.chunks[index];
        if (chunk === undefined) throw new GranaryError('GRN_INTERNAL', `placement of ${placement.blockId} has no shard ${index}`);
        try {
          receipts[index] = await putChunk(http, chunk.url, chunk.chunkId, shard, checksums[index], false, chunk.capability);
          return;
        } catch (error) {
          errors.push(`${chunk.nodeId}: ${(error as Error).message}`);
          if (error instanceof GranaryError && error.statusCode >= 400 && error.statusCode < 500) throw error;
          if (attempt === SHARD_REPLACEMENTS_MAX) break;
          const replaced = placementLock.then(() => metadata.replaceShard(sessionId, placement.blockId, index));
          placementLock = replaced.catch(() => undefined);
          placement = await replaced;
        }
      }
      throw new GranaryError(
        'GRN_UNAVAILABLE',
        `could not store shard ${index} of block ${placement.blockId} after ${SHARD_REPLACEMENTS_MAX + 1} nodes: ${errors.join('; ')}`,
      );
    }),
  );
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return {
    blockId: placement.blockId,
    blockBytes: bytes.length,
    shardBytes: layout.shardBytes,
    codec: placement.codec,
    shardChecksums: checksums.map(checksumToHex),
    // Nodes that sign no receipts (a service with auth off may run older nodes) leave them out.
    ...(receipts.every((receipt) => receipt !== undefined) ? { receipts: receipts as string[] } : {}),
  };
}
