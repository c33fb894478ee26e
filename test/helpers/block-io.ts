/**
 * The smallest possible writer and reader of one erasure-coded block, for tests of the services'
 * contracts (the real client library comes later): encode a block into k+m chunks, store them on
 * the nodes a placement names, and read a stream back, rebuilding it from parity if needed.
 */
import { pack } from 'msgpackr';
import { request } from 'undici';
import {
  type ErasurePolicy,
  checksumToHex,
  contiguousLayout,
  encodeParity,
  reconstructShards,
  shardPieces,
  splitBlock,
  xxh64,
} from '../../erasure/index.js';
import { CAPABILITY_HEADER } from '../../protocol/capability.js';
import { type BlockPlacement, type Frame, type PlannedBlock, readFrames } from '../../protocol/index.js';

export async function storeBlock(
  placement: BlockPlacement,
  block: Uint8Array,
): Promise<{ blockBytes: number; shardBytes: number; shardChecksums: string[]; receipts?: string[] }> {
  const policy: ErasurePolicy = { dataShards: placement.dataShards, parityShards: placement.parityShards };
  const layout = contiguousLayout(policy, block.length);
  const data = splitBlock(layout, block);
  const shards = [...data, ...(await encodeParity(policy, data))];
  const receipts: (string | undefined)[] = [];
  await Promise.all(
    placement.chunks.map(async (chunk) => {
      const body = shards[chunk.shard] as Uint8Array;
      const response = await request(`${chunk.url}/v1/chunks/${chunk.chunkId}`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'x-granary-checksum': checksumToHex(xxh64(body)),
          ...(chunk.capability === undefined ? {} : { [CAPABILITY_HEADER]: chunk.capability }),
        },
        body,
      });
      const text = await response.body.text();
      if (response.statusCode !== 201) throw new Error(`put ${chunk.chunkId} to ${chunk.url}: ${response.statusCode} ${text}`);
      receipts[chunk.shard] = (JSON.parse(text) as { receipt?: string }).receipt;
    }),
  );
  const shardChecksums = shards.map((shard) => checksumToHex(xxh64(shard)));
  // The receipts the nodes signed: the commit's proof the chunks were stored (protocol/receipt.ts).
  const signed = receipts.every((receipt): receipt is string => receipt !== undefined) && receipts.length === shards.length;
  return { blockBytes: block.length, shardBytes: layout.shardBytes, shardChecksums, ...(signed ? { receipts } : {}) };
}

async function readRange(url: string, chunk: string, offset: number, length: number, capability: string | undefined): Promise<Uint8Array | undefined> {
  let refused: string | undefined;
  try {
    const response = await request(`${url}/v1/chunks/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: pack({ ranges: [{ chunk, offset, length }], ...(capability === undefined ? {} : { capabilities: [capability] }) }),
    });
    // A refused capability is a test bug, not a lost shard to read around.
    if (response.statusCode === 401 || response.statusCode === 403) refused = `${response.statusCode} ${await response.body.text()}`;
    else {
      const frames: Frame[] = [];
      for await (const frame of readFrames(response.body)) frames.push(frame);
      return frames[0]?.status === 'ok' ? frames[0].data : undefined;
    }
  } catch {
    return undefined;
  }
  throw new Error(`read of ${chunk} from ${url} refused: ${refused}`);
}

/** Reads block bytes [offset, offset + length): from the data shards, or rebuilt from any k. */
export async function readBlockRange(block: PlannedBlock, offset: number, length: number): Promise<Uint8Array> {
  const policy: ErasurePolicy = { dataShards: block.dataShards, parityShards: block.parityShards };
  const layout = contiguousLayout(policy, block.blockBytes);
  const out = new Uint8Array(length);
  for (const piece of shardPieces(layout, offset, length)) {
    const chunk = block.chunks[piece.shard];
    let bytes = chunk === undefined ? undefined : await readRange(chunk.url, chunk.chunkId, piece.shardOffset, piece.length, block.capability);
    if (bytes === undefined) {
      const ranges = await Promise.all(
        block.chunks.map((c) => (c.shard === piece.shard ? undefined : readRange(c.url, c.chunkId, piece.shardOffset, piece.length, block.capability))),
      );
      [bytes] = await reconstructShards(policy, ranges, [piece.shard]);
    }
    out.set(bytes as Uint8Array, piece.blockOffset - offset);
  }
  return out;
}
