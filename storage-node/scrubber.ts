/**
 * Why a scrubber: disks rot silently (latent sector errors, firmware bugs, bit flips), and a rotten
 * chunk that nobody reads is found only when its block is already degraded by another loss. The
 * scrubber reads every chunk end to end at a bounded rate, so damage is found while parity can
 * still rebuild it, and reports the corrupt chunks for repair.
 *
 * It runs as a tour, like TigerBeetle's grid scrubber: the first pass after start-up begins at a
 * random point of the interval (a fleet restarted together does not scrub in lockstep), each pass
 * starts at a random chunk and wraps around, and the cursor is persisted (scrub-state.ts) so a
 * node restarted more often than a pass lasts still covers its whole disk.
 */
import { GranaryError } from '../protocol/index.js';
import type { ChunkStoreStats, CorruptChunk, VerifyResult } from './chunk-store.js';
import type { NodeMetrics } from './metrics.js';
import { type ScrubEstimate, scrubEstimate } from './scrub-estimate.js';
import { ScrubPacer } from './scrub-pacer.js';
import { EMPTY_SCRUB_STATE, type ScrubPassState, type ScrubState, ScrubStateFile } from './scrub-state.js';
import { pickOrigin, remainingInTour, sortIds } from './scrub-tour.js';

/** The cursor is written after this many chunks... */
export const CHECKPOINT_CHUNKS = 256;
/** ...or this long after the last write, whichever comes first: a crash repeats at most this much. */
export const CHECKPOINT_INTERVAL_MS = 10_000;
/**
 * A pass found in progress at start-up, or one overdue, starts at a random moment within this
 * (or within the interval, if shorter), so nodes restarted together do not read in lockstep.
 */
export const RESUME_SPREAD_MS = 60_000;
/** After a pass fails (not stopped), the next attempt waits this long. */
export const RETRY_AFTER_FAILURE_MS = 60_000;
/** setTimeout's limit; longer delays (intervals above 24.8 days) are waited in steps. */
const TIMER_DELAY_MAX_MS = 2 ** 31 - 1;

/** What the scrubber needs of a chunk store; narrow, so tests can wrap a real one. */
export interface ScrubbedStore {
  chunkIds(): string[];
  /** Reads and checks every byte of a chunk, awaiting `pace` after each read. */
  verify(id: string, pace?: (bytes: number) => Promise<void>): Promise<VerifyResult>;
  stats(): Promise<ChunkStoreStats>;
}

export interface ScrubberOptions {
  /** Upper bound on the read rate, so scrubbing never starves client reads. */
  readonly rateBytesPerSecond: number;
  /** Time between the end of one full pass and the start of the next; 0 = only on request. */
  readonly intervalMs: number;
  readonly onError: (error: unknown) => void;
  /** Where the cursor survives restarts (DataDir.scrubStatePath); without it, only in memory. */
  readonly stateFile?: string;
  /** Wall clock, ms since the epoch (injectable for tests). */
  readonly now?: () => number;
  /** Uniform in [0, 1): picks start times and origins (injectable for tests). */
  readonly random?: () => number;
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
  /** Progress of the running pass (counting work done before a restart), else of the last one. */
  readonly chunksChecked: number;
  readonly chunksTotal: number;
  readonly bytesChecked: number;
  /** The pass in progress, running or waiting to resume. */
  readonly pass: { readonly origin: string; readonly cursor: string | null; readonly startedAt: string; readonly requested: boolean } | null;
  readonly nextPassAt: string | null;
  readonly lastFinishedAt: string | null;
  readonly lastReport: ScrubReport | null;
  /** How long passes take at the configured rate; null until start() or a pass measured the disk. */
  readonly estimate: ScrubEstimate | null;
}

interface RunningPass {
  readonly controller: AbortController;
  readonly run: Promise<ScrubReport>;
}

/** A pass's progress while it runs; persisted as ScrubPassState. */
interface PassProgress {
  readonly origin: string;
  cursor: string | null;
  readonly startedAt: string;
  readonly requested: boolean;
  chunksChecked: number;
  bytesChecked: number;
  corrupt: CorruptChunk[];
}

