/**
 * A real storage-node process on a loopback port: the HTTP API end to end, crashes (SIGKILL)
 * during and after uploads, bytes rotting on disk, bad input, and graceful shutdown.
 */
import { readdir, open as openFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'msgpackr';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../erasure/index.js';
import { type Frame, readFrames } from '../../protocol/index.js';
import { pollUntil } from '../helpers/poll.js';
import { type NodeProcess, startNodeProcess } from '../helpers/storage-node-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { bytesOf } from '../unit/storage-node/chunk-store-suite.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function dataDir(): Promise<string> {
  const dir = await makeTempDir('node');
  cleanups.push(dir.remove);
  return dir.path;
}

async function start(dir: string, args: readonly string[] = []): Promise<NodeProcess> {
  const node = await startNodeProcess(dir, args);
  cleanups.push(() => node.kill('SIGKILL'));
  return node;
}

async function putChunk(node: NodeProcess, id: string, data: Uint8Array) {
  const response = await request(`${node.url}/v1/chunks/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(data)) },
    body: data,
  });
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

async function getRange(node: NodeProcess, id: string, offset: number, length: number) {
  const response = await request(`${node.url}/v1/chunks/${id}?offset=${offset}&length=${length}`);
  const body = Buffer.from(await response.body.arrayBuffer());
  return { status: response.statusCode, body };
}

async function batchRead(node: NodeProcess, ranges: readonly { chunk: string; offset: number; length: number }[]): Promise<Frame[]> {
  const response = await request(`${node.url}/v1/chunks/read`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: pack({ ranges }),
  });
  expect(response.statusCode).toBe(200);
  const frames: Frame[] = [];
  for await (const frame of readFrames(response.body)) frames.push(frame);
  return frames;
}

async function listIds(node: NodeProcess): Promise<string[]> {
  const response = await request(`${node.url}/v1/chunks?limit=10000`);
  const body = (await response.body.json()) as { chunks: { id: string }[] };
  return body.chunks.map((c) => c.id).sort();
}

describe('storage node process', () => {
  it('stores, reads (single, batched, streamed large), lists and deletes over HTTP', async () => {
    const node = await start(await dataDir());
    const big = bytesOf(20 * 1024 * 1024 + 17, 5);
    expect((await putChunk(node, 'big.0', big)).status).toBe(201);
    const smalls = Array.from({ length: 8 }, (_, i) => bytesOf(300_000 + i, i));
    for (const [i, data] of smalls.entries()) expect((await putChunk(node, `small.${i}`, data)).status).toBe(201);

    const ranges = Array.from({ length: 256 }, (_, i) => ({ chunk: `small.${i % 8}`, offset: (i * 997) % 280_000, length: 16_384 }));
    const frames = await batchRead(node, [...ranges, { chunk: 'big.0', offset: 1_000_000, length: 8 * 1024 * 1024 }]);
    expect(frames).toHaveLength(257);
    ranges.forEach((range, i) => {
      const source = smalls[i % 8] as Buffer;
      expect(frames[i]?.status).toBe('ok');
      expect(Buffer.from(frames[i]?.data as Uint8Array).equals(source.subarray(range.offset, range.offset + range.length))).toBe(true);
    });
    expect(Buffer.from(frames[256]?.data as Uint8Array).equals(big.subarray(1_000_000, 1_000_000 + 8 * 1024 * 1024))).toBe(true);

    const whole = await request(`${node.url}/v1/chunks/big.0`);
    expect(Buffer.from(await whole.body.arrayBuffer()).equals(big)).toBe(true);

    expect(await listIds(node)).toEqual(['big.0', ...smalls.map((_, i) => `small.${i}`)].sort());
    expect((await request(`${node.url}/v1/chunks/small.3`, { method: 'DELETE' })).statusCode).toBe(204);
    expect((await getRange(node, 'small.3', 0, 1)).status).toBe(404);

    const metrics = await (await request(`${node.url}/metrics`)).body.text();
    expect(metrics).toMatch(/granary_storage_read_ranges_total\{status="ok"\} 2\d\d/);
    expect(metrics).toMatch(/granary_storage_chunks 8/);
  });

  it('after SIGKILL during an upload, restarts with no trace of it and accepts it again', async () => {
    const dir = await dataDir();
    const node = await start(dir);
    const data = bytesOf(8 * 1024 * 1024, 7);
    let sent = 0;
    let stall: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => {
      stall = resolve;
    });
    async function* halfThenHang(): AsyncGenerator<Uint8Array> {
      for (; sent < 4 * 1024 * 1024; sent += 256 * 1024) yield data.subarray(sent, sent + 256 * 1024);
      stall();
      await new Promise(() => undefined);
    }
    const upload = request(`${node.url}/v1/chunks/torn.0`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(data)) },
      body: Readable.from(halfThenHang()),
    }).catch((error: unknown) => error);
    await stalled;
    await pollUntil('the partial upload to reach the disk', async () => {
      const names = await readdir(join(dir, 'tmp'));
      const sizes = await Promise.all(names.map(async (name) => (await stat(join(dir, 'tmp', name))).size));
      return sizes.some((size) => size >= 2 * 1024 * 1024) ? true : undefined;
    });
    expect(await node.kill('SIGKILL')).toBe('SIGKILL');
    expect(await upload).toBeInstanceOf(Error);

    const again = await start(dir);
    expect(await listIds(again)).toEqual([]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect((await getRange(again, 'torn.0', 0, 1)).status).toBe(404);
    expect((await putChunk(again, 'torn.0', data)).status).toBe(201);
    expect((await getRange(again, 'torn.0', 4_000_000, 1_000_000)).body.equals(data.subarray(4_000_000, 5_000_000))).toBe(true);
  });

  it('keeps every acknowledged chunk through SIGKILL right after the acknowledgement', async () => {
    const dir = await dataDir();
    const node = await start(dir);
    const chunks = Array.from({ length: 20 }, (_, i) => bytesOf(100_000 + i * 1000, 100 + i));
    await Promise.all(chunks.map(async (data, i) => expect((await putChunk(node, `ack.${i}`, data)).status).toBe(201)));
    await node.kill('SIGKILL');
    const again = await start(dir);
    expect(again.nodeId).toBe(node.nodeId);
    for (const [i, data] of chunks.entries()) {
      expect((await getRange(again, `ack.${i}`, 0, data.length)).body.equals(data)).toBe(true);
    }
  });

  it('never returns rotten bytes: the page reads as corrupt, the rest reads, the scrubber reports it', async () => {
    const dir = await dataDir();
    const node = await start(dir);
    const data = bytesOf(1024 * 1024, 11);
    await putChunk(node, 'rot.2', data);
    await putChunk(node, 'fine.2', data);
    const fanouts = await readdir(join(dir, 'chunks'));
    let path = '';
    for (const fanout of fanouts) if ((await readdir(join(dir, 'chunks', fanout))).includes('rot.2')) path = join(dir, 'chunks', fanout, 'rot.2');
    const handle = await openFile(path, 'r+');
    await handle.write(Buffer.from([(data[200_000] as number) ^ 0xff]), 0, 1, 200_000);
    await handle.close();

    const bad = await getRange(node, 'rot.2', 190_000, 20_000);
    expect(bad.status).toBe(500);
    expect(JSON.parse(bad.body.toString())).toMatchObject({ code: 'GRN_CHUNK_CORRUPT', details: { chunk: 'rot.2', page: 3 } });
    expect((await getRange(node, 'rot.2', 0, 196_608)).body.equals(data.subarray(0, 196_608))).toBe(true);
    const frames = await batchRead(node, [
      { chunk: 'rot.2', offset: 199_000, length: 10 },
      { chunk: 'rot.2', offset: 300_000, length: 10 },
    ]);
    expect(frames.map((f) => f.status)).toEqual(['corrupt', 'ok']);

    const report = (await (await request(`${node.url}/v1/scrub?wait=true`, { method: 'POST' })).body.json()) as {
      chunksChecked: number;
      corrupt: { id: string; reason: string }[];
    };
    expect(report.chunksChecked).toBe(2);
    expect(report.corrupt).toEqual([expect.objectContaining({ id: 'rot.2', reason: expect.stringMatching(/page/) })]);
  });

  it('answers invalid ids and oversize bodies with 4xx, stores nothing, and stays up', async () => {
    const node = await start(await dataDir(), ['--max-chunk-size', '1MiB']);
    const data = bytesOf(2 * 1024 * 1024);
    const declared = await putChunk(node, 'huge.0', data);
    expect(declared.status).toBe(413);
    expect(declared.body.code).toBe('GRN_PAYLOAD_TOO_LARGE');
    // Without a declared length the node finds out while streaming; the connection may be cut.
    async function* chunked(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    }
    const streamed = await request(`${node.url}/v1/chunks/huge.1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(data)) },
      body: Readable.from(chunked()),
    }).then(
      async (response) => ({ status: response.statusCode, code: ((await response.body.json()) as { code: string }).code }),
      (error: unknown) => ({ status: 0, code: String(error) }),
    );
    if (streamed.status !== 0) expect(streamed).toEqual({ status: 413, code: 'GRN_PAYLOAD_TOO_LARGE' });
    for (const id of ['Caps.0', 'a..b', '-x', '%2Fetc%2Fpasswd', 'x'.repeat(129)]) {
      const response = await putChunk(node, id, bytesOf(10));
      expect(response.status, id).toBe(400);
      expect(response.body.message, id).toMatch(/chunk id/);
    }
    // A path that climbs out is normalised away by the URL itself and reaches no chunk route.
    expect((await putChunk(node, '..', bytesOf(10))).body.code).toBe('GRN_NO_ROUTE');
    expect(await listIds(node)).toEqual([]);
    expect((await request(`${node.url}/health`)).statusCode).toBe(200);
  });

  it('stops cleanly on SIGTERM, and a second process cannot take a directory in use', async () => {
    const dir = await dataDir();
    const node = await start(dir);
    await putChunk(node, 'keep.0', bytesOf(1000));
    await expect(startNodeProcess(dir)).rejects.toThrow(/in use by process/);
    expect(await node.kill('SIGTERM')).toBe(0);
    expect(node.output()).toMatch(/storage node stopped/);
    expect(await readdir(dir)).not.toContain('LOCK');
    const again = await start(dir);
    expect(await listIds(again)).toEqual(['keep.0']);
  });
});
