/**
 * The seam between Granary's erasure arithmetic and a Reed-Solomon implementation. The public
 * functions in `reed-solomon.ts` validate and normalise, then call one of these two methods, so a
 * second implementation (a native codec, a worker-thread pool) plugs in without touching callers.
 *
 * Implementations differ in the parity bytes they produce, so a block records the `id` of the
 * codec that encoded it and is always repaired with that codec.
 */
export interface ErasureCodec {
  /** Stable identifier stored with every block, e.g. `rs-wasm-v1`. */
  readonly id: string;

  /**
   * Computes `parity.length` parity shards from `data`. All buffers have the same length and the
   * counts are within the policy bounds (checked by the caller).
   */
  encodeParity(data: readonly Uint8Array[], parity: readonly Uint8Array[]): Promise<void>;

  /**
   * Rebuilds, in place, every data shard (index < `dataShardCount`) whose `present` flag is false,
   * from the present shards. `shards` holds all k+m buffers in shard order, the present ones and
   * the absent data shards of one length; an absent parity shard may be an empty placeholder (it is
   * neither read nor written). At least `dataShardCount` are present. Parity shards are not
   * rebuilt: callers re-encode them.
   */
  reconstructData(
    shards: readonly Uint8Array[],
    present: readonly boolean[],
    dataShardCount: number,
  ): Promise<void>;
}
