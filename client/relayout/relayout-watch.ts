/**
 * The background re-layout worker (`granary relayout --watch`, started by `granary up`): every
 * interval, each table's files that pay for a rewrite are re-laid out, paced to one byte rate for
 * the whole worker. A failure on one table is reported and the next is tried; the worker itself
 * holds no state, so a restart (or a second worker) simply plans again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RelayoutRun, RelayoutTableOptions } from './relayout-table.js';

export interface RelayoutWatch {
  /** The tables to look at this round. */
  readonly tables: () => Promise<readonly string[]>;
  readonly relayout: (table: string, options: RelayoutTableOptions) => Promise<RelayoutRun>;
  readonly intervalMs: number;
  readonly rateBytesPerSecond?: number;
  /** One line per event (a file re-laid, a table failed). */
  readonly say: (line: string) => void;
  readonly signal: AbortSignal;
}

/** Runs rounds until `signal` aborts; resolves then. */
export async function watchRelayout(watch: RelayoutWatch): Promise<void> {
  while (!watch.signal.aborted) {
    let tables: readonly string[] = [];
    try {
      tables = await watch.tables();
    } catch (error) {
      watch.say(`relayout: listing tables failed: ${(error as Error).message}`);
    }
    for (const table of tables) {
      if (watch.signal.aborted) return;
      try {
        await watch.relayout(table, {
          ...(watch.rateBytesPerSecond === undefined ? {} : { rateBytesPerSecond: watch.rateBytesPerSecond }),
          onFile: (candidate, result) => watch.say(`relayout: ${table} ${result.partition} ${candidate.fileId} -> ${result.fileId}: ${result.blocks} blocks, ${result.bytes} bytes; reads a scan ${candidate.readsNow} -> ${candidate.readsAfter}`),
        });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        watch.say(`relayout: ${table} failed, tried again next round: ${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`);
      }
    }
    try {
      await sleep(watch.intervalMs, undefined, { signal: watch.signal });
    } catch (error) {
      if (!watch.signal.aborted) throw error;
    }
  }
}
