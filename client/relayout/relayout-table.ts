/**
 * Re-lays out the files of a table that pay for it (protocol/relayout-types.ts), one file at a
 * time, paced to a byte rate so a rewrite cannot starve training reads (as repair is paced).
 * Resumable and idempotent by construction: each file is its own session and commit, and the
 * plan is asked afresh on every run, so a run cut short leaves whole files re-laid or untouched,
 * and the next run picks up the rest (a re-laid file is already in order and no longer pays).
 */
import type { HttpPools } from '../../protocol/index.js';
import type { RelayoutCandidate, RelayoutPlan, RelayoutResult } from '../../protocol/relayout-types.js';
import type { MetadataClient } from '../metadata-client.js';
import { relayoutFile } from './relayout-file.js';

export interface RelayoutTableOptions {
  readonly partition?: string;
  /** Also re-lay files whose rewrite saves reads but does not pay for itself yet. */
  readonly force?: boolean;
  /** Bytes moved (read and written) per second at most; unpaced when not given. */
  readonly rateBytesPerSecond?: number;
  /** Told of each file as it is committed. */
  readonly onFile?: (candidate: RelayoutCandidate, result: RelayoutResult) => void;
}

export interface RelayoutRun {
  readonly plan: RelayoutPlan;
  readonly results: readonly RelayoutResult[];
}

/** The files a run re-lays: those that pay, or (forced) every one a rewrite would save reads of. */
export function chosenFiles(plan: RelayoutPlan, force: boolean): RelayoutCandidate[] {
  return plan.files.filter((file) => file.pays || (force && file.readsAfter < file.readsNow));
}

export async function relayoutTable(http: HttpPools, metadata: MetadataClient, table: string, options: RelayoutTableOptions = {}): Promise<RelayoutRun> {
  const plan = await metadata.relayoutPlan(table, options.partition);
  const pacer = new BytePacer(options.rateBytesPerSecond);
  const results: RelayoutResult[] = [];
  for (const candidate of chosenFiles(plan, options.force === true)) {
    const result = await relayoutFile(http, metadata, table, candidate.partition, candidate.fileId, { onBlock: (bytes) => pacer.moved(bytes) });
    results.push(result);
    options.onFile?.(candidate, result);
  }
  return { plan, results };
}

/** Waits as long as it takes for the bytes moved so far to stay within the rate. */
export class BytePacer {
  private bytes = 0;
  private readonly startedAt = Date.now();

  constructor(private readonly bytesPerSecond?: number) {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0)) throw new RangeError(`a re-layout rate must be positive, got ${bytesPerSecond}`);
  }

  async moved(bytes: number): Promise<void> {
    this.bytes += bytes;
    if (this.bytesPerSecond === undefined) return;
    const dueMs = (this.bytes / this.bytesPerSecond) * 1000 - (Date.now() - this.startedAt);
    if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
  }
}
