/**
 * Progress of long CLI commands (ingest, read, fsck, drain and repair waits) on stderr: a bar
 * redrawn in place on a terminal; one line a second elsewhere, only with `--progress` (a log
 * file or CI output); nothing with `--json`, whose stdout scripts parse.
 *
 * Our own rather than cli-progress: what we need is one line (a bar, done of total, a throughput
 * over the last seconds, an ETA) and a plain-line mode for logs, about a hundred lines with a
 * clock we can drive in tests; the library brings multi-bar layouts and themes we would not use.
 */
import { type Command, Option } from 'commander';
import { formatBytes } from './context.js';

export type ProgressMode = 'bar' | 'lines' | 'off';

/** What the counts are: bytes (shown as KiB/MiB/GiB, throughput per second) or a noun (rows, chunks, blocks). */
export type ProgressUnit = 'bytes' | { readonly noun: string };

export interface ProgressTarget {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  readonly label: string;
  readonly unit: ProgressUnit;
  /** Undefined while the total is not known: the count and rate are shown without a bar. */
  readonly total?: number;
  readonly mode: ProgressMode;
  readonly target?: ProgressTarget;
  /** Milliseconds; tests drive it. */
  readonly now?: () => number;
}

/** A terminal is redrawn at most this often; lines are written at most this often. */
const REDRAW_MS = 200;
const LINE_MS = 1000;
/** The rate is measured over about this much of the recent past, so a stall shows soon. */
const RATE_WINDOW_MS = 5000;
/** A bar narrower than this says little the percentage does not: parts of the line go first. */
const BAR_WIDTH_MIN = 10;
const BAR_WIDTH_MAX = 40;

/** `--progress`, for the commands that draw progress. */
export function addProgressOption(command: Command): Command {
  return command.addOption(new Option('--progress', 'report progress on stderr even when it is not a terminal (one line a second); a terminal gets a bar without it, --json none'));
}

/** How progress is shown: none for --json, a bar on a terminal, lines when asked for. */
export function progressMode(flags: { readonly json: boolean; readonly progress?: boolean | undefined }, target: ProgressTarget = process.stderr): ProgressMode {
  if (flags.json) return 'off';
  if (target.isTTY === true) return 'bar';
  return flags.progress === true ? 'lines' : 'off';
}

export class Progress {
  private readonly target: ProgressTarget;
  private readonly now: () => number;
  private readonly startedAt: number;
  private total: number | undefined;
  private done = 0;
  /** Bytes moved, for the throughput of a count that is not bytes (stripes read); undefined: not tracked. */
  private bytes: number | undefined;
  private detail = '';
  private shownAt = -Infinity;
  private drawn = false;
  private finished = false;
  /** (time, done) samples of the last RATE_WINDOW_MS, oldest first. */
  private readonly samples: { at: number; done: number; bytes: number }[] = [];

  constructor(private readonly options: ProgressOptions) {
    this.target = options.target ?? process.stderr;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.total = options.total;
    this.samples.push({ at: this.startedAt, done: 0, bytes: 0 });
  }

