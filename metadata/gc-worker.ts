/**
 * Deletes the chunks of garbage blocks from their storage nodes, so aborted writes, expired
 * sessions and dropped partitions give their disk space back. A chunk on a node that is dead or
 * unreachable stays queued and is retried on later passes; a record leaves the queue only when
 * every one of its chunks is confirmed gone (deleted, or already absent).
 */
import { request } from 'undici';
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
}

export interface GcPassReport {
  readonly chunksDeleted: number;
  readonly blocksFinished: number;
  readonly chunksDeferred: number;
}

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

  /** One pass over the head of the queue; joins a pass already running. */
  runPass(): Promise<GcPassReport> {
    this.running ??= this.pass().finally(() => {
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

  private async pass(): Promise<GcPassReport> {
    const records = [...this.state.gcQueue.values()].slice(0, this.options.recordsPerPass);
    let chunksDeleted = 0;
    let blocksFinished = 0;
    let chunksDeferred = 0;
    for (const record of records) {
      const outcomes = await Promise.all(record.chunks.map((chunk) => this.deleteChunk(chunk.nodeId, chunk.chunkId)));
      const remaining = record.chunks.filter((_, index) => !outcomes[index]);
      chunksDeleted += record.chunks.length - remaining.length;
      chunksDeferred += remaining.length;
      if (remaining.length === record.chunks.length) continue;
      await this.state.exclusive(async () => {
        if (remaining.length === 0) {
          await this.state.db.write([del(this.state.db.gc, record.blockId)]);
          this.state.gcQueue.delete(record.blockId);
          blocksFinished++;
        } else {
          const next: GcRecord = { ...record, chunks: remaining };
          await this.state.db.write([put(this.state.db.gc, record.blockId, next)]);
          this.state.gcQueue.set(record.blockId, next);
        }
      });
    }
    return { chunksDeleted, blocksFinished, chunksDeferred };
  }

  /** True when the chunk is gone from its node (deleted now or never there). */
  private async deleteChunk(nodeId: string, chunkId: string): Promise<boolean> {
    const node = this.state.nodes.get(nodeId);
    if (node === undefined || this.nodes.stateOf(node) === 'dead') return false;
    try {
      const response = await request(`${node.url}/v1/chunks/${encodeURIComponent(chunkId)}`, {
        method: 'DELETE',
        headersTimeout: this.options.requestTimeoutMs,
        bodyTimeout: this.options.requestTimeoutMs,
      });
      await response.body.dump();
      return response.statusCode === 204 || response.statusCode === 404;
    } catch {
      // Unreachable now; the chunk stays queued for the next pass.
      return false;
    }
  }
}
