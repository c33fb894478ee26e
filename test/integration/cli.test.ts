/**
 * The `granary` binary as a user runs it: `granary up` on a temporary directory and free ports,
 * then status, tables, ingest in every input format, read in every output format, fsck after a
 * node dies, bad input, and the data still there after `up` restarts.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { recordBatchToRows, rowsToRecordBatch } from '../../client/format/index.js';
import { pollUntil } from '../helpers/poll.js';
import { type CliResult, runGranary, useUpCluster } from '../helpers/up-process.js';

const execFileAsync = promisify(execFile);

/** `up` with its defaults: nine storage nodes, the sample table. */
const NODES = 9;
const READY_DEADLINE_MS = 120_000;
/** Past it, the afterAll SIGKILLs what `up` started rather than leave it running. */
const STOP_DEADLINE_MS = 60_000;

/** `cluster.up` is the `up` running now: a restart replaces it, so its output is that start's only. */
const cluster = useUpCluster({
  name: 'cli',
  nodes: NODES,
  args: (root, port) => ['--data', root, '--port', String(port)],
  readyDeadlineMs: READY_DEADLINE_MS,
  stopDeadlineMs: STOP_DEADLINE_MS,
});

async function granary(args: readonly string[], extraEnv: Readonly<Record<string, string>> = {}): Promise<CliResult> {
  // Run from the directory holding `up`'s data directory, as a user would: the CLI then finds
  // the admin token `up` wrote (./data/admin.token) with no token given.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'GRANARY_TOKEN' && key !== 'GRANARY_TOKEN_FILE'));
  return runGranary(args, { maxBuffer: 256 * 1024 * 1024, cwd: dirname(cluster.root), env: { ...env, ...extraEnv, GRANARY_METADATA: `http://127.0.0.1:${cluster.port}` } });
}

const COLUMNS = [
  { name: 'label', type: 'float' },
  { name: 'user_id', type: 'int64' },
  { name: 'country', type: 'string' },
  { name: 'ids', type: 'id_list' },
  { name: 'scored', type: 'id_score_list' },
  { name: 'embedding', type: 'float_list' },
] as const;

const ROWS = Array.from({ length: 300 }, (_, i) => ({
  label: i % 2,
  user_id: i === 7 ? '9007199254740993' : i * 1000,
  country: i % 5 === 0 ? null : ['se', 'fr', 'jp'][i % 3],
  ids: i % 4 === 0 ? [] : [i, i + 1, i + 2],
  scored: [[i, 0.5]],
  embedding: i % 3 === 0 ? null : [0.25, 0.5],
}));

