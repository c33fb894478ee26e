/**
 * The network fault helper (test/helpers/test-network.ts) with real processes: a metadata
 * service and three storage nodes, each in its own network namespace. A node whose link goes down
 * turns suspect, then dead, and alive again when the link comes back; a delayed node answers
 * slowly while the others answer fast. Needs root.
 */
import { readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeInfo, NodeState } from '../../protocol/index.js';
import { adminTokenOf, nodeCredentialArgs } from '../helpers/cluster.js';
import type { GranaryProcess } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { type TestNetwork, createTestNetwork } from '../helpers/test-network.js';

const METADATA_HOST = 0;
/** Storage node i runs on host i, as node-i. */
const NODE_HOSTS = [1, 2, 3] as const;
const HEARTBEAT_INTERVAL_MS = 200;
const SUSPECT_AFTER_MS = 1_000;
const DEAD_AFTER_MS = 3_000;
/** Generous: the only wait is DEAD_AFTER_MS; the rest is slack for a loaded machine. */
const STATE_CHANGE_TIMEOUT_MS = 15_000;
/**
 * After linkUp, the heartbeat that hung while the link was down must first time out (the link's
 * 5 s request timeout) or be retransmitted (TCP backoff) before the next one gets through.
 */
const RECOVERY_TIMEOUT_MS = 30_000;
const DELAY_MS = 300;
/** A /health round trip on an idle machine takes a few ms; well under the delay on a busy one. */
const FAST_ANSWER_MAX_MS = DELAY_MS / 2;
const SAMPLES = 3;
/** Bounds every request, so a request to a host whose link is down cannot hang the test. */
const REQUEST_TIMEOUT_MS = 5_000;

type NodeView = Pick<NodeInfo, 'nodeId' | 'state' | 'url'>;

