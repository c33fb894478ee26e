/** Messages between the main thread and erasure-codec worker threads. */

export interface CodecJob {
  readonly jobId: number;
  readonly op: 'encode' | 'reconstruct';
  readonly codecId: string;
  readonly dataShards: number;
  readonly shardBytes: number;
  /**
   * Where the shards are: encode reads k data shards and writes m parity shards, reconstruct
   * rebuilds the absent data shards of all k+m in place. A SharedArrayBuffer is worked on where
   * it is; an ArrayBuffer is transferred to the worker and back.
   */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Byte offset of each shard in `buffer`: k then m for encode, all k+m for reconstruct. */
  readonly offsets: readonly number[];
  /** Reconstruct only: which of the k+m shards hold bytes. */
  readonly present?: readonly boolean[];
}

export type CodecJobResult =
  | { readonly jobId: number; readonly buffer?: ArrayBuffer; readonly error?: undefined }
  | { readonly jobId: number; readonly buffer?: undefined; readonly error: { readonly message: string; readonly code: string | undefined } };
