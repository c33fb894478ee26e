/**
 * Deletes the chunks of garbage blocks (aborted writes, expired sessions, dropped partitions),
 * old copies left behind by repair, and orphans, so their disk space comes back. A record leaves
 * the queue only when every one of its chunks is confirmed gone (deleted, or already absent).
 *
 * One dead node must never stall collection for everyone: a record that cannot finish (its node
 * is dead or unreachable) is tried again later with exponential back-off, at the back of the
 * queue, and passes take due records only, in bounded batches. Chunks on nodes that were removed
 * from the cluster are dropped: there is nothing left to delete them from. And GC never deletes a
 * copy the catalog uses: a repair may have put the same chunk back on that node since.
 */
import { CAPABILITY_HEADER } from '../protocol/capability.js';
import type { CapabilityIssuer } from './capabilities.js';
import { type Dispatcher, request } from 'undici';
import { transportError } from '../protocol/tls.js';
import { del, put } from './db.js';
import type { NodeRegistry } from './nodes.js';
import type { GcRecord } from './records.js';
import type { MetadataState } from './state.js';

export interface GcWorkerOptions {
  readonly intervalMs: number;
  /** Records handled per pass, to bound the work and the requests in flight. */
  readonly recordsPerPass: number;
  readonly requestTimeoutMs: number;
  readonly onError: (error: unknown) => void;
  /** Signs the delete capability each request carries. */
  readonly capabilities: CapabilityIssuer;
  /** Carries the deletes; one that trusts the cluster's CA when nodes serve HTTPS. Default: undici's global agent. */
  readonly dispatcher?: Dispatcher;
}

export interface GcPassReport {
  /** Deleted now, found already gone, or on a node no longer in the cluster. */
  readonly chunksDeleted: number;
  readonly blocksFinished: number;
  readonly chunksDeferred: number;
  /** Dropped from their record without a delete: the catalog uses that copy. */
  readonly chunksInUse: number;
}

/** Delete requests in flight at once. */
const DELETES_IN_FLIGHT_MAX = 16;
/** Back-off of a record that could not finish: base, doubled per attempt, capped. */
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 10 * 60_000;

type ChunkOutcome = 'gone' | 'deferred' | 'in-use';

export class GcWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<GcPassReport> | undefined;
  private stopped = false;

  constructor(
    private readonly state: MetadataState,
    private readonly nodes: NodeRegistry,
    private readonly options: GcWorkerOptions,
  ) {}

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass over the records that are due; joins a pass already running. */
  runPass(now = Date.now()): Promise<GcPassReport> {
    this.running ??= this.pass(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runPass()
        .catch(this.options.onError)
        .finally(() => this.schedule());
    }, this.options.intervalMs);
  }

  private async pass(now: number): Promise<GcPassReport> {
    const due = [...this.state.gcQueue.values()]
      .filter((record) => (record.nextAttemptAt ?? 0) <= now)
      .sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || a.queuedAt - b.queuedAt)
      .slice(0, this.options.recordsPerPass);
    let chunksDeleted = 0;
    let blocksFinished = 0;
    let chunksDeferred = 0;
    let chunksInUse = 0;
    const outcomes = new Map<GcRecord, ChunkOutcome[]>(due.map((record) => [record, []]));
    const jobs = due.flatMap((record) => record.chunks.map((chunk, index) => ({ record, chunk, index })));
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < jobs.length) {
        const job = jobs[next++] as (typeof jobs)[number];
        (outcomes.get(job.record) as ChunkOutcome[])[job.index] = await this.deleteChunk(job.chunk.nodeId, job.chunk.chunkId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETES_IN_FLIGHT_MAX, jobs.length) }, lane));
    for (const record of due) {
      const results = outcomes.get(record) as ChunkOutcome[];
      const remaining = record.chunks.filter((_, index) => results[index] === 'deferred');
      const inUse = results.filter((result) => result === 'in-use').length;
      chunksInUse += inUse;
      chunksDeleted += record.chunks.length - remaining.length - inUse;
      chunksDeferred += remaining.length;
      await this.state.exclusive(async () => {
        // The record may have changed since the pass began (a newer one under the same key).
        if (this.state.gcQueue.get(record.blockId) !== record) return;
        if (remaining.length === 0) {
          await this.state.db.write([del(this.state.db.gc, record.blockId)]);
          this.state.deleteGc(record.blockId);
          blocksFinished++;
          return;
        }
        const attempts = (record.attempts ?? 0) + 1;
        const next: GcRecord = {
          ...record,
          chunks: remaining,
          attempts,
          nextAttemptAt: Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1)),
        };
        await this.state.db.write([put(this.state.db.gc, record.blockId, next)]);
        this.state.putGc(next);
      });
    }
    return { chunksDeleted, blocksFinished, chunksDeferred, chunksInUse };
  }

  /** `gone` when the chunk is no longer there (or its node no longer exists); `deferred` to retry. */
  private async deleteChunk(nodeId: string, chunkId: string): Promise<ChunkOutcome> {
    const node = this.state.nodes.get(nodeId);
    if (node === undefined) return 'gone';
    if (this.inUse(chunkId, nodeId)) return 'in-use';
    if (this.nodes.stateOf(node) === 'dead') return 'deferred';
    try {
      const response = await request(`${node.url}/v1/chunks/${encodeURIComponent(chunkId)}`, {
        method: 'DELETE',
        headers: { [CAPABILITY_HEADER]: this.options.capabilities.delete(chunkId) },
        headersTimeout: this.options.requestTimeoutMs,
        bodyTimeout: this.options.requestTimeoutMs,
        ...(this.options.dispatcher === undefined ? {} : { dispatcher: this.options.dispatcher }),
      });
      await response.body.dump();
      return response.statusCode === 204 || response.statusCode === 404 ? 'gone' : 'deferred';
    } catch (error) {
      // An untrusted certificate will not cure itself by waiting: say so, or nothing is ever deleted.
      const failure = transportError(error, `deleting chunk ${chunkId} from ${node.url}`, node.url);
      if (failure.code === 'GRN_TLS_UNTRUSTED') this.options.onError(failure);
      // Unreachable now; the chunk stays queued, behind its back-off.
      return 'deferred';
    }
  }

  /** True when the catalog places this chunk on this node: a live copy, never to be deleted. */
  private inUse(chunkId: string, nodeId: string): boolean {
    const dot = chunkId.lastIndexOf('.');
    const block = this.state.blocks.get(chunkId.slice(0, dot));
    return block !== undefined && block.nodes[Number(chunkId.slice(dot + 1))] === nodeId;
  }
}
