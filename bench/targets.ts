/** The design targets, each checked against the figure measured in this run. */
import type { ClientFigures } from './client.js';
import type { DuckdbPeerFigures } from './duckdb-peer.js';
import type { ErasureFigures } from './erasure.js';
import { printTable } from './measure.js';
import type { PlanningFigures } from './planning.js';
import type { RepairFigures } from './repair.js';
import type { StorageBytesFigures } from './storage-bytes.js';

export interface Target {
  readonly target: string;
  readonly measured: number;
  readonly unit: 'x' | 'ms' | 'GB/s';
  readonly bound: number;
  /** The measured value must be at least (`>=`), at most (`<=`) or below (`<`) the bound. */
  readonly comparison: '>=' | '<=' | '<';
  readonly pass: boolean;
}

function target(name: string, measured: number, comparison: Target['comparison'], bound: number, unit: Target['unit']): Target {
  const pass = comparison === '>=' ? measured >= bound : comparison === '<=' ? measured <= bound : measured < bound;
  return { target: name, measured, unit, bound, comparison, pass };
}

/** Repair's own targets (bench/repair.ts), also printed when it runs alone. */
export function repairTargets(repair: RepairFigures): Target[] {
  const { rateLimitBytesPerSecond, tasksMax } = repair.foreground;
  const settings = `${(rateLimitBytesPerSecond / 1024 / 1024).toFixed(0)} MiB/s, ${tasksMax} tasks`;
  return [
    // Against the same scan with the same node down before repair starts: both read around the
    // lost node, so the ratio is what repair itself takes from the scan.
    target(`scan while repair runs (${settings}) / same scan, node down, no repair`, repair.foreground.duringRepairOverNodeDown, '>=', 0.7, 'x'),
  ];
}

/** Issue 13's bound on Granary stored bytes / the same rows as DuckDB zstd Parquet, per table. */
export const STORED_BYTES_TARGET = 1.2;

/** The stored-bytes targets (bench/storage-bytes.ts), also printed when it runs alone. */
export function storageBytesTargets(storage: StorageBytesFigures): Target[] {
  return storage.tables.map((t) =>
    target(`stored bytes, ${t.table} (${t.rows} rows) / DuckDB zstd Parquet (column data)`, t.total.granaryOverParquet, '<=', STORED_BYTES_TARGET, 'x'),
  );
}

/** Issue 13's codec bounds: 3 GB/s of data on one core, and a quarter of memcpy. */
const CODEC_GBPS_MIN = 3;
const CODEC_MEMCPY_RATIO_MIN = 0.25;

/**
 * RS 6+3 on one core, as bench/erasure.ts reports its headline (the SIMD kernel): encode of a
 * default 64 MiB block's shards, and range reconstruct (one lost data shard's range rebuilt from
 * k survivors, as a degraded read or a repair window does; its rows say which range size), each
 * in GB/s of data (wall clock) and over Buffer.copy of the same bytes in the same run. The library's figures, and both per CPU-second
 * (what one core does on a shared machine), sit beside them in the results file.
 */
export function codecTargets(erasure: ErasureFigures): Target[] {
  const codec = erasure.simd;
  return [
    target('RS 6+3 encode (SIMD kernel), one core', codec.encodeGBps, '>=', CODEC_GBPS_MIN, 'GB/s'),
    target('RS 6+3 encode / memcpy', codec.encodeOverMemcpy, '>=', CODEC_MEMCPY_RATIO_MIN, 'x'),
    target('RS 6+3 range reconstruct (SIMD kernel), one core', codec.reconstructGBps, '>=', CODEC_GBPS_MIN, 'GB/s'),
    target('RS 6+3 range reconstruct / memcpy', codec.reconstructOverMemcpy, '>=', CODEC_MEMCPY_RATIO_MIN, 'x'),
  ];
}

export interface BenchFigures {
  readonly erasure: ErasureFigures;
  readonly client: ClientFigures;
  readonly duckdbPeer: DuckdbPeerFigures;
  readonly planning: PlanningFigures;
  readonly repair: RepairFigures;
  readonly storageBytes: StorageBytesFigures;
}

/** Every target of `npm run bench`; the bounds are issue 13's. */
export function checkTargets(figures: BenchFigures): Target[] {
  const { client, duckdbPeer, planning, repair } = figures;
  const fullPlan = planning.rows[0];
  return [
    target('selective read (coalesced) / loopback HTTP ceiling', client.read.coalesced.ratioToHttpCeiling, '>=', 0.7, 'x'),
    target('selective read / DuckDB streamed into typed arrays', duckdbPeer.streamed.granaryOverDuckdb ?? 0, '>=', 1.5, 'x'),
    target('write / file write + fsync of 1.5x the bytes', client.write.ratio, '>=', 0.5, 'x'),
    target('degraded read, 1 node down / healthy read', client.read.oneNodeDown.ratioToHealthy, '>=', 0.8, 'x'),
    ...codecTargets(figures.erasure),
    ...storageBytesTargets(figures.storageBytes),
    target(
      `scan planning, ${planning.table.columns} cols x ${planning.table.stripesPerPartition} stripes x ${planning.table.partitions} partitions (median)`,
      fullPlan?.plan.medianMs ?? Number.POSITIVE_INFINITY,
      '<',
      planning.targetMs,
      'ms',
    ),
    ...repairTargets(repair),
  ];
}

export function printTargets(targets: readonly Target[]): void {
  const show = (value: number, unit: Target['unit']) => (unit === 'x' ? `${value.toFixed(2)}x` : unit === 'GB/s' ? `${value.toFixed(2)} GB/s` : `${value.toFixed(1)} ms`);
  printTable(`Targets: ${targets.filter((t) => t.pass).length} of ${targets.length} met`, [
    ['target', 'measured', 'bound', 'result'],
    ...targets.map((t) => [t.target, show(t.measured, t.unit), `${t.comparison} ${show(t.bound, t.unit)}`, t.pass ? 'pass' : 'FAIL']),
  ]);
}