describe('granary CLI against `granary up`', () => {
  it('starts a cluster with a sample table and reports its status', async () => {
    expect(cluster.up.output()).toMatch(/sample table "samples" written/);
    const status = await granary(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/cluster HEALTHY/);
    expect(status.stdout).toMatch(/9 alive/);
    const json = JSON.parse((await granary(['status', '--json'])).stdout) as { nodes: { alive: number }; tables: number; rows: number };
    expect(json).toMatchObject({ nodes: { alive: 9 }, tables: 1, rows: 15_000 });
    const sample = JSON.parse((await granary(['read', 'samples', '--columns', 'label,ids_0', '--format', 'jsonl', '--where', 'label = 1'])).stdout.split('\n')[0] ?? '{}');
    expect(sample.label).toBe(1);
    // The Arrow stream gateway up started, with the caller's own token.
    const gateway = /gateway: (http:\/\/127\.0\.0\.1:(\d+))/.exec(cluster.up.output());
    expect(gateway?.[2]).toBe(String(cluster.port + 30));
    const token = (await readFile(join(cluster.root, 'admin.token'), 'utf8')).trim();
    const scan = await fetch(`${gateway?.[1]}/v1/tables/samples/scan`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ columns: ['label'] }) });
    expect(scan.status).toBe(200);
    const table = arrow.tableFromIPC(new Uint8Array(await scan.arrayBuffer()));
    expect(table.numRows).toBe(15_000);
  });

  it('creates, describes and alters a table', async () => {
    const schema = join(cluster.root, 'schema.json');
    await writeFile(schema, JSON.stringify({ columns: COLUMNS, partitionBy: ['ds'] }));
    expect((await granary(['table', 'create', 'events', '--schema', schema, '--ec', '4+2'])).stdout).toMatch(/created table events: 6 columns/);
    const described = await granary(['table', 'describe', 'events']);
    expect(described.stdout).toMatch(/RS 4\+2/);
    expect(described.stdout).toMatch(/embedding\s+float_list/);
    expect((await granary(['table', 'alter', 'events', '--add-column', 'extra:double'])).stdout).toMatch(/schema v2 with 7 columns/);
    const list = JSON.parse((await granary(['table', 'list', '--json'])).stdout) as { name: string }[];
    expect(list.map((t) => t.name)).toEqual(['events', 'samples']);
  });

  it('ingests every input format and reads back every output format', async () => {
    const files = join(cluster.root, 'files');
    await mkdir(files, { recursive: true });
    await writeFile(join(files, 'rows.jsonl'), ROWS.map((r) => JSON.stringify(r)).join('\n'));
    const cell = (value: unknown): string => {
      const text = value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
      return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    };
    const csv = ['label,user_id,country,ids,scored,embedding', ...ROWS.map((r) => [r.label, r.user_id, r.country, r.ids, r.scored, r.embedding].map(cell).join(','))];
    await writeFile(join(files, 'rows.csv'), csv.join('\n'));
    const batch = rowsToRecordBatch(COLUMNS, ROWS);
    await writeFile(join(files, 'rows.arrow'), arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
    const parquet = await import('parquet-wasm');
    const parquetTable = parquet.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
    await writeFile(join(files, 'rows.parquet'), parquet.writeParquet(parquetTable));

    const expected = recordBatchToRows(batch).map((row) => ({ ...row, extra: null }));
    for (const [i, file] of ['rows.jsonl', 'rows.csv', 'rows.arrow', 'rows.parquet'].entries()) {
      const result = await granary(['ingest', 'events', join(files, file), '--partition', `ds=2026-11-0${i + 1}`, '--progress']);
      expect(result.stderr + result.stdout).toMatch(/ingested 300 rows/);
      // Not a terminal: with --progress, lines of progress on stderr, ending with all of the file read.
      const size = (await stat(join(files, file))).size;
      expect(result.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^ingest events ds=2026-11-0${i + 1} 100% · ${size < 1024 ? `${size} B` : '[\\d.]+ KiB'} of .* · 300 rows · `));
      const read = await granary(['read', 'events', '--partition', `ds=2026-11-0${i + 1}`]);
      expect(read.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual(expected);
    }
    const csvOut = await granary(['read', 'events', '--partition', 'ds=2026-11-01', '--columns', 'label,country', '--format', 'csv']);
    expect(csvOut.stdout.split('\n')[0]).toBe('label,country');
    expect(csvOut.stdout.trim().split('\n')).toHaveLength(301);
    const arrowFile = join(files, 'out.arrow');
    const arrowRead = await granary(['read', 'events', '--partition', 'ds=2026-11-02', '--format', 'arrow', '--out', arrowFile, '--progress']);
    expect(arrowRead.stderr).toMatch(/^read events 100% · (\d+) of \1 stripes · 300 rows, .* elapsed$/m);
    const table = arrow.tableFromIPC(await readFile(arrowFile));
    expect(table.numRows).toBe(300);
    const parquetFile = join(files, 'out.parquet');
    await granary(['read', 'events', '--partition', 'ds=2026-11-03', '--format', 'parquet', '--out', parquetFile]);
    const back = arrow.tableFromIPC(parquet.readParquet(await readFile(parquetFile)).intoIPCStream());
    expect(back.numRows).toBe(300);
    const partitions = JSON.parse((await granary(['partition', 'list', 'events', '--json'])).stdout) as { rows: number }[];
    expect(partitions.map((p) => p.rows)).toEqual([300, 300, 300, 300]);
    const stats = JSON.parse((await granary(['stats', 'events', '--json'])).stdout) as { rows: number; popularity: { column: string; bytes: number; scans: number }[]; jobs: unknown[] };
    expect(stats.rows).toBe(1200);
    // `granary read` is an export: it says so, and popularity counts training reads only.
    expect(stats.popularity.length).toBeGreaterThan(0);
    expect(stats.popularity.filter((c) => c.scans !== 0 || c.bytes !== 0)).toEqual([]);
    expect(stats.jobs).toEqual([]);
  });

  it('answers bad input with one clear line and a non-zero exit', async () => {
    await writeFile(join(cluster.root, 'broken.json'), '{"columns": [');
    await writeFile(join(cluster.root, 'dup.json'), JSON.stringify({ columns: [{ name: 'a', type: 'float' }, { name: 'a', type: 'float' }] }));
    const cases: [string[], RegExp][] = [
      [['table', 'describe', 'nope'], /no table named nope/],
      [['read', 'events', '--partition', 'day=1'], /must name the keys ds/],
      [['read', 'events', '--where', 'label ~ 1'], /--where: cannot read/],
      [['ingest', 'events', '/does/not/exist.jsonl', '--partition', 'ds=2026-11-09'], /exist|ENOENT/],
      [['table', 'create', 'bad', '--schema', '/does/not/exist.json'], /cannot read schema file/],
      [['table', 'create', 'bad', '--schema', join(cluster.root, 'broken.json')], /cannot read schema file .*broken\.json/],
      [['table', 'create', 'bad', '--schema', join(cluster.root, 'dup.json')], /declared twice/],
      [['status', '--metadata', 'http://127.0.0.1:1', '--metadata-failover-ms', '0'], /failed|ECONNREFUSED/],
      [['status', '--metadata', 'http://127.0.0.1:1,,http://127.0.0.1:2'], /--metadata \/ GRANARY_METADATA: an empty entry/],
    ];
    for (const [args, pattern] of cases) {
      const result = await granary(args);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toMatch(pattern);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    const partitions = JSON.parse((await granary(['partition', 'list', 'events', '--json'])).stdout) as unknown[];
    expect(partitions).toHaveLength(4);
    expect(JSON.parse((await granary(['table', 'list', '--json'])).stdout).map((t: { name: string }) => t.name)).toEqual(['events', 'samples']);
  });

  it('drops partitions and tables', async () => {
    const schema = join(cluster.root, 'scratch.json');
    await writeFile(schema, JSON.stringify({ columns: [{ name: 'x', type: 'double' }] }));
    expect((await granary(['table', 'create', 'scratch', '--schema', schema, '--ec', '2+1'])).code).toBe(0);
    const rows = join(cluster.root, 'scratch.jsonl');
    await writeFile(rows, '{"x": 1.5}\n{"x": null}\n');
    expect((await granary(['ingest', 'scratch', rows, '--partition', 'ds=2026-01-01'])).code).toBe(0);
    expect((await granary(['ingest', 'scratch', rows, '--partition', 'ds=2026-01-02'])).code).toBe(0);
    expect((await granary(['partition', 'drop', 'scratch', 'ds=2026-01-01'])).stdout).toMatch(/dropped scratch ds=2026-01-01: 1 blocks queued/);
    expect((await granary(['read', 'scratch'])).stdout.trim().split('\n')).toEqual(['{"x":1.5}', '{"x":null}']);
    expect((await granary(['table', 'drop', 'scratch'])).stdout).toMatch(/dropped table scratch: 1 partitions/);
    const gone = await granary(['table', 'describe', 'scratch']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/GRN_TABLE_NOT_FOUND: no table named scratch/);
  });

  it('lists the jobs that read, with their amplification and read-size histogram', async () => {
    expect((await granary(['read', 'events', '--columns', 'user_id,ids'], { GRANARY_JOB: 'cli-accounting' })).code).toBe(0);
    interface Listed {
      job: string;
      requests: number;
      bytesNeeded: number;
      bytesFetched: number;
      scansFinished: number;
    }
    const job = await pollUntil('the read accounted', async () => {
      const listed = JSON.parse((await granary(['jobs', '--json'])).stdout) as Listed[];
      const found = listed.find((j) => j.job === 'cli-accounting');
      return found?.scansFinished === 1 ? found : undefined;
    }, 30_000, 200);
    expect(job.requests).toBeGreaterThan(0);
    expect(job.bytesNeeded).toBeGreaterThan(0);
    expect(job.bytesFetched).toBeGreaterThanOrEqual(job.bytesNeeded);
    const table = await granary(['jobs']);
    expect(table.stdout).toMatch(/^JOB +TABLES +SCANS +REQUESTS +NEEDED +FETCHED +AMPLIFICATION/m);
    expect(table.stdout).toMatch(/^cli-accounting +events +1 /m);
    const shown = await granary(['jobs', 'show', 'cli-accounting']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^bytes fetched .*\(amplification \d+\.\d\dx\)/m);
    expect(shown.stdout).toMatch(/^read sizes$/m);
    expect(shown.stdout).toMatch(/^<= 4.0 KiB +\d+/m);
    const missing = await granary(['jobs', 'show', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/GRN_JOB_NOT_FOUND: no job "nosuch"/);
  });

  it('finds under-replicated blocks with fsck after a node dies, and keeps everything across a restart', async () => {
    // A node late with heartbeats on a loaded machine makes writes double shards up; repair
    // spreads them again within seconds. Healthy once it has.
    await pollUntil('repair to settle', async () => {
      const status = JSON.parse((await granary(['repair', 'status', '--json'])).stdout) as { blocks: { total: number; healthy: number } };
      return status.blocks.healthy === status.blocks.total ? true : undefined;
    }, 120_000, 500);
    const healthy = await granary(['fsck', 'events', '--json']);
    expect(JSON.parse(healthy.stdout)).toMatchObject({ underReplicated: 0, degraded: 0, unavailable: 0 });
    const nodes = JSON.parse((await granary(['node', 'list', '--json'])).stdout) as { nodeId: string; url: string }[];
    expect(nodes).toHaveLength(9);
    const dataDir = join(cluster.root, 'node-0');
    const pids = (await execFileAsync('pgrep', ['-P', String(cluster.up.pid), '-f', '--', `--data ${dataDir}`])).stdout.trim().split('\n').map(Number);
    // `up` restarts a dead node after a second, which a loaded machine's fsck can take to start:
    // a file where the node's data directory was keeps it from starting until the test puts the
    // directory back, so fsck sees the node dead however slowly it runs.
    await rename(dataDir, `${dataDir}.away`);
    await writeFile(dataDir, 'not a directory');
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const fsck = await granary(['fsck', 'events', '--progress']);
    expect(fsck.code).toBe(2);
    // One table's block count is not known ahead: a count of blocks checked, and of those with problems.
    expect(fsck.stderr).toMatch(/^fsck events \d+ blocks · [1-9]\d* with problems · /m);
    expect(fsck.stdout).toMatch(/under-replicated/);
    expect(fsck.stdout).toMatch(/node-0/);
    const repair = await granary(['repair', 'status']);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toMatch(/^blocks +\d+ total/m);
    await rm(dataDir);
    await rename(`${dataDir}.away`, dataDir);
    expect(await cluster.up.stop(STOP_DEADLINE_MS)).toBe(0);
    await cluster.restart();
    expect(cluster.up.output()).not.toMatch(/creating the sample table/);
    const read = await granary(['read', 'events', '--partition', 'ds=2026-11-01', '--columns', 'user_id']);
    expect(read.stdout.trim().split('\n')).toHaveLength(300);
    expect(JSON.parse((await granary(['status', '--json'])).stdout)).toMatchObject({ tables: 2, nodes: { alive: 9 } });
  });
});
