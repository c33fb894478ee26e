import { pack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../../erasure/index.js';
import { type Frame, readFrames } from '../../../protocol/index.js';
import { type StorageApp, makeStorageApp } from '../../helpers/storage-app.js';
import { bytesOf } from './chunk-store-suite.js';

async function framesOf(payload: Buffer): Promise<Frame[]> {
  const frames: Frame[] = [];
  async function* once(): AsyncGenerator<Uint8Array> {
    // Hand the parser awkward piece boundaries, as a socket would.
    for (let i = 0; i < payload.length; i += 7) yield payload.subarray(i, i + 7);
  }
  for await (const frame of readFrames(once())) frames.push(frame);
  return frames;
}

describe('storage node HTTP routes', () => {
  let node: StorageApp;
  beforeEach(async () => {
    node = await makeStorageApp({ chunkBytesMax: 100_000 });
  });
  afterEach(async () => {
    await node.close();
  });

  const put = (id: string, body: Buffer, checksum = checksumToHex(xxh64(body))) =>
    node.app.inject({
      method: 'PUT',
      url: `/v1/chunks/${id}`,
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksum },
      payload: body,
    });

  it('puts, reads ranges and whole chunks, describes and deletes', async () => {
    const data = bytesOf(50_000);
    const created = await put('blk1.0', data);
    expect(created.statusCode).toBe(201);
    // The receipt proves the node stored these bytes (protocol/receipt.ts; checked in the auth tests).
    expect(created.json()).toEqual({ id: 'blk1.0', dataBytes: 50_000, checksum: checksumToHex(xxh64(data)), pageBytes: 4096, receipt: expect.any(String) });
    expect((await put('blk1.0', data)).statusCode).toBe(200);

    const range = await node.app.inject({ url: '/v1/chunks/blk1.0?offset=1000&length=20000' });
    expect(range.statusCode).toBe(200);
    expect(range.rawPayload.equals(data.subarray(1000, 21_000))).toBe(true);
    expect(range.headers['x-granary-checksum']).toBe(checksumToHex(xxh64(data.subarray(1000, 21_000))));
    const whole = await node.app.inject({ url: '/v1/chunks/blk1.0' });
    expect(whole.rawPayload.equals(data)).toBe(true);
    expect((await node.app.inject({ url: '/v1/chunks/blk1.0/info' })).json()).toMatchObject({ dataBytes: 50_000 });

    const outside = await node.app.inject({ url: '/v1/chunks/blk1.0?offset=49000&length=2000' });
    expect(outside.statusCode).toBe(416);
    expect(outside.json()).toMatchObject({ code: 'GRN_RANGE_NOT_SATISFIABLE' });

    expect((await node.app.inject({ method: 'DELETE', url: '/v1/chunks/blk1.0' })).statusCode).toBe(204);
    const gone = await node.app.inject({ method: 'DELETE', url: '/v1/chunks/blk1.0' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND' });
  });

  it('answers bad uploads with clear 4xx errors and stores nothing', async () => {
    const data = bytesOf(1000);
    const mismatch = await put('m.0', data, '0123456789abcdef');
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json()).toMatchObject({ code: 'GRN_CHECKSUM_MISMATCH', message: expect.stringMatching(/nothing was stored/) });

    const noHeader = await node.app.inject({ method: 'PUT', url: '/v1/chunks/m.1', payload: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(noHeader.statusCode).toBe(400);
    expect(noHeader.json().message).toMatch(/x-granary-checksum/);

    const badHeader = await put('m.2', data, 'nothex');
    expect(badHeader.json()).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(/16 hex digits/) });

    const tooBig = await put('m.3', bytesOf(100_001));
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json()).toMatchObject({ code: 'GRN_PAYLOAD_TOO_LARGE' });

    for (const id of ['UPPER', 'a..b', '.x', 'a%2Fb', 'x'.repeat(129)]) {
      const response = await put(id, data);
      expect(response.statusCode, id).toBe(400);
      expect(['GRN_INVALID_CHUNK_ID', 'GRN_BAD_REQUEST']).toContain(response.json().code);
    }
    expect((await node.app.inject({ url: '/v1/chunks' })).json()).toEqual({ chunks: [], next: null });
  });

  it('reads many ranges of many chunks in one request, with per-range status', async () => {
    const a = bytesOf(30_000, 1);
    const b = bytesOf(9_000, 2);
    await put('a.0', a);
    await put('b.0', b);
    const ranges = [
      { chunk: 'a.0', offset: 0, length: 100 },
      { chunk: 'b.0', offset: 8_000, length: 1_000 },
      { chunk: 'nope.0', offset: 0, length: 10 },
      { chunk: 'a.0', offset: 29_999, length: 2 },
      { chunk: 'a.0', offset: 5_000, length: 20_000 },
      { chunk: 'b.0', offset: 0, length: 0 },
    ];
    for (const [contentType, payload] of [
      ['application/msgpack', pack({ ranges })],
      ['application/json', JSON.stringify({ ranges })],
    ] as const) {
      const response = await node.app.inject({ method: 'POST', url: '/v1/chunks/read', headers: { 'content-type': contentType }, payload });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/x-granary-frames');
      const frames = await framesOf(response.rawPayload);
      expect(frames.map((f) => f.status)).toEqual(['ok', 'ok', 'missing', 'out_of_range', 'ok', 'ok']);
      expect(Buffer.from(frames[0]?.data as Uint8Array).equals(a.subarray(0, 100))).toBe(true);
      expect(Buffer.from(frames[1]?.data as Uint8Array).equals(b.subarray(8_000))).toBe(true);
      expect(frames[2]?.message).toMatch(/nope\.0 is not stored/);
      expect(Buffer.from(frames[4]?.data as Uint8Array).equals(a.subarray(5_000, 25_000))).toBe(true);
      expect(frames[5]?.data.length).toBe(0);
    }
  });

  it('sends payload checksums when asked', async () => {
    const a = bytesOf(5_000, 4);
    await put('k.0', a);
    for (const checksums of [true, false]) {
      const response = await node.app.inject({
        method: 'POST',
        url: '/v1/chunks/read',
        payload: { ranges: [{ chunk: 'k.0', offset: 10, length: 100 }], checksums },
      });
      expect(response.rawPayload.readUInt8(1)).toBe(checksums ? 1 : 0);
      expect(response.rawPayload.readBigUInt64LE(8)).toBe(checksums ? xxh64(a.subarray(10, 110)) : 0n);
    }
  });

  it('marks a corrupt range in a batch without failing the others', async () => {
    const a = bytesOf(20_000, 3);
    await put('c.0', a);
    const { open } = await import('node:fs/promises');
    const handle = await open(node.store.dataDir.chunkPath('c.0'), 'r+');
    await handle.write(Buffer.from([a[5000] as number ^ 1]), 0, 1, 5000);
    await handle.close();
    const response = await node.app.inject({
      method: 'POST',
      url: '/v1/chunks/read',
      payload: { ranges: [{ chunk: 'c.0', offset: 4096, length: 10 }, { chunk: 'c.0', offset: 8192, length: 100 }] },
    });
    const frames = await framesOf(response.rawPayload);
    expect(frames.map((f) => f.status)).toEqual(['corrupt', 'ok']);
    expect(frames[0]?.data.length).toBe(0);
    expect(frames[0]?.message).toMatch(/page 1/);
    const health = (await node.app.inject({ url: '/health' })).json();
    expect(health.corruptChunks).toEqual([expect.objectContaining({ id: 'c.0' })]);
  });

  it('leaves page checks to the reader when a batch turns them off, reading just the ranges', async () => {
    const a = bytesOf(20_000, 4);
    await put('u.0', a);
    const { open } = await import('node:fs/promises');
    const handle = await open(node.store.dataDir.chunkPath('u.0'), 'r+');
    await handle.write(Buffer.from([(a[5000] as number) ^ 1]), 0, 1, 5000);
    await handle.close();
    const read = (verifyPages: boolean) =>
      node.app.inject({
        method: 'POST',
        url: '/v1/chunks/read',
        payload: { ranges: [{ chunk: 'u.0', offset: 4990, length: 20 }, { chunk: 'u.0', offset: 12_000, length: 8000 }], verifyPages },
      });
    const unchecked = await framesOf((await read(false)).rawPayload);
    expect(unchecked.map((f) => f.status)).toEqual(['ok', 'ok']);
    const rotten = Buffer.from(a.subarray(4990, 5010));
    rotten[10] = (rotten[10] as number) ^ 1;
    expect(Buffer.from(unchecked[0]?.data as Uint8Array)).toEqual(rotten);
    expect(Buffer.from(unchecked[1]?.data as Uint8Array)).toEqual(a.subarray(12_000, 20_000));
    // Unchecked reads mark nothing; the default still finds the page rotten.
    expect((await node.app.inject({ url: '/health' })).json().corruptChunks).toEqual([]);
    const checked = await framesOf((await read(true)).rawPayload);
    expect(checked.map((f) => f.status)).toEqual(['corrupt', 'ok']);
  });

  it('validates batch requests', async () => {
    const cases = [
      { payload: { ranges: [{ chunk: 'a.0', offset: -1, length: 1 }] }, pattern: /offset/ },
      { payload: { ranges: [{ chunk: 'a.0', offset: 0 }] }, pattern: /length/ },
      { payload: { nothing: true }, pattern: /ranges/ },
      { payload: { ranges: [{ chunk: 'a.0', offset: 0, length: 300 * 1024 * 1024 }] }, pattern: /at most/ },
    ];
    for (const { payload, pattern } of cases) {
      const response = await node.app.inject({ method: 'POST', url: '/v1/chunks/read', payload });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(pattern) });
    }
    const badPack = await node.app.inject({
      method: 'POST',
      url: '/v1/chunks/read',
      headers: { 'content-type': 'application/msgpack' },
      payload: Buffer.from([0xc1]),
    });
    expect(badPack.statusCode).toBe(400);
    const wrongType = await node.app.inject({ method: 'POST', url: '/v1/chunks/read', headers: { 'content-type': 'application/xml' }, payload: '<x/>' });
    expect(wrongType.statusCode).toBe(415);
    expect(wrongType.json().code).toBe('GRN_UNSUPPORTED_MEDIA_TYPE');
    const unknown = await node.app.inject({ url: '/v2/nothing' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('GRN_NO_ROUTE');
  });

  it('lists chunks in pages and serves health, metrics and scrub reports', async () => {
    for (let i = 0; i < 5; i++) await put(`l${i}.0`, bytesOf(100, i));
    const first = (await node.app.inject({ url: '/v1/chunks?limit=3' })).json();
    expect(first.chunks).toHaveLength(3);
    const second = (await node.app.inject({ url: `/v1/chunks?limit=3&after=${first.next}` })).json();
    expect(second.next).toBeNull();
    expect([...first.chunks, ...second.chunks].map((c: { id: string }) => c.id).sort()).toEqual(['l0.0', 'l1.0', 'l2.0', 'l3.0', 'l4.0']);
    expect((await node.app.inject({ url: '/v1/chunks?limit=0' })).statusCode).toBe(400);

    const health = (await node.app.inject({ url: '/health' })).json();
    expect(health).toMatchObject({ status: 'ok', nodeId: 'test-node', chunkCount: 5 });

    const report = (await node.app.inject({ method: 'POST', url: '/v1/scrub?wait=true' })).json();
    expect(report).toMatchObject({ chunksChecked: 5, bytesChecked: 500, corrupt: [] });

    const metrics = (await node.app.inject({ url: '/metrics' })).payload;
    expect(metrics).toMatch(/granary_storage_written_bytes_total 500/);
    expect(metrics).toMatch(/granary_storage_chunks 5/);
    expect(metrics).toMatch(/granary_storage_read_size_bytes_bucket/);
    expect(metrics).toMatch(/granary_storage_request_duration_seconds_bucket\{le="0.001",route="\/v1\/chunks\/:id"/);
    expect(metrics).toMatch(/granary_storage_scrubbed_chunks_total\{result="ok"\} 5/);
  });
});
