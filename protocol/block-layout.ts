/**
 * Where a block's streams go (docs/design.md, "Client"): the streams of several stripes laid out
 * column by column in a given order (popular columns first), in runs from each data shard's
 * first byte so the first ones are read in few large reads, each stream on an 8-byte boundary so readers can
 * view fixed-width values without copying. Shared by the writer, which lays out new blocks, the
 * re-layout worker, which lays old streams out again in a new order, and the metadata service,
 * whose cost model asks what a new order would cost readers. Pure.
 */

/** Streams start on multiples of this. */
export const STREAM_ALIGN_BYTES = 8;

export function alignStream(bytes: number): number {
  return Math.ceil(bytes / STREAM_ALIGN_BYTES) * STREAM_ALIGN_BYTES;
}

/**
 * Bytes of the first (most read) columns a data shard takes before the next shard takes over:
 * one read as readers cut them (client/reader/read-plan.ts, maxReadBytes), so a job reading the
 * popular columns makes about one read per this many bytes it needs, on as many nodes.
 */
export const SHARD_RUN_BYTES = 4 * 1024 * 1024;

export interface BlockLayout {
  /** offsets[stripe][column]: where each stream starts in the block. */
  readonly offsets: number[][];
  /**
   * Block bytes, alignment and padding included (at least 1: an empty block still has a byte).
   * Under contiguousLayout (erasure/layout.ts) its shards start where this layout put them.
   */
  readonly bytes: number;
}

/**
 * Lays out streams of `lengths[stripe][column]` bytes (a column missing from a stripe:
 * undefined) for `dataShards` data shards, columns in `order` (file column indexes, most read
 * first). A column's streams sit side by side, stripe after stripe. With more than one data shard
 * the columns go to the shards in runs (docs/design.md, "Client"): shard 0 takes columns in order
 * until it holds SHARD_RUN_BYTES of them, then shard 1, and so on round the shards; each shard's
 * columns start on its first byte, so a scan of the popular columns reads about one range per
 * run, and a large set of them still spreads over nodes. Columns that no longer fit a shard whole
 * fill the room left stream by stream; the gaps between shards are zeros.
 */
export function layoutBlock(lengths: readonly (readonly (number | undefined)[])[], order: readonly number[], dataShards: number): BlockLayout {
  const columnBytes: number[] = [];
  for (const stripe of lengths) {
    stripe.forEach((length, column) => {
      if (length !== undefined) columnBytes[column] = (columnBytes[column] ?? 0) + alignStream(length);
    });
  }
  const total = columnBytes.reduce((sum, bytes) => sum + (bytes ?? 0), 0);
  if (dataShards > 1 && total > 0) {
    let shardBytes = alignStream(Math.ceil(total / dataShards));
    // Room is lost to gaps a column or stream could not fill: what ran over the last shard is
    // spread over all of them, until it fits (a few rounds; the gaps are a fraction of a stream).
    for (let attempt = 0; attempt < SHARD_FIT_ATTEMPTS; attempt++) {
      const placed = placeInShards(lengths, order, columnBytes, dataShards, shardBytes);
      // A block of a few large columns can leave whole columns' worth of gaps: not worth storing.
      if ('offsets' in placed) return placed.bytes <= total * (1 + SHARD_GAPS_MAX) + STREAM_ALIGN_BYTES * dataShards ? placed : inOrder(lengths, order);
      shardBytes += alignStream(Math.ceil(placed.overflow / dataShards));
    }
  }
  return inOrder(lengths, order);
}

/** Gaps between shards a layout may leave, as a share of the streams' bytes, before it is not worth it. */
const SHARD_GAPS_MAX = 0.02;
/** Tries to grow the shards before falling back to one run in order (which always fits). */
const SHARD_FIT_ATTEMPTS = 16;

/** Every column in order, one after another: one data shard, or a block that fits no other way. */
function inOrder(lengths: readonly (readonly (number | undefined)[])[], order: readonly number[]): BlockLayout {
  const offsets = lengths.map((stripe) => new Array<number>(stripe.length).fill(0));
  let at = 0;
  for (const column of order) {
    lengths.forEach((stripe, s) => {
      const length = stripe[column];
      if (length === undefined) return;
      (offsets[s] as number[])[column] = at;
      at += alignStream(length);
    });
  }
  return { offsets, bytes: Math.max(at, 1) };
}

