/**
 * The node's side of repair: takes the tasks the metadata service hands it in heartbeat answers,
 * runs at most `slots` at once, and reports each outcome. The service switches locations only on
 * a report, so a report is retried a few times before it is given up on; a task whose report is
 * lost expires on the service's side, and whatever it stored is collected as garbage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GranaryError, type HttpPools, type RepairReport, type RepairTask } from '../protocol/index.js';
import type { LinkLogger } from './metadata-link.js';
import { executeRepair } from './repair-executor.js';

export interface RepairRunnerOptions {
  readonly nodeId: string;
  /** Tasks run at once. */
  readonly slots: number;
  readonly http: HttpPools;
  /** Posts a report to the metadata service. */
  readonly report: (taskId: string, report: RepairReport) => Promise<unknown>;
  /** Called when a task ends, so the node can ask for more work without waiting a heartbeat. */
  readonly onTaskEnd: () => void;
  readonly logger: LinkLogger;
}

/** Attempts to deliver one report, with a pause between them. */
const REPORT_ATTEMPTS_MAX = 4;
const REPORT_RETRY_PAUSE_MS = 1_000;

export class RepairRunner {
  private readonly running = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private tasksDone = 0;

  constructor(private readonly options: RepairRunnerOptions) {
    if (!(Number.isInteger(options.slots) && options.slots >= 0)) {
      throw new GranaryError('GRN_BAD_REQUEST', `repair slots must be a whole number >= 0, got ${options.slots}`);
    }
  }

  slotsFree(): number {
    return this.abort.signal.aborted ? 0 : Math.max(0, this.options.slots - this.running.size);
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  status(): { slots: number; running: readonly string[]; tasksDone: number } {
    return { slots: this.options.slots, running: this.runningIds(), tasksDone: this.tasksDone };
  }

  /** Starts the tasks it has room for; a task already running is not started twice. */
  start(tasks: readonly RepairTask[]): void {
    for (const task of tasks) {
      if (this.running.has(task.taskId) || this.slotsFree() === 0) continue;
      const run = this.run(task).finally(() => {
        this.running.delete(task.taskId);
        this.tasksDone++;
        this.options.onTaskEnd();
      });
      this.running.set(task.taskId, run);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.running.values());
  }

  private async run(task: RepairTask): Promise<void> {
    const { logger } = this.options;
    const outcome = await executeRepair(task, this.options.http, this.abort.signal).catch((error: unknown) => ({
      results: task.restores.map((restore) => ({ shard: restore.shard, ok: false, error: (error as Error).message })),
      bytesRead: 0,
      bytesWritten: 0,
    }));
    // A node that is stopping does not report: the task expires and is handed to another node.
    if (this.abort.signal.aborted) return;
    const report: RepairReport = { nodeId: this.options.nodeId, ...outcome };
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.options.report(task.taskId, report);
        logger.info({ taskId: task.taskId, blockId: task.blockId, results: outcome.results, answer }, 'repair task finished');
        return;
      } catch (error) {
        const final = attempt >= REPORT_ATTEMPTS_MAX || (error instanceof GranaryError && error.statusCode < 500);
        if (final) {
          logger.warn({ err: error, taskId: task.taskId }, 'repair report not accepted; the task will expire and be retried');
          return;
        }
        await sleep(REPORT_RETRY_PAUSE_MS, undefined, { signal: this.abort.signal }).catch(() => undefined);
        if (this.abort.signal.aborted) return;
      }
    }
  }
}
