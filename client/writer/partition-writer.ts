/**
 * Writes one partition of a table: rows (plain objects or Arrow record batches) are cut into
 * stripes, each column of a stripe encoded as one stream, stripes gathered into blocks laid out
 * column by column, blocks erasure coded and stored while later rows are still arriving, and
 * everything made visible at once by the commit. Nothing is visible before `commit()`; an error,
 * `abort()` or `close()` without commit leaves nothing behind but garbage the service collects.
 *
 * Memory is bounded by the table's targets, not by the partition: the rows of one stripe, the
 * encoded stripes of the block being filled (about one block), and at most `blocksInFlight`
 * blocks being coded and uploaded (each block plus its parity).
 */
import * as arrow from 'apache-arrow';
import { pack } from 'msgpackr';
import { type ErasurePolicy, checksumToHex, contiguousLayout, parsePolicy } from '../../erasure/index.js';
import {
  type BlockManifest,
  type ColumnInfo,
  type CommitResult,
  GranaryError,
  type HttpPools,
  type SessionInfo,
  type StripeManifest,
} from '../../protocol/index.js';
import {
  type EncodedStream,
  type StoreOptions,
  arrowTypeMatches,
  arrowTypeOf,
  encodeStream,
  nullData,
  rowsToRecordBatch,
  storePlain,
} from '../format/index.js';
import type { MetadataClient } from '../metadata-client.js';
import { BlockBuilder, type EncodedStripe } from './block-builder.js';
import { uploadBlock } from './block-uploader.js';
import { assertNoNullListElements } from './list-check.js';
import { BlockSpacePool, SLAB_BYTES, SlabPool, StripeMemory } from './write-memory.js';

export interface WriterOptions {
  /**
   * The order streams are laid out in blocks, so the columns readers take together are read in
   * one range: column names (others follow in schema order); `'popularity'` (the default) puts
   * the columns scans of this table have read most first, as the metadata service counted them;
   * `'schema'` keeps the table's order.
   */
  readonly columnOrder?: readonly string[] | 'popularity' | 'schema';
  /** Blocks being coded and uploaded at once. */
  readonly blocksInFlight?: number;
  /** Overrides the table's stripe row target (mostly for tests). */
  readonly stripeRows?: number;
  /** Overrides the table's block size target (mostly for tests). */
  readonly blockBytes?: number;
  readonly leaseMs?: number;
  /** Overrides the table's encoding setting (`plain` stores every stream as the plain layout). */
  readonly encoding?: 'auto' | 'plain';
}

export type WriterState = 'open' | 'committed' | 'aborted' | 'failed';

/** Plain-object rows are turned into Arrow columns this many at a time. */
const OBJECT_CHUNK_ROWS = 1024;

/** Room in a commit body for what surrounds the stripes and blocks (file column names, keys). */
const MANIFEST_ENVELOPE_BYTES = 1024 * 1024;

