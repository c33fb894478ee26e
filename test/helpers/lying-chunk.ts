/**
 * Makes a storage node serve wrong bytes that pass its own checks: one data byte of the chunk
 * holding a stream is flipped and the page table and footer recomputed over the damage, as a
 * node whose memory flipped a bit before it checksummed would have written the file. Only the
 * writer's stream checksum can catch it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GranaryClient } from '../../client/index.js';
import { pageChecksums, xxh64 } from '../../erasure/index.js';
import { type ScanPlan, decodeStreamEntry } from '../../protocol/index.js';
import { FOOTER_BYTES, decodeFooter, encodeFooter, encodePageTable } from '../../storage-node/chunk-format.js';
import { fanoutOf } from '../../storage-node/data-dir.js';

/** Damages the stream of `column` in stripe `stripe` of `table`, in the chunk file under `clusterRoot`. */
export async function makeChunkLie(client: GranaryClient, clusterRoot: string, table: string, column: string, stripe: number): Promise<void> {
  const plan = await client.metadata.plan(table, { columns: [column] });
  const entry = decodeStreamEntry((plan.stripes[stripe] as ScanPlan['stripes'][number]).streams, 0);
  const block = plan.blocks[entry.blockRef] as ScanPlan['blocks'][number];
  const shard = Math.floor(entry.offset / block.shardBytes);
  const chunk = block.chunks[shard] as ScanPlan['blocks'][number]['chunks'][number];
  const path = join(clusterRoot, chunk.nodeId, 'chunks', fanoutOf(chunk.chunkId), chunk.chunkId);
  const file = await readFile(path);
  const footer = decodeFooter(file.subarray(file.length - FOOTER_BYTES), file.length);
  if (typeof footer === 'string') throw new Error(footer);
  const data = Buffer.from(file.subarray(0, footer.dataBytes));
  const at = entry.offset - shard * block.shardBytes + 20;
  data[at] = (data[at] as number) ^ 0x10;
  const pages = encodePageTable(pageChecksums(data, footer.pageBytes));
  await writeFile(path, Buffer.concat([data, pages, encodeFooter({ ...footer, dataChecksum: xxh64(data), pageTableChecksum: xxh64(pages) })]));
}
