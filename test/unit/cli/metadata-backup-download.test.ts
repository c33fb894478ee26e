/**
 * `granary metadata backup`'s download (bin/metadata-backup-file.ts) against fake services: a
 * backup cut short, whether the answer ends early or the connection drops, never takes the file's
 * name and leaves no .partial behind (an older backup of that name stays as it was); a replica
 * that does not answer is skipped for the next; a refusal (403) is reported as it is.
 */
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBackup } from '../../../bin/metadata-backup-file.js';
import { writeBackup } from '../../../metadata/backup/index.js';
import { LevelStore } from '../../../metadata/store/level-store.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
let backup: Buffer;
const servers: Server[] = [];

beforeAll(async () => {
  dir = await makeTempDir('backup-download');
  const store = await LevelStore.open(join(dir.path, 'catalog'));
  await store.write(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, space: 'tables', key: `t${i}`, value: Buffer.alloc(500, i) })));
  const chunks: Buffer[] = [];
  await writeBackup(
    store,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }),
  );
  await store.close();
  backup = Buffer.concat(chunks);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  await dir.remove();
});

/** A service answering every request with `answer`. */
async function fakeService(answer: (response: ServerResponse) => void): Promise<string> {
  const server = createServer((_request, response) => answer(response));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function download(urls: string[], out: string): Promise<unknown> {
  return downloadBackup({ urls, token: 'grn_x_y', ca: undefined, out }).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('granary metadata backup download', () => {
  it('keeps nothing of a backup cut short, and leaves an older file of that name as it was', async () => {
    const out = join(dir.path, 'kept.backup');
    await writeFile(out, 'an older backup');
    const short = await fakeService((response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(backup.subarray(0, backup.length - 100));
    });
    expect(await download([short], out)).toMatchObject({ code: 'GRN_BACKUP_INVALID', message: expect.stringMatching(/truncated/) });
    const dropped = await fakeService((response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.write(backup.subarray(0, 5_000));
      setImmediate(() => response.destroy());
    });
    expect(await download([dropped], out)).toMatchObject({ code: 'GRN_UNAVAILABLE', message: expect.stringMatching(/cut off/) });
    expect(await readFile(out, 'utf8')).toBe('an older backup');
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('skips a replica that does not answer, and keeps the whole backup owner-only', async () => {
    const out = join(dir.path, 'whole.backup');
    const down = await fakeService((response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ code: 'GRN_NO_LEADER', message: 'no leader' }));
    });
    const good = await fakeService((response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(backup);
    });
    const done = await downloadBackup({ urls: ['http://127.0.0.1:1', down, good], token: undefined, ca: undefined, out });
    expect(done.url).toBe(good);
    expect(done.storeEntries).toBe(200);
    expect(await readFile(out)).toEqual(backup);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('reports a refusal as the service answered it, without trying further replicas', async () => {
    let asked = 0;
    const forbidden = await fakeService((response) => {
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ code: 'GRN_FORBIDDEN', message: 'a reader token may not take backups' }));
    });
    const other = await fakeService((response) => {
      asked++;
      response.end();
    });
    expect(await download([forbidden, other], join(dir.path, 'refused.backup'))).toMatchObject({ code: 'GRN_FORBIDDEN' });
    expect(asked).toBe(0);
    expect(existsSync(join(dir.path, 'refused.backup.partial'))).toBe(false);
  });
});