export class PartitionWriter {
  private readonly columns: readonly ColumnInfo[];
  private readonly byName: ReadonlyMap<string, number>;
  private readonly layoutOrder: readonly number[];
  private readonly stripeRowsTarget: number;
  private readonly blockBytesTarget: number;
  private readonly blocksInFlight: number;
  private pendingObjects: Record<string, unknown>[] = [];
  private pendingBatches: arrow.RecordBatch[] = [];
  /** Rows in pendingBatches (objects not yet converted are not counted). */
  private pendingRows = 0;
  /** Arrow bytes in pendingBatches: estimates a stripe's size before it is encoded. */
  private pendingBytes = 0;
  /** Plain-layout bytes per row of the last stripe (what a stripe holds in memory); 0 before the first. */
  private bytesPerRow = 0;
  /** Plain-layout bytes of every stream encoded so far: the file's rawBytes. */
  private rawBytes = 0;
  /** How streams are stored: the table's settings as the session saw them. */
  private readonly store: StoreOptions;
  private readonly builder = new BlockBuilder();
  /** Stream memory of the stripes in `builder`, in the same order. */
  private readonly builderMemory: StripeMemory[] = [];
  private readonly slabs: SlabPool;
  private readonly spaces: BlockSpacePool;
  private readonly policy: ErasurePolicy;
  /** Stripes of finished blocks, in write order, with their block and offsets. */
  private readonly manifestStripes: StripeManifest[] = [];
  /** The manifest's size as msgpack so far, against the service's commit body limit. */
  private manifestBytes = 0;
  private readonly blocks: BlockManifest[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private failure: unknown;
  private state: WriterState = 'open';
  private readonly renewTimer: NodeJS.Timeout;
  private rowsWritten = 0;

  private constructor(
    private readonly http: HttpPools,
    private readonly metadata: MetadataClient,
    readonly session: SessionInfo,
    options: WriterOptions,
    layoutFirst: readonly string[],
  ) {
    this.columns = session.columns;
    this.byName = new Map(this.columns.map((column, index) => [column.name, index]));
    const first = layoutFirst.map((name) => {
      const index = this.byName.get(name);
      if (index === undefined) throw new GranaryError('GRN_BAD_REQUEST', `columnOrder names ${name}, which table ${session.table} does not have`);
      return index;
    });
    this.layoutOrder = [...new Set([...first, ...this.columns.map((_, index) => index)])];
    this.stripeRowsTarget = options.stripeRows ?? session.stripeRows;
    this.blockBytesTarget = options.blockBytes ?? session.blockBytes;
    this.blocksInFlight = Math.max(1, options.blocksInFlight ?? 2);
    this.store = { encoding: options.encoding ?? session.encoding ?? 'auto', ...(session.compressionLevel === undefined ? {} : { compressionLevel: session.compressionLevel }) };
    this.policy = parsePolicy(session.ec);
    // About one block of stream memory and one space per block in flight are kept for reuse.
    this.slabs = new SlabPool(this.blockBytesTarget + 2 * SLAB_BYTES);
    this.spaces = new BlockSpacePool(this.blocksInFlight);
    this.renewTimer = setInterval(() => {
      this.metadata.renewSession(session.sessionId).catch((error: unknown) => {
        // A missed renewal is retried at the next tick (two more fit in a lease); only a session
        // the service has closed ends the write.
        if (error instanceof GranaryError && (error.code === 'GRN_SESSION_CLOSED' || error.code === 'GRN_SESSION_NOT_FOUND')) this.failure ??= error;
      });
    }, Math.max(500, Math.floor(session.leaseMs / 3)));
    // A writer left open must not keep the process alive; its lease then runs out.
    this.renewTimer.unref();
  }

  static async open(http: HttpPools, metadata: MetadataClient, table: string, partition: string, options: WriterOptions = {}): Promise<PartitionWriter> {
    const order = options.columnOrder ?? 'popularity';
    let layoutFirst: readonly string[] = [];
    if (order === 'popularity') {
      layoutFirst = (await metadata.popularity(table)).columns.filter((c) => c.scans > 0).map((c) => c.column);
    } else if (order !== 'schema') {
      layoutFirst = order;
    }
    const session = await metadata.openSession(table, { partition, ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }) });
    if (order === 'popularity') {
      // Counted before the session opened: a column dropped since is just left out.
      const current = new Set(session.columns.map((c) => c.name));
      layoutFirst = layoutFirst.filter((name) => current.has(name));
    }
    try {
      return new PartitionWriter(http, metadata, session, options, layoutFirst);
    } catch (error) {
      await metadata.abort(session.sessionId).catch(() => undefined);
      throw error;
    }
  }

  get sessionId(): string {
    return this.session.sessionId;
  }

  /** Adds rows; resolves when they are buffered (waits while too many blocks are in flight). */
  async write(rows: readonly Record<string, unknown>[] | arrow.RecordBatch | arrow.Table): Promise<void> {
    this.assertOpen();
    try {
      if (rows instanceof arrow.Table) {
        for (const batch of rows.batches) this.addBatch(batch);
      } else if (rows instanceof arrow.RecordBatch) {
        this.addBatch(rows);
      } else {
        for (const row of rows) this.pendingObjects.push(row);
        // Objects become Arrow columns in small chunks: plain objects cost far more memory.
        if (this.pendingObjects.length >= OBJECT_CHUNK_ROWS) this.convertObjects();
      }
      while (this.pendingRows > 0 && this.pendingRows >= this.stripeTarget()) await this.cutStripe(this.stripeTarget());
    } catch (error) {
      await this.fail(error);
      throw error;
    }
  }

  /** Stores what is buffered and commits: every row written becomes visible at once. */
  async commit(): Promise<CommitResult> {
    this.assertOpen();
    try {
      this.convertObjects();
      while (this.pendingRows > 0) await this.cutStripe(Math.min(this.pendingRows, this.stripeTarget()));
      if (this.builder.stripeCount > 0) await this.startBlock();
      await Promise.all(this.uploads);
      this.throwIfFailed();
      const manifest = {
        files: this.manifestStripes.length === 0 ? [] : [{ columns: this.columns.map((c) => c.name), stripes: this.manifestStripes, rawBytes: this.rawBytes }],
        blocks: this.blocks,
      };
      let result: CommitResult | undefined;
      for (let attempt = 0; result === undefined; attempt++) {
        try {
          result = await this.metadata.commit(this.session.sessionId, manifest);
        } catch (error) {
          // Commits are idempotent: a commit whose answer was lost is retried safely.
          if (!(error instanceof GranaryError && error.code === 'GRN_UNAVAILABLE') || attempt >= 3) throw error;
        }
      }
      this.state = 'committed';
      clearInterval(this.renewTimer);
      return result;
    } catch (error) {
      await this.fail(error);
      throw error;
    }
  }

  /** Gives up: nothing written becomes visible. */
  async abort(): Promise<void> {
    if (this.state !== 'open' && this.state !== 'failed') return;
    clearInterval(this.renewTimer);
    this.state = 'aborted';
    await Promise.allSettled(this.uploads);
    await this.metadata.abort(this.session.sessionId);
  }

  /** Aborts unless committed; safe to call in `finally`. */
  async close(): Promise<void> {
    if (this.state === 'open') await this.abort();
    clearInterval(this.renewTimer);
  }

  get rows(): number {
    return this.rowsWritten;
  }

  /** Rows in the next stripe: the row target, fewer when that many rows would pass stripeBytes. */
  private stripeTarget(): number {
    // Before the first stripe is encoded, the Arrow size of what is buffered is the estimate.
    const perRow = this.bytesPerRow > 0 ? this.bytesPerRow : this.pendingRows > 0 ? this.pendingBytes / this.pendingRows : 0;
    if (perRow <= 0) return this.stripeRowsTarget;
    return Math.max(1, Math.min(this.stripeRowsTarget, Math.floor(this.session.stripeBytes / perRow)));
  }

  private addBatch(batch: arrow.RecordBatch): void {
    this.convertObjects();
    for (const field of batch.schema.fields) {
      const index = this.byName.get(field.name);
      if (index === undefined) throw new GranaryError('GRN_BAD_REQUEST', `record batch has column ${field.name}, which table ${this.session.table} does not have`);
      const expected = arrowTypeOf((this.columns[index] as ColumnInfo).type);
      if (!arrowTypeMatches(expected, field.type)) {
        throw new GranaryError('GRN_BAD_REQUEST', `column ${field.name} is ${String(field.type)} in the record batch, table wants ${String(expected)}`);
      }
    }
    if (batch.numRows === 0) return;
    assertNoNullListElements(batch);
    this.pendingBatches.push(batch);
    this.pendingRows += batch.numRows;
    this.pendingBytes += batch.data.byteLength;
  }

  private convertObjects(): void {
    if (this.pendingObjects.length === 0) return;
    const objects = this.pendingObjects;
    this.pendingObjects = [];
    const batch = rowsToRecordBatch(this.columns, objects);
    this.pendingBatches.push(batch);
    this.pendingRows += batch.numRows;
    this.pendingBytes += batch.data.byteLength;
  }

  /** Encodes the first `rows` buffered rows as a stripe and adds it to the block being filled. */
  private async cutStripe(rows: number): Promise<void> {
    const table = new arrow.Table(this.pendingBatches);
    const stripe = table.slice(0, rows);
    const rest = table.slice(rows);
    this.pendingBatches = rest.numRows === 0 ? [] : rest.batches;
    this.pendingRows -= rows;
    this.pendingBytes = this.pendingBatches.reduce((sum, batch) => sum + batch.data.byteLength, 0);
    const memory = new StripeMemory(this.slabs);
    let streams: EncodedStream[];
    let rawBytes = 0;
    try {
      const plain = this.columns.map((column) => {
        const child = stripe.getChild(column.name);
        return encodeStream(column.type, child ?? nullData(column.type, rows), memory.alloc);
      });
      for (const stream of plain) rawBytes += stream.bytes.length;
      if (this.store.encoding === 'plain') {
        streams = plain;
      } else {
        const stored = await Promise.all(plain.map((stream, c) => storePlain((this.columns[c] as ColumnInfo).type, stream, this.store)));
        // Streams left plain still sit in the stripe's memory: copied out, the memory is free
        // now instead of when the block is built (a block of compressed streams holds many
        // stripes, whose plain memory would otherwise pile up).
        streams = stored.map((stream, c) => (stream.bytes === (plain[c] as EncodedStream).bytes ? { ...stream, bytes: stream.bytes.slice() } : stream));
        memory.release();
      }
    } catch (error) {
      memory.release();
      throw error;
    }
    const encodedBytes = streams.reduce((sum, s) => sum + s.bytes.length, 0);
    this.rawBytes += rawBytes;
    // The stripe's size in memory is its plain size: stripeBytes bounds that.
    this.bytesPerRow = rawBytes / rows;
    this.rowsWritten += rows;
    const encoded: EncodedStripe = { rows, streams };
    if (this.builder.stripeCount > 0 && this.builder.bytes + encodedBytes > this.blockBytesTarget) await this.startBlock();
    this.builder.add(encoded);
    if (this.store.encoding === 'plain') this.builderMemory.push(memory);
    if (this.builder.bytes >= this.blockBytesTarget) await this.startBlock();
  }

  /** Lays out the filled block and uploads it in the background, waiting if too many are in flight. */
  private async startBlock(): Promise<void> {
    while (this.uploads.size >= this.blocksInFlight) await Promise.race(this.uploads);
    this.throwIfFailed();
    const { dataShards, parityShards } = this.policy;
    const planned = this.builder.layout(this.layoutOrder, dataShards);
    const { shardBytes } = contiguousLayout(this.policy, planned.bytes);
    const space = this.spaces.take((dataShards + parityShards) * shardBytes);
    const { block, stripes } = this.builder.build(this.layoutOrder, space.subarray(0, dataShards * shardBytes), dataShards, planned);
    // Copied into the block: the stripes' stream bytes are not read again (only their lengths).
    for (const memory of this.builderMemory.splice(0)) memory.release();
    const limits = this.session.limits;
    if (limits !== undefined && this.manifestStripes.length + stripes.length > limits.stripesPerCommitMax) {
      this.spaces.give(space);
      const error = new GranaryError(
        'GRN_QUOTA_EXCEEDED',
        `this write of ${this.session.table} ${this.session.partition} passed ${limits.stripesPerCommitMax} stripes, the most one commit may add (the service's --stripes-per-commit-max); write it as several sessions (files)`,
      );
      await this.fail(error);
      throw error;
    }
    // Stripes keep their write order in the manifest even though blocks finish out of order.
    const slots = stripes.map(() => {
      this.manifestStripes.push({ rows: 0, streams: [] });
      return this.manifestStripes.length - 1;
    });
    const upload = uploadBlock(this.http, this.metadata, this.session.sessionId, block.bytes, space).then(
      (placed) => {
        this.blocks.push(placed);
        this.manifestBytes += pack(placed).length;
        stripes.forEach((stripe, s) => {
          const manifest: StripeManifest = {
            rows: stripe.rows,
            streams: stripe.streams.map((stream, c) => ({
              block: placed.blockId,
              offset: (block.offsets[s] as number[])[c] as number,
              length: stream.bytes.length,
              checksum: checksumToHex(stream.checksum),
              encoding: stream.encoding,
              stats: {
                nulls: stream.nulls,
                ...(stream.min === undefined ? {} : { min: stream.min }),
                ...(stream.max === undefined ? {} : { max: stream.max }),
              },
            })),
          };
          this.manifestStripes[slots[s] as number] = manifest;
          this.manifestBytes += pack(manifest).length;
        });
        // Found now, not after every other block is uploaded: the commit would be refused (413).
        if (limits !== undefined && this.manifestBytes > limits.commitBodyBytesMax - MANIFEST_ENVELOPE_BYTES) {
          this.failure ??= new GranaryError(
            'GRN_PAYLOAD_TOO_LARGE',
            `the manifest of this write of ${this.session.table} ${this.session.partition} passed ${limits.commitBodyBytesMax} bytes, the largest commit the service reads; write it as several sessions (files), or with fewer, larger stripes`,
          );
        }
      },
      (error: unknown) => {
        this.failure ??= error;
      },
    );
    const tracked = upload.finally(() => {
      // Every put has settled by now (uploadBlock waits for all), so the space is free again.
      this.spaces.give(space);
      this.uploads.delete(tracked);
    });
    this.uploads.add(tracked);
  }

  private assertOpen(): void {
    this.throwIfFailed();
    if (this.state !== 'open') throw new GranaryError('GRN_SESSION_CLOSED', `writer for ${this.session.table} ${this.session.partition} is ${this.state}`);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async fail(error: unknown): Promise<void> {
    this.failure ??= error;
    if (this.state !== 'open') return;
    this.state = 'failed';
    clearInterval(this.renewTimer);
    await Promise.allSettled(this.uploads);
    // Best effort: the caller gets the original error; if this abort is lost too, the lease
    // runs out and the service collects the blocks anyway.
    await this.metadata.abort(this.session.sessionId).catch(() => undefined);
  }
}
