/** Messages between the main thread and erasure-codec worker threads. */

interface JobBase {
  readonly jobId: number;
  readonly codecId: string;
  readonly dataShards: number;
  readonly shardBytes: number;
}

/** `buffer` holds the k data shards back to back; the answer holds the m parity shards. */
export interface EncodeJob extends JobBase {
  readonly op: 'encode';
  readonly parityShards: number;
  readonly buffer: ArrayBuffer;
}

/** `buffer` holds all k+m shards back to back (absent ones' bytes ignored); answered rebuilt in place. */
export interface ReconstructJob extends JobBase {
  readonly op: 'reconstruct';
  readonly present: readonly boolean[];
  readonly buffer: ArrayBuffer;
}

export type CodecJob = EncodeJob | ReconstructJob;

export type CodecJobResult =
  | { readonly jobId: number; readonly buffer: ArrayBuffer; readonly error?: undefined }
  | { readonly jobId: number; readonly buffer?: undefined; readonly error: { readonly message: string; readonly code: string | undefined } };
