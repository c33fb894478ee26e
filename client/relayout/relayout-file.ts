/**
 * Rewrites one committed file in its table's popularity order (docs/design.md, "Re-layout"): each
 * of its blocks is read whole (around dead and lying nodes, every stream checked against its
 * writer's checksum), its streams laid out again as they are stored (no decoding), the new block
 * erasure coded and stored through a write session, and all of them committed in place of the
 * old blocks in one step. Nothing changes for readers until that commit; a failure before it
 * aborts the session, whose blocks the service collects.
 */
import { checksumFromHex } from '../../erasure/index.js';
import { relayStreams } from '../../protocol/block-layout.js';
import { GranaryError, type HttpPools } from '../../protocol/index.js';
import type { LayoutBlock, RelayoutBlock, RelayoutResult } from '../../protocol/relayout-types.js';
import type { MetadataClient } from '../metadata-client.js';
import { Fetcher } from '../reader/fetcher.js';
import { fetchStreams } from '../reader/group-read.js';
import { corruptReporter } from '../reader/corrupt-reports.js';
import { COALESCING_DEFAULTS } from '../reader/read-plan.js';
import { newScanStats } from '../reader/scan-stats.js';
import { uploadBlock } from '../writer/block-uploader.js';

/** The job re-layout reads are counted under (`granary jobs`). */
export const RELAYOUT_JOB = 'granary-relayout';
/** Lease of a re-layout session, renewed after every block. */
const RELAYOUT_LEASE_MS = 120_000;
/** Batched reads in flight while a block is read. */
const READS_IN_FLIGHT = 8;

export interface RelayoutFileOptions {
  /** Called after each block with the bytes it moved (read and written); may wait, to pace the work. */
  readonly onBlock?: (bytesMoved: number) => Promise<void>;
}

export async function relayoutFile(http: HttpPools, metadata: MetadataClient, table: string, partition: string, fileId: string, options: RelayoutFileOptions = {}): Promise<RelayoutResult> {
  const layout = await metadata.fileLayout(table, partition, fileId);
  const session = await metadata.openSession(table, { partition: layout.partition, leaseMs: RELAYOUT_LEASE_MS });
  try {
    const blocks: RelayoutBlock[] = [];
    for (const old of layout.blocks) {
      const { relaid, bytesMoved } = await relayBlock(http, metadata, session.sessionId, old, layout.order);
      blocks.push(relaid);
      await metadata.renewSession(session.sessionId);
      await options.onBlock?.(bytesMoved);
    }
    return await metadata.commitRelayout(session.sessionId, { fileId, blocks });
  } catch (error) {
    // The session's blocks go to GC either way; an abort only spares the lease's wait.
    await metadata.abort(session.sessionId).catch((abortError: unknown) => {
      (error as Error).message += ` (and aborting session ${session.sessionId} failed: ${(abortError as Error).message}; its lease will expire)`;
    });
    throw error;
  }
}

async function relayBlock(
  http: HttpPools,
  metadata: MetadataClient,
  sessionId: string,
  old: LayoutBlock,
  order: readonly number[],
): Promise<{ relaid: RelayoutBlock; bytesMoved: number }> {
  const { block, streams } = old;
  const stats = newScanStats();
  const fetcher = new Fetcher(http, [block], { concurrency: READS_IN_FLIGHT, job: RELAYOUT_JOB }, stats, corruptReporter(metadata, 're-layout read'));
  const needs = streams.map((stream) => ({ blockRef: 0, offset: stream.offset, length: stream.length }));
  const { streams: bytes, stillBad } = await fetchStreams([block], needs, streams.map((stream) => checksumFromHex(stream.checksum)), COALESCING_DEFAULTS, fetcher);
  if (stillBad.size > 0) {
    const first = streams[[...stillBad][0] as number];
    throw new GranaryError('GRN_DATA_CORRUPT', `block ${block.blockId}: ${stillBad.size} streams (the first of stripe ${first?.stripe} column ${first?.column}) match their checksums neither as read nor rebuilt from parity; the block is left as it is`);
  }
  const { offsets, bytes: blockBytes } = relayStreams(streams, order, block.dataShards);
  const data = new Uint8Array(blockBytes);
  streams.forEach((_stream, i) => data.set(bytes[i] as Uint8Array, offsets[i] as number));
  const manifest = await uploadBlock(http, metadata, sessionId, data);
  return { relaid: { replaces: block.blockId, block: manifest, offsets }, bytesMoved: stats.bytesFetched + manifest.shardBytes * (block.dataShards + block.parityShards) };
}
