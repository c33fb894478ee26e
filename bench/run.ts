/**
 * `npm run bench`: every benchmark, each printed as a ratio to a ceiling measured in the same run,
 * then the targets, and all figures written as JSON to bench/results/ so later runs can be
 * compared. The workload and its scale are described in bench/README.md.
 *
 *   npm run bench                                  # 4 partitions x 25,000 rows
 *   npm run bench -- --quick                       # 2 partitions x 5,000 rows, shorter measurements
 *   npm run bench -- --scale 40                    # 40x the rows per partition (~1M: Meta's size)
 *   npm run bench -- --rows-per-partition N --partitions P
 *
 * bench/repair.ts also runs alone (npx tsx bench/repair.ts, same scale flags), and so does
 * bench/storage-bytes.ts (stored bytes against DuckDB zstd Parquet; here on one partition of the
 * bench table, at most 25,000 rows, and the flights-like table).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { benchClient } from './client.js';
import { benchDuckdbPeer } from './duckdb-peer.js';
import { benchErasure } from './erasure.js';
import { FEATURE_MAPS_DEFAULT, FEATURE_MAPS_QUICK, benchFeatureMaps } from './feature-maps.js';
import { SCALE_OPTIONS, type ScaleChoice, scaleFromFlags } from './flags.js';
import { benchPlanning } from './planning.js';
import { benchRepair } from './repair.js';
import { STORAGE_BYTES_DEFAULT, STORAGE_BYTES_QUICK, benchStorageBytes } from './storage-bytes.js';
import { benchStorageNodeRead } from './storage-node-read.js';
import { machineInfo } from './measure.js';
import { checkTargets, printTargets } from './targets.js';

function parseFlags(): ScaleChoice {
  const { values } = parseArgs({ options: SCALE_OPTIONS, strict: true });
  return scaleFromFlags(values);
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
// One partition is enough for bytes per column type; more than the default adds only minutes.
const storageBase = quick ? STORAGE_BYTES_QUICK : STORAGE_BYTES_DEFAULT;
const storageBytes = await benchStorageBytes({
  ...storageBase,
  recsys: { partitions: 1, rowsPerPartition: Math.min(scale.rowsPerPartition, STORAGE_BYTES_DEFAULT.recsys.rowsPerPartition) },
});
const repair = await benchRepair({ scale, seconds, quick });
const featureMaps = await benchFeatureMaps(quick ? FEATURE_MAPS_QUICK : FEATURE_MAPS_DEFAULT);
const targets = checkTargets({ erasure, client, duckdbPeer, planning, repair, storageBytes });
printTargets(targets);

const results = {
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: machineInfo(),
  scale: { ...scale, scaleFactor, quick, secondsPerMeasurement: seconds },
  erasure,
  storageNodeRead: { pages64KiB: storageRead64, pages16KiB: storageRead16 },
  planning,
  client,
  duckdbPeer,
  repair,
  storageBytes,
  featureMaps,
  targets,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/bench-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nfigures written to ${file.pathname} (${((Date.parse(results.finishedAt) - Date.parse(startedAt)) / 1000).toFixed(0)} s)`);
