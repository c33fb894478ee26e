/**
 * Runs batched reads against storage nodes with bounded concurrency, and reads around trouble:
 * a node that is down, slow (hedging), or answers `missing` / `corrupt` for a range is replaced
 * by rebuilding that range from the same range of k other shards of the block. More than m
 * shards unreadable is a DataUnavailable error naming the block, never guessed bytes.
 */
import { reconstructShards } from '../../erasure/index.js';
import { type Frame, GranaryError, type PlannedBlock, type PlannedChunk } from '../../protocol/index.js';
import { readRanges } from '../chunk-io.js';
import type { HttpPools } from '../http.js';
import type { NodeRequest, ShardRead } from './read-plan.js';
import { Semaphore } from './semaphore.js';

export interface FetchOptions {
  /** Start rebuilding a request's ranges from parity when it has not answered after this long. */
  readonly hedgeAfterMs?: number;
  /** Batched requests in flight at once. */
  readonly concurrency: number;
}

export interface FetchStats {
  requests: number;
  bytesFetched: number;
  degradedReads: number;
  hedgedRequests: number;
  /** Read sizes, for the histogram. */
  readonly readSizes: number[];
}

export function newFetchStats(): FetchStats {
  return { requests: 0, bytesFetched: 0, degradedReads: 0, hedgedRequests: 0, readSizes: [] };
}

export class DataUnavailableError extends GranaryError {
  readonly blockId: string;

  constructor(blockId: string, detail: string) {
    super('GRN_DATA_UNAVAILABLE', `block ${blockId} cannot be read: ${detail}`, { details: { block: blockId } });
    this.name = 'DataUnavailableError';
    this.blockId = blockId;
  }
}

export interface CorruptReporter {
  (chunk: PlannedChunk, reason: string): void;
}

export class Fetcher {
  private readonly slots: Semaphore;
  /** Nodes that failed outright in this scan: their ranges are rebuilt without asking again. */
  private readonly downNodes = new Set<string>();

  constructor(
    private readonly http: HttpPools,
    private readonly blocks: readonly PlannedBlock[],
    private readonly options: FetchOptions,
    private readonly stats: FetchStats,
    private readonly reportCorrupt: CorruptReporter,
  ) {
    this.slots = new Semaphore(options.concurrency);
  }

  /** Fetches every read of every request; resolves with the bytes of each read. */
  async fetch(requests: readonly NodeRequest[]): Promise<Map<ShardRead, Uint8Array>> {
    const out = new Map<ShardRead, Uint8Array>();
    await Promise.all(requests.map((request) => this.fetchRequest(request, out)));
    return out;
  }

  private async fetchRequest(request: NodeRequest, out: Map<ShardRead, Uint8Array>): Promise<void> {
    if (this.downNodes.has(request.nodeUrl) || request.nodeUrl === '') {
      await Promise.all(request.reads.map(async (read) => out.set(read, await this.rebuild(read, 'its node is down'))));
      return;
    }
    const direct = this.slots.run(() => this.readDirect(request));
    const hedgeAfterMs = this.options.hedgeAfterMs;
    let frames: (Frame | Error)[];
    if (hedgeAfterMs === undefined) {
      frames = await direct;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<'slow'>((resolve) => {
        timer = setTimeout(() => resolve('slow'), hedgeAfterMs);
      });
      const first = await Promise.race([direct, slow]);
      clearTimeout(timer);
      if (first === 'slow') {
        this.stats.hedgedRequests++;
        const rebuilt = Promise.all(request.reads.map((read) => this.rebuild(read, 'hedged: its node is slow')));
        const winner = await Promise.race([
          direct.then((result) => ({ kind: 'direct' as const, result })),
          rebuilt.then((result) => ({ kind: 'rebuilt' as const, result }), (error: unknown) => ({ kind: 'failed' as const, error })),
        ]);
        if (winner.kind === 'rebuilt') {
          request.reads.forEach((read, i) => out.set(read, winner.result[i] as Uint8Array));
          return;
        }
        frames = winner.kind === 'direct' ? winner.result : await direct;
      } else {
        frames = first;
      }
    }
    await Promise.all(
      request.reads.map(async (read, i) => {
        const frame = frames[i] as Frame | Error;
        if (!(frame instanceof Error) && frame.status === 'ok') {
          out.set(read, frame.data);
          return;
        }
        const reason = frame instanceof Error ? frame.message : `${frame.status}: ${frame.message}`;
        if (!(frame instanceof Error) && frame.status === 'corrupt') {
          const block = this.blocks[read.blockRef] as PlannedBlock;
          this.reportCorrupt(block.chunks[read.shard] as PlannedChunk, frame.message);
        }
        out.set(read, await this.rebuild(read, reason));
      }),
    );
  }

