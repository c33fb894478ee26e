/**
 * GET /v1/admin/backup in process: the answer is a whole backup carrying the capability signing
 * key, a service opened on its restore serves the same catalog under the same key, and a client
 * that goes away mid-download closes the store snapshot.
 */
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CAPABILITY_KEY_ENTRY, restoreBackup, verifyBackup } from '../../../metadata/backup/index.js';
import type { KvEntry, KvStore } from '../../../metadata/store/kv-store.js';
import { LevelStore } from '../../../metadata/store/level-store.js';
import { writePrivateFile } from '../../../protocol/secret-files.js';
import { type MetadataApp, catalogStore, makeMetadataApp } from '../../helpers/metadata-app.js';
import { pollUntil } from '../../helpers/poll.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { registerNodesWithTokens } from '../auth/auth-fixture.js';

const SCHEMA = { columns: [{ name: 'label', type: 'float' }], ec: '2+1' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(options: Parameters<typeof makeMetadataApp>[0] = {}): Promise<MetadataApp> {
  const meta = await makeMetadataApp(options);
  cleanups.push(() => meta.close());
  return meta;
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

describe('GET /v1/admin/backup', () => {
  it('answers a whole backup with the signing key, which restores into a service with the same catalog and key', async () => {
    const source = await app({ auth: 'on' });
    const admin = { authorization: `Bearer ${source.adminToken}` };
    await registerNodesWithTokens(source.app, source.adminToken, 3);
    for (const name of ['alpha', 'beta']) {
      const created = await source.app.inject({ method: 'POST', url: '/v1/tables', headers: admin, payload: { name, ...SCHEMA } });
      expect(created.statusCode, created.payload).toBe(201);
    }
    const answer = await source.app.inject({ method: 'GET', url: '/v1/admin/backup', headers: admin });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('application/octet-stream');
    const verified = await verifyBackup(once(answer.rawPayload));
    expect(verified.storeEntries).toBeGreaterThan(2);
    const key = Buffer.from(verified.serviceFiles.get(CAPABILITY_KEY_ENTRY) ?? []).toString('utf8');
    expect(key).toBe(source.service.capabilities.privateKeyPem());
    const head = await source.app.inject({ method: 'HEAD', url: '/v1/admin/backup', headers: admin });
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);

    // Restored the way `granary metadata restore` lays a data directory out.
    const dir = await makeTempDir('restored');
    cleanups.push(() => dir.remove());
    // The same store kind the helper opens a service on (LevelDB, or etcd in the etcd project).
    const where = catalogStore(dir.path);
    const store = typeof where === 'string' ? await LevelStore.open(where) : where;
    await restoreBackup(() => once(answer.rawPayload), store);
    await store.close();
    await writePrivateFile(join(dir.path, 'capability-signing.key'), key);
    const restored = await app({ auth: 'on', dir: dir.path });
    expect(restored.service.capabilities.publicKeyText).toBe(source.service.capabilities.publicKeyText);
    // The old admin token is in the restored catalog (by its hash) and still works.
    const tables = await restored.app.inject({ method: 'GET', url: '/v1/tables', headers: admin });
    expect(tables.statusCode).toBe(200);
    expect((tables.json() as { tables: { name: string }[] }).tables.map((t) => t.name).sort()).toEqual(['alpha', 'beta']);
  });

  it('closes the store snapshot when the client goes away mid-download', async () => {
    const meta = await app();
    const store = meta.service.state.db.store;
    // 24 MiB of entries in a space of their own: far more than socket buffers hold, so the
    // service is still reading its snapshot when the client leaves.
    const value = Buffer.alloc(256 * 1024, 7);
    // Four entries a batch: 1 MiB, under etcd's request limit in the etcd project.
    for (let i = 0; i < 96; i += 4) {
      await store.write(Array.from({ length: 4 }, (_, j) => ({ type: 'put' as const, space: 'ztest', key: `k${String(i + j).padStart(3, '0')}`, value })));
    }
    let opened = 0;
    let closed = 0;
    let yielded = 0;
    const snapshot = store.snapshot.bind(store);
    (store as { snapshot: KvStore['snapshot'] }).snapshot = async function* (): AsyncGenerator<KvEntry> {
      opened++;
      try {
        for await (const entry of snapshot()) {
          yielded++;
          yield entry;
        }
      } finally {
        closed++;
      }
    };
    const url = await meta.app.listen({ host: '127.0.0.1', port: 0 });
    const answer = await request(`${url}/v1/admin/backup`);
    expect(answer.statusCode).toBe(200);
    for await (const _chunk of answer.body) break;
    await pollUntil('the snapshot to close', () => (closed === 1 ? true : undefined), 10_000);
    expect(opened).toBe(1);
    expect(yielded, 'the backup stopped before reading every entry').toBeLessThan(96);
  });
});