  /** The total became known, or changed (a repair queue that grows). */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /**
   * `done` so far (not an increment); `detail` is shown after the figures (e.g. rows beside
   * bytes); `bytes` so far gives the throughput when the count is not of bytes.
   */
  update(done: number, detail = '', bytes?: number): void {
    if (this.options.mode === 'off' || this.finished) return;
    this.done = done;
    this.detail = detail;
    if (bytes !== undefined) this.bytes = bytes;
    const at = this.now();
    this.samples.push({ at, done, bytes: this.bytes ?? 0 });
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= at - RATE_WINDOW_MS) this.samples.shift();
    if (at - this.shownAt < (this.options.mode === 'bar' ? REDRAW_MS : LINE_MS)) return;
    this.show(at);
  }

  /** Shows the last figures (a terminal's bar ends its line); nothing more is drawn after. */
  finish(): void {
    if (this.options.mode === 'off' || this.finished) return;
    this.finished = true;
    // Lines end with the final figures too, so a log holds one line even for a short run.
    this.show(this.now());
    if (this.options.mode === 'bar') this.target.write('\n');
  }

  /** Before an error: a drawn bar's line is ended, so the error starts on a line of its own. */
  interrupt(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.options.mode === 'bar' && this.drawn) this.target.write('\n');
  }

  /** The line as it would be shown now (tests, and `show`). */
  render(at = this.now()): string {
    const unit = this.options.unit;
    const amount = (n: number): string => (unit === 'bytes' ? formatBytes(n) : `${Math.round(n).toLocaleString('en-US')} ${unit.noun}`);
    const rate = this.rate(at, this.done, 'done');
    const total = this.total;
    const fraction = total !== undefined && total > 0 ? Math.min(1, Math.max(0, this.done / total)) : undefined;
    const percent = fraction === undefined ? undefined : `${(fraction * 100).toFixed(0).padStart(3)}%`;
    let count: string;
    if (fraction === undefined || total === undefined) count = amount(this.done);
    else count = unit === 'bytes' ? `${formatBytes(this.done)} of ${formatBytes(total)}` : `${Math.round(this.done).toLocaleString('en-US')} of ${amount(total)}`;
    const byteRate = unit === 'bytes' ? rate : this.bytes === undefined ? undefined : this.rate(at, this.bytes, 'bytes');
    let speed: string | undefined;
    if (byteRate !== undefined) speed = `${formatBytes(byteRate)}/s`;
    else if (rate !== undefined && unit !== 'bytes') speed = `${Math.round(rate).toLocaleString('en-US')} ${unit.noun}/s`;
    const remaining = total === undefined ? undefined : total - this.done;
    const time = remaining !== undefined && remaining > 0 && rate !== undefined && rate > 0 ? `ETA ${formatEta(remaining / rate)}` : `${formatEta((at - this.startedAt) / 1000)} elapsed`;
    const detail = this.detail === '' ? undefined : this.detail;
    const line = (parts: readonly (string | undefined)[], bar = ''): string => `${this.options.label} ${bar}${parts.filter((p) => p !== undefined).join(' · ')}`;
    const full = [percent, count, detail, speed, time];
    if (this.options.mode !== 'bar') return line(full);
    // On a terminal the line must fit its width (a wrapped line is not redrawn in place): the
    // detail goes first, then the count the bar and percentage already show, then the bar.
    const columns = Math.max(20, this.target.columns ?? 80) - 1;
    const shorter = fraction === undefined ? [full] : [full, [percent, count, speed, time], [percent, speed, time]];
    for (const parts of shorter) {
      const room = Math.min(BAR_WIDTH_MAX, columns - line(parts).length - 3);
      if (fraction !== undefined && room >= BAR_WIDTH_MIN) return line(parts, `${drawBar(fraction, room)} `);
      if (fraction === undefined && room >= 0) return line(parts);
    }
    return line(shorter.at(-1) ?? full).slice(0, columns);
  }

  private show(at: number): void {
    this.shownAt = at;
    const line = this.render(at);
    if (this.options.mode === 'bar') {
      // \r back to the start, \x1b[K clears what a longer line left.
      this.target.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.target.write(`${line}\n`);
    }
  }

  /** Per second over the recent window, of the count or of the bytes; undefined until some time has passed. */
  private rate(at: number, now: number, of: 'done' | 'bytes'): number | undefined {
    const first = this.samples[0] as { at: number; done: number; bytes: number };
    const seconds = (at - first.at) / 1000;
    if (seconds < 0.5) return undefined;
    return Math.max(0, (now - first[of]) / seconds);
  }

}

function drawBar(fraction: number, width: number): string {
  const full = Math.round(fraction * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/** 42 s, 3:05, 1:02:09. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
