/**
 * Runs batched reads against storage nodes with bounded concurrency, and reads around trouble:
 * a node that is down, slow (hedging), or answers `missing` / `corrupt` for a range is replaced
 * by rebuilding that range from the same range of k other shards of the block. More than m
 * shards unreadable is a DataUnavailable error naming the block, never guessed bytes.
 */
import { type ErasureCodec, reconstructShards, threadedCodecById } from '../../erasure/index.js';
import { type Frame, GranaryError, type HttpPools, type PlannedBlock, type PlannedChunk, readRanges } from '../../protocol/index.js';
import type { NodeRequest, ShardRead } from './read-plan.js';
import { Semaphore } from './semaphore.js';

/** Ranges per batched request when rebuilding many reads at once. */
const REBUILD_RANGES_PER_REQUEST = 1024;
/** Batched rounds of shard reads before a read falls back to shard-by-shard rebuilding. */
const REBUILD_ROUNDS_MAX = 3;

export interface FetchOptions {
  /** Start rebuilding a request's ranges from parity when it has not answered after this long. */
  readonly hedgeAfterMs?: number;
  /** Batched requests in flight at once. */
  readonly concurrency: number;
  /**
   * The codec a block names, for rebuilding its ranges (default threadedCodecById: large rebuilds
   * on the codec threads). A read worker passes codecById: it is already off the scan's thread.
   */
  readonly codecOf?: (id: string) => ErasureCodec;
  /** The reading job, named in every batch read so nodes can count what they serve it. */
  readonly job?: string;
}

export interface FetchStats {
  requests: number;
  bytesFetched: number;
  degradedReads: number;
  hedgedRequests: number;
  /** Bytes fetched to rebuild ranges from other shards (included in bytesFetched). */
  rebuildBytes: number;
  /** Read sizes, for the histogram. */
  readonly readSizes: number[];
  /** Bytes asked of each storage node, by node id. */
  readonly bytesByNode: Record<string, number>;
}

export function newFetchStats(): FetchStats {
  return { requests: 0, bytesFetched: 0, degradedReads: 0, hedgedRequests: 0, rebuildBytes: 0, readSizes: [], bytesByNode: {} };
}

export class DataUnavailableError extends GranaryError {
  readonly blockId: string;

  constructor(blockId: string, detail: string) {
    super('GRN_DATA_UNAVAILABLE', `block ${blockId} cannot be read: ${detail}`, { details: { block: blockId } });
    this.name = 'DataUnavailableError';
    this.blockId = blockId;
  }
}

/** Told of every chunk a node answered `corrupt` or `missing` for, so repair can restore it. */
export interface CorruptReporter {
  (chunk: PlannedChunk, reason: string, missing: boolean): void;
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
    const state = request.reads[0] === undefined ? 'alive' : this.chunkOf(request.reads[0]).nodeState;
    // A node the catalog calls dead (or no longer knows) is not asked at all: a cut-off host
    // would hold every request up for its whole timeout.
    if (this.downNodes.has(request.nodeUrl) || request.nodeUrl === '' || state === 'dead' || state === 'removed') {
      const rebuilt = await this.rebuildMany(request.reads, 'its node is down');
      request.reads.forEach((read, i) => out.set(read, rebuilt[i] as Uint8Array));
      return;
    }
    // A node late with its heartbeats is read around (HDFS avoids stale nodes the same way), and
    // asked directly only when the rest of the block cannot make up for it.
    if (state === 'suspect') {
      try {
        const rebuilt = await this.rebuildMany(request.reads, 'its node is late with heartbeats');
        request.reads.forEach((read, i) => out.set(read, rebuilt[i] as Uint8Array));
        return;
      } catch (error) {
        if (!(error instanceof DataUnavailableError)) throw error;
      }
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
        const rebuilt = this.rebuildMany(request.reads, 'hedged: its node is slow');
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
    const failed: ShardRead[] = [];
    const reasons = new Set<string>();
    request.reads.forEach((read, i) => {
      const frame = frames[i] as Frame | Error;
      if (!(frame instanceof Error) && frame.status === 'ok') {
        out.set(read, frame.data);
        return;
      }
      reasons.add(frame instanceof Error ? frame.message : `${frame.status}: ${frame.message}`);
      if (!(frame instanceof Error)) this.reportDamage(this.chunkOf(read), frame);
      failed.push(read);
    });
    if (failed.length === 0) return;
    const rebuilt = await this.rebuildMany(failed, [...reasons].slice(0, 3).join('; '));
    failed.forEach((read, i) => out.set(read, rebuilt[i] as Uint8Array));
  }

