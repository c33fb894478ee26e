/**
 * Runs the erasure codec on worker threads, so encoding a block (or rebuilding a degraded read)
 * uses a core the calling thread would leave idle while it builds the next block or decodes
 * streams. Results are byte for byte those of the same codec on the calling thread: the worker
 * runs that codec. Small jobs stay on the calling thread, where a message round trip would cost
 * more than the work.
 *
 * Threads: `GRANARY_CODEC_THREADS` (0 = none), by default one fewer than the cores, at most 4.
 * Idle workers do not keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ErasureCodec } from './codec.js';
import type { CodecJob, CodecJobResult } from './codec-jobs.js';
import { ErasureError, type ErasureErrorCode } from './errors.js';
import { codecById } from './reed-solomon.js';
import { SpareBuffers } from './spare-buffers.js';

/** Input bytes below which a job runs on the calling thread. */
export const THREADED_MIN_BYTES = 256 * 1024;
const THREADS_MAX = 4;

/** Worker threads for the codec: `GRANARY_CODEC_THREADS`, else cores - 1 (at most 4). */
export function codecThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.GRANARY_CODEC_THREADS;
  if (configured !== undefined && configured !== '') {
    const count = Number(configured);
    if (!Number.isInteger(count) || count < 0 || count > 64) {
      throw new ErasureError('GRN_ERASURE_INVALID_ARGUMENT', `GRANARY_CODEC_THREADS must be a whole number from 0 to 64, got "${configured}"`);
    }
    return count;
  }
  return Math.max(1, Math.min(THREADS_MAX, availableParallelism() - 1));
}

type JobRequest = Omit<CodecJob, 'jobId'>;

interface Slot {
  readonly worker: Worker;
  pending: number;
}

interface PendingJob {
  readonly slot: Slot;
  readonly resolve: (buffer: ArrayBuffer | undefined) => void;
  readonly reject: (error: Error) => void;
}

