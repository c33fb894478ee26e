/**
 * A commit's proof that its chunks exist: every shard of every block must come with the put
 * receipt its node signed (protocol/receipt.ts) for that chunk id, the shard's length and the
 * checksum the manifest records. So a commit can name neither a chunk that was never stored nor
 * bytes other than those stored; a node registered without a receipt key (older nodes, test
 * doubles) is the only exception.
 */
import type { KeyObject } from 'node:crypto';
import { checksumFromHex } from '../erasure/index.js';
import { publicKeyFromText } from '../protocol/capability.js';
import { type BlockManifest, GranaryError, chunkIdOf } from '../protocol/index.js';
import { receiptVerifies } from '../protocol/receipt.js';
import type { BlockRecord, NodeRecord } from './records.js';

const keys = new Map<string, KeyObject>();
/** Parsed node keys kept: one per node, so a bound far above any cluster's node count. */
const KEYS_CACHED_MAX = 10_000;

export function checkReceipts(
  claims: readonly BlockManifest[],
  blocks: ReadonlyMap<string, BlockRecord>,
  nodes: ReadonlyMap<string, NodeRecord>,
): void {
  for (const claim of claims) {
    const record = blocks.get(claim.blockId);
    // Blocks not allocated to the session are refused by checkBlockClaims with a clearer message.
    if (record === undefined) continue;
    record.nodes.forEach((nodeId, shard) => {
      const text = nodes.get(nodeId)?.receiptKey;
      if (text === undefined) return;
      const chunkId = chunkIdOf(claim.blockId, shard);
      const receipt = claim.receipts?.[shard];
      if (receipt === undefined) {
        throw new GranaryError('GRN_BAD_REQUEST', `block ${claim.blockId}: no put receipt for shard ${shard} from node ${nodeId}; send the receipt each node answered its put with`);
      }
      const checksum = claim.shardChecksums[shard];
      if (checksum === undefined || !receiptVerifies(receipt, chunkId, claim.shardBytes, checksumFromHex(checksum), keyOf(text))) {
        throw new GranaryError(
          'GRN_BAD_REQUEST',
          `block ${claim.blockId}: node ${nodeId}'s receipt does not prove it stored chunk ${chunkId} with ${claim.shardBytes} bytes and checksum ${String(checksum)}; store the chunk again`,
        );
      }
    });
  }
}

function keyOf(text: string): KeyObject {
  let key = keys.get(text);
  if (key === undefined) {
    if (keys.size >= KEYS_CACHED_MAX) keys.clear();
    key = publicKeyFromText(text, 'a node receipt key');
    keys.set(text, key);
  }
  return key;
}
