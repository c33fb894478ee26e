/**
 * A real full disk: the node's data directory on a small tmpfs (needs root, as CI runs). Uploads
 * that hit ENOSPC answer 507 and leave no partial chunk; what was stored stays readable; freeing
 * space makes the node accept uploads again.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumToHex, xxh64 } from '../../erasure/index.js';
import { type NodeProcess, startNodeProcess } from '../helpers/storage-node-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { bytesOf } from '../unit/storage-node/chunk-store-suite.js';

describe('storage node on a full disk', () => {
  let mountPoint = '';
  let removeDir: () => Promise<void> = async () => undefined;
  let node: NodeProcess | undefined;

  beforeAll(async () => {
    const dir = await makeTempDir('full');
    removeDir = dir.remove;
    mountPoint = join(dir.path, 'disk');
    await mkdir(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      throw new Error(`this test mounts a 6 MiB tmpfs and needs root (CI runs as root): ${String(error)}`);
    }
    node = await startNodeProcess(join(mountPoint, 'data'), ['--reserve', '0']);
  });

  afterAll(async () => {
    await node?.kill('SIGKILL');
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    await removeDir();
  });

  async function put(id: string, data: Uint8Array, declareLength: boolean) {
    async function* streamed(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < data.length; i += 128 * 1024) yield data.subarray(i, i + 128 * 1024);
    }
    const response = await request(`${node?.url}/v1/chunks/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(data)) },
      body: declareLength ? data : Readable.from(streamed()),
    });
    return { status: response.statusCode, body: (await response.body.json()) as { code?: string; message?: string } };
  }

  it('answers 507 without leaving partial chunks, keeps stored data readable, and recovers when space is freed', async () => {
    const stored: Buffer[] = [];
    let refusal: { status: number; body: { code?: string; message?: string } } | undefined;
    for (let i = 0; i < 12 && refusal === undefined; i++) {
      const data = bytesOf(1024 * 1024, i);
      const result = await put(`fill.${i}`, data, false);
      if (result.status === 201) stored.push(data);
      else refusal = result;
    }
    expect(stored.length).toBeGreaterThan(1);
    expect(refusal).toMatchObject({ status: 507, body: { code: 'GRN_DISK_FULL', message: expect.stringMatching(/disk full/) } });
    expect(await readdir(join(mountPoint, 'data', 'tmp'))).toEqual([]);

    const declared = await put('declared.0', bytesOf(1024 * 1024, 99), true);
    expect(declared).toMatchObject({ status: 507, body: { code: 'GRN_DISK_FULL' } });

    for (const [i, data] of stored.entries()) {
      const response = await request(`${node?.url}/v1/chunks/fill.${i}`);
      expect(Buffer.from(await response.body.arrayBuffer()).equals(data)).toBe(true);
    }
    const listing = (await (await request(`${node?.url}/v1/chunks`)).body.json()) as { chunks: unknown[] };
    expect(listing.chunks).toHaveLength(stored.length);

    expect((await request(`${node?.url}/v1/chunks/fill.0`, { method: 'DELETE' })).statusCode).toBe(204);
    expect((await request(`${node?.url}/v1/chunks/fill.1`, { method: 'DELETE' })).statusCode).toBe(204);
    expect((await put('after.0', bytesOf(512 * 1024, 5), false)).status).toBe(201);
  });
});
