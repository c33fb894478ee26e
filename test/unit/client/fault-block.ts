/**
 * A block made for fault tests: seeded random blobs, each encoded as a one-row `bytes` column
 * stream (one stripe each), laid back to back so they tile the block exactly. The layout puts
 * one stream inside shard 0, one across the boundary of shards 1 and 2, and the rest after, so
 * reading one stripe, another, or all of them reads inside one shard, across two, or the whole
 * block. Also the scan plan that names them, and a metadata client that serves only that plan.
 */
import { type ErasurePolicy, xxh64 } from '../../../erasure/index.js';
import { ENCODING_PLAIN, encodeStream, rowsToRecordBatch } from '../../../client/format/index.js';
import { MetadataClient } from '../../../client/metadata-client.js';
import {
  type CorruptChunkReport,
  type HttpPools,
  type PlannedBlock,
  type PlannedStripe,
  type ScanPlan,
  type ScanRequest,
  STREAM_ENTRY_BYTES,
  encodeStreamEntry,
} from '../../../protocol/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';

export const FAULT_TABLE = 'faults';
const COLUMN = 'payload';
const PARTITION = 'ds=2026-12-01';
/** A one-row `bytes` stream is its value plus this much (header and offsets), for values of a multiple of 8 bytes. */
const BYTES_STREAM_OVERHEAD = 24;
const STREAM_ALIGNMENT_BYTES = 8;
/** Streams after the two placed ones are at most this fraction of a shard. */
const TAIL_STREAM_SHARDS = 0.8;

export interface BlockRange {
  readonly offset: number;
  readonly length: number;
}

export interface FaultBlock {
  /** The block's bytes: the streams back to back. */
  readonly bytes: Uint8Array;
  readonly shardBytes: number;
  /** Per stripe, the blob it holds and where its stream lies in the block. */
  readonly blobs: readonly Uint8Array[];
  readonly streams: readonly (BlockRange & { readonly checksum: bigint })[];
  /** The stripe whose stream lies inside shard 0, and the one across shards 1 and 2. */
  readonly insideShardStripe: number;
  readonly acrossShardsStripe: number;
}

/** Builds the streams of a block of `dataShards * shardBytes` bytes (shardBytes a multiple of 8). */
export function makeFaultBlock(policy: ErasurePolicy, shardBytes: number, seed: number): FaultBlock {
  const blockBytes = policy.dataShards * shardBytes;
  const at = (shards: number): number => Math.round((shards * shardBytes) / STREAM_ALIGNMENT_BYTES) * STREAM_ALIGNMENT_BYTES;
  const bounds = [0, at(0.5), at(1.7), at(2.3)];
  while ((bounds[bounds.length - 1] as number) < blockBytes) {
    bounds.push(Math.min(blockBytes, (bounds[bounds.length - 1] as number) + at(TAIL_STREAM_SHARDS)));
  }
  const random = seededRandom(seed);
  const bytes = new Uint8Array(blockBytes);
  const blobs: Uint8Array[] = [];
  const streams: (BlockRange & { checksum: bigint })[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const offset = bounds[i] as number;
    const length = (bounds[i + 1] as number) - offset;
    const blob = Uint8Array.from({ length: length - BYTES_STREAM_OVERHEAD }, () => Math.floor(random() * 256));
    const batch = rowsToRecordBatch([{ name: COLUMN, type: 'bytes' }], [{ [COLUMN]: blob }]);
    const encoded = encodeStream('bytes', batch.getChildAt(0) as NonNullable<ReturnType<typeof batch.getChildAt>>);
    if (encoded.bytes.length !== length) throw new Error(`stream ${i} encoded to ${encoded.bytes.length} bytes, the layout expects ${length}`);
    bytes.set(encoded.bytes, offset);
    blobs.push(blob);
    streams.push({ offset, length, checksum: encoded.checksum });
  }
  return { bytes, shardBytes, blobs, streams, insideShardStripe: 0, acrossShardsStripe: 2 };
}

/** The data shards a block range touches. */
export function shardsOfRange(range: BlockRange, shardBytes: number): number[] {
  const first = Math.floor(range.offset / shardBytes);
  const last = Math.floor((range.offset + range.length - 1) / shardBytes);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

export function scanPlanOf(block: PlannedBlock, faultBlock: FaultBlock): ScanPlan {
  const stripes: PlannedStripe[] = faultBlock.streams.map((stream, stripe) => {
    const entry = new Uint8Array(STREAM_ENTRY_BYTES);
    encodeStreamEntry(entry, 0, { blockRef: 0, offset: stream.offset, length: stream.length, checksum: stream.checksum, encoding: ENCODING_PLAIN, nulls: 0 });
    return { partition: PARTITION, fileId: 'file-0', stripe, rows: 1, streams: entry };
  });
  return {
    table: FAULT_TABLE,
    schemaVersion: 1,
    columns: [{ name: COLUMN, type: 'bytes', addedInVersion: 1 }],
    blocks: [block],
    stripes,
    stripesConsidered: stripes.length,
    stripesPruned: 0,
  };
}

export interface ReportedChunk {
  readonly nodeId: string;
  readonly chunkId: string;
  readonly reason: string;
  readonly missing: boolean;
}

/** Serves one plan (cut to the stripes asked) and records corrupt reports; no other call is made by a scan. */
export class StubMetadata extends MetadataClient {
  readonly reported: ReportedChunk[] = [];

  constructor(
    http: HttpPools,
    private readonly fullPlan: ScanPlan,
  ) {
    super(http, 'http://metadata.invalid');
  }

  override async plan(_table: string, request: ScanRequest): Promise<ScanPlan> {
    const from = request.stripes?.from ?? 0;
    const to = request.stripes?.to ?? this.fullPlan.stripes.length;
    const stripes = this.fullPlan.stripes.slice(from, to);
    return { ...this.fullPlan, stripes, stripesConsidered: stripes.length };
  }

  override async reportCorrupt(nodeId: string, report: CorruptChunkReport): Promise<{ accepted: number }> {
    for (const chunk of report.chunks) this.reported.push({ nodeId, chunkId: chunk.chunkId, reason: chunk.reason, missing: chunk.missing === true });
    return { accepted: report.chunks.length };
  }
}
