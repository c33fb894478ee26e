/**
 * `granary up` keeps its cluster running: a storage node and then the metadata service are
 * SIGKILLed (found among `up`'s own children in /proc), `up` says so, starts each again after its
 * back-off, the cluster is healthy again and the sample table reads back the same rows; a SIGTERM
 * of `up` then stops everything without a restart.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/poll.js';
import { type CliResult, flagValue, granaryCommand, runGranary, useUpCluster } from '../helpers/up-process.js';

const NODES = 3;
const EC = '2+1';
const READY_DEADLINE_MS = 150_000;
/** A restart waits 1 s, then the service starts (a few seconds on a loaded machine) and nodes heartbeat again. */
const RECOVERY_DEADLINE_MS = 90_000;
const STOP_DEADLINE_MS = 30_000;

const cluster = useUpCluster({
  name: 'up-restart',
  nodes: NODES,
  args: (root, port) => ['--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', EC],
  readyDeadlineMs: READY_DEADLINE_MS,
  stopDeadlineMs: STOP_DEADLINE_MS,
});

async function pidOf(service: 'metadata' | `node-${number}`): Promise<number | undefined> {
  return cluster.up.pidOf((args) => {
    const command = granaryCommand(args);
    return service === 'metadata' ? command === 'metadata' : command === 'storage-node' && flagValue(args, '--node-id') === service;
  });
}

async function granary(args: readonly string[]): Promise<CliResult> {
  // The CLI finds ./data/admin.token (when `up` makes one) from the directory above the data dir.
  const tokenFile = join(cluster.root, 'admin.token');
  const env = { ...process.env, GRANARY_METADATA: `http://127.0.0.1:${cluster.port}`, ...(existsSync(tokenFile) ? { GRANARY_TOKEN_FILE: tokenFile } : {}) };
  return runGranary(args, { cwd: dirname(cluster.root), maxBuffer: 256 * 1024 * 1024, env });
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

describe('granary up restarts its children', () => {
  it('brings back a SIGKILLed storage node and metadata service, says so, and the sample table reads back the same', async () => {
    expect(cluster.up.output()).toMatch(/sample table "samples" written/);
    const before = await readSamples();
    expect(before.split('\n').filter((line) => line !== '').length).toBeGreaterThan(1000);

    const nodePid = await pidOf('node-1');
    expect(nodePid).toBeDefined();
    process.kill(nodePid as number, 'SIGKILL');
    await pollUntil('up to restart node-1', async () => {
      const pid = await pidOf('node-1');
      return cluster.up.output().includes('storage node node-1 restarted') && pid !== undefined && pid !== nodePid ? true : undefined;
    }, RECOVERY_DEADLINE_MS, 100);
    expect(cluster.up.output()).toMatch(/storage node node-1 exited with code none \(signal SIGKILL\); restarting in 1 s/);

    const metadataPid = await pidOf('metadata');
    expect(metadataPid).toBeDefined();
    process.kill(metadataPid as number, 'SIGKILL');
    await pollUntil('up to restart the metadata service', async () => {
      const pid = await pidOf('metadata');
      return cluster.up.output().includes('metadata service restarted') && pid !== undefined && pid !== metadataPid ? true : undefined;
    }, RECOVERY_DEADLINE_MS, 100);
    expect(cluster.up.output()).toMatch(/metadata service exited with code none \(signal SIGKILL\); restarting in 1 s/);

    await pollUntil('every node alive again', healthy, RECOVERY_DEADLINE_MS, 250);
    expect(await readSamples()).toBe(before);
    // Nothing was given up on.
    expect(cluster.up.output()).not.toMatch(/giving up/);
  }, RECOVERY_DEADLINE_MS * 3);

  it('stops on SIGTERM without restarting anything', async () => {
    const children = await cluster.up.children();
    // The metadata service, the storage nodes, the re-layout worker, the gateway.
    expect(children.length).toBe(NODES + 3);
    const mark = cluster.up.output().length;
    expect(await cluster.up.stop(STOP_DEADLINE_MS)).toBe(0);
    const tail = cluster.up.output().slice(mark);
    expect(tail).toMatch(/SIGTERM; stopping/);
    expect(tail).toMatch(/stopped/);
    expect(tail).not.toMatch(/restarting in/);
    // Every child it had is gone.
    for (const { pid } of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, STOP_DEADLINE_MS);
});
