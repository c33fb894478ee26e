/**
 * Errors raised by the pure erasure layer. Each carries a stable `code` a user can search for;
 * the HTTP layers above map them to status codes.
 */
export type ErasureErrorCode =
  | 'GRN_ERASURE_INVALID_ARGUMENT'
  | 'GRN_ERASURE_TOO_MANY_MISSING'
  | 'GRN_ERASURE_CODEC_FAILURE'
  /** The SIMD kernel disagreed with the known-answer vectors at start-up: the process refuses to run. */
  | 'GRN_ERASURE_SELF_TEST_FAILED'
  /** GRANARY_ERASURE_KERNEL asked for a kernel this host cannot run, or named none we know. */
  | 'GRN_ERASURE_KERNEL_UNAVAILABLE';

export class ErasureError extends Error {
  readonly code: ErasureErrorCode;

  constructor(code: ErasureErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ErasureError';
    this.code = code;
  }
}

/** More shards are missing than the policy's parity can make up for: the data is unavailable. */
export class TooManyShardsMissingError extends ErasureError {
  readonly missingShards: readonly number[];
  readonly dataShardCount: number;
  readonly parityShardCount: number;

  constructor(missingShards: readonly number[], dataShardCount: number, parityShardCount: number) {
    super(
      'GRN_ERASURE_TOO_MANY_MISSING',
      `${missingShards.length} of ${dataShardCount + parityShardCount} shards are missing ` +
        `(shards ${missingShards.join(', ')}); RS ${dataShardCount}+${parityShardCount} ` +
        `can rebuild at most ${parityShardCount}`,
    );
    this.name = 'TooManyShardsMissingError';
    this.missingShards = missingShards;
    this.dataShardCount = dataShardCount;
    this.parityShardCount = parityShardCount;
  }
}

export function invalidArgument(message: string): ErasureError {
  return new ErasureError('GRN_ERASURE_INVALID_ARGUMENT', message);
}
