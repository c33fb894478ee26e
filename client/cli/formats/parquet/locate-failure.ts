/**
 * Which columns of a row group the decoder fails on. parquet-wasm's errors and traps name no
 * column ("Parquet error: ...", `RuntimeError: unreachable`), and the reader streams all columns
 * together, so when a row group fails its columns are read again one at a time, on a thread of
 * their own: a column that errs or traps is named, and a fresh thread goes on with the rest (a
 * decoder that failed once cannot be trusted with the next column). The probing is bounded: at most
 * PROBE_COLUMNS_MAX columns, PROBE_THREADS_MAX threads (one at a time) and PROBE_TIME_MS_MAX in
 * all; when a bound is hit the thread is terminated and the answer says the search was cut short.
 */
import { decoderModule } from './decoder-module.js';
import { ParquetThread } from './reading-thread.js';

export const PROBE_COLUMNS_MAX = 64;
export const PROBE_THREADS_MAX = 8;
export const PROBE_TIME_MS_MAX = 20_000;

export interface FailureLocation {
  /** Columns that fail when read alone. */
  readonly failing: readonly string[];
  /** Columns probed, of `total`. */
  readonly probed: number;
  readonly total: number;
  /** Why the search stopped early, if it did. */
  readonly cutShort: string | undefined;
}

export async function locateFailingColumns(
  path: string,
  rowGroup: number,
  columns: readonly string[],
  batchRows: number,
): Promise<FailureLocation> {
  const failing = new Set<string>();
  const deadline = Date.now() + PROBE_TIME_MS_MAX;
  let left = columns.slice(0, PROBE_COLUMNS_MAX);
  let probed = 0;
  let cutShort: string | undefined = columns.length > PROBE_COLUMNS_MAX ? `the first ${PROBE_COLUMNS_MAX} probed` : undefined;
  let threads = 0;
  while (left.length > 0) {
    if (threads === PROBE_THREADS_MAX) {
      cutShort = `${PROBE_THREADS_MAX} probing threads used`;
      break;
    }
    threads++;
    const thread = new ParquetThread({ decoder: await decoderModule(), path, batchRows, verifyPageChecksums: false, probe: { rowGroup, columns: left } });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
    });
    try {
      for (;;) {
        const answer = await Promise.race([thread.receive(), late]);
        if (answer === 'late') {
          cutShort = `the ${PROBE_TIME_MS_MAX / 1000} s probing limit reached`;
          left = [];
          break;
        }
        if (answer.kind === 'probed') {
          probed++;
          left = left.filter((column) => column !== answer.column);
          if (!answer.failed) continue;
          // A decoder that failed may be left unusable (a wasm-bindgen instance after a panic
          // fails every later call), so the next column gets a thread of its own, or every
          // column after the first failing one would be blamed too.
          failing.add(answer.column);
          break;
        }
        if (answer.kind === 'crash') {
          // The thread died reading the first column it had not answered for.
          const column = left[0];
          if (column !== undefined) {
            probed++;
            failing.add(column);
            left = left.slice(1);
          }
          break;
        }
        // The end, or a failure to open the file at all: nothing more to learn from this thread.
        if (answer.kind !== 'end') cutShort = 'the file did not open for probing';
        left = [];
        break;
      }
    } finally {
      clearTimeout(timer);
      await thread.close();
    }
  }
  return { failing: columns.filter((column) => failing.has(column)), probed, total: columns.length, cutShort };
}

/** The location in words: `column name`, `columns name, comment_col`, or why none is named. */
export function describeLocation(location: FailureLocation): string {
  const { failing, probed, total, cutShort } = location;
  const cut = cutShort === undefined ? '' : ` (${probed} of ${total} columns probed: ${cutShort})`;
  if (failing.length === 1) return `column ${failing[0]}${cut}`;
  if (failing.length > 1) return `columns ${failing.join(', ')}${cut}`;
  return cutShort === undefined ? 'no column fails when read alone (the columns disagree with each other)' : `column unknown${cut}`;
}
