/**
 * MetadataClient over several metadata replicas, on real loopback sockets (refused connections
 * and dropped sockets are the point): it moves past a replica that is down, has no leader or is
 * not the leader (following the leader it names), stays on the one that answered, never takes a
 * real answer elsewhere, never repeats a mutation whose connection dropped after it went out
 * unless the mutation may run twice, and gives up at its deadline naming every URL.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MetadataClient } from '../../../client/metadata-client.js';
import { GranaryError, HttpPools } from '../../../protocol/index.js';

/** What a fake replica does with one request: answer with a status and a JSON body, or drop the socket. */
type Behaviour = { readonly status: number; readonly body: unknown } | 'drop';

interface Replica {
  readonly url: string;
  /** `METHOD path` of every request it received, in order. */
  readonly received: string[];
  /** Decides each answer; replaced by tests as the scenario moves on. */
  behave: (request: IncomingMessage) => Behaviour;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const TABLES = { status: 200, body: { tables: [], next: null } } as const;
const noLeader = { status: 503, body: { code: 'GRN_NO_LEADER', message: 'no metadata replica holds the leadership' } } as const;
const notLeader = (leader?: string): Behaviour => ({
  status: 503,
  body: { code: 'GRN_NOT_LEADER', message: 'this replica is not the leader', ...(leader === undefined ? {} : { details: { leader } }) },
});

async function replica(behave: Replica['behave']): Promise<Replica> {
  const received: string[] = [];
  const state: { behave: Replica['behave'] } = { behave };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    received.push(`${request.method} ${request.url}`);
    request.resume();
    request.on('end', () => {
      const behaviour = state.behave(request);
      if (behaviour === 'drop') {
        // The request arrived whole; the answer never leaves: what a replica dying mid-call looks like.
        request.socket.destroy();
        return;
      }
      response.writeHead(behaviour.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(behaviour.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(async () => server.closeAllConnections());
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get behave() {
      return state.behave;
    },
    set behave(next) {
      state.behave = next;
    },
  };
}

/** A loopback URL nothing listens on (the port was free a moment ago): connections are refused. */
async function downUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function client(urls: string | readonly string[], deadlineMs = 10_000): MetadataClient {
  const http = new HttpPools();
  cleanups.push(() => http.close());
  return new MetadataClient(http, urls, undefined, { deadlineMs, backoffFirstMs: 20, backoffMaxMs: 100 });
}

async function rejection(promise: Promise<unknown>): Promise<GranaryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    return error as GranaryError;
  }
  throw new Error('the call succeeded');
}

describe('MetadataClient over several replicas', () => {
  it('moves past a refused connection and a follower to the leader it names, then stays there', async () => {
    const down = await downUrl();
    const leader = await replica(() => TABLES);
    const follower = await replica(() => notLeader(`${leader.url}/`));
    const metadata = client([down, follower.url, leader.url]);
    // The leader is last in the list: only the follower's hint sends the call there before a pause.
    expect(await metadata.listTables()).toEqual([]);
    expect(metadata.url).toBe(leader.url);
    expect(follower.received).toEqual(['GET /v1/tables']);
    expect(leader.received).toEqual(['GET /v1/tables']);
    await metadata.listTables();
    expect(follower.received).toHaveLength(1);
    expect(leader.received).toHaveLength(2);
  });

  it('waits out an election: a replica with no leader answers again once one is elected', async () => {
    const down = await downUrl();
    let answers = 0;
    const electing = await replica(() => (++answers <= 2 ? noLeader : TABLES));
    const metadata = client([down, electing.url]);
    // A mutation too: a 503 GRN_NO_LEADER promises nothing was changed.
    electing.behave = () => (++answers <= 2 ? noLeader : { status: 200, body: { name: 't', columns: [] } });
    await metadata.createTable({ name: 't', columns: [{ name: 'x', type: 'float' }] });
    expect(electing.received).toEqual(['POST /v1/tables', 'POST /v1/tables', 'POST /v1/tables']);
    expect(metadata.url).toBe(electing.url);
  });

  it('takes a real answer as final: a missing table is not asked of the other replicas', async () => {
    const first = await replica(() => ({ status: 404, body: { code: 'GRN_TABLE_NOT_FOUND', message: 'no table named nope' } }));
    const second = await replica(() => TABLES);
    const metadata = client([first.url, second.url]);
    const error = await rejection(metadata.describeTable('nope'));
    expect(error.code).toBe('GRN_TABLE_NOT_FOUND');
    expect(error.message).toBe('no table named nope');
    expect(second.received).toEqual([]);
    expect(metadata.url).toBe(first.url);
  });

  it('gives up at its deadline with the last error, naming every URL it tried', async () => {
    const down = await downUrl();
    const electing = await replica(() => noLeader);
    const cutOff = await replica(() => ({ status: 503, body: { code: 'GRN_STORE_UNAVAILABLE', message: 'etcd does not answer' } }));
    const metadata = client([down, electing.url, cutOff.url], 300);
    const startedAt = Date.now();
    const error = await rejection(metadata.health());
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(['GRN_UNAVAILABLE', 'GRN_NO_LEADER', 'GRN_STORE_UNAVAILABLE']).toContain(error.code);
    expect(error.message).toMatch(/no metadata replica answered in \d+\.\d s; tried /);
    for (const url of [down, electing.url, cutOff.url]) expect(error.message).toContain(url);
    // It kept trying: more than one pass over the list.
    expect(electing.received.length).toBeGreaterThan(1);
  });

  it('with one URL, retries it alone; with deadline 0, tries each replica once', async () => {
    let answers = 0;
    const restarting = await replica(() => (++answers <= 3 ? { status: 503, body: { code: 'GRN_UNAVAILABLE', message: 'starting' } } : TABLES));
    expect(await client(restarting.url).listTables()).toEqual([]);
    expect(restarting.received).toHaveLength(4);
    const electing = await replica(() => noLeader);
    const down = await downUrl();
    const error = await rejection(client(`${electing.url},${down}`, 0).listTables());
    expect(electing.received).toHaveLength(1);
    expect(error.message).toContain(`tried ${electing.url}, ${down}`);
  });

  it('does not send a mutation again when its connection dropped after it went out, unless it may run twice', async () => {
    const dying = await replica(() => 'drop');
    const next = await replica(() => ({ status: 200, body: { tables: [], next: null, sessionId: 's1', alreadyCommitted: true } }));
    const metadata = client([dying.url, next.url]);
    // Creating a table twice would answer "exists" for a table this call made: the caller must look.
    const error = await rejection(metadata.createTable({ name: 't', columns: [{ name: 'x', type: 'float' }] }));
    expect(error.code).toBe('GRN_UNAVAILABLE');
    expect(dying.received).toEqual(['POST /v1/tables']);
    expect(next.received).toEqual([]);
    // The replica is likely gone: the next call starts at the next one.
    expect(metadata.url).toBe(next.url);
    // A read, and a commit (a retried commit answers the stored result), may run twice.
    const again = client([dying.url, next.url]);
    await again.listTables();
    await again.commit('s1', { files: [] } as never);
    expect(dying.received).toEqual(['POST /v1/tables', 'GET /v1/tables']);
    expect(next.received).toEqual(['GET /v1/tables', 'POST /v1/sessions/s1/commit']);
  });
});
