/**
 * `granary/client`: what ingest pipelines and preprocessing workers import.
 *
 *   const granary = new GranaryClient({ metadataUrl: 'http://127.0.0.1:7070', token: process.env.GRANARY_TOKEN });
 *   const writer = await granary.openWriter('events', 'ds=2026-11-25');
 *   await writer.write(rows); await writer.commit();
 *   for await (const batch of granary.scan('events', { columns: ['label', 'f_1'] })) { ... }
 *   await granary.close();
 */
import type * as arrow from 'apache-arrow';
import { HTTP_DEFAULTS, type HttpOptions, HttpPools } from '../protocol/index.js';
import type { FailoverPolicy } from '../protocol/metadata-failover.js';
import { MetadataClient } from './metadata-client.js';
import { type ScanSplit, type SplitSelection, countStripes, planSplits, planWorkerSplits } from './reader/splits.js';
import { type ScanOptions, scanTable } from './reader/scan.js';
import { PartitionWriter, type WriterOptions } from './writer/partition-writer.js';
import { type RelayoutRun, type RelayoutTableOptions, relayoutTable } from './relayout/relayout-table.js';

export interface ClientOptions {
  /**
   * The metadata replicas: one URL, a list, or a comma-separated string (`--metadata`'s form).
   * Calls go to one and move to the next when it is down or not the leader.
   */
  readonly metadataUrl: string | readonly string[];
  /** How long a metadata call keeps trying replicas (FAILOVER_DEFAULTS: 20 s, pauses of 100 ms doubling to 1 s). */
  readonly metadataFailover?: Partial<FailoverPolicy>;
  readonly http?: Partial<HttpOptions>;
  /** Bearer token (`granary token create`) sent to the metadata service; a service with auth off needs none. */
  readonly token?: string;
}

export class GranaryClient {
  readonly metadata: MetadataClient;
  private readonly http: HttpPools;
  private readonly options: ClientOptions;
  /** False for a client made by `withToken`: the pools are its parent's, closed by the parent. */
  private readonly ownsHttp: boolean;

  /** `sharedHttp` is for `withToken` only: pools another client owns and closes. */
  constructor(options: ClientOptions, sharedHttp?: HttpPools) {
    this.options = options;
    this.http = sharedHttp ?? new HttpPools({ ...HTTP_DEFAULTS, ...options.http });
    this.ownsHttp = sharedHttp === undefined;
    this.metadata = new MetadataClient(this.http, options.metadataUrl, options.token, options.metadataFailover);
  }

  /**
   * The same cluster and connections, calling as another token's holder: a service that reads on
   * behalf of many callers (the Arrow gateway) keeps one set of pools instead of one per caller.
   * Its `close` leaves the shared pools open; close this client for that.
   */
  withToken(token: string | undefined): GranaryClient {
    const { token: _parentToken, ...rest } = this.options;
    return new GranaryClient(token === undefined ? rest : { ...rest, token }, this.http);
  }

  /** Opens a write session on one partition (`ds=2026-11-25`); commit to make the rows visible. */
  openWriter(table: string, partition: string, options?: WriterOptions): Promise<PartitionWriter> {
    return PartitionWriter.open(this.http, this.metadata, table, partition, options);
  }

  /** Reads columns of a table as Arrow record batches. */
  scan(table: string, options?: ScanOptions): AsyncGenerator<arrow.RecordBatch> {
    return scanTable(this.http, this.metadata, table, options);
  }

  /** Cuts a scan into work units for separate workers; pass each as `{ ...options, ...split }`. */
  splits(table: string, options: Pick<ScanOptions, 'partitions' | 'where' | 'stripes'>, stripesPerSplit: number): Promise<ScanSplit[]> {
    return planSplits(this.metadata, table, options, stripesPerSplit);
  }

  /** The scan cut for `workers` separate readers: about that many splits, covering every row once. */
  splitsForWorkers(table: string, options: SplitSelection, workers: number): Promise<ScanSplit[]> {
    return planWorkerSplits(this.metadata, table, options, workers);
  }

  /** How many stripes a scan of this selection reads (a plan of no columns: what progress totals use). */
  stripeCount(table: string, options: SplitSelection): Promise<number> {
    return countStripes(this.metadata, table, options);
  }

  /**
   * Re-lays out the table's files whose rewrite in the current popularity order pays (admin
   * token): each file read, laid out again and committed in place of the old one.
   */
  relayout(table: string, options?: RelayoutTableOptions): Promise<RelayoutRun> {
    return relayoutTable(this.http, this.metadata, table, options);
  }

  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }
}

export { PartitionWriter, type WriterOptions, type WriterState } from './writer/partition-writer.js';
export { type ScanOptions, type ScanStats, newScanStats } from './reader/scan.js';
export type { ScanSplit } from './reader/splits.js';
export { DataUnavailableError } from './reader/fetcher.js';
export { closeReadWorkers, defaultScanThreads, startReadWorkers } from './reader/read-workers.js';
export { COALESCING_DEFAULTS, NO_COALESCING, type CoalescingOptions } from './reader/read-plan.js';
export { MetadataClient } from './metadata-client.js';
export { FAILOVER_DEFAULTS, type FailoverPolicy } from '../protocol/metadata-failover.js';
export * from './format/index.js';
// Reading users' files (JSON Lines, CSV, Parquet, Arrow IPC) as batches fitted to a table, as
// `granary ingest` does; the Parquet decoder runs on a thread of its own, so a damaged file is a
// FormatError, never a crash of the caller's process. See docs/design.md, "Ingest".
export { DEFAULT_BATCH_ROWS, type InputFormat, type ReadInputOptions, formatFromPath, readInput } from './cli/formats/input.js';
export { type TableLike, columnsLike, readFileSchema } from './cli/formats/table-like.js';
export type { ShapeOptions, TableColumn } from './cli/formats/shape/options.js';
export { FeatureTally } from './cli/formats/shape/feature-tally.js';
export type { RelayoutRun, RelayoutTableOptions } from './relayout/relayout-table.js';