/**
 * Places the columns in shards of `shardBytes` each (the last one may run over, and then this
 * answers by how much, so the caller tries larger shards), and sizes the block so that
 * contiguousLayout cuts it into shards of exactly `shardBytes`.
 */
function placeInShards(
  lengths: readonly (readonly (number | undefined)[])[],
  order: readonly number[],
  columnBytes: readonly (number | undefined)[],
  shards: number,
  shardBytes: number,
): BlockLayout | { readonly overflow: number } {
  const offsets = lengths.map((stripe) => new Array<number>(stripe.length).fill(0));
  const used = new Array<number>(shards).fill(0);
  const place = (shard: number, column: number, stripe: number, length: number): void => {
    (offsets[stripe] as number[])[column] = shard * shardBytes + (used[shard] as number);
    used[shard] = (used[shard] as number) + alignStream(length);
  };
  let current = 0;
  let run = 0;
  const leftover: number[] = [];
  for (const column of order) {
    const bytes = columnBytes[column] ?? 0;
    let target = -1;
    for (let i = 0; i < shards && target < 0; i++) {
      const shard = (current + i) % shards;
      if ((used[shard] as number) + bytes <= shardBytes) target = shard;
    }
    if (target < 0) {
      leftover.push(column);
      continue;
    }
    lengths.forEach((stripe, s) => {
      const length = stripe[column];
      if (length !== undefined) place(target, column, s, length);
    });
    run = target === current ? run + bytes : bytes;
    current = target;
    if (run >= SHARD_RUN_BYTES) {
      current = (current + 1) % shards;
      run = 0;
    }
  }
  // What did not fit whole goes stream by stream where there is room; the rest after the last shard's.
  for (const column of leftover) {
    lengths.forEach((stripe, s) => {
      const length = stripe[column];
      if (length === undefined) return;
      let target = shards - 1;
      for (let shard = 0; shard < shards - 1; shard++) {
        if ((used[shard] as number) + alignStream(length) <= shardBytes) {
          target = shard;
          break;
        }
      }
      place(target, column, s, length);
    });
  }
  const last = used[shards - 1] as number;
  if (last > shardBytes) return { overflow: last - shardBytes };
  // contiguousLayout makes shards of ceil(bytes / k) rounded up to 8: exactly shardBytes for any
  // size in (k * (shardBytes - 8), k * shardBytes].
  const bytes = Math.max((shards - 1) * shardBytes + last, shards * (shardBytes - STREAM_ALIGN_BYTES) + 1, 1);
  return { offsets, bytes };
}

/** A stream of a block as re-layout sees it: which stripe and file column, and its length. */
export interface PlacedStream {
  readonly stripe: number;
  readonly column: number;
  readonly length: number;
}

/**
 * Lays a block's existing streams out again in `order`: their new offsets (in the order given)
 * and the new block's bytes. What the re-layout worker writes and the cost model predicts.
 */
export function relayStreams(streams: readonly PlacedStream[], order: readonly number[], dataShards: number): { offsets: number[]; bytes: number } {
  const stripes = [...new Set(streams.map((stream) => stream.stripe))].sort((a, b) => a - b);
  const row = new Map(stripes.map((stripe, i) => [stripe, i]));
  const columns = streams.reduce((most, stream) => Math.max(most, stream.column + 1), 0);
  const lengths = stripes.map(() => new Array<number | undefined>(columns).fill(undefined));
  for (const stream of streams) (lengths[row.get(stream.stripe) as number] as (number | undefined)[])[stream.column] = stream.length;
  const layout = layoutBlock(lengths, order.filter((column) => column < columns), dataShards);
  return {
    offsets: streams.map((stream) => (layout.offsets[row.get(stream.stripe) as number] as number[])[stream.column] as number),
    bytes: layout.bytes,
  };
}
