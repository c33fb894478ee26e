/**
 * `npm run bench`: every benchmark, each printed as a ratio to a ceiling measured in the same run,
 * and all figures written as JSON to bench/results/ so later runs can be compared.
 *
 *   npm run bench                 # default durations
 *   npm run bench -- --quick      # shorter measurements
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchClient } from './client.js';
import { benchDuckdbPeer } from './duckdb-peer.js';
import { benchErasure } from './erasure.js';
import { benchPlanning } from './planning.js';
import { benchStorageNodeRead } from './storage-node-read.js';

const quick = process.argv.includes('--quick');
const seconds = quick ? 1 : 3;

const startedAt = new Date().toISOString();
const erasure = await benchErasure(quick ? 0.5 : 2);
const storageRead64 = await benchStorageNodeRead(seconds, 64 * 1024);
const storageRead16 = await benchStorageNodeRead(seconds, 16 * 1024);
const planning = await benchPlanning(quick ? 10 : 30);
const clientRows = quick ? 5000 : 20_000;
const client = await benchClient({ rows: clientRows, seconds });
const duckdbPeer = await benchDuckdbPeer({ rows: clientRows, seconds, granary: client.read.coalesced });

const results = {
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem() },
  erasure,
  storageNodeRead: { pages64KiB: storageRead64, pages16KiB: storageRead16 },
  planning,
  client,
  duckdbPeer,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/bench-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nfigures written to ${file.pathname}`);
