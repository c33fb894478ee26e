/** An in-process metadata service on a real LevelDB in a temp dir, for `app.inject()` tests. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityIssuer } from '../../metadata/capabilities.js';
import type { FastifyInstance } from 'fastify';
import { type InventoryConfig, MetadataDb, MetadataService, MetadataState, type RepairConfig, buildMetadataServer } from '../../metadata/index.js';
import type { Quotas } from '../../metadata/tables.js';
import { EtcdStore } from '../../metadata/store/etcd-store.js';
import { seededRandom } from './seeded-random.js';
import { makeTempDir } from './temp-dir.js';

export interface MetadataApp {
  readonly app: FastifyInstance;
  readonly service: MetadataService;
  readonly dir: string;
  /** An admin token of this service (needed when it runs with auth 'on'). */
  readonly adminToken: string;
  /** Closes and reopens on the same directory (what a restart sees). */
  reopen(): Promise<MetadataApp>;
  close(): Promise<void>;
}

export { seededRandom } from './seeded-random.js';

interface MetadataAppOptions {
  suspectAfterMs?: number;
  deadAfterMs?: number;
  dir?: string;
  repair?: RepairConfig;
  inventory?: InventoryConfig;
  quotas?: Partial<Quotas>;
  /** Default 'off': tests not about auth act as an admin without a token. */
  auth?: 'on' | 'off';
  /** Bytes of decoded manifest pieces the service keeps (default: the service's). */
  manifestCacheBytes?: number;
}

export async function makeMetadataApp(options: MetadataAppOptions = {}): Promise<MetadataApp> {
  const temp = options.dir === undefined ? await makeTempDir('meta') : undefined;
  const removeDir = async (): Promise<void> => {
    await temp?.remove();
  };
  try {
    return await openMetadataApp(options, options.dir ?? (temp as { path: string }).path, removeDir);
  } catch (error) {
    // A service that fails to start must not leave its directory behind.
    await removeDir();
    throw error;
  }
}

/** `removeDir` removes the directory this helper made (it goes with whichever app is closed last). */
/**
 * With GRANARY_TEST_ETCD set (the `etcd` test project, vitest.etcd-setup.ts), the catalog lives
 * in that etcd under a prefix of its own per app directory instead of a LevelDB: the same tests
 * then check that everything that passes on LevelDB passes on etcd.
 */
export function catalogStore(dir: string): string | EtcdStore {
  const endpoints = process.env.GRANARY_TEST_ETCD;
  if (endpoints === undefined || endpoints === '') return join(dir, 'catalog');
  const prefix = `test-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
  return new EtcdStore({ endpoints: endpoints.split(','), prefix, fenced: false });
}

async function openMetadataApp(options: MetadataAppOptions, dir: string, removeDir: () => Promise<void>): Promise<MetadataApp> {
  const db = new MetadataDb(catalogStore(dir));
  await db.open();
  try {
    return await openServiceOn(db, options, dir, removeDir);
  } catch (error) {
    await db.close();
    throw error;
  }
}

async function openServiceOn(db: MetadataDb, options: MetadataAppOptions, dir: string, removeDir: () => Promise<void>): Promise<MetadataApp> {
  const state = new MetadataState(db);
  await state.load();
  const service = new MetadataService(
    state,
    {
      liveness: { suspectAfterMs: options.suspectAfterMs ?? 10_000, deadAfterMs: options.deadAfterMs ?? 60_000 },
      ...(options.repair === undefined ? {} : { repair: options.repair }),
      ...(options.inventory === undefined ? {} : { inventory: options.inventory }),
      ...(options.quotas === undefined ? {} : { quotas: options.quotas }),
      ...(options.manifestCacheBytes === undefined ? {} : { manifestCacheBytes: options.manifestCacheBytes }),
      auth: options.auth ?? 'off',
      capabilities: await CapabilityIssuer.fromKeyFile(join(dir, 'capability-signing.key')),
    },
    Date.now(),
    seededRandom(42),
  );
  await service.load();
  const adminTokenFile = join(dir, 'admin.token');
  await service.tokens.ensureAdminTokenFile(adminTokenFile);
  const adminToken = (await readFile(adminTokenFile, 'utf8')).trim();
  const app = await buildMetadataServer(service, false);
  const self: MetadataApp = {
    app,
    service,
    dir,
    adminToken,
    async reopen() {
      await app.close();
      await db.close();
      return openMetadataApp(options, dir, removeDir);
    },
    async close() {
      await app.close();
      await db.close();
      await removeDir();
    },
  };
  return self;
}

export async function registerNodes(app: FastifyInstance, count: number, domains = 3, freeBytes = 1e12): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const response = await app.inject({
      method: 'POST',
      url: '/v1/nodes/register',
      payload: {
        nodeId,
        url: `http://127.0.0.1:${20_000 + i}`,
        domain: `rack-${i % domains}`,
        capacityBytes: 2e12,
        freeBytes,
        usedBytes: 0,
        chunkCount: 0,
      },
    });
    if (response.statusCode !== 200) throw new Error(`register failed: ${response.payload}`);
    ids.push(nodeId);
  }
  return ids;
}
