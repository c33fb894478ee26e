/**
 * Why a scrubber: disks rot silently (latent sector errors, firmware bugs, bit flips), and a rotten
 * chunk that nobody reads is found only when its block is already degraded by another loss. The
 * scrubber reads every chunk end to end at a bounded rate, so damage is found while parity can
 * still rebuild it, and reports the corrupt chunks for repair.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GranaryError } from '../protocol/index.js';
import type { CorruptChunk } from './chunk-store.js';
import type { DiskChunkStore } from './disk-chunk-store.js';
import type { NodeMetrics } from './metrics.js';

export interface ScrubberOptions {
  /** Upper bound on the read rate, so scrubbing never starves client reads. */
  readonly rateBytesPerSecond: number;
  /** Time between the end of one full pass and the start of the next; 0 = only on request. */
  readonly intervalMs: number;
  readonly onError: (error: unknown) => void;
}

export interface ScrubReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly chunksChecked: number;
  readonly bytesChecked: number;
  /** Chunks that failed verification in this pass. */
  readonly corrupt: readonly CorruptChunk[];
}

export interface ScrubStatus {
  readonly running: boolean;
  readonly chunksChecked: number;
  readonly chunksTotal: number;
  readonly bytesChecked: number;
  readonly lastReport: ScrubReport | null;
}

export class Scrubber {
  private current: Promise<ScrubReport> | undefined;
  private progress = { chunksChecked: 0, chunksTotal: 0, bytesChecked: 0 };
  private lastReport: ScrubReport | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly store: DiskChunkStore,
    private readonly metrics: NodeMetrics,
    private readonly options: ScrubberOptions,
  ) {
    if (!(options.rateBytesPerSecond > 0)) {
      throw new GranaryError('GRN_BAD_REQUEST', `scrub rate must be positive, got ${options.rateBytesPerSecond}`);
    }
  }

  /** Schedules periodic passes when an interval is configured. */
  start(): void {
    this.schedule();
  }

  status(): ScrubStatus {
    return { running: this.current !== undefined, ...this.progress, lastReport: this.lastReport };
  }

  /** Starts a full pass, or joins the one already running. */
  runPass(): Promise<ScrubReport> {
    this.current ??= this.pass().finally(() => {
      this.current = undefined;
      this.schedule();
    });
    return this.current;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.current?.catch((error: unknown) => {
      if (!this.abort.signal.aborted) throw error;
    });
  }

  private schedule(): void {
    if (this.options.intervalMs <= 0 || this.abort.signal.aborted || this.current !== undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.runPass().catch(this.options.onError);
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async pass(): Promise<ScrubReport> {
    const startedAt = new Date();
    const ids = this.store.chunkIds();
    this.progress = { chunksChecked: 0, chunksTotal: ids.length, bytesChecked: 0 };
    const corrupt: CorruptChunk[] = [];
    const signal = this.abort.signal;
    const pace = async (bytes: number): Promise<void> => {
      this.progress.bytesChecked += bytes;
      this.metrics.scrubbedBytes.inc(bytes);
      const dueMs = (this.progress.bytesChecked / this.options.rateBytesPerSecond) * 1000;
      const aheadMs = dueMs - (Date.now() - startedAt.getTime());
      if (aheadMs > 1) await sleep(aheadMs, undefined, { signal });
    };
    for (const id of ids) {
      signal.throwIfAborted();
      try {
        const result = await this.store.verify(id, pace);
        this.metrics.scrubbedChunks.inc({ result: result.ok ? 'ok' : 'corrupt' });
        if (!result.ok) corrupt.push({ id, reason: result.reason, detectedAt: new Date().toISOString() });
      } catch (error) {
        // A chunk deleted since the pass began is not a finding; anything else is, and the pass goes on.
        if (!(error instanceof GranaryError && error.code === 'GRN_CHUNK_NOT_FOUND')) {
          if (signal.aborted) throw error;
          this.options.onError(error);
          corrupt.push({ id, reason: `could not be verified: ${(error as Error).message}`, detectedAt: new Date().toISOString() });
        }
      }
      this.progress.chunksChecked++;
    }
    const report: ScrubReport = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      chunksChecked: this.progress.chunksChecked,
      bytesChecked: this.progress.bytesChecked,
      corrupt,
    };
    this.lastReport = report;
    return report;
  }
}
