/**
 * The read worker threads of a client (read-worker.ts), started as scans need them and kept
 * between scans, so that their connections stay open. Idle workers do not keep the process alive;
 * a worker that dies fails the groups it was reading (the scan ends with that error, it does not
 * wait) and is replaced by the next scan.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { GranaryError, type HttpOptions, type PlannedChunk, type ScanPlan } from '../../protocol/index.js';
import type { PackedBatches } from './batch-transfer.js';
import { type FromWorker, type ScanSettings, type ToWorker, fromRemoteError } from './read-worker-protocol.js';
import type { ScanStats } from './scan-stats.js';

/** Most read workers a scan starts by default. */
const DEFAULT_THREADS_MAX = 8;

/**
 * Read workers a scan uses when its options do not say: `GRANARY_SCAN_THREADS`, else one fewer
 * than the cores (at most 8), the calling thread keeping one for the consumer. On 2 cores that is
 * 1: the scan stays on the calling thread, which measured faster there (a worker pays only where
 * a core would otherwise idle; the hand-over costs CPU of its own).
 */
export function defaultScanThreads(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.GRANARY_SCAN_THREADS;
  if (configured !== undefined && configured !== '') {
    const count = Number(configured);
    if (!Number.isInteger(count) || count < 0 || count > 256) {
      throw new GranaryError('GRN_BAD_REQUEST', `GRANARY_SCAN_THREADS must be a whole number from 0 to 256, got "${configured}"`);
    }
    return count;
  }
  return Math.max(1, Math.min(DEFAULT_THREADS_MAX, availableParallelism() - 1));
}

export type GroupResult =
  | { readonly ok: true; readonly packed: PackedBatches; readonly stats: ScanStats; readonly worker: number }
  | { readonly ok: false; readonly error: Error; readonly stats: ScanStats | undefined };

interface Slot {
  readonly id: number;
  readonly worker: Worker;
  pending: number;
  /** Pages (scanId/pageId) this worker has been sent. */
  readonly pages: Set<string>;
  dead: boolean;
  /** Resolves once the worker has loaded its modules. */
  readonly ready: Promise<void>;
}

/** A scan as the pool knows it: its workers, and the HTTP options their connections use. */
export interface WorkerScan {
  readonly scanId: number;
  readonly threads: number;
  readonly http: { readonly key: string; readonly options: HttpOptions };
}

interface PendingGroup {
  readonly slot: Slot;
  readonly scanId: number;
  readonly settle: (result: GroupResult) => void;
}

