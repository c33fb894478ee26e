/**
 * Which columns of a row group the decoder fails on. parquet-wasm's errors and traps name no
 * column ("Parquet error: ...", `RuntimeError: unreachable`), and the reader streams all columns
 * together, so when a row group fails the columns are read again one at a time, each in a fresh
 * thread of its own (a probe may trap as the read did), and those that fail are the answer. The
 * probing is bounded: at most PROBE_COLUMNS_MAX columns, PROBE_THREADS_MAX threads at a time, and
 * PROBE_TIME_MS_MAX in all; a probe still running then is terminated, and the answer says the
 * search was cut short.
 */
import { ParquetThread, type ThreadAnswer } from './reading-thread.js';

export const PROBE_COLUMNS_MAX = 64;
export const PROBE_THREADS_MAX = 2;
export const PROBE_TIME_MS_MAX = 20_000;

export interface FailureLocation {
  /** Columns that fail when read alone. */
  readonly failing: readonly string[];
  /** Columns probed, of `total`. */
  readonly probed: number;
  readonly total: number;
  /** The time bound ended the search. */
  readonly timedOut: boolean;
}

export async function locateFailingColumns(
  path: string,
  rowGroup: number,
  columns: readonly string[],
  batchRows: number,
): Promise<FailureLocation> {
  const candidates = columns.slice(0, PROBE_COLUMNS_MAX);
  const failing = new Set<string>();
  const deadline = Date.now() + PROBE_TIME_MS_MAX;
  let probed = 0;
  let timedOut = false;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < candidates.length && !timedOut) {
      const column = candidates[next++] as string;
      const outcome = await probeColumn({ path, batchRows, verifyPageChecksums: false, probe: { rowGroup, column } }, deadline);
      if (outcome === 'timeout') {
        timedOut = true;
        return;
      }
      probed++;
      if (outcome.kind !== 'end') failing.add(column);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_THREADS_MAX, candidates.length) }, worker));
  return { failing: columns.filter((column) => failing.has(column)), probed, total: columns.length, timedOut };
}

async function probeColumn(data: ConstructorParameters<typeof ParquetThread>[0], deadline: number): Promise<ThreadAnswer | 'timeout'> {
  const thread = new ParquetThread(data);
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    return await Promise.race([thread.receive(), late]);
  } finally {
    clearTimeout(timer);
    await thread.close();
  }
}

/** The location in words: `column name, comment_col`, or why no column could be named. */
export function describeLocation(location: FailureLocation): string {
  const { failing, probed, total, timedOut } = location;
  const cut = probed < total ? ` (${probed} of ${total} columns probed${timedOut ? ` before the ${PROBE_TIME_MS_MAX / 1000} s probing limit` : ''})` : '';
  if (failing.length === 1) return `column ${failing[0]}${cut}`;
  if (failing.length > 1) return `columns ${failing.join(', ')}${cut}`;
  return probed === total ? 'no column fails when read alone (the columns disagree with each other)' : `column unknown${cut}`;
}
