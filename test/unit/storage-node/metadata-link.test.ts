/**
 * MetadataLink against a fake metadata service on a real loopback socket (the network is the
 * point): registration, heartbeats, re-registration after a 404, retries while the service is
 * down, and corrupt chunks reported once each.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeLoad } from '../../../protocol/index.js';
import type { CorruptChunk } from '../../../storage-node/index.js';
import { type LinkLogger, MetadataLink } from '../../../storage-node/metadata-link.js';
import { type FakeMetadata, startFakeMetadata } from '../../helpers/fake-metadata.js';
import { pollUntil } from '../../helpers/poll.js';

const HEARTBEAT_INTERVAL_MS = 20;
const LOAD: NodeLoad = { capacityBytes: 1_000_000, freeBytes: 600_000, usedBytes: 300_000, chunkCount: 7 };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fake(port = 0): Promise<FakeMetadata> {
  const metadata = await startFakeMetadata(port);
  cleanups.push(() => metadata.close());
  return metadata;
}

interface LoggedLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

function startLink(metadataUrl: string, corrupt: CorruptChunk[] = []): { link: MetadataLink; logged: LoggedLine[] } {
  const logged: LoggedLine[] = [];
  const logger: LinkLogger = {
    info: (_fields, message) => logged.push({ level: 'info', message }),
    warn: (_fields, message) => logged.push({ level: 'warn', message }),
    error: (_fields, message) => logged.push({ level: 'error', message }),
  };
  const link = new MetadataLink({
    metadataUrl,
    nodeId: 'node-a1',
    url: 'http://127.0.0.1:7101',
    domain: 'rack-1',
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    load: async () => ({ ...LOAD, extra: 'not sent' }) as NodeLoad,
    corruptChunks: () => corrupt,
    logger,
    requestTimeoutMs: 2_000,
  });
  link.start();
  cleanups.push(() => link.stop());
  return { link, logged };
}

/** Waits until the fake has accepted `count` more calls of a kind than it had when called. */
async function moreAccepted(metadata: FakeMetadata, kind: 'register' | 'heartbeat' | 'corrupt', count: number): Promise<void> {
  const target = metadata.accepted(kind).length + count;
  await pollUntil(`${count} more ${kind} calls`, () => (metadata.accepted(kind).length >= target ? true : undefined), 10_000, 5);
}

function corruptChunk(id: string): CorruptChunk {
  return { id, reason: `page 3 of ${id} fails its checksum`, detectedAt: new Date().toISOString() };
}