type CheckOutcome = { readonly gone: true } | { readonly gone: false; readonly bytes: number; readonly finding: CorruptChunk | undefined };

export class Scrubber {
  private readonly stateFile: ScrubStateFile | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private state: ScrubState = EMPTY_SCRUB_STATE;
  private loading: Promise<void> | undefined;
  private current: RunningPass | undefined;
  /** A pass on request, from the call until it ends (including the wait for a superseded pass). */
  private requested: Promise<ScrubReport> | undefined;
  private progress = { chunksChecked: 0, chunksTotal: 0, bytesChecked: 0 };
  private lastReport: ScrubReport | null = null;
  private estimate: ScrubEstimate | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: ScrubbedStore,
    private readonly metrics: NodeMetrics,
    private readonly options: ScrubberOptions,
  ) {
    if (!(options.rateBytesPerSecond > 0)) {
      throw new GranaryError('GRN_BAD_REQUEST', `scrub rate must be positive, got ${options.rateBytesPerSecond}`);
    }
    this.stateFile = options.stateFile === undefined ? undefined : new ScrubStateFile(options.stateFile);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Loads the persisted cursor, measures the disk, and plans the next pass when an interval is set. */
  async start(): Promise<void> {
    await this.load();
    await this.refreshEstimate();
    const planned = this.state.nextPassAt;
    this.planNext(false);
    if (this.state.nextPassAt !== planned) await this.save();
  }

  status(): ScrubStatus {
    const pass = this.state.pass;
    return {
      running: this.current !== undefined,
      ...this.progress,
      pass: pass === null ? null : { origin: pass.origin, cursor: pass.cursor, startedAt: pass.startedAt, requested: pass.requested },
      nextPassAt: this.state.nextPassAt,
      lastFinishedAt: this.state.lastFinishedAt,
      lastReport: this.lastReport,
      estimate: this.estimate,
    };
  }

  /**
   * A full pass from a fresh random origin, covering every chunk once; joins a pass on request
   * already running. A scheduled pass in progress is superseded: this one covers its chunks too.
   */
  runPass(): Promise<ScrubReport> {
    if (this.stopped) return Promise.reject(stoppedError());
    this.requested ??= (async () => {
      await this.load();
      const superseded = this.current;
      if (superseded !== undefined) {
        superseded.controller.abort();
        // Its end is expected (aborted); a real failure is logged by whoever started it.
        await superseded.run.then(
          () => undefined,
          () => undefined,
        );
      }
      if (this.stopped) throw stoppedError();
      try {
        return await this.execute(true).run;
      } catch (error) {
        // Only stop() aborts a pass on request; its caller should hear why, not "AbortError".
        throw this.stopped && (error as Error).name === 'AbortError' ? stoppedError() : error;
      }
    })().finally(() => {
      this.requested = undefined;
    });
    return this.requested;
  }

  /** Stops the running pass after saving its cursor, and plans nothing more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const running = this.current;
    running?.controller.abort();
    await running?.run.catch((error: unknown) => {
      if (!running.controller.signal.aborted) throw error;
    });
    // A pass on request waiting to start ends with stoppedError, which its caller receives.
    await this.requested?.then(
      () => undefined,
      () => undefined,
    );
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      if (this.stateFile === undefined) return;
      try {
        this.state = await this.stateFile.read();
      } catch (error) {
        // The cursor only saves work: without it the tour starts over, the node goes on.
        this.options.onError(new GranaryError('GRN_INTERNAL', `${(error as Error).message}; the scrubber starts afresh`, { cause: error }));
        this.state = EMPTY_SCRUB_STATE;
      }
      this.lastReport = this.state.lastPass;
      if (this.state.lastPass !== null) {
        const { chunksChecked, bytesChecked } = this.state.lastPass;
        this.progress = { chunksChecked, chunksTotal: chunksChecked, bytesChecked };
      }
    })();
    return this.loading;
  }

  /** Decides when the next scheduled pass starts (into state.nextPassAt) and arms the timer. */
  private planNext(afterFailure: boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const intervalMs = this.options.intervalMs;
    if (this.stopped || intervalMs <= 0) {
      this.state = { ...this.state, nextPassAt: null };
      return;
    }
    const now = this.now();
    const soon = (): number => now + this.random() * Math.min(intervalMs, RESUME_SPREAD_MS);
    let at: number;
    if (afterFailure) {
      at = now + RETRY_AFTER_FAILURE_MS;
    } else if (this.state.pass !== null) {
      at = soon();
    } else {
      const { nextPassAt, lastFinishedAt } = this.state;
      const planned =
        nextPassAt !== null
          ? Date.parse(nextPassAt)
          : lastFinishedAt !== null
            ? Date.parse(lastFinishedAt) + intervalMs
            : now + this.random() * intervalMs;
      // Overdue (the node was down): soon. Further than one interval (the interval was shortened): one interval.
      at = planned <= now ? soon() : Math.min(planned, now + intervalMs);
    }
    this.state = { ...this.state, nextPassAt: new Date(at).toISOString() };
    this.arm(at);
  }

  private arm(at: number): void {
    const delayMs = Math.max(0, at - this.now());
    const partial = delayMs > TIMER_DELAY_MAX_MS;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (partial) this.arm(at);
      else this.startScheduledPass();
    }, Math.min(delayMs, TIMER_DELAY_MAX_MS));
    this.timer.unref();
  }

  private startScheduledPass(): void {
    // Whatever is running now plans the next pass when it ends.
    if (this.stopped || this.current !== undefined || this.requested !== undefined) return;
    const { controller, run } = this.execute(false);
    run.catch((error: unknown) => {
      // Stopped, or superseded by a pass on request: not a failure.
      if (!controller.signal.aborted) this.options.onError(error);
    });
  }

  private execute(requested: boolean): RunningPass {
    const controller = new AbortController();
    const run = this.pass(requested, controller.signal).finally(() => {
      if (this.current?.run === run) this.current = undefined;
    });
    this.current = { controller, run };
    return this.current;
  }

  private async pass(requested: boolean, signal: AbortSignal): Promise<ScrubReport> {
    const ids = sortIds(this.store.chunkIds());
    const resumed = requested ? null : this.state.pass;
    const pass: PassProgress =
      resumed === null
        ? {
            origin: pickOrigin(ids, this.random),
            cursor: null,
            startedAt: new Date(this.now()).toISOString(),
            requested,
            chunksChecked: 0,
            bytesChecked: 0,
            corrupt: [],
          }
        : { ...resumed, corrupt: [...resumed.corrupt] };
    const todo = remainingInTour(ids, pass.origin, pass.cursor);
    this.progress = { chunksChecked: pass.chunksChecked, chunksTotal: pass.chunksChecked + todo.length, bytesChecked: pass.bytesChecked };
    this.state = { ...this.state, pass: snapshot(pass), nextPassAt: null };
    await this.save();
    await this.refreshEstimate();
    const pacer = new ScrubPacer(this.options.rateBytesPerSecond, signal);
    try {
      if (resumed !== null) await this.recheckFindings(pass, pacer, signal);
      let sinceCheckpointChunks = 0;
      let lastCheckpointMs = this.now();
      for (const id of todo) {
        signal.throwIfAborted();
        const outcome = await this.check(id, pacer, signal);
        pass.cursor = id;
        if (outcome.gone) {
          this.progress.chunksTotal--;
        } else {
          pass.chunksChecked++;
          pass.bytesChecked += outcome.bytes;
          this.progress.chunksChecked++;
          if (outcome.finding !== undefined) pass.corrupt.push(outcome.finding);
        }
        if (++sinceCheckpointChunks >= CHECKPOINT_CHUNKS || this.now() - lastCheckpointMs >= CHECKPOINT_INTERVAL_MS) {
          await this.checkpoint(pass);
          sinceCheckpointChunks = 0;
          lastCheckpointMs = this.now();
        }
      }
    } catch (error) {
      // Stopped or failed: keep what was verified, so the pass resumes after it.
      await this.checkpoint(pass);
      if (!signal.aborted) {
        this.planNext(true);
        await this.save();
      }
      throw error;
    }
    const report: ScrubReport = {
      startedAt: pass.startedAt,
      finishedAt: new Date(this.now()).toISOString(),
      chunksChecked: pass.chunksChecked,
      bytesChecked: pass.bytesChecked,
      corrupt: pass.corrupt,
    };
    this.state = { ...this.state, pass: null, lastFinishedAt: report.finishedAt, lastPass: report, nextPassAt: null };
    this.planNext(false);
    await this.save();
    // Shown only once saved, so whoever sees the report can count on the state file saying so too.
    this.lastReport = report;
    return report;
  }

  /** Verifies one chunk at the paced rate. */
  private async check(id: string, pacer: ScrubPacer, signal: AbortSignal): Promise<CheckOutcome> {
    let bytes = 0;
    const pace = async (read: number): Promise<void> => {
      bytes += read;
      this.progress.bytesChecked += read;
      this.metrics.scrubbedBytes.inc(read);
      await pacer.spend(read);
    };
    try {
      const result = await this.store.verify(id, pace);
      this.metrics.scrubbedChunks.inc({ result: result.ok ? 'ok' : 'corrupt' });
      return { gone: false, bytes, finding: result.ok ? undefined : { id, reason: result.reason, detectedAt: new Date(this.now()).toISOString() } };
    } catch (error) {
      if (signal.aborted) throw error;
      // A chunk deleted since the pass began is not a finding.
      if (error instanceof GranaryError && error.code === 'GRN_CHUNK_NOT_FOUND') return { gone: true };
      // A closed store fails the pass rather than reporting every remaining chunk as corrupt.
      if (error instanceof GranaryError && error.code === 'GRN_UNAVAILABLE') throw error;
      this.options.onError(error);
      const finding = { id, reason: `could not be verified: ${(error as Error).message}`, detectedAt: new Date(this.now()).toISOString() };
      return { gone: false, bytes, finding };
    }
  }

  /**
   * The store forgets corrupt chunks when the node restarts; checking a resumed pass's findings
   * again tells it (and through it the metadata service) once more, and drops chunks since deleted.
   */
  private async recheckFindings(pass: PassProgress, pacer: ScrubPacer, signal: AbortSignal): Promise<void> {
    const still: CorruptChunk[] = [];
    for (const finding of pass.corrupt) {
      signal.throwIfAborted();
      const outcome = await this.check(finding.id, pacer, signal);
      if (!outcome.gone && outcome.finding !== undefined) still.push(finding);
    }
    pass.corrupt = still;
  }

  private async checkpoint(pass: PassProgress): Promise<void> {
    this.state = { ...this.state, pass: snapshot(pass) };
    await this.save();
    await this.refreshEstimate();
  }

  /** Writes the state; a failure is logged and scrubbing goes on (the cursor only saves work). */
  private async save(): Promise<void> {
    if (this.stateFile === undefined) return;
    try {
      await this.stateFile.write(this.state);
    } catch (error) {
      this.options.onError(error);
    }
  }

  private async refreshEstimate(): Promise<void> {
    try {
      const stats = await this.store.stats();
      this.estimate = scrubEstimate({
        dataBytes: stats.chunkFileBytes,
        capacityBytes: stats.capacityBytes,
        rateBytesPerSecond: this.options.rateBytesPerSecond,
        intervalMs: this.options.intervalMs,
        now: new Date(this.now()),
      });
    } catch (error) {
      this.options.onError(error);
    }
  }
}

function snapshot(pass: PassProgress): ScrubPassState {
  return { ...pass, corrupt: [...pass.corrupt] };
}

function stoppedError(): GranaryError {
  return new GranaryError('GRN_UNAVAILABLE', 'the scrubber has stopped; the node is shutting down');
}
