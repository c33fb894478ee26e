/**
 * Lays the encoded streams of several stripes out as one block, column by column in the order the
 * writer was given (popular columns first, in runs from each data shard's first byte: protocol/block-layout.ts), so a reader that
 * wants a few columns of many stripes finds each column's streams side by side and reads them in
 * one large range per shard. Streams start on
 * 8-byte boundaries so readers can view fixed-width values without copying. Pure.
 */
import type { EncodedStream } from '../format/index.js';
import { type BlockLayout, alignStream, layoutBlock } from '../../protocol/block-layout.js';

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

export class BlockBuilder {
  private readonly stripes: EncodedStripe[] = [];
  private bytesSoFar = 0;

  get stripeCount(): number {
    return this.stripes.length;
  }

  /** Stream bytes added so far (with alignment): the block's size, before the gaps its layout leaves between shards. */
  get bytes(): number {
    return this.bytesSoFar;
  }

  add(stripe: EncodedStripe): void {
    this.stripes.push(stripe);
    for (const stream of stripe.streams) this.bytesSoFar += alignStream(stream.bytes.length);
  }

  /** Where the stripes added so far would go (build() lays them out so, given the same order). */
  layout(columnOrder: readonly number[], dataShards = 1): BlockLayout {
    return layoutBlock(
      this.stripes.map((stripe) => stripe.streams.map((stream) => stream.bytes.length)),
      columnOrder,
      dataShards,
    );
  }

  /**
   * Takes the stripes added so far and lays them out; the builder starts empty again. With a
   * `target` (at least the layout's bytes long, any content) the block is laid out at its start and
   * the rest of it zeroed, else in a new buffer. `planned`: this builder's layout() for the same
   * order and shards, when the caller sized `target` by it.
   */
  build(columnOrder: readonly number[], target?: Uint8Array, dataShards = 1, planned?: BlockLayout): { block: BuiltBlock; stripes: EncodedStripe[] } {
    const layout = planned ?? this.layout(columnOrder, dataShards);
    const stripes = this.stripes.splice(0);
    this.bytesSoFar = 0;
    const total = layout.bytes;
    if (target !== undefined && target.length < total) throw new RangeError(`block needs ${total} bytes, the target holds ${target.length}`);
    const space = target ?? new Uint8Array(total);
    const bytes = space.subarray(0, total);
    // Reused space holds old bytes; blocks are canonical (alignment gaps and padding are zero).
    if (target !== undefined) space.fill(0);
    stripes.forEach((stripe, s) => {
      stripe.streams.forEach((stream, column) => bytes.set(stream.bytes, (layout.offsets[s] as number[])[column] as number));
    });
    return { block: { bytes, offsets: layout.offsets }, stripes };
  }
}