describe('MetadataLink', () => {
  it('registers with id, url, domain and load, then keeps sending heartbeats with the load', async () => {
    const metadata = await fake();
    const { link } = startLink(metadata.url);
    await moreAccepted(metadata, 'register', 1);
    expect(metadata.accepted('register')[0]?.body).toEqual({
      nodeId: 'node-a1',
      url: 'http://127.0.0.1:7101',
      domain: 'rack-1',
      ...LOAD,
    });
    await moreAccepted(metadata, 'heartbeat', 5);
    expect(metadata.accepted('register')).toHaveLength(1);
    for (const heartbeat of metadata.accepted('heartbeat')) {
      expect(heartbeat.nodeId).toBe('node-a1');
      expect(heartbeat.body).toEqual(LOAD);
    }
    expect(link.status()).toMatchObject({ registered: true, consecutiveFailures: 0 });
  });

  it('registers again when a heartbeat answers 404 GRN_NODE_NOT_FOUND', async () => {
    const metadata = await fake();
    const { logged } = startLink(metadata.url);
    await moreAccepted(metadata, 'heartbeat', 2);
    metadata.forgetNodes();
    await moreAccepted(metadata, 'register', 1);
    expect(metadata.accepted('register')).toHaveLength(2);
    const forgotten = metadata.calls.findIndex((call) => call.status === 404);
    expect(metadata.calls[forgotten]?.kind).toBe('heartbeat');
    expect(metadata.calls[forgotten + 1]?.kind).toBe('register');
    await moreAccepted(metadata, 'heartbeat', 2);
    expect(logged.filter((line) => line.level !== 'info')).toEqual([]);
  });

  it('retries registration on every tick while the service answers 503, and warns without crashing', async () => {
    const metadata = await fake();
    metadata.failNext(4);
    const { link, logged } = startLink(metadata.url);
    await moreAccepted(metadata, 'register', 1);
    expect(metadata.calls.slice(0, 5).map((call) => `${call.kind} ${call.status}`)).toEqual([
      'register 503',
      'register 503',
      'register 503',
      'register 503',
      'register 200',
    ]);
    // The fake records the call before the link has read the answer: wait for the link's side.
    await pollUntil('the recovery to be logged', () => (logged.some((line) => line.message === 'metadata service reachable again') ? true : undefined), 10_000, 5);
    expect(logged.filter((line) => line.level === 'warn')).toHaveLength(1);
    await moreAccepted(metadata, 'heartbeat', 2);
    expect(link.status()).toMatchObject({ registered: true, consecutiveFailures: 0 });
  });

  it('keeps trying while nothing listens, and registers once the service starts', async () => {
    const port = await freePort();
    const { link, logged } = startLink(`http://127.0.0.1:${port}`);
    await pollUntil('failed ticks', () => (link.status().consecutiveFailures >= 3 ? true : undefined), 10_000, 5);
    expect(link.status().registered).toBe(false);
    const warnings = logged.filter((line) => line.level === 'warn').map((line) => line.message);
    expect(warnings[0]).toBe('metadata service unreachable; retrying every tick');
    expect(warnings.length).toBeLessThan(link.status().consecutiveFailures); // rate-limited, not one per tick
    const metadata = await fake(port);
    await moreAccepted(metadata, 'register', 1);
    await moreAccepted(metadata, 'heartbeat', 1);
    expect(link.status()).toMatchObject({ registered: true, consecutiveFailures: 0 });
  });

  it('reports each corrupt chunk once, retries a failed report, and resends after re-registration', async () => {
    const metadata = await fake();
    const corrupt: CorruptChunk[] = [corruptChunk('blk-1.0')];
    startLink(metadata.url, corrupt);
    await moreAccepted(metadata, 'corrupt', 1);
    expect(metadata.accepted('corrupt')[0]).toMatchObject({
      nodeId: 'node-a1',
      body: { chunks: [{ chunkId: 'blk-1.0', reason: 'page 3 of blk-1.0 fails its checksum' }] },
    });

    metadata.failNext(1, 'corrupt');
    corrupt.push(corruptChunk('blk-2.4'), corruptChunk('blk-3.1'));
    await moreAccepted(metadata, 'corrupt', 1);
    const failed = metadata.calls.filter((call) => call.kind === 'corrupt' && call.status === 503);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.body).toMatchObject({ chunks: [{ chunkId: 'blk-2.4' }, { chunkId: 'blk-3.1' }] });
    await moreAccepted(metadata, 'heartbeat', 4);
    const reported = metadata.accepted('corrupt').flatMap((call) => (call.body as { chunks: { chunkId: string }[] }).chunks);
    expect(reported.map((chunk) => chunk.chunkId)).toEqual(['blk-1.0', 'blk-2.4', 'blk-3.1']);

    metadata.forgetNodes();
    await moreAccepted(metadata, 'corrupt', 1);
    const resent = metadata.accepted('corrupt').at(-1)?.body as { chunks: { chunkId: string }[] };
    expect(resent.chunks.map((chunk) => chunk.chunkId)).toEqual(['blk-1.0', 'blk-2.4', 'blk-3.1']);
  });

  it('stop() ends the ticks and settles the call in flight', async () => {
    const metadata = await fake();
    const { link } = startLink(metadata.url);
    await moreAccepted(metadata, 'heartbeat', 2);
    await link.stop();
    const callsAtStop = metadata.calls.length;
    // Absence can only be checked by waiting: ten intervals with no new call.
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_INTERVAL_MS * 10));
    expect(metadata.calls.length).toBe(callsAtStop);
  });

  it('rejects a bad domain, node id, URL or interval at construction', () => {
    const base = {
      metadataUrl: 'http://127.0.0.1:1',
      nodeId: 'node-a1',
      url: 'http://127.0.0.1:7101',
      domain: 'rack-1',
      heartbeatIntervalMs: 1000,
      load: async () => LOAD,
      corruptChunks: () => [],
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    };
    expect(() => new MetadataLink(base)).not.toThrow();
    expect(() => new MetadataLink({ ...base, domain: 'rack 1' })).toThrow(/domain/);
    expect(() => new MetadataLink({ ...base, nodeId: 'Node/1' })).toThrow(/node id/);
    expect(() => new MetadataLink({ ...base, metadataUrl: 'not a url' })).toThrow(/metadata URL/);
    expect(() => new MetadataLink({ ...base, heartbeatIntervalMs: 0 })).toThrow(/heartbeat interval/);
  });
});

/** A loopback port with nothing listening on it (free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}
