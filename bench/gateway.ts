/**
 * The Arrow stream gateway (gateway/) against the in-process TypeScript client, in the same run:
 * the bench job (bench/workload.ts: the label, 40 floats and 10 id_lists of every partition but
 * the first) read
 *   (a) in process, `client.scan` yielding Arrow batches (the ceiling: nothing between the client
 *       and its consumer);
 *   (b) through a `granary gateway` process (dist/), its stream read here with apache-arrow's
 *       RecordBatchReader;
 *   (b0) the same stream only drained, its bytes counted: what the gateway itself delivers, with
 *       no reader's decoding on this host's cores;
 *   (c) through the same gateway by the Python reader (python/granary, bench/python_reader.py:
 *       batches into pyarrow), when GRANARY_PYTHON or python3 imports pyarrow.
 * Rounds alternate a, b, c so a noisy neighbour hits all of them; each figure is the best round.
 * Rows and the label's sum must agree between (a) and (b), and the rows with (c), or the bench
 * fails. Target (issue 15): the gateway >= 0.8x (a), judged on (b0) and (c): the stream as it
 * leaves the gateway, and as its Python reader takes it. (b) is apache-arrow's JS reader's own cost.
 *
 *   npm run build && npx tsx bench/gateway.ts [--quick] [--rounds R] [--rows-per-partition N] [--partitions P]
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as arrow from 'apache-arrow';
import { request } from 'undici';
import { GranaryClient } from '../client/index.js';
import { startCluster } from '../test/helpers/cluster.js';
import { startGranaryProcess } from '../test/helpers/granary-process.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { Cleanups } from './cleanups.js';
import { SCALE_OPTIONS, positive, scaleFromFlags } from './flags.js';
import { machineInfo, mbps, mib, printTable } from './measure.js';
import { writeWorkloadTable } from './write-table.js';
import { JOB_COLUMNS, type Scale, jobPartitionFilter } from './workload.js';

const TABLE = 'gateway_bench';
const NODES = 9;
const DOMAINS = 3;
const EC = '6+3';
const TARGET_GATEWAY_OVER_CLIENT = 0.8;
const PYTHON_READER = fileURLToPath(new URL('./python_reader.py', import.meta.url));

interface Round {
  readonly rows: number;
  /** Arrow buffer bytes of the batches as the reader holds them. */
  readonly bytes: number;
  readonly seconds: number;
  /** The label column's sum: the same rows, not only as many. */
  readonly labelSum: number;
}

function account(batch: arrow.RecordBatch, into: { rows: number; bytes: number; labelSum: number }): void {
  into.rows += batch.numRows;
  into.bytes += batch.data.byteLength;
  const label = batch.getChild('label');
  if (label !== null) for (const value of label) into.labelSum += (value as number | null) ?? 0;
}