  /**
   * Rebuilds several reads at once: the same ranges of k surviving shards of each are fetched in
   * one batched request per node (not one request per shard per read), then decoded. A read that
   * still lacks k ranges falls back to `rebuild`, which tries every remaining shard.
   */
  private async rebuildMany(reads: readonly ShardRead[], why: string): Promise<Uint8Array[]> {
    if (reads.length <= 1) return Promise.all(reads.map((read) => this.rebuildRead(read, why)));
    const got = reads.map((read) => {
      const block = this.blocks[read.blockRef] as PlannedBlock;
      return new Array<Uint8Array | undefined>(block.dataShards + block.parityShards).fill(undefined);
    });
    const tried = reads.map(() => new Set<number>());
    // Hedged rounds still in flight: the last round may ask the last untried shards before the
    // fast answers of earlier rounds arrive (a loaded host), and those answers must be waited for
    // before falling back to a read that would wait for the slow node.
    const inFlight = new Set<Promise<void>>();
    const short = (): boolean =>
      reads.some((read, r) => (got[r] as (Uint8Array | undefined)[]).filter((range) => range !== undefined).length < (this.blocks[read.blockRef] as PlannedBlock).dataShards);
    // Rounds: each asks, per read still short of k ranges, the next untried shards on nodes not
    // known to be down, all batched per node. A round that adds nothing ends the loop.
    for (let round = 0; round < REBUILD_ROUNDS_MAX; round++) {
      const byNode = new Map<string, { read: number; chunk: PlannedChunk }[]>();
      reads.forEach((read, r) => {
        const block = this.blocks[read.blockRef] as PlannedBlock;
        const have = (got[r] as (Uint8Array | undefined)[]).filter((range) => range !== undefined).length;
        if (have >= block.dataShards) return;
        const chosen = this.otherShards(read)
          .filter((chunk) => !(tried[r] as Set<number>).has(chunk.shard))
          .slice(0, block.dataShards - have);
        for (const chunk of chosen) {
          (tried[r] as Set<number>).add(chunk.shard);
          let list = byNode.get(chunk.url);
          if (list === undefined) {
            list = [];
            byNode.set(chunk.url, list);
          }
          list.push({ read: r, chunk });
        }
      });
      if (byNode.size === 0) break;
      const round = this.fetchRebuildRanges(reads, byNode, got);
      const hedgeAfterMs = this.options.hedgeAfterMs;
      if (hedgeAfterMs === undefined) {
        await round;
      } else {
        // A slow node among the inputs must not hold the rebuild up: past the hedge delay, the
        // next round asks the shards not tried yet (a late answer still counts if it comes).
        const settled = round.then(
          () => undefined,
          () => undefined,
        );
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, hedgeAfterMs)))]);
        clearTimeout(timer);
      }
    }
    while (inFlight.size > 0 && short()) await Promise.race(inFlight);
    return Promise.all(
      reads.map(async (read, r) => {
        const block = this.blocks[read.blockRef] as PlannedBlock;
        const ranges = got[r] as (Uint8Array | undefined)[];
        if (ranges.filter((range) => range !== undefined).length < block.dataShards) return this.rebuildRead(read, why);
        this.stats.degradedReads++;
        const [rebuilt] = await reconstructShards({ dataShards: block.dataShards, parityShards: block.parityShards }, ranges, [read.shard], (this.options.codecOf ?? threadedCodecById)(block.codec));
        return rebuilt as Uint8Array;
      }),
    );
  }

  /** One batched request; a failed request yields an Error in place of every frame. */
  private async readDirect(request: NodeRequest): Promise<(Frame | Error)[]> {
    this.stats.requests++;
    const ranges = request.reads.map((read) => {
      const chunk = (this.blocks[read.blockRef] as PlannedBlock).chunks[read.shard] as PlannedChunk;
      this.count(chunk, read.length);
      return { chunk: chunk.chunkId, offset: read.offset, length: read.length };
    });
    try {
      // Unchecked by the node: the scan checks every stream against its writer's checksum.
      return await readRanges(this.http, request.nodeUrl, ranges, { verifyPages: false, capabilities: this.capabilitiesOf(request.reads), ...this.jobOption() });
    } catch (error) {
      this.downNodes.add(request.nodeUrl);
      const failure = error instanceof Error ? error : new Error(String(error));
      return request.reads.map(() => failure);
    }
  }

  private async fetchRebuildRanges(
    reads: readonly ShardRead[],
    byNode: ReadonlyMap<string, readonly { read: number; chunk: PlannedChunk }[]>,
    got: (Uint8Array | undefined)[][],
  ): Promise<void> {
    await Promise.all(
      [...byNode].map(async ([url, items]) => {
        for (let start = 0; start < items.length; start += REBUILD_RANGES_PER_REQUEST) {
          const part = items.slice(start, start + REBUILD_RANGES_PER_REQUEST);
          const ranges = part.map(({ read, chunk }) => {
            const shardRead = reads[read] as ShardRead;
            this.count(chunk, shardRead.length, true);
            return { chunk: chunk.chunkId, offset: shardRead.offset, length: shardRead.length };
          });
          const frames = await this.slots.run(async () => {
            this.stats.requests++;
            try {
              return await readRanges(this.http, url, ranges, { capabilities: this.capabilitiesOf(part.map(({ read }) => reads[read] as ShardRead)), ...this.jobOption() });
            } catch {
              // Marked down; the next round reads these ranges from other shards.
              this.downNodes.add(url);
              return undefined;
            }
          });
          if (frames === undefined) return;
          frames.forEach((frame, i) => {
            const { read, chunk } = part[i] as { read: number; chunk: PlannedChunk };
            if (frame.status === 'ok') (got[read] as (Uint8Array | undefined)[])[chunk.shard] = frame.data;
            else this.reportDamage(chunk, frame);
          });
        }
      }),
    );
  }

  private jobOption(): { job?: string } {
    return this.options.job === undefined ? {} : { job: this.options.job };
  }

  /** `rebuild`: read to rebuild another shard's range. */
  private count(chunk: PlannedChunk, bytes: number, rebuild = false): void {
    if (rebuild) this.stats.rebuildBytes += bytes;
    this.stats.readSizes.push(bytes);
    this.stats.bytesFetched += bytes;
    this.stats.bytesByNode[chunk.nodeId] = (this.stats.bytesByNode[chunk.nodeId] ?? 0) + bytes;
  }

  /** Reports the chunk a read came from as corrupt. */
  reportBadRead(read: ShardRead, reason: string): void {
    this.reportCorrupt(this.chunkOf(read), reason, false);
  }

  /** A `corrupt` or `missing` answer names a chunk repair must restore; other failures do not. */
  private reportDamage(chunk: PlannedChunk, frame: Frame): void {
    if (frame.status === 'corrupt' || frame.status === 'missing') this.reportCorrupt(chunk, frame.message, frame.status === 'missing');
  }

  /** The read capabilities (one per block) a request for these reads carries. */
  private capabilitiesOf(reads: readonly ShardRead[]): string[] {
    const capabilities = new Set<string>();
    for (const read of reads) {
      const capability = (this.blocks[read.blockRef] as PlannedBlock).capability;
      if (capability !== undefined) capabilities.add(capability);
    }
    return [...capabilities];
  }

  private chunkOf(read: ShardRead): PlannedChunk {
    return (this.blocks[read.blockRef] as PlannedBlock).chunks[read.shard] as PlannedChunk;
  }

  /** The read's block's other shards on nodes that may answer, data shards first. */
  private otherShards(read: ShardRead): PlannedChunk[] {
    const block = this.blocks[read.blockRef] as PlannedBlock;
    // Late nodes last: they are asked only when the others cannot make up k.
    const late = (chunk: PlannedChunk): number => (chunk.nodeState === 'suspect' ? 1 : 0);
    return block.chunks
      .filter((chunk) => chunk.shard !== read.shard && chunk.nodeState !== 'dead' && chunk.nodeState !== 'removed' && chunk.url !== '' && !this.downNodes.has(chunk.url))
      .sort((a, b) => late(a) - late(b) || a.shard - b.shard);
  }

  /** Rebuilds a read from the same range of k other shards of its block, whatever its own node answered. */
  async rebuildRead(read: ShardRead, why: string): Promise<Uint8Array> {
    this.stats.degradedReads++;
    const block = this.blocks[read.blockRef] as PlannedBlock;
    const k = block.dataShards;
    const total = block.dataShards + block.parityShards;
    const candidates = this.otherShards(read);
    const ranges: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(total).fill(undefined);
    const failures: string[] = [`shard ${read.shard}: ${why}`];
    const have = await this.gather(read, candidates, k, ranges, failures);
    if (have < k) {
      throw new DataUnavailableError(
        block.blockId,
        `needs ${k} of its ${total} shards for bytes ${read.offset}-${read.offset + read.length} of shard ${read.shard}, only ${have} answered (${failures.join('; ')})`,
      );
    }
    // Always the codec that wrote the block: codecs differ in the parity they compute.
    const [rebuilt] = await reconstructShards({ dataShards: k, parityShards: block.parityShards }, ranges, [read.shard], (this.options.codecOf ?? threadedCodecById)(block.codec));
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
      this.count(chunk, read.length, true);
      try {
        const [frame] = await readRanges(this.http, chunk.url, [{ chunk: chunk.chunkId, offset: read.offset, length: read.length }], {
          capabilities: this.capabilitiesOf([read]),
          ...this.jobOption(),
        });
        if (frame?.status === 'ok') return frame.data;
        if (frame !== undefined) this.reportDamage(chunk, frame);
        return `${frame?.status ?? 'no answer'}`;
      } catch (error) {
        this.downNodes.add(chunk.url);
        return (error as Error).message;
      }
    });
  }
}