function startWorker(): Worker {
  // The process's own flags (say `--input-type` of `node -e`) are not the worker's business.
  const options = { execArgv: [] };
  // From sources (tests, benches under tsx) the worker is TypeScript too: load it through tsx.
  if (import.meta.url.endsWith('.ts')) {
    const entry = new URL('./codec-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true });
  }
  return new Worker(new URL('./codec-worker.js', import.meta.url), options);
}

/** Worker threads running codec jobs, started as jobs need them. */
export class CodecThreadPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, PendingJob>();
  private nextJobId = 1;

  constructor(private readonly size: number) {}

  /** Resolves with the job's buffer back when it was transferred, else (shared) with nothing. */
  run(request: JobRequest): Promise<ArrayBuffer | undefined> {
    const slot = this.leastBusy();
    const jobId = this.nextJobId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(jobId, { slot, resolve, reject });
      if (slot.pending++ === 0) slot.worker.ref();
      slot.worker.postMessage({ ...request, jobId }, request.buffer instanceof ArrayBuffer ? [request.buffer] : []);
    });
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private leastBusy(): Slot {
    const idle = this.slots.find((slot) => slot.pending === 0);
    if (idle !== undefined) return idle;
    if (this.slots.length < this.size) return this.spawn();
    return this.slots.reduce((best, slot) => (slot.pending < best.pending ? slot : best));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: startWorker(), pending: 0 };
    slot.worker.unref();
    slot.worker.on('message', (result: CodecJobResult) => this.settle(result));
    slot.worker.on('error', (error) => this.fail(slot, error));
    slot.worker.on('exit', (code) => this.fail(slot, new Error(`codec worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private settle(result: CodecJobResult): void {
    const job = this.jobs.get(result.jobId);
    if (job === undefined) return;
    this.jobs.delete(result.jobId);
    if (--job.slot.pending === 0) job.slot.worker.unref();
    if (result.error === undefined) job.resolve(result.buffer);
    else job.reject(new ErasureError((result.error.code as ErasureErrorCode | undefined) ?? 'GRN_ERASURE_CODEC_FAILURE', result.error.message));
  }

  /** A worker that died fails its jobs (not others') and leaves the pool; a new one replaces it. */
  private fail(slot: Slot, cause: Error): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    for (const [jobId, job] of this.jobs) {
      if (job.slot !== slot) continue;
      this.jobs.delete(jobId);
      job.reject(new ErasureError('GRN_ERASURE_CODEC_FAILURE', `erasure codec worker failed: ${cause.message}`, { cause }));
    }
  }
}

/**
 * The codec `inline` (a registered one: workers look it up by id), with jobs of at least
 * `minBytes` of input run on the pool's threads.
 */
export class ThreadedCodec implements ErasureCodec {
  readonly id: string;
  /** Hand-off buffers come back from the worker: reused, they cost no fresh pages. */
  private readonly spare = new SpareBuffers({ keepBytes: SPARE_BYTES_KEPT, minBytes: 4096, maxBytes: SPARE_BYTES_KEPT });

  constructor(
    private readonly inline: ErasureCodec,
    private readonly pool: CodecThreadPool,
    private readonly minBytes = THREADED_MIN_BYTES,
  ) {
    this.id = inline.id;
  }

  async encodeParity(data: readonly Uint8Array[], parity: readonly Uint8Array[]): Promise<void> {
    const shardBytes = data[0]?.length ?? 0;
    if (data.length * shardBytes < this.minBytes) return this.inline.encodeParity(data, parity);
    await this.onThread('encode', data.length, shardBytes, [...data, ...parity], data.length, undefined);
  }

  async reconstructData(shards: readonly Uint8Array[], present: readonly boolean[], dataShardCount: number): Promise<void> {
    const shardBytes = shards[0]?.length ?? 0;
    if (dataShardCount * shardBytes < this.minBytes) return this.inline.reconstructData(shards, present, dataShardCount);
    await this.onThread('reconstruct', dataShardCount, shardBytes, shards, shards.length, present);
  }

  /**
   * Shards that all lie in one SharedArrayBuffer are worked on where they are; others are copied
   * into a buffer handed to the worker, and the outputs copied back. `inputs`: how many of
   * `shards` the job reads (the rest, for encode, it writes).
   */
  private async onThread(op: CodecJob['op'], dataShards: number, shardBytes: number, shards: readonly Uint8Array[], inputs: number, present: readonly boolean[] | undefined): Promise<void> {
    const shared = sharedBufferOf(shards);
    const job = { op, codecId: this.id, dataShards, shardBytes, ...(present === undefined ? {} : { present }) };
    if (shared !== undefined) {
      await this.pool.run({ ...job, buffer: shared, offsets: shards.map((shard) => shard.byteOffset) });
      return;
    }
    const buffer = this.spare.take(shards.length * shardBytes);
    const packed = new Uint8Array(buffer, 0, shards.length * shardBytes);
    for (let i = 0; i < inputs; i++) {
      if (present === undefined || present[i] === true) packed.set(shards[i] as Uint8Array, i * shardBytes);
    }
    const answer = (await this.pool.run({ ...job, buffer, offsets: shards.map((_, i) => i * shardBytes) })) as ArrayBuffer;
    shards.forEach((shard, i) => {
      const written = op === 'encode' ? i >= inputs : i < dataShards && present?.[i] !== true;
      if (written) shard.set(new Uint8Array(answer, i * shardBytes, shardBytes));
    });
    this.spare.give(answer);
  }
}

/** The SharedArrayBuffer every shard is a view of, if there is one. */
function sharedBufferOf(shards: readonly Uint8Array[]): SharedArrayBuffer | undefined {
  const first = shards[0]?.buffer;
  if (typeof SharedArrayBuffer === 'undefined' || !(first instanceof SharedArrayBuffer)) return undefined;
  return shards.every((shard) => shard.buffer === first) ? first : undefined;
}

const SPARE_BYTES_KEPT = 64 * 1024 * 1024;

let pool: CodecThreadPool | undefined;
let threadCount: number | undefined;
const threaded = new Map<string, ErasureCodec>();

/**
 * The codec recorded under `id`, running large jobs on worker threads (the same codec as
 * `codecById(id)` when there are no threads).
 */
export function threadedCodecById(id?: string): ErasureCodec {
  const inline = codecById(id);
  // Read once per process (this runs for every block written and every range rebuilt).
  threadCount ??= codecThreadCount();
  if (threadCount === 0) return inline;
  let codec = threaded.get(inline.id);
  if (codec === undefined) {
    pool ??= new CodecThreadPool(threadCount);
    codec = new ThreadedCodec(inline, pool);
    threaded.set(inline.id, codec);
  }
  return codec;
}

/** Stops the codec worker threads (they are started again when needed). */
export async function closeCodecThreads(): Promise<void> {
  const closing = pool;
  pool = undefined;
  threaded.clear();
  await closing?.close();
}