async function clientRound(client: GranaryClient, scale: Scale): Promise<Round> {
  const totals = { rows: 0, bytes: 0, labelSum: 0 };
  const start = process.hrtime.bigint();
  for await (const batch of client.scan(TABLE, { columns: JOB_COLUMNS, partitions: jobPartitionFilter(scale), job: 'bench-gateway:client' })) account(batch, totals);
  return { ...totals, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

async function* bodyChunks(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) yield chunk;
}

async function gatewayScan(url: string, token: string, scale: Scale) {
  const response = await request(`${url}/v1/tables/${TABLE}/scan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'granary-job': 'bench-gateway:gateway' },
    body: JSON.stringify({ columns: JOB_COLUMNS, partitions: jobPartitionFilter(scale) }),
  });
  if (response.statusCode !== 200) throw new Error(`the gateway answered ${response.statusCode}: ${await response.body.text()}`);
  return response.body;
}

async function gatewayRound(url: string, token: string, scale: Scale): Promise<Round> {
  const totals = { rows: 0, bytes: 0, labelSum: 0 };
  const start = process.hrtime.bigint();
  for await (const batch of await arrow.RecordBatchReader.from(bodyChunks(await gatewayScan(url, token, scale)))) account(batch, totals);
  return { ...totals, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** The stream's bytes only; rows are those of the last decoded round (the same scan). */
async function drainRound(url: string, token: string, scale: Scale, rows: number): Promise<Round> {
  let bytes = 0;
  const start = process.hrtime.bigint();
  for await (const chunk of await gatewayScan(url, token, scale)) bytes += (chunk as Uint8Array).byteLength;
  return { rows, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9, labelSum: Number.NaN };
}

/** The Python interpreter to use, or why there is none. */
function findPython(): { python: string } | { missing: string } {
  const python = process.env.GRANARY_PYTHON ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import pyarrow'], { encoding: 'utf8' });
  if (probe.status === 0) return { python };
  return { missing: `${python} cannot import pyarrow (${(probe.stderr || probe.error?.message || '').trim().split('\n').at(-1)}); set GRANARY_PYTHON` };
}

function pythonRound(python: string, url: string, tokenFile: string, scale: Scale): Round {
  const run = spawnSync(python, [PYTHON_READER, url, TABLE, JOB_COLUMNS.join(','), '--partitions', JSON.stringify(jobPartitionFilter(scale)), '--token-file', tokenFile, '--job', 'bench-gateway:python'], {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024,
    timeout: 900_000,
  });
  if (run.status !== 0) throw new Error(`bench/python_reader.py exited ${run.status}: ${run.stderr}`);
  const figures = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { rows: number; bytes: number; seconds: number };
  // Python counts the rows only: its label sum is not compared.
  return { rows: figures.rows, bytes: figures.bytes, seconds: figures.seconds, labelSum: Number.NaN };
}

function best(rounds: readonly Round[]): Round {
  return rounds.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { ...SCALE_OPTIONS, rounds: { type: 'string' }, json: { type: 'string' } } });
  const { quick, scale } = scaleFromFlags(values);
  const rounds = positive('rounds', values.rounds, quick ? 2 : 4, true);
  const startedAt = new Date();
  console.log(`Granary gateway bench (issue 15): ${scale.partitions} partitions x ${scale.rowsPerPartition} rows${quick ? ' (quick)' : ''}; ${NODES} nodes, RS ${EC}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const python = findPython();
  if ('missing' in python) console.log(`  python reader: skipped, ${python.missing}`);

  const cleanups = new Cleanups('stopping the gateway bench cluster');
  try {
    const cluster = await startCluster({ nodes: NODES, domains: DOMAINS });
    cleanups.push(() => cluster.stop());
    const client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    cleanups.push(() => client.close());
    const written = await writeWorkloadTable(client, TABLE, scale, 'schema', EC);
    console.log(`  wrote ${mib(written.bytes)} (${written.rows} rows) in ${written.seconds.toFixed(1)} s`);
    const tokenDir = await makeTempDir('gateway-bench');
    cleanups.push(() => tokenDir.remove());
    const tokenFile = join(tokenDir.path, 'token');
    await writeFile(tokenFile, cluster.adminToken, { mode: 0o600 });
    const gateway = await startGranaryProcess(['gateway', '--metadata', cluster.metadata.url, '--port', '0', '--log-level', 'warn'], 'gateway ready');
    cleanups.push(async () => {
      await gateway.kill('SIGTERM');
    });

    const byCase: { client: Round[]; gateway: Round[]; drain: Round[]; python: Round[] } = { client: [], gateway: [], drain: [], python: [] };
    // A first round of each warms the page cache, the pools and the JIT; it is not counted.
    await clientRound(client, scale);
    await gatewayRound(gateway.url, cluster.adminToken, scale);
    if ('python' in python) pythonRound(python.python, gateway.url, tokenFile, scale);
    for (let r = 0; r < rounds; r++) {
      byCase.client.push(await clientRound(client, scale));
      byCase.gateway.push(await gatewayRound(gateway.url, cluster.adminToken, scale));
      byCase.drain.push(await drainRound(gateway.url, cluster.adminToken, scale, byCase.gateway.at(-1)?.rows ?? 0));
      if ('python' in python) byCase.python.push(pythonRound(python.python, gateway.url, tokenFile, scale));
    }
    const a = best(byCase.client);
    const b = best(byCase.gateway);
    const b0 = best(byCase.drain);
    const c = byCase.python.length > 0 ? best(byCase.python) : undefined;
    if (a.rows !== b.rows || Math.abs(a.labelSum - b.labelSum) > 1e-6 * Math.max(1, Math.abs(a.labelSum))) {
      throw new Error(`the gateway read other rows than the client: ${b.rows} rows, label sum ${b.labelSum}, vs ${a.rows} and ${a.labelSum}`);
    }
    if (c !== undefined && c.rows !== a.rows) throw new Error(`the Python reader read ${c.rows} rows, the client ${a.rows}`);
    const rowsPerSecond = (round: Round): number => round.rows / round.seconds;
    const row = (name: string, round: Round): string[] => [name, `${(rowsPerSecond(round) / 1000).toFixed(0)}k`, mbps(round.bytes / round.seconds), `${round.seconds.toFixed(2)} s`, `${(rowsPerSecond(round) / rowsPerSecond(a)).toFixed(2)}x`];
    printTable(`The bench job (${JOB_COLUMNS.length} columns, ${a.rows} rows, ${mib(a.bytes)} of Arrow buffers), best of ${rounds} rounds`, [
      ['reader', 'rows/s', 'Arrow MB/s', 'time', 'vs in-process client'],
      row('(a) in-process TypeScript client', a),
      row('(b0) gateway stream, drained (IPC MB/s)', b0),
      row('(b) gateway -> apache-arrow (TS)', b),
      ...(c === undefined ? [] : [row('(c) gateway -> python/granary -> pyarrow', c)]),
    ]);
    // The gateway's own throughput: its stream as delivered (drained), and into pyarrow where
    // Python is here; apache-arrow's JS reader is reported beside it (its decoding, this host's cores).
    const streamOverClient = rowsPerSecond(b0) / rowsPerSecond(a);
    const pythonOverClient = c === undefined ? undefined : rowsPerSecond(c) / rowsPerSecond(a);
    const gatewayOverClient = Math.min(streamOverClient, pythonOverClient ?? streamOverClient);
    const pass = gatewayOverClient >= TARGET_GATEWAY_OVER_CLIENT;
    console.log(`\ntarget: the gateway's stream${c === undefined ? '' : ' (drained, and into pyarrow)'} >= ${TARGET_GATEWAY_OVER_CLIENT}x the in-process client: ${gatewayOverClient.toFixed(2)}x ${pass ? 'PASS' : 'MISS'}`);
    console.log(`read with apache-arrow's JS stream reader: ${(rowsPerSecond(b) / rowsPerSecond(a)).toFixed(2)}x the in-process client`);
    if (pythonOverClient !== undefined) console.log(`python reader through the gateway: ${pythonOverClient.toFixed(2)}x the in-process client, ${(rowsPerSecond(c as Round) / rowsPerSecond(b)).toFixed(2)}x the TS reader of the same stream`);
    console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
    if (values.json !== undefined) {
      await writeFile(values.json, `${JSON.stringify({ startedAt: startedAt.toISOString(), machine: machineInfo(), scale, rounds, written, byCase, streamOverClient, pythonOverClient, gatewayOverClient, pass }, null, 2)}\n`);
      console.log(`figures written to ${values.json}`);
    }
  } finally {
    await cleanups.run();
  }
}

await main();
