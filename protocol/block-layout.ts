/**
 * Where a block's streams go (docs/design.md, "Client"): the streams of several stripes laid out
 * column by column in a given order (popular columns first), the columns dealt over the k data
 * shards so the first ones open every shard, each stream on an 8-byte boundary so readers can
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
 * The order to lay columns out in so that the first (most read) columns are spread over the k
 * data shards instead of all landing in shard 0: columns, in `order`, each go to the shard
 * (bin) with the fewest bytes so far, and bins are laid out one after another. Each bin then
 * starts near a shard boundary with popular columns, so a job reading a few popular columns
 * reads every data shard of a block (k nodes in parallel), and a dead node costs it 1/k of the
 * block, not all or nothing. `columnBytes[c]`: column c's aligned bytes in the block.
 */
export function spreadOverShards(order: readonly number[], columnBytes: readonly number[], dataShards: number): number[] {
  if (dataShards <= 1) return [...order];
  const bins = Array.from({ length: dataShards }, () => ({ bytes: 0, columns: [] as number[] }));
  for (const column of order) {
    const bin = bins.reduce((least, candidate) => (candidate.bytes < least.bytes ? candidate : least));
    bin.columns.push(column);
    bin.bytes += columnBytes[column] ?? 0;
  }
  return bins.flatMap((bin) => bin.columns);
}

export interface BlockLayout {
  /** offsets[stripe][column]: where each stream starts in the block. */
  readonly offsets: number[][];
  /** Block bytes, alignment included (at least 1: an empty block still has a byte). */
  readonly bytes: number;
}

/**
 * Lays out streams of `lengths[stripe][column]` bytes (a column missing from a stripe:
 * undefined) in `order` (file column indexes, most read first), spread over `dataShards`.
 */
export function layoutBlock(lengths: readonly (readonly (number | undefined)[])[], order: readonly number[], dataShards: number): BlockLayout {
  const columnBytes: number[] = [];
  for (const stripe of lengths) {
    stripe.forEach((length, column) => {
      if (length !== undefined) columnBytes[column] = (columnBytes[column] ?? 0) + alignStream(length);
    });
  }
  const offsets = lengths.map((stripe) => new Array<number>(stripe.length).fill(0));
  let at = 0;
  for (const column of spreadOverShards(order, columnBytes, dataShards)) {
    lengths.forEach((stripe, s) => {
      const length = stripe[column];
      if (length === undefined) return;
      (offsets[s] as number[])[column] = at;
      at += alignStream(length);
    });
  }
  return { offsets, bytes: Math.max(at, 1) };
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
