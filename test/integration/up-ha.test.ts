/**
 * `granary up --ha`: a local three-member etcd, three metadata replicas and the storage nodes.
 * A replica is elected leader; the CLI, given every replica's URL, creates a table, ingests and
 * reads rows; the leader replica is SIGKILLed and writes work again within a deadline (another
 * replica takes over, `up` restarts the dead one); a SIGTERM of `up` stops every child, etcd
 * members included.
 */
import { freeUpPortRange } from '../helpers/up-ports.js';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HA_PORT_OFFSETS, HA_REPLICAS } from '../../deploy/local-ha.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const execFileAsync = promisify(execFile);

const NODES = 3;
const EC = '2+1';
const READY_DEADLINE_MS = 150_000;
/** The leader's lease (5 s) runs out, another replica takes over, and the CLI's failover finds it. */
const FAILOVER_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 45_000;

let dir: { path: string; remove: () => Promise<void> } | undefined;
let root = '';
let up: ChildProcess | undefined;
let upOutput = '';
let replicaUrls: string[] = [];

/** `up`'s children, with their command lines: only processes this test started. */
async function childrenOfUp(): Promise<{ pid: number; args: string[] }[]> {
  const parent = up?.pid;
  if (parent === undefined) return [];
  const found: { pid: number; args: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter((arg) => arg !== '');
      found.push({ pid: Number(entry), args });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

/** The pid of the replica that advertises `url`. */
async function replicaPid(url: string): Promise<number | undefined> {
  const children = await childrenOfUp();
  return children.find(({ args }) => args[args.indexOf(GRANARY_BIN) + 1] === 'metadata' && args[args.indexOf('--advertise-url') + 1] === url)?.pid;
}

/** The CLI as a user runs it against `up --ha`: every replica named with --metadata. */
async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GRANARY_')));
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [GRANARY_BIN, ...args, '--metadata', replicaUrls.join(','), '--token-file', join(root, 'admin.token')],
      { cwd: dir?.path, maxBuffer: 64 * 1024 * 1024, env },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** The replica whose /health says it leads, if one does now. */
async function leader(): Promise<string | undefined> {
  for (const url of replicaUrls) {
    try {
      const answer = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      const health = (await answer.json()) as { role?: string };
      if (health.role === 'leader') return url;
    } catch {
      // Down or restarting: ask the next.
    }
  }
  return undefined;
}

beforeAll(async () => {
  dir = await makeTempDir('up-ha');
  root = join(dir.path, 'data');
  const port = await freeUpPortRange(NODES, HA_PORT_OFFSETS);
  replicaUrls = Array.from({ length: HA_REPLICAS }, (_, i) => `http://127.0.0.1:${port + i}`);
  up = spawn(process.execPath, [GRANARY_BIN, 'up', '--ha', '--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', EC, '--no-sample'], {
    cwd: dir.path,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = up;
  child.stdout?.on('data', (chunk: Buffer) => {
    upOutput += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    upOutput += chunk.toString();
  });
  await pollUntil('granary up --ha to be ready', () => {
    if (child.exitCode !== null) throw new Error(`granary up --ha exited ${child.exitCode}:\n${upOutput}`);
    return upOutput.includes('cluster ready') ? true : undefined;
  }, READY_DEADLINE_MS, 100);
}, READY_DEADLINE_MS + 10_000);

afterAll(async () => {
  const child = up;
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const leftovers = await childrenOfUp();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      // `up` did not stop in time: take down what this test started, and only that.
      for (const { pid } of leftovers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      child.kill('SIGKILL');
    }, STOP_DEADLINE_MS);
    await exited;
    clearTimeout(timer);
  }
  await dir?.remove();
}, STOP_DEADLINE_MS + 10_000);

describe('granary up --ha', () => {
  it('elects a leader, serves the CLI over every replica URL, and takes writes again after the leader replica is SIGKILLed', async () => {
    expect(upOutput).toContain(`export GRANARY_METADATA=${replicaUrls.join(',')}`);
    const children = await childrenOfUp();
    expect(children.filter(({ args }) => args[0]?.endsWith('etcd') === true)).toHaveLength(3);
    expect(children.filter(({ args }) => args[args.indexOf(GRANARY_BIN) + 1] === 'metadata')).toHaveLength(HA_REPLICAS);

    const first = await pollUntil('a leader replica', leader, 30_000, 100);
    const schema = join(dir?.path as string, 'schema.json');
    await writeFile(schema, JSON.stringify({ columns: [{ name: 'id', type: 'int64' }, { name: 'name', type: 'string' }] }));
    const rows = (from: number): string =>
      Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: from + i, name: `row-${from + i}` })).join('\n') + '\n';
    await writeFile(join(dir?.path as string, 'a.jsonl'), rows(0));
    await writeFile(join(dir?.path as string, 'b.jsonl'), rows(100));

    const created = await granary(['table', 'create', 'ha', '--schema', schema, '--ec', EC]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const ingested = await granary(['ingest', 'ha', '--partition', 'ds=2026-12-01', join(dir?.path as string, 'a.jsonl')]);
    expect(ingested.stderr).toBe('');
    expect(ingested.code).toBe(0);
    const read = await granary(['read', 'ha', '--format', 'jsonl', '--columns', 'id']);
    expect(read.code).toBe(0);
    expect(read.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);

    const leaderPid = await replicaPid(first);
    expect(leaderPid).toBeDefined();
    process.kill(leaderPid as number, 'SIGKILL');
    const killedAt = Date.now();
    // Writes work again: the CLI fails over along the list while another replica takes over.
    await pollUntil('an ingest after the leader died', async () => {
      const again = await granary(['ingest', 'ha', '--partition', 'ds=2026-12-02', join(dir?.path as string, 'b.jsonl')]);
      return again.code === 0 ? true : undefined;
    }, FAILOVER_DEADLINE_MS, 250);
    expect(Date.now() - killedAt).toBeLessThan(FAILOVER_DEADLINE_MS);
    const after = await granary(['read', 'ha', '--format', 'jsonl', '--columns', 'id']);
    expect(after.code).toBe(0);
    expect(after.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104]);

    // `up` restarted the dead replica, as it restarts any child.
    await pollUntil('up to restart the replica', async () => {
      const pid = await replicaPid(first);
      return upOutput.includes('restarted') && pid !== undefined && pid !== leaderPid ? true : undefined;
    }, FAILOVER_DEADLINE_MS, 100);
    expect(upOutput).toMatch(/metadata replica metadata-\d exited with code none \(signal SIGKILL\); restarting in 1 s/);
    expect(await pollUntil('a leader replica', leader, 30_000, 100)).toBeDefined();
  }, FAILOVER_DEADLINE_MS * 3);

  it('stops every child, etcd members included, on SIGTERM', async () => {
    const child = up as ChildProcess;
    const children = await childrenOfUp();
    // Three etcd members, three replicas, the storage nodes.
    expect(children.length).toBe(3 + HA_REPLICAS + NODES);
    const code = new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(upOutput).toMatch(/stopped/);
    for (const { pid } of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, STOP_DEADLINE_MS);
});