  /** One batched request; a failed request yields an Error in place of every frame. */
  private async readDirect(request: NodeRequest): Promise<(Frame | Error)[]> {
    this.stats.requests++;
    const ranges = request.reads.map((read) => {
      const block = this.blocks[read.blockRef] as PlannedBlock;
      this.stats.readSizes.push(read.length);
      this.stats.bytesFetched += read.length;
      return { chunk: (block.chunks[read.shard] as PlannedChunk).chunkId, offset: read.offset, length: read.length };
    });
    try {
      return await readRanges(this.http, request.nodeUrl, ranges);
    } catch (error) {
      this.downNodes.add(request.nodeUrl);
      const failure = error instanceof Error ? error : new Error(String(error));
      return request.reads.map(() => failure);
    }
  }

  /** Rebuilds a read from the same range of k other shards of its block. */
  private async rebuild(read: ShardRead, why: string): Promise<Uint8Array> {
    this.stats.degradedReads++;
    const block = this.blocks[read.blockRef] as PlannedBlock;
    const k = block.dataShards;
    const total = block.dataShards + block.parityShards;
    const candidates = block.chunks
      .filter((chunk) => chunk.shard !== read.shard && chunk.nodeState !== 'dead' && !this.downNodes.has(chunk.url))
      .sort((a, b) => a.shard - b.shard);
    const ranges: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(total).fill(undefined);
    const failures: string[] = [`shard ${read.shard}: ${why}`];
    const have = await this.gather(read, candidates, k, ranges, failures);
    if (have < k) {
      throw new DataUnavailableError(
        block.blockId,
        `needs ${k} of its ${total} shards for bytes ${read.offset}-${read.offset + read.length} of shard ${read.shard}, only ${have} answered (${failures.join('; ')})`,
      );
    }
    const [rebuilt] = await reconstructShards({ dataShards: k, parityShards: block.parityShards }, ranges, [read.shard]);
    return rebuilt as Uint8Array;
  }

  /**
   * Reads the range from candidates until k answered: k at first, one more for each failure, and
   * (when hedging) all the rest once the first ones are slow. Late answers are ignored.
   */
  private gather(read: ShardRead, candidates: readonly PlannedChunk[], k: number, ranges: (Uint8Array | undefined)[], failures: string[]): Promise<number> {
    return new Promise((resolve) => {
      let have = 0;
      let pending = 0;
      let launched = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (done || (have < k && (pending > 0 || launched < candidates.length))) return;
        done = true;
        clearTimeout(timer);
        resolve(have);
      };
      const launch = (): void => {
        const chunk = candidates[launched++] as PlannedChunk;
        pending++;
        void this.readOne(chunk, read).then((result) => {
          pending--;
          if (done) return;
          if (result instanceof Uint8Array) {
            ranges[chunk.shard] = result;
            have++;
          } else {
            failures.push(`shard ${chunk.shard}: ${result}`);
            if (launched < candidates.length) launch();
          }
          finish();
        });
      };
      while (launched < Math.min(k, candidates.length)) launch();
      if (this.options.hedgeAfterMs !== undefined) {
        timer = setTimeout(() => {
          while (!done && launched < candidates.length) launch();
        }, this.options.hedgeAfterMs);
      }
      finish();
    });
  }

  private async readOne(chunk: PlannedChunk, read: ShardRead): Promise<Uint8Array | string> {
    return this.slots.run(async () => {
      this.stats.requests++;
      this.stats.bytesFetched += read.length;
      this.stats.readSizes.push(read.length);
      try {
        const [frame] = await readRanges(this.http, chunk.url, [{ chunk: chunk.chunkId, offset: read.offset, length: read.length }]);
        if (frame?.status === 'ok') return frame.data;
        if (frame?.status === 'corrupt') this.reportCorrupt(chunk, frame.message);
        return `${frame?.status ?? 'no answer'}`;
      } catch (error) {
        this.downNodes.add(chunk.url);
        return (error as Error).message;
      }
    });
  }
}