function startWorker(): Worker {
  // The process's own flags (say `--input-type` of `node -e`) are not the worker's business.
  const options = { execArgv: [] };
  // From sources (tests, benches under tsx) the worker is TypeScript too: load it through tsx.
  if (import.meta.url.endsWith('.ts')) {
    const entry = new URL('./read-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true });
  }
  return new Worker(new URL('./read-worker.js', import.meta.url), options);
}

export class ReadWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly groups = new Map<number, PendingGroup>();
  private readonly corruptReporters = new Map<number, (chunk: PlannedChunk, reason: string, missing: boolean) => void>();
  private nextJobId = 1;
  private nextSlotId = 1;
  private nextScanId = 1;


  /** A new scan's id; damaged chunks its workers find are told to `reportCorrupt`. */
  openScan(threads: number, http: HttpOptions, reportCorrupt: (chunk: PlannedChunk, reason: string, missing: boolean) => void): WorkerScan {
    const scanId = this.nextScanId++;
    this.corruptReporters.set(scanId, reportCorrupt);
    return { scanId, threads, http: { key: httpKey(http), options: http } };
  }

  /** Starts `threads` workers now (not at the first scan), resolving once each has loaded. */
  async start(threads: number): Promise<void> {
    while (this.slots.length < threads) this.spawn();
    await Promise.all(this.slots.slice(0, threads).map((slot) => slot.ready));
  }

  /**
   * Reads stripes `from` .. `to` of a page on the least busy worker (the page is sent to a worker
   * the first time it reads from it). Never rejects: a failure is a result.
   */
  readGroup(scan: WorkerScan, pageId: number, page: ScanPlan, settings: ScanSettings, from: number, to: number): Promise<GroupResult> {
    const { scanId } = scan;
    const slot = this.leastBusy(scan.threads);
    const jobId = this.nextJobId++;
    const pageKey = `${scanId}/${pageId}`;
    return new Promise((settle) => {
      this.groups.set(jobId, { slot, scanId, settle });
      if (slot.pending++ === 0) slot.worker.ref();
      if (!slot.pages.has(pageKey)) {
        slot.pages.add(pageKey);
        this.post(slot, { type: 'page', scanId, pageId, page, settings, http: scan.http });
      }
      this.post(slot, { type: 'group', scanId, pageId, jobId, from, to });
    });
  }

  /** The page's groups are all read: workers forget it. */
  dropPage(scanId: number, pageId: number): void {
    const pageKey = `${scanId}/${pageId}`;
    for (const slot of this.slots) {
      if (slot.pages.delete(pageKey)) this.post(slot, { type: 'drop', scanId, pageId });
    }
  }

  /** Gives a batch arena back to the worker that filled it (ScanOptions.reuse). */
  recycle(workerId: number, arena: ArrayBuffer): void {
    const slot = this.slots.find((s) => s.id === workerId);
    if (slot !== undefined) this.post(slot, { type: 'recycle', arena }, [arena]);
  }

  /** Ends a scan: its workers drop its pages and its unfinished groups are forgotten. */
  closeScan(scanId: number): void {
    this.corruptReporters.delete(scanId);
    for (const [jobId, group] of this.groups) {
      if (group.scanId !== scanId) continue;
      this.groups.delete(jobId);
      this.release(group.slot);
    }
    const prefix = `${scanId}/`;
    for (const slot of this.slots) {
      let had = false;
      for (const key of slot.pages) {
        if (!key.startsWith(prefix)) continue;
        slot.pages.delete(key);
        had = true;
      }
      if (had) this.post(slot, { type: 'cancel', scanId });
    }
  }

  /** Groups handed to workers and not answered yet, over every scan (for tests and diagnostics). */
  get pendingGroups(): number {
    return this.groups.size;
  }

  /** The running workers (for tests and diagnostics). */
  get workers(): readonly Worker[] {
    return this.slots.map((slot) => slot.worker);
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.dead = true;
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private post(slot: Slot, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!slot.dead) slot.worker.postMessage(message, transfer);
  }

  /** The least busy of the first `threads` workers, started if need be. */
  private leastBusy(threads: number): Slot {
    const usable = this.slots.slice(0, threads);
    const idle = usable.find((slot) => slot.pending === 0);
    if (idle !== undefined) return idle;
    if (usable.length < threads) return this.spawn();
    return usable.reduce((best, slot) => (slot.pending < best.pending ? slot : best));
  }

  private spawn(): Slot {
    const worker = startWorker();
    let loaded: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (loaded = resolve));
    const slot: Slot = { id: this.nextSlotId++, worker, pending: 0, pages: new Set(), dead: false, ready };
    slot.worker.unref();
    slot.worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') loaded();
      else this.onMessage(slot, message);
    });
    // A worker that dies before it loads is not waited for.
    slot.worker.once('exit', () => loaded());
    slot.worker.on('error', (error) => this.fail(slot, `failed: ${error.message}`));
    slot.worker.on('exit', (code) => this.fail(slot, `exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }

  private onMessage(slot: Slot, message: Exclude<FromWorker, { type: 'ready' }>): void {
    if (message.type === 'corrupt') {
      this.corruptReporters.get(message.scanId)?.(message.chunk, message.reason, message.missing);
      return;
    }
    const group = this.groups.get(message.jobId);
    // A group of a scan that has ended: its buffers are dropped here.
    if (group === undefined) return;
    this.groups.delete(message.jobId);
    this.release(slot);
    if (message.type === 'done') group.settle({ ok: true, packed: message.packed, stats: message.stats, worker: slot.id });
    else group.settle({ ok: false, error: fromRemoteError(message.error), stats: message.stats });
  }

  private release(slot: Slot): void {
    if (--slot.pending === 0) slot.worker.unref();
  }

  /** A worker that died fails the groups it was reading and leaves the pool. */
  private fail(slot: Slot, how: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    for (const [jobId, group] of this.groups) {
      if (group.slot !== slot) continue;
      this.groups.delete(jobId);
      const error = new GranaryError('GRN_INTERNAL', `read worker thread ${how} while reading stripes of the scan; the scan stops (run it again, or with threads: 1 to read on the calling thread)`);
      group.settle({ ok: false, error, stats: undefined });
    }
  }
}

/** Identifies HTTP options: scans with the same ones share a worker's connections. */
const httpKeys = new WeakMap<HttpOptions, string>();
let nextHttpKey = 1;
function httpKey(options: HttpOptions): string {
  let key = httpKeys.get(options);
  if (key === undefined) {
    key = String(nextHttpKey++);
    httpKeys.set(options, key);
  }
  return key;
}

let pool: ReadWorkerPool | undefined;

/**
 * The process's read workers, shared by its clients and scans (each scan uses its first
 * `threads`): started once, they keep their connections between scans.
 */
export function readWorkerPool(): ReadWorkerPool {
  pool ??= new ReadWorkerPool();
  return pool;
}

/** Starts `threads` read workers ahead of the first scan, so that it does not wait for them to load. */
export function startReadWorkers(threads: number = defaultScanThreads()): Promise<void> {
  return readWorkerPool().start(threads);
}

/** Stops the read workers (a later scan starts new ones). Idle ones do not keep the process alive anyway. */
export async function closeReadWorkers(): Promise<void> {
  const closing = pool;
  pool = undefined;
  await closing?.close();
}
