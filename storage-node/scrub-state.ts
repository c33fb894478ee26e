/**
 * The scrubber's persisted cursor, `DIR/scrub-state.json`. A pass over a large disk takes hours at
 * a rate that leaves room for client reads; a node restarted (upgraded, rescheduled) more often
 * than that would never finish a pass if progress lived only in memory. The file is replaced
 * atomically (temp file, fsync, rename, directory fsync), so a crash leaves the old or the new
 * state, never a torn one; at worst the chunks verified since the last write are verified again.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GranaryError } from '../protocol/index.js';
import type { CorruptChunk } from './chunk-store.js';
import { fsyncDir } from './data-dir.js';

export const SCRUB_STATE_VERSION = 1;
/**
 * Findings kept in the file per pass: enough for any disk worth keeping in service; a disk
 * with more rotten chunks than this needs replacing, not a longer list.
 */
export const SCRUB_STATE_CORRUPT_MAX = 1_000;

/** A pass in progress: it walks chunk ids in sorted order from `origin`, wrapping around. */
export interface ScrubPassState {
  readonly origin: string;
  /** The last chunk id verified; null before the first. */
  readonly cursor: string | null;
  readonly startedAt: string;
  /** Asked for over HTTP rather than scheduled; such a pass is still resumed after a restart. */
  readonly requested: boolean;
  readonly chunksChecked: number;
  readonly bytesChecked: number;
  /** Chunks this pass found corrupt so far (at most SCRUB_STATE_CORRUPT_MAX). */
  readonly corrupt: readonly CorruptChunk[];
}

export interface ScrubPassSummary {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly chunksChecked: number;
  readonly bytesChecked: number;
  readonly corrupt: readonly CorruptChunk[];
}

export interface ScrubState {
  readonly version: typeof SCRUB_STATE_VERSION;
  readonly pass: ScrubPassState | null;
  /** When the last pass finished; the next is due one interval later. */
  readonly lastFinishedAt: string | null;
  readonly lastPass: ScrubPassSummary | null;
  /**
   * When the next pass is planned. Kept so that a node restarted before its randomly placed first
   * pass does not draw a new, possibly later, time on every start and never scrub.
   */
  readonly nextPassAt: string | null;
}

export const EMPTY_SCRUB_STATE: ScrubState = {
  version: SCRUB_STATE_VERSION,
  pass: null,
  lastFinishedAt: null,
  lastPass: null,
  nextPassAt: null,
};

export class ScrubStateFile {
  /** Writes run one at a time, so a slow write cannot land after (and undo) a newer one. */
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** The stored state; the empty state when there is none. A damaged file is an error to log. */
  async read(): Promise<ScrubState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_SCRUB_STATE;
      throw new GranaryError('GRN_INTERNAL', `scrub state ${this.path} could not be read: ${(error as Error).message}`, { cause: error });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new GranaryError('GRN_INTERNAL', `scrub state ${this.path} is not JSON: ${(error as Error).message}`, { cause: error });
    }
    const problem = scrubStateProblem(parsed);
    if (problem !== undefined) throw new GranaryError('GRN_INTERNAL', `scrub state ${this.path} is not valid: ${problem}`);
    return parsed as ScrubState;
  }

  write(state: ScrubState): Promise<void> {
    const text = `${JSON.stringify(capFindings(state), null, 2)}\n`;
    const next = this.writing.then(() => this.replace(text));
    // The chain continues after a failed write; the caller of that write gets its error.
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async replace(text: string): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.path);
    await fsyncDir(dirname(this.path));
  }
}

function capFindings(state: ScrubState): ScrubState {
  const cap = (corrupt: readonly CorruptChunk[]): readonly CorruptChunk[] => corrupt.slice(0, SCRUB_STATE_CORRUPT_MAX);
  return {
    ...state,
    pass: state.pass === null ? null : { ...state.pass, corrupt: cap(state.pass.corrupt) },
    lastPass: state.lastPass === null ? null : { ...state.lastPass, corrupt: cap(state.lastPass.corrupt) },
  };
}

/** What is wrong with a parsed state file, or undefined when it is a valid ScrubState. */
export function scrubStateProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'not an object';
  if (value.version !== SCRUB_STATE_VERSION) return `version ${String(value.version)}, expected ${SCRUB_STATE_VERSION}`;
  if (!isTimeOrNull(value.lastFinishedAt)) return 'lastFinishedAt is not a time';
  if (!isTimeOrNull(value.nextPassAt)) return 'nextPassAt is not a time';
  if (value.pass !== null) {
    const pass = value.pass;
    if (!isRecord(pass)) return 'pass is not an object';
    if (typeof pass.origin !== 'string') return 'pass.origin is not a string';
    if (pass.cursor !== null && typeof pass.cursor !== 'string') return 'pass.cursor is not a string';
    if (!isTime(pass.startedAt)) return 'pass.startedAt is not a time';
    if (typeof pass.requested !== 'boolean') return 'pass.requested is not a boolean';
    if (!isCount(pass.chunksChecked) || !isCount(pass.bytesChecked)) return 'pass counts are not counts';
    if (!isFindings(pass.corrupt)) return 'pass.corrupt is not a list of findings';
  }
  if (value.lastPass !== null) {
    const last = value.lastPass;
    if (!isRecord(last)) return 'lastPass is not an object';
    if (!isTime(last.startedAt) || !isTime(last.finishedAt)) return 'lastPass times are not times';
    if (!isCount(last.chunksChecked) || !isCount(last.bytesChecked)) return 'lastPass counts are not counts';
    if (!isFindings(last.corrupt)) return 'lastPass.corrupt is not a list of findings';
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && Number.isFinite(Date.parse(value));
}

function isTimeOrNull(value: unknown): boolean {
  return value === null || isTime(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isFindings(value: unknown): value is CorruptChunk[] {
  return (
    Array.isArray(value) &&
    value.every((c) => isRecord(c) && typeof c.id === 'string' && typeof c.reason === 'string' && typeof c.detectedAt === 'string')
  );
}
