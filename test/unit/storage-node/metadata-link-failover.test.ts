/**
 * A storage node's MetadataLink given several metadata URLs, on real loopback sockets: it
 * registers with whichever replica answers, follows the leader a follower names, and moves to
 * another replica when the one it talks to goes down.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeInfo, NodeLoad } from '../../../protocol/index.js';
import { type LinkLogger, MetadataLink } from '../../../storage-node/metadata-link.js';
import { startFakeMetadata } from '../../helpers/fake-metadata.js';
import { makeMetadataApp } from '../../helpers/metadata-app.js';
import { pollUntil } from '../../helpers/poll.js';

const HEARTBEAT_INTERVAL_MS = 20;
const LOAD: NodeLoad = { capacityBytes: 1_000_000, freeBytes: 600_000, usedBytes: 300_000, chunkCount: 7 };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LoggedLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function startLink(metadataUrl: string | readonly string[]): { link: MetadataLink; logged: LoggedLine[] } {
  const logged: LoggedLine[] = [];
  const logger: LinkLogger = {
    info: (fields, message) => logged.push({ level: 'info', message, fields }),
    warn: (fields, message) => logged.push({ level: 'warn', message, fields }),
    error: (fields, message) => logged.push({ level: 'error', message, fields }),
  };
  const link = new MetadataLink({
    metadataUrl,
    nodeId: 'node-a1',
    url: 'http://127.0.0.1:7101',
    domain: 'rack-1',
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    load: async () => LOAD,
    corruptChunks: () => [],
    logger,
    requestTimeoutMs: 2_000,
  });
  link.start();
  cleanups.push(() => link.stop());
  return { link, logged };
}

/** A loopback URL nothing listens on (the port was free a moment ago): connections are refused. */
async function downUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A replica that follows: every call answers 503 GRN_NOT_LEADER naming `leader`. */
async function follower(leader: string): Promise<{ url: string; received: string[] }> {
  const received: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    received.push(`${request.method} ${request.url}`);
    request.resume();
    response.writeHead(503, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ code: 'GRN_NOT_LEADER', message: 'not the leader', details: { leader } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

describe('MetadataLink over several metadata replicas', () => {
  it('registers with the second URL of a real metadata service when the first is down, in its first tick', async () => {
    const metadata = await makeMetadataApp();
    cleanups.push(() => metadata.close());
    const live = await metadata.app.listen({ host: '127.0.0.1', port: 0 });
    const down = await downUrl();
    const { link, logged } = startLink(`${down},${live}`);
    const node = await pollUntil('the node registered', async () => {
      const answer = await metadata.app.inject({ method: 'GET', url: '/v1/nodes' });
      return (answer.json() as { nodes: NodeInfo[] }).nodes.find((n) => n.nodeId === 'node-a1' && n.state === 'alive');
    }, 10_000, 10);
    expect(node).toMatchObject({ url: 'http://127.0.0.1:7101', domain: 'rack-1' });
    await pollUntil('a heartbeat', async () => {
      const answer = await metadata.app.inject({ method: 'GET', url: '/v1/nodes' });
      const now = (answer.json() as { nodes: NodeInfo[] }).nodes.find((n) => n.nodeId === 'node-a1');
      return now !== undefined && now.lastHeartbeatAt !== node.lastHeartbeatAt ? true : undefined;
    }, 10_000, 10);
    // The refused URL cost no failed tick: the same call moved on.
    expect(link.status()).toMatchObject({ registered: true, consecutiveFailures: 0 });
    expect(logged.filter((line) => line.level !== 'info')).toEqual([]);
    expect(logged.find((line) => line.message === 'registered with metadata service')?.fields.metadataUrl).toBe(live);
  });

  it('follows the leader a follower names, and moves to another replica when its own goes down', async () => {
    const first = await startFakeMetadata();
    const second = await startFakeMetadata();
    cleanups.push(() => second.close());
    const following = await follower(`${first.url}/`);
    const { link, logged } = startLink([following.url, second.url, first.url]);
    // The follower names the leader (last in the list): the registration goes there, not to `second`.
    await pollUntil('a registration with the leader', () => first.accepted('register')[0], 10_000, 5);
    expect(following.received).toEqual(['POST /v1/nodes/register']);
    expect(second.calls).toEqual([]);
    await pollUntil('heartbeats to the leader', () => (first.accepted('heartbeat').length >= 2 ? true : undefined), 10_000, 5);
    expect(following.received).toHaveLength(1);

    // The leader goes away: the next heartbeat moves along the list (the follower first, whose
    // hint names the dead leader, then `second`), which does not know the node, so it registers there.
    await first.close();
    await pollUntil('heartbeats to the next replica', () => (second.accepted('heartbeat').length >= 2 ? true : undefined), 10_000, 5);
    expect(second.accepted('register')).toHaveLength(1);
    expect(link.status().registered).toBe(true);
    await pollUntil('the move logged', () => logged.find((line) => line.message === 'talking to another metadata replica' || line.message === 'metadata service reachable again'), 10_000, 5);
  });
});
