/**
 * Messages between a scan (scan-workers.ts) and its read workers (read-worker.ts), and errors
 * carried across: the consumer sees the worker's error with the same class, code and message as
 * the in-process reader would have thrown.
 */
import { ErasureError, type ErasureErrorCode } from '../../erasure/index.js';
import { type CoalescingOptions } from './read-plan.js';
import { type ErrorCode, GranaryError, isErrorCode, type HttpOptions, type PlannedChunk, type ScanPlan, type StatsPredicate } from '../../protocol/index.js';
import { FormatError } from '../format/index.js';
import type { PackedBatches } from './batch-transfer.js';
import { DataUnavailableError } from './fetcher.js';
import type { ScanStats } from './scan-stats.js';

/** What every group of a scan is read with. */
export interface ScanSettings {
  readonly where: readonly StatsPredicate[];
  readonly outputNames: readonly string[];
  readonly coalescing: CoalescingOptions;
  readonly concurrency: number;
  readonly hedgeAfterMs?: number;
  /** Every byte of a group's batches copied to a recycled arena (ScanOptions.reuse). */
  readonly reuse: boolean;
  /** The reading job, named to the nodes in every read. */
  readonly job?: string;
}

export type ToWorker =
  | {
      readonly type: 'page';
      readonly scanId: number;
      readonly pageId: number;
      readonly page: ScanPlan;
      readonly settings: ScanSettings;
      /** The connections to read with: the worker keeps one HttpPools per key. */
      readonly http: { readonly key: string; readonly options: HttpOptions };
    }
  /** Stripes `from` .. `to` (exclusive) of the page, read as one group. */
  | { readonly type: 'group'; readonly scanId: number; readonly pageId: number; readonly jobId: number; readonly from: number; readonly to: number }
  | { readonly type: 'drop'; readonly scanId: number; readonly pageId: number }
  | { readonly type: 'cancel'; readonly scanId: number }
  | { readonly type: 'recycle'; readonly arena: ArrayBuffer };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly jobId: number; readonly packed: PackedBatches; readonly stats: ScanStats }
  | { readonly type: 'failed'; readonly jobId: number; readonly error: RemoteError; readonly stats: ScanStats }
  | { readonly type: 'corrupt'; readonly scanId: number; readonly chunk: PlannedChunk; readonly reason: string; readonly missing: boolean };

export interface RemoteError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly blockId?: string;
  readonly stack?: string;
}

export function toRemoteError(error: unknown): RemoteError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, details, blockId } = error as { code?: unknown; details?: unknown; blockId?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(details !== undefined && details !== null && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
    ...(typeof blockId === 'string' ? { blockId } : {}),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
  };
}

/** The error the worker threw, as the class the in-process reader throws. */
export function fromRemoteError(remote: RemoteError): Error {
  let error: Error;
  if (remote.name === 'DataUnavailableError' && remote.blockId !== undefined) {
    error = new DataUnavailableError(remote.blockId, '');
    error.message = remote.message;
  } else if (remote.name === 'FormatError') {
    error = new FormatError(remote.message);
  } else if (remote.name === 'ErasureError' && remote.code !== undefined) {
    error = new ErasureError(remote.code as ErasureErrorCode, remote.message);
  } else if (remote.code !== undefined && isErrorCode(remote.code)) {
    error = new GranaryError(remote.code as ErrorCode, remote.message, remote.details === undefined ? {} : { details: remote.details });
  } else {
    error = new Error(remote.message);
    error.name = remote.name;
  }
  // Where it was thrown is in the worker: that stack is the useful one.
  if (remote.stack !== undefined) error.stack = remote.stack;
  return error;
}
