/**
 * `granary up` keeps its cluster running: a storage node and then the metadata service are
 * SIGKILLed (found among `up`'s own children in /proc), `up` says so, starts each again after its
 * back-off, the cluster is healthy again and the sample table reads back the same rows; a SIGTERM
 * of `up` then stops everything without a restart.
 */
import { freeUpPortRange } from '../helpers/up-ports.js';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const execFileAsync = promisify(execFile);

const NODES = 3;
const EC = '2+1';
const READY_DEADLINE_MS = 150_000;
/** A restart waits 1 s, then the service starts (a few seconds on a loaded machine) and nodes heartbeat again. */
const RECOVERY_DEADLINE_MS = 90_000;
const STOP_DEADLINE_MS = 30_000;

let dir: { path: string; remove: () => Promise<void> } | undefined;
let root = '';
let up: ChildProcess | undefined;
let upOutput = '';
let metadataUrl = '';

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

async function pidOf(service: 'metadata' | `node-${number}`): Promise<number | undefined> {
  const children = await childrenOfUp();
  const match = children.find(({ args }) => {
    const command = args[args.indexOf(GRANARY_BIN) + 1];
    return service === 'metadata' ? command === 'metadata' : command === 'storage-node' && args[args.indexOf('--node-id') + 1] === service;
  });
  return match?.pid;
}

async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The CLI finds ./data/admin.token (when `up` makes one) from the directory above the data dir.
  const tokenFile = join(root, 'admin.token');
  const env = { ...process.env, GRANARY_METADATA: metadataUrl, ...(existsSync(tokenFile) ? { GRANARY_TOKEN_FILE: tokenFile } : {}) };
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [GRANARY_BIN, ...args], { cwd: dirname(root), maxBuffer: 256 * 1024 * 1024, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function readSamples(): Promise<string> {
  const read = await granary(['read', 'samples', '--columns', 'label,ts,ids_0', '--format', 'jsonl']);
  expect(read.stderr).toBe('');
  expect(read.code).toBe(0);
  return read.stdout;
}

/** Healthy: every node alive (as the metadata service sees it) and status exits 0. */
async function healthy(): Promise<true | undefined> {
  const status = await granary(['status', '--json']);
  if (status.code !== 0) return undefined;
  const parsed = JSON.parse(status.stdout) as { nodes: { alive: number } };
  return parsed.nodes.alive === NODES ? true : undefined;
}

beforeAll(async () => {
  dir = await makeTempDir('up-restart');
  root = join(dir.path, 'data');
  const port = await freeUpPortRange(NODES);
  metadataUrl = `http://127.0.0.1:${port}`;
  up = spawn(process.execPath, [GRANARY_BIN, 'up', '--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', EC], {
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
  await pollUntil('granary up to be ready', () => {
    if (child.exitCode !== null) throw new Error(`granary up exited ${child.exitCode}:\n${upOutput}`);
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

describe('granary up restarts its children', () => {
  it('brings back a SIGKILLed storage node and metadata service, says so, and the sample table reads back the same', async () => {
    expect(upOutput).toMatch(/sample table "samples" written/);
    const before = await readSamples();
    expect(before.split('\n').filter((line) => line !== '').length).toBeGreaterThan(1000);

    const nodePid = await pidOf('node-1');
    expect(nodePid).toBeDefined();
    process.kill(nodePid as number, 'SIGKILL');
    await pollUntil('up to restart node-1', async () => {
      const pid = await pidOf('node-1');
      return upOutput.includes('storage node node-1 restarted') && pid !== undefined && pid !== nodePid ? true : undefined;
    }, RECOVERY_DEADLINE_MS, 100);
    expect(upOutput).toMatch(/storage node node-1 exited with code none \(signal SIGKILL\); restarting in 1 s/);

    const metadataPid = await pidOf('metadata');
    expect(metadataPid).toBeDefined();
    process.kill(metadataPid as number, 'SIGKILL');
    await pollUntil('up to restart the metadata service', async () => {
      const pid = await pidOf('metadata');
      return upOutput.includes('metadata service restarted') && pid !== undefined && pid !== metadataPid ? true : undefined;
    }, RECOVERY_DEADLINE_MS, 100);
    expect(upOutput).toMatch(/metadata service exited with code none \(signal SIGKILL\); restarting in 1 s/);

    await pollUntil('every node alive again', healthy, RECOVERY_DEADLINE_MS, 250);
    expect(await readSamples()).toBe(before);
    // Nothing was given up on.
    expect(upOutput).not.toMatch(/giving up/);
  }, RECOVERY_DEADLINE_MS * 3);

  it('stops on SIGTERM without restarting anything', async () => {
    const child = up as ChildProcess;
    const children = await childrenOfUp();
    expect(children.length).toBe(NODES + 1);
    const code = new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    const mark = upOutput.length;
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    const tail = upOutput.slice(mark);
    expect(tail).toMatch(/SIGTERM; stopping/);
    expect(tail).toMatch(/stopped/);
    expect(tail).not.toMatch(/restarting in/);
    // Every child it had is gone.
    for (const { pid } of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, STOP_DEADLINE_MS);
});
