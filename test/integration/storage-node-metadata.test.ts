/**
 * A real storage-node process talking to a fake metadata service: it registers with its real
 * port and failure domain, heartbeats, and reports the chunk its scrubber finds rotten.
 */
import { open as openFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../erasure/index.js';
import { CAPABILITY_HEADER } from '../../protocol/capability.js';
import { type FakeMetadata, startFakeMetadata } from '../helpers/fake-metadata.js';
import { pollUntil } from '../helpers/poll.js';
import { startNodeProcess } from '../helpers/storage-node-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { bytesOf } from '../unit/storage-node/chunk-store-suite.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chunkPath(dataDir: string, id: string): Promise<string> {
  for (const fanout of await readdir(join(dataDir, 'chunks'))) {
    if ((await readdir(join(dataDir, 'chunks', fanout))).includes(id)) return join(dataDir, 'chunks', fanout, id);
  }
  throw new Error(`chunk ${id} not found under ${dataDir}`);
}

function corruptIds(metadata: FakeMetadata): string[] {
  return metadata.accepted('corrupt').flatMap((call) => (call.body as { chunks: { chunkId: string }[] }).chunks.map((c) => c.chunkId));
}

describe('storage node with a metadata service', () => {
  it('registers with its real port and domain, heartbeats, and reports a chunk the scrubber finds corrupt', async () => {
    const metadata = await startFakeMetadata();
    cleanups.push(() => metadata.close());
    const dir = await makeTempDir('node-meta');
    cleanups.push(dir.remove);
    const node = await startNodeProcess(dir.path, ['--metadata', metadata.url, '--domain', 'rack-1', '--heartbeat-interval-ms', '50']);
    cleanups.push(() => node.kill('SIGKILL'));

    const registration = await pollUntil('a registration', () => metadata.accepted('register')[0], 30_000);
    expect(registration.body).toMatchObject({ nodeId: node.nodeId, url: `http://127.0.0.1:${node.port}`, domain: 'rack-1' });
    const load = registration.body as Record<string, number>;
    expect(load.capacityBytes).toBeGreaterThan(0);
    expect(load.freeBytes).toBeGreaterThan(0);
    expect(load.chunkCount).toBe(0);

    // The node heartbeats once it has the registration answer, and with it the key to check
    // capabilities with; until then it refuses chunk requests (503).
    await pollUntil('a first heartbeat', () => metadata.accepted('heartbeat')[0]);
    const data = bytesOf(300_000, 3);
    for (const id of ['rot.1', 'fine.1']) {
      const put = await request(`${node.url}/v1/chunks/${id}`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'x-granary-checksum': checksumToHex(xxh64(data)),
          // Registered, the node checks capabilities against the key the (fake) service answered with.
          [CAPABILITY_HEADER]: metadata.capability('write', id),
        },
        body: data,
      });
      await put.body.dump();
      expect(put.statusCode).toBe(201);
    }
    const heartbeat = await pollUntil('a heartbeat counting both chunks', () =>
      metadata.accepted('heartbeat').find((call) => (call.body as { chunkCount: number }).chunkCount === 2),
    );
    expect(heartbeat.nodeId).toBe(node.nodeId);
    expect((heartbeat.body as { usedBytes: number }).usedBytes).toBeGreaterThanOrEqual(2 * data.length);

    const handle = await openFile(await chunkPath(dir.path, 'rot.1'), 'r+');
    await handle.write(Buffer.from([(data[100_000] as number) ^ 0xff]), 0, 1, 100_000);
    await handle.close();
    const scrub = await request(`${node.url}/v1/scrub?wait=true`, { method: 'POST', headers: { [CAPABILITY_HEADER]: metadata.capability('admin', node.nodeId) } });
    expect(((await scrub.body.json()) as { corrupt: { id: string }[] }).corrupt.map((c) => c.id)).toEqual(['rot.1']);

    await pollUntil('a corrupt report', () => (corruptIds(metadata).length > 0 ? true : undefined));
    const report = metadata.accepted('corrupt')[0];
    expect(report?.nodeId).toBe(node.nodeId);
    expect(report?.body).toMatchObject({ chunks: [{ chunkId: 'rot.1', reason: expect.stringMatching(/page/) }] });

    expect(await node.kill('SIGTERM')).toBe(0);
    expect(corruptIds(metadata)).toEqual(['rot.1']);
  });

  it('takes a list of metadata URLs and registers with the one that answers', async () => {
    const metadata = await startFakeMetadata();
    cleanups.push(() => metadata.close());
    const down = await startFakeMetadata();
    // A port that was just served and is closed now: connections to it are refused.
    await down.close();
    const dir = await makeTempDir('node-meta');
    cleanups.push(dir.remove);
    const node = await startNodeProcess(dir.path, ['--metadata', `${down.url}, ${metadata.url}/`, '--domain', 'rack-1', '--heartbeat-interval-ms', '50']);
    cleanups.push(() => node.kill('SIGKILL'));
    const registration = await pollUntil('a registration', () => metadata.accepted('register')[0], 30_000);
    expect(registration.body).toMatchObject({ nodeId: node.nodeId, url: `http://127.0.0.1:${node.port}` });
    await pollUntil('heartbeats', () => (metadata.accepted('heartbeat').length >= 2 ? true : undefined));
    expect(await node.kill('SIGTERM')).toBe(0);
  });

  it('refuses to start with a bad --domain, --metadata or --heartbeat-interval-ms, and says why', async () => {
    const dir = await makeTempDir('node-meta');
    cleanups.push(dir.remove);
    const bad: [readonly string[], RegExp][] = [
      [['--metadata', 'http://127.0.0.1:1', '--domain', 'rack 1'], /"rack 1" is not a failure domain name/],
      [['--metadata', 'localhost:7100'], /"localhost:7100" is not an http\(s\) URL/],
      [['--metadata', 'http://127.0.0.1:7070,,http://127.0.0.1:7071'], /empty entry \(entry 2 of 3\)/],
      [['--metadata', 'http://127.0.0.1:7070,http://127.0.0.1:7070/'], /"http:\/\/127\.0\.0\.1:7070\/" is listed twice/],
      [['--advertise-url', 'not a url'], /"not a url" is not an http\(s\) URL/],
      [['--heartbeat-interval-ms', '0'], /"0" is not a positive whole number/],
    ];
    for (const [args, message] of bad) await expect(startNodeProcess(dir.path, args)).rejects.toThrow(message);
  });
});
