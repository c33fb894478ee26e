/**
 * From the streams a reader needs to the reads it sends: each stream's block range is mapped to
 * shard ranges (the contiguous layout puts most streams in one shard), ranges of the same chunk
 * that are close are coalesced into one read (Tectonic's lesson: tiny reads sink throughput),
 * and reads are grouped per node into batched requests. Pure.
 */
import { contiguousLayout, shardPieces } from '../../erasure/index.js';
import type { PlannedBlock } from '../../protocol/index.js';

export interface CoalescingOptions {
  /** Ranges of one chunk closer than this are read together (the gap is read and dropped). */
  readonly gapBytes: number;
  /** A coalesced read grows no larger than this. */
  readonly maxReadBytes: number;
  /** Reads per batched request to one node, and bytes per request. */
  readonly maxRangesPerRequest: number;
  readonly maxRequestBytes: number;
}

export const COALESCING_DEFAULTS: CoalescingOptions = {
  gapBytes: 64 * 1024,
  maxReadBytes: 4 * 1024 * 1024,
  maxRangesPerRequest: 1024,
  maxRequestBytes: 32 * 1024 * 1024,
};

/** No coalescing: one read per stream piece (for comparison). */
export const NO_COALESCING: CoalescingOptions = { ...COALESCING_DEFAULTS, gapBytes: -1, maxReadBytes: 0 };

export interface StreamNeed {
  readonly blockRef: number;
  readonly offset: number;
  readonly length: number;
}

/** Where part of a stream lands inside a read. */
export interface Piece {
  readonly stream: number;
  /** Offset of the piece within its stream. */
  readonly streamOffset: number;
  /** Offset of the piece within the read's bytes. */
  readonly readOffset: number;
  readonly length: number;
}

export interface ShardRead {
  readonly blockRef: number;
  readonly shard: number;
  /** Range of the shard read. */
  readonly offset: number;
  readonly length: number;
  readonly pieces: readonly Piece[];
}

export interface NodeRequest {
  readonly nodeUrl: string;
  readonly reads: readonly ShardRead[];
}

export function planReads(blocks: readonly PlannedBlock[], streams: readonly StreamNeed[], options: CoalescingOptions): ShardRead[] {
  const byShard = new Map<string, { blockRef: number; shard: number; pieces: { stream: number; streamOffset: number; shardOffset: number; length: number }[] }>();
  streams.forEach((need, stream) => {
    if (need.length === 0) return;
    const block = blocks[need.blockRef] as PlannedBlock;
    const layout = contiguousLayout({ dataShards: block.dataShards, parityShards: block.parityShards }, block.blockBytes);
    for (const piece of shardPieces(layout, need.offset, need.length)) {
      const key = `${need.blockRef}:${piece.shard}`;
      let entry = byShard.get(key);
      if (entry === undefined) {
        entry = { blockRef: need.blockRef, shard: piece.shard, pieces: [] };
        byShard.set(key, entry);
      }
      entry.pieces.push({ stream, streamOffset: piece.blockOffset - need.offset, shardOffset: piece.shardOffset, length: piece.length });
    }
  });
  const reads: ShardRead[] = [];
  for (const { blockRef, shard, pieces } of byShard.values()) {
    pieces.sort((a, b) => a.shardOffset - b.shardOffset);
    let start = -1;
    let end = -1;
    let members: typeof pieces = [];
    const flush = (): void => {
      if (members.length === 0) return;
      reads.push({
        blockRef,
        shard,
        offset: start,
        length: end - start,
        pieces: members.map((p) => ({ stream: p.stream, streamOffset: p.streamOffset, readOffset: p.shardOffset - start, length: p.length })),
      });
      members = [];
    };
    for (const piece of pieces) {
      const pieceEnd = piece.shardOffset + piece.length;
      const joins = members.length > 0 && piece.shardOffset - end <= options.gapBytes && Math.max(end, pieceEnd) - start <= options.maxReadBytes;
      if (!joins) {
        flush();
        start = piece.shardOffset;
        end = pieceEnd;
      } else {
        end = Math.max(end, pieceEnd);
      }
      members.push(piece);
    }
    flush();
  }
  return reads;
}

/** Groups reads into batched requests per node, bounded in ranges and bytes. */
export function groupByNode(blocks: readonly PlannedBlock[], reads: readonly ShardRead[], options: CoalescingOptions): NodeRequest[] {
  const byNode = new Map<string, ShardRead[]>();
  for (const read of reads) {
    const url = (blocks[read.blockRef] as PlannedBlock).chunks[read.shard]?.url ?? '';
    let list = byNode.get(url);
    if (list === undefined) {
      list = [];
      byNode.set(url, list);
    }
    list.push(read);
  }
  const requests: NodeRequest[] = [];
  for (const [nodeUrl, list] of byNode) {
    let current: ShardRead[] = [];
    let bytes = 0;
    for (const read of list) {
      if (current.length > 0 && (current.length >= options.maxRangesPerRequest || bytes + read.length > options.maxRequestBytes)) {
        requests.push({ nodeUrl, reads: current });
        current = [];
        bytes = 0;
      }
      current.push(read);
      bytes += read.length;
    }
    if (current.length > 0) requests.push({ nodeUrl, reads: current });
  }
  return requests;
}