describe('test network: granary processes in network namespaces', () => {
  let network: TestNetwork | undefined;
  let dir: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  let metadata: GranaryProcess;
  /** The metadata service's bootstrap admin token (it runs with auth on). */
  let adminToken = '';
  const nodes = new Map<number, GranaryProcess>();
  // Our own connection pool, closed in afterAll: the hosts it talks to are about to vanish.
  const agent = new Agent({ headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, connectTimeout: REQUEST_TIMEOUT_MS });

  const get = async (url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> => {
    const response = await request(url, { dispatcher: agent, headers });
    return { status: response.statusCode, body: await response.body.json() };
  };
  const listNodes = async (): Promise<NodeView[]> => ((await get(`${metadata.url}/v1/nodes`, { authorization: `Bearer ${adminToken}` })).body as { nodes: NodeView[] }).nodes;
  const stateOf = async (nodeId: string): Promise<NodeState | undefined> => (await listNodes()).find((node) => node.nodeId === nodeId)?.state;
  const waitForState = (nodeId: string, state: NodeState, timeoutMs: number): Promise<true> =>
    pollUntil(`${nodeId} to be ${state}`, async () => ((await stateOf(nodeId)) === state ? true : undefined), timeoutMs);
  /** Milliseconds each of SAMPLES sequential GET /health calls took. */
  const healthTimes = async (node: GranaryProcess): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      expect((await get(`${node.url}/health`)).status).toBe(200);
      times.push(performance.now() - started);
    }
    return times;
  };
  const nodeOn = (host: number): GranaryProcess => {
    const node = nodes.get(host);
    if (node === undefined) throw new Error(`no storage node on host ${host}`);
    return node;
  };

  beforeAll(async () => {
    network = await createTestNetwork({ hosts: 1 + NODE_HOSTS.length });
    dir = await makeTempDir('test-network');
    const net = network;
    const root = dir.path;
    metadata = await net.startGranary(
      METADATA_HOST,
      ['metadata', '--data', join(root, 'metadata'), '--port', '0', '--suspect-after-ms', String(SUSPECT_AFTER_MS), '--dead-after-ms', String(DEAD_AFTER_MS)],
      'metadata ready',
    );
    adminToken = await adminTokenOf(join(root, 'metadata'));
    await Promise.all(
      NODE_HOSTS.map(async (host) => {
        const node = await net.startGranary(
          host,
          [
            'storage-node',
            '--data',
            join(root, `node-${host}`),
            '--port',
            '0',
            '--metadata',
            metadata.url,
            '--heartbeat-interval-ms',
            String(HEARTBEAT_INTERVAL_MS),
            // --node-id and a node token for it
            ...(await nodeCredentialArgs(metadata.url, adminToken, `node-${host}`)),
            '--reserve',
            '0',
            '--scrub-interval-hours',
            '0',
          ],
          'storage node ready',
        );
        nodes.set(host, node);
      }),
    );
    await pollUntil('every storage node to be alive', async () => {
      const alive = (await listNodes()).filter((node) => node.state === 'alive');
      return alive.length === NODE_HOSTS.length ? true : undefined;
    });
  });

  afterAll(async () => {
    await agent.destroy();
    await network?.destroy();
    await dir?.remove();
  });

  it('runs every process inside its host, reachable from the test process at the host address', async () => {
    const net = network as TestNetwork;
    // `ip netns exec` execs in place: the pid we hold is node itself (not ip), in the host's namespace.
    expect(readlinkSync(`/proc/${metadata.pid}/exe`)).toBe(realpathSync(process.execPath));
    expect(net.hostOfPid(metadata.pid)).toBe(METADATA_HOST);
    expect(net.hostOfPid(process.pid)).toBeUndefined();
    expect(metadata.url).toBe(`http://${net.host(METADATA_HOST).address}:${metadata.port}`);
    expect(metadata.ready.host).toBe(net.host(METADATA_HOST).address);
    const listed = await listNodes();
    for (const host of NODE_HOSTS) {
      const node = nodeOn(host);
      expect(net.hostOfPid(node.pid)).toBe(host);
      // The node registered the address it bound, so the metadata reached it across the bridge.
      expect(listed.find((entry) => entry.nodeId === `node-${host}`)?.url).toBe(`http://${net.host(host).address}:${node.port}`);
      expect((await get(`${node.url}/health`)).status).toBe(200);
    }
  });

  it('a node whose link goes down turns suspect, then dead, and alive again when the link is back', async () => {
    const net = network as TestNetwork;
    const [cut, ...others] = NODE_HOSTS;
    const nodeId = `node-${cut}`;
    // So what follows is caused by the cut, not by a node that was already late.
    await waitForState(nodeId, 'alive', STATE_CHANGE_TIMEOUT_MS);
    await net.linkDown(cut);
    try {
      await waitForState(nodeId, 'suspect', STATE_CHANGE_TIMEOUT_MS);
      await waitForState(nodeId, 'dead', STATE_CHANGE_TIMEOUT_MS);
      // Only that host is cut off (polled: on a loaded machine a heartbeat may be late for a moment).
      for (const host of others) await waitForState(`node-${host}`, 'alive', STATE_CHANGE_TIMEOUT_MS);
      expect(await stateOf(nodeId)).toBe('dead');
    } finally {
      await net.linkUp(cut);
    }
    await waitForState(nodeId, 'alive', RECOVERY_TIMEOUT_MS);
    expect((await get(`${nodeOn(cut).url}/health`)).status).toBe(200);
  });

  it('a delayed node answers no faster than the delay while another answers fast, until the delay is cleared', async () => {
    const net = network as TestNetwork;
    const [, slow, fast] = NODE_HOSTS;
    // Warm the connections, so the samples below measure one round trip each, not a handshake.
    await healthTimes(nodeOn(slow));
    await healthTimes(nodeOn(fast));
    await net.setDelay(slow, DELAY_MS);
    try {
      for (const time of await healthTimes(nodeOn(slow))) expect(time).toBeGreaterThanOrEqual(DELAY_MS);
      expect(Math.min(...(await healthTimes(nodeOn(fast))))).toBeLessThan(FAST_ANSWER_MAX_MS);
    } finally {
      await net.clearDelay(slow);
    }
    expect(Math.min(...(await healthTimes(nodeOn(slow))))).toBeLessThan(FAST_ANSWER_MAX_MS);
  });
});
