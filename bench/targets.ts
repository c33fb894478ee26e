/** The design targets, each checked against the figure measured in this run. */
import type { ClientFigures } from './client.js';
import type { DuckdbPeerFigures } from './duckdb-peer.js';
import { printTable } from './measure.js';
import type { PlanningFigures } from './planning.js';
import type { RepairFigures } from './repair.js';

export interface Target {
  readonly target: string;
  readonly measured: number;
  readonly unit: 'x' | 'ms';
  readonly bound: number;
  /** The measured value must be at least (`>=`) or below (`<`) the bound. */
  readonly comparison: '>=' | '<';
  readonly pass: boolean;
}

function target(name: string, measured: number, comparison: Target['comparison'], bound: number, unit: Target['unit']): Target {
  const pass = comparison === '>=' ? measured >= bound : measured < bound;
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

export function checkTargets(client: ClientFigures, duckdb: DuckdbPeerFigures, planning: PlanningFigures, repair: RepairFigures): Target[] {
  const fullPlan = planning.rows[0];
  return [
    target('selective read (coalesced) / loopback HTTP ceiling', client.read.coalesced.ratioToHttpCeiling, '>=', 0.5, 'x'),
    target('selective read / DuckDB streamed into typed arrays', duckdb.streamed.granaryOverDuckdb ?? 0, '>=', 1.0, 'x'),
    target('write / file write + fsync of 1.5x the bytes', client.write.ratio, '>=', 0.3, 'x'),
    target('degraded read, 1 node down / healthy read', client.read.oneNodeDown.ratioToHealthy, '>=', 0.5, 'x'),
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
  const show = (value: number, unit: Target['unit']) => (unit === 'x' ? `${value.toFixed(2)}x` : `${value.toFixed(1)} ms`);
  printTable(`Targets: ${targets.filter((t) => t.pass).length} of ${targets.length} met`, [
    ['target', 'measured', 'bound', 'result'],
    ...targets.map((t) => [t.target, show(t.measured, t.unit), `${t.comparison} ${show(t.bound, t.unit)}`, t.pass ? 'pass' : 'FAIL']),
  ]);
}
