/**
 * The scale flags every benchmark entry point takes (bench/run.ts, bench/repair.ts), parsed one
 * way, so `--quick` or `--scale 40` means the same table whichever of them runs.
 */
import type { Scale } from './workload.js';

export const DEFAULT_SCALE: Scale = { rowsPerPartition: 25_000, partitions: 4 };
export const QUICK_SCALE: Scale = { rowsPerPartition: 5_000, partitions: 2 };

/** Options for node:util parseArgs; spread them into an entry point's own. */
export const SCALE_OPTIONS = {
  quick: { type: 'boolean', default: false },
  'rows-per-partition': { type: 'string' },
  partitions: { type: 'string' },
  scale: { type: 'string' },
} as const;

export interface ScaleFlagValues {
  readonly quick?: boolean | undefined;
  readonly 'rows-per-partition'?: string | undefined;
  readonly partitions?: string | undefined;
  readonly scale?: string | undefined;
}

export interface ScaleChoice {
  readonly quick: boolean;
  readonly scaleFactor: number;
  readonly scale: Scale;
}

/** `text` as a positive number (an integer if `integer`), or `fallback` when the flag is absent. */
export function positive(flag: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || (integer && !Number.isInteger(value))) throw new Error(`--${flag} wants a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return value;
}

export function scaleFromFlags(values: ScaleFlagValues): ScaleChoice {
  const quick = values.quick === true;
  const base = quick ? QUICK_SCALE : DEFAULT_SCALE;
  const scaleFactor = positive('scale', values.scale, 1, false);
  const rows = positive('rows-per-partition', values['rows-per-partition'], base.rowsPerPartition, true);
  const partitions = positive('partitions', values.partitions, base.partitions, true);
  // The job reads every partition but the first, so one partition would leave it nothing.
  if (partitions < 2) throw new Error('--partitions must be at least 2');
  return { quick, scaleFactor, scale: { rowsPerPartition: Math.round(rows * scaleFactor), partitions } };
}
