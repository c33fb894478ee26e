/**
 * `npm run bench`: every benchmark, each printed as a ratio to a ceiling measured in the same run,
 * then the targets, and all figures written as JSON to bench/results/ so later runs can be
 * compared. The workload and its scale are described in bench/README.md.
 *
 *   npm run bench                                  # 4 partitions x 25,000 rows
 *   npm run bench -- --quick                       # 2 partitions x 5,000 rows, shorter measurements
 *   npm run bench -- --scale 40                    # 40x the rows per partition (~1M: Meta's size)
 *   npm run bench -- --rows-per-partition N --partitions P
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchClient } from './client.js';
import { benchDuckdbPeer } from './duckdb-peer.js';
import { benchErasure } from './erasure.js';
import { benchPlanning } from './planning.js';
import { benchStorageNodeRead } from './storage-node-read.js';
import { checkTargets, printTargets } from './targets.js';
import type { Scale } from './workload.js';

const DEFAULT_SCALE: Scale = { rowsPerPartition: 25_000, partitions: 4 };
const QUICK_SCALE: Scale = { rowsPerPartition: 5_000, partitions: 2 };

function positive(flag: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || (integer && !Number.isInteger(value))) throw new Error(`--${flag} wants a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return value;
}

function parseFlags(): { quick: boolean; scaleFactor: number; scale: Scale } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'rows-per-partition': { type: 'string' },
      partitions: { type: 'string' },
      scale: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const base = quick ? QUICK_SCALE : DEFAULT_SCALE;
  const scaleFactor = positive('scale', values.scale, 1, false);
  const rows = positive('rows-per-partition', values['rows-per-partition'], base.rowsPerPartition, true);
  const partitions = positive('partitions', values.partitions, base.partitions, true);
  // The job reads every partition but the first, so one partition would leave it nothing.
  if (partitions < 2) throw new Error('--partitions must be at least 2');
  return { quick, scaleFactor, scale: { rowsPerPartition: Math.round(rows * scaleFactor), partitions } };
}

const { quick, scaleFactor, scale } = parseFlags();
const seconds = quick ? 1 : 3;
console.log(
  `Granary bench: ${scale.partitions} partitions x ${scale.rowsPerPartition} rows (scale ${scaleFactor}${quick ? ', quick' : ''}), ` +
    `${seconds} s per measurement`,
);

const startedAt = new Date().toISOString();
const erasure = await benchErasure(quick ? 0.5 : 2);
const storageRead64 = await benchStorageNodeRead(seconds, 64 * 1024);
const storageRead16 = await benchStorageNodeRead(seconds, 16 * 1024);
const planning = await benchPlanning(quick ? 10 : 30);
const client = await benchClient({ scale, seconds });
const duckdbPeer = await benchDuckdbPeer({
  scale,
  seconds,
  granary: { ...client.read.coalesced, totals: client.read.totals },
});
const targets = checkTargets(client, duckdbPeer, planning);
printTargets(targets);

const results = {
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem() },
  scale: { ...scale, scaleFactor, quick, secondsPerMeasurement: seconds },
  erasure,
  storageNodeRead: { pages64KiB: storageRead64, pages16KiB: storageRead16 },
  planning,
  client,
  duckdbPeer,
  targets,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/bench-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nfigures written to ${file.pathname} (${((Date.parse(results.finishedAt) - Date.parse(startedAt)) / 1000).toFixed(0)} s)`);
