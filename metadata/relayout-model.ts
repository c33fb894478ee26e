/**
 * When re-laying a file out pays (docs/design.md, "Re-layout"). A typical scan of the table reads
 * its hot columns (those at least half the recent scans read, decayed); its cost per block is the
 * disk reads it makes: its streams' pieces per data shard, merged across gaps of up to
 * READ_GAP_BYTES into reads of at most READ_BYTES_MAX, as readers coalesce them. A rewrite in
 * popularity order puts the hot columns side by side, so fewer, larger reads fetch them. It pays
 * when the reads it saves over the expected scans, at READ_COST_BYTES each, outweigh the bytes it
 * moves (the data read once, every shard written). Pure.
 */
import { contiguousLayout, shardPieces } from '../erasure/index.js';
import { relayStreams } from '../protocol/block-layout.js';

/** Readers merge ranges closer than this into one read (client/reader/read-plan.ts COALESCING_DEFAULTS). */
export const READ_GAP_BYTES = 64 * 1024;
/** ...up to reads of this size. */
export const READ_BYTES_MAX = 4 * 1024 * 1024;
/**
 * What one disk read costs, in bytes moved: a seek and a rotation on the hard disks an
 * erasure-coded warehouse runs on (about 8 ms) is the time to stream about 1 MiB.
 */
export const READ_COST_BYTES = 1024 * 1024;
/** A column is hot when at least this share of the busiest column's scans read it. */
export const HOT_SCAN_SHARE = 0.5;

/** A file column's decayed figures. */
export interface ColumnScore {
  readonly bytes: number;
  readonly scans: number;
}

export interface ModelStream {
  readonly stripe: number;
  readonly column: number;
  readonly offset: number;
  readonly length: number;
}

export interface ModelBlock {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly blockBytes: number;
  readonly streams: readonly ModelStream[];
}

/** File column indexes, most read first (decayed bytes, then scans, then file order). */
export function popularityOrder(scores: readonly ColumnScore[]): number[] {
  return scores
    .map((score, column) => ({ score, column }))
    .sort((a, b) => b.score.bytes - a.score.bytes || b.score.scans - a.score.scans || a.column - b.column)
    .map(({ column }) => column);
}

/** The columns a typical scan reads; empty when no scan was recorded. */
export function hotColumns(scores: readonly ColumnScore[]): Set<number> {
  const most = scores.reduce((max, score) => Math.max(max, score.scans), 0);
  const hot = new Set<number>();
  if (most <= 0) return hot;
  scores.forEach((score, column) => {
    if (score.scans > 0 && score.scans >= HOT_SCAN_SHARE * most) hot.add(column);
  });
  return hot;
}

/** Disk reads a scan of `hot` columns makes of a block whose streams sit at `offsetOf(stream)`. */
export function blockReads(block: ModelBlock, hot: ReadonlySet<number>, offsetOf: (stream: ModelStream, index: number) => number): number {
  const layout = contiguousLayout({ dataShards: block.dataShards, parityShards: block.parityShards }, block.blockBytes);
  const byShard = new Map<number, CoalescedRange[]>();
  block.streams.forEach((stream, index) => {
    if (!hot.has(stream.column) || stream.length === 0) return;
    for (const piece of shardPieces(layout, offsetOf(stream, index), stream.length)) {
      let ranges = byShard.get(piece.shard);
      if (ranges === undefined) {
        ranges = [];
        byShard.set(piece.shard, ranges);
      }
      ranges.push([piece.shardOffset, piece.shardOffset + piece.length, 0]);
    }
  });
  let reads = 0;
  for (const ranges of byShard.values()) reads += coalesce(ranges, READ_BYTES_MAX).length;
  return reads;
}

/** A range of a shard: start, end, and what it is worth (the best of what it merged). */
export type CoalescedRange = [start: number, end: number, priority: number];

/**
 * Ranges merged as readers coalesce them: in order, joined across gaps of up to READ_GAP_BYTES
 * while the joined range stays within `maxBytes`. Sorts `ranges` in place.
 */
export function coalesce(ranges: CoalescedRange[], maxBytes = Number.POSITIVE_INFINITY): CoalescedRange[] {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: CoalescedRange[] = [];
  let current: CoalescedRange | undefined;
  for (const [from, to, priority] of ranges) {
    if (current !== undefined && from - current[1] <= READ_GAP_BYTES && to - current[0] <= maxBytes) {
      current[1] = Math.max(current[1], to);
      current[2] = Math.max(current[2], priority);
      continue;
    }
    current = [from, to, priority];
    out.push(current);
  }
  return out;
}

export interface FileVerdict {
  readonly readsNow: number;
  readonly readsAfter: number;
  readonly bytes: number;
  readonly bytesToRewrite: number;
  readonly bytesSaved: number;
  readonly pays: boolean;
  readonly reason: string;
}

/** What re-laying a file's blocks in `order` would save a scan of `hot`, over `scansExpected` scans. */
export function judgeFile(blocks: readonly ModelBlock[], order: readonly number[], hot: ReadonlySet<number>, scansExpected: number): FileVerdict {
  let readsNow = 0;
  let readsAfter = 0;
  let bytes = 0;
  let bytesToRewrite = 0;
  for (const block of blocks) {
    readsNow += blockReads(block, hot, (stream) => stream.offset);
    const { offsets, bytes: blockBytes } = relayStreams(block.streams, order, block.dataShards);
    readsAfter += blockReads({ ...block, blockBytes }, hot, (_stream, index) => offsets[index] as number);
    const layout = contiguousLayout({ dataShards: block.dataShards, parityShards: block.parityShards }, block.blockBytes);
    bytes += block.blockBytes;
    bytesToRewrite += block.blockBytes + layout.shardBytes * (block.dataShards + block.parityShards);
  }
  const saved = readsNow - readsAfter;
  const bytesSaved = Math.max(0, saved) * scansExpected * READ_COST_BYTES;
  if (hot.size === 0) return { readsNow, readsAfter, bytes, bytesToRewrite, bytesSaved: 0, pays: false, reason: 'no training scan of the table recorded: nothing to order by' };
  if (saved <= 0) return { readsNow, readsAfter, bytes, bytesToRewrite, bytesSaved: 0, pays: false, reason: 'already laid out for the hot columns' };
  const pays = bytesSaved >= bytesToRewrite;
  const scans = Math.round(scansExpected * 100) / 100;
  return {
    readsNow,
    readsAfter,
    bytes,
    bytesToRewrite,
    bytesSaved,
    pays,
    reason: pays
      ? `saves ${saved} reads a scan; over ${scans} scans that repays the ${bytesToRewrite} bytes moved`
      : `saves ${saved} reads a scan, but ${scans} scans do not repay the ${bytesToRewrite} bytes moved`,
  };
}
