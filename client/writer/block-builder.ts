/**
 * Lays the encoded streams of several stripes out as one block, column by column in the order the
 * writer was given (popular columns first, spread over the block's data shards), so a reader that
 * wants a few columns of many stripes finds each column's streams side by side and reads them in
 * one large range per shard. Streams start on
 * 8-byte boundaries so readers can view fixed-width values without copying. Pure.
 */
import type { EncodedStream } from '../format/index.js';

export interface EncodedStripe {
  readonly rows: number;
  /** One per file column, in file column order. */
  readonly streams: readonly EncodedStream[];
}

export interface BuiltBlock {
  readonly bytes: Uint8Array;
  /** offsets[stripe][column]: where each stream starts in the block. */
  readonly offsets: readonly (readonly number[])[];
}

const ALIGN = 8;

export class BlockBuilder {
  private readonly stripes: EncodedStripe[] = [];
  private bytesSoFar = 0;

  get stripeCount(): number {
    return this.stripes.length;
  }

  /** Block bytes if built now (with alignment padding). */
  get bytes(): number {
    return this.bytesSoFar;
  }

  add(stripe: EncodedStripe): void {
    this.stripes.push(stripe);
    for (const stream of stripe.streams) this.bytesSoFar += alignUp(stream.bytes.length);
  }

  /**
   * Takes the stripes added so far and lays them out; the builder starts empty again. With a
   * `target` (at least `bytes` long, any content) the block is laid out at its start and the rest
   * of it zeroed, else in a new buffer.
   */
  build(columnOrder: readonly number[], target?: Uint8Array, dataShards = 1): { block: BuiltBlock; stripes: EncodedStripe[] } {
    const stripes = this.stripes.splice(0);
    columnOrder = spreadOverShards(columnOrder, stripes, dataShards);
    const total = Math.max(this.bytesSoFar, 1);
    this.bytesSoFar = 0;
    if (target !== undefined && target.length < total) throw new RangeError(`block needs ${total} bytes, the target holds ${target.length}`);
    const space = target ?? new Uint8Array(total);
    const bytes = space.subarray(0, total);
    const offsets = stripes.map((stripe) => new Array<number>(stripe.streams.length).fill(0));
    let at = 0;
    for (const column of columnOrder) {
      stripes.forEach((stripe, s) => {
        const stream = stripe.streams[column];
        if (stream === undefined) return;
        (offsets[s] as number[])[column] = at;
        bytes.set(stream.bytes, at);
        const end = alignUp(stream.bytes.length) + at;
        // Reused space holds old bytes; blocks are canonical (alignment gaps are zero).
        if (target !== undefined) space.fill(0, at + stream.bytes.length, end);
        at = end;
      });
    }
    if (target !== undefined) space.fill(0, at);
    return { block: { bytes, offsets }, stripes };
  }
}

/**
 * The order to lay columns out in so that the first (most read) columns are spread over the k
 * data shards instead of all landing in shard 0: columns, in `order`, each go to the shard
 * (bin) with the fewest bytes so far, and bins are laid out one after another. Each bin then
 * starts near a shard boundary with popular columns, so a job reading a few popular columns
 * reads every data shard of a block (k nodes in parallel), and a dead node costs it 1/k of the
 * block, not all or nothing.
 */
function spreadOverShards(order: readonly number[], stripes: readonly EncodedStripe[], dataShards: number): readonly number[] {
  if (dataShards <= 1) return order;
  const bins = Array.from({ length: dataShards }, () => ({ bytes: 0, columns: [] as number[] }));
  for (const column of order) {
    let bytes = 0;
    for (const stripe of stripes) {
      const stream = stripe.streams[column];
      if (stream !== undefined) bytes += alignUp(stream.bytes.length);
    }
    const bin = bins.reduce((least, candidate) => (candidate.bytes < least.bytes ? candidate : least));
    bin.columns.push(column);
    bin.bytes += bytes;
  }
  return bins.flatMap((bin) => bin.columns);
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}
