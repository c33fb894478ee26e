/**
 * TLS end to end: a metadata service and four storage nodes serving HTTPS with certificates of a
 * private CA, each verifying the others against it. Every path that crosses the network is
 * exercised: client -> metadata and client -> nodes (write and read back), node -> metadata
 * (registration, heartbeats), metadata -> node (GC deletes), node -> node (repair), and the CLI.
 * Callers without the CA, or with another one, are refused with GRN_TLS_UNTRUSTED and told the
 * setting; plain HTTP to a TLS port gets nothing.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, recordBatchToRows } from '../../client/index.js';
import { GranaryError } from '../../protocol/index.js';
import { type Cluster, listNodes, startCluster } from '../helpers/cluster.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { type TestTls, makeTestTls } from '../helpers/tls-certs.js';

const run = promisify(execFile);
const NODES = 4;
const NODE_NAMES = Array.from({ length: NODES }, (_, i) => `node-${i}`);
const COLUMNS = [
  { name: 'id', type: 'int64' },
  { name: 'label', type: 'double' },
  { name: 'tag', type: 'string' },
] as const;
const ROWS = Array.from({ length: 3_000 }, (_, i) => ({ id: i, label: i / 7, tag: `row-${i % 13}` }));

let dir: Awaited<ReturnType<typeof makeTempDir>>;
let tls: TestTls;
let otherTls: TestTls;
let ca: Buffer;
let cluster: Cluster;
let client: GranaryClient;

async function readAll(reader: GranaryClient, table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of reader.scan(table)) rows.push(...recordBatchToRows(batch));
  return rows;
}

/** Runs the built CLI with the admin token; never rejects, so a test can assert on a failing exit too. */
async function cli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GRANARY_')));
  try {
    const { stdout, stderr } = await run(process.execPath, [GRANARY_BIN, ...args], { env: { ...clean, GRANARY_TOKEN: cluster.adminToken, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got an answer');
}

beforeAll(async () => {
  dir = await makeTempDir('tls');
  tls = await makeTestTls(dir.path, ['metadata', ...NODE_NAMES]);
  // A second, unrelated CA: trusting it must not make this cluster's certificates trusted.
  otherTls = await makeTestTls(dir.path, ['metadata'], 'other-ca');
  ca = await readFile(tls.caFile);
  cluster = await startCluster({
    nodes: NODES,
    tls,
    // Short liveness so the repair test sees a node die in seconds; GC often, for the GC test.
    metadataArgs: ['--suspect-after-ms', '600', '--dead-after-ms', '2500', '--gc-interval-ms', '200'],
  });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken, http: { ca } });
  await client.metadata.createTable({ name: 'secure', columns: COLUMNS, ec: '2+1', stripeRows: 500, blockBytes: 1024 * 1024 });
  const writer = await client.openWriter('secure', 'ds=2026-12-01');
  await writer.write(ROWS);
  expect((await writer.commit()).rows).toBe(ROWS.length);
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
  await dir?.remove();
});

describe('a cluster serving HTTPS', () => {
  it('serves both services over https, and nodes register with and advertise https URLs', async () => {
    expect(cluster.metadata.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const nodes = await listNodes(cluster.metadata.url, ca, cluster.adminToken);
    expect(nodes.map((node) => node.nodeId).sort()).toEqual(NODE_NAMES);
    for (const node of nodes) {
      expect(node.url, node.nodeId).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(node.state, node.nodeId).toBe('alive');
    }
    const plan = await client.metadata.plan('secure', {});
    const chunkUrls = plan.blocks.flatMap((block) => block.chunks.map((chunk) => chunk.url));
    expect(chunkUrls.length).toBeGreaterThan(0);
    for (const url of chunkUrls) expect(url).toMatch(/^https:\/\//);
  });

  it('reads back exactly what the client wrote over https', async () => {
    const rows = await readAll(client, 'secure');
    expect(rows.map((row) => ({ ...row, id: Number(row.id) }))).toEqual(ROWS);
  });

  it('refuses a client without the CA, or with another CA, with GRN_TLS_UNTRUSTED naming the CA setting', async () => {
    for (const options of [{}, { http: { ca: await readFile(otherTls.caFile) } }]) {
      // With a valid token: only the certificate is wrong.
      const stranger = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken, ...options });
      try {
        const error = await rejection(stranger.metadata.listTables());
        expect(error).toBeInstanceOf(GranaryError);
        expect((error as GranaryError).code).toBe('GRN_TLS_UNTRUSTED');
        expect((error as GranaryError).message).toMatch(/certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted/);
        expect((error as GranaryError).message).toContain('--tls-ca');
        expect((error as GranaryError).message).toContain('GRANARY_TLS_CA');
      } finally {
        await stranger.close();
      }
    }
  });

  it('gets no answer over plain http from a TLS port, metadata or node', async () => {
    const ports = [cluster.metadata.port, ...cluster.nodes.map((node) => node.port)];
    for (const port of ports) {
      const error = await rejection(request(`http://127.0.0.1:${port}/health`, { headersTimeout: 10_000 }));
      expect(error, String(port)).toBeInstanceOf(Error);
    }
    // A socket closed unanswered looks like a replica dying: one try, not the 20 s of failover.
    const plain = new GranaryClient({ metadataUrl: `http://127.0.0.1:${cluster.metadata.port}`, metadataFailover: { deadlineMs: 0 } });
    try {
      const error = await rejection(plain.metadata.health());
      expect((error as GranaryError).code).toBe('GRN_UNAVAILABLE');
    } finally {
      await plain.close();
    }
  });

  it('the CLI verifies with --tls-ca or GRANARY_TLS_CA, and says what to pass without it', async () => {
    const url = cluster.metadata.url;
    const refused = await cli(['table', 'list', '--metadata', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('GRN_TLS_UNTRUSTED');
    expect(refused.stderr).toContain('--tls-ca');
    const withFlag = await cli(['table', 'list', '--metadata', url, '--tls-ca', tls.caFile, '--json']);
    expect(withFlag.code, withFlag.stderr).toBe(0);
    expect(withFlag.stdout).toContain('secure');
    // fsck calls every node itself: those calls must trust the CA too.
    const fsck = await cli(['fsck', 'secure', '--json'], { GRANARY_METADATA: url, GRANARY_TLS_CA: tls.caFile });
    expect(fsck.code, fsck.stderr).toBe(0);
    const report = JSON.parse(fsck.stdout) as { healthy: number; blocks: unknown[] };
    expect(report.healthy).toBeGreaterThan(0);
    expect(report.blocks).toEqual([]);
    const missing = await cli(['table', 'list', '--metadata', url, '--tls-ca', `${dir.path}/no-such-ca.pem`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${dir.path}/no-such-ca.pem`);
  });

  it('the metadata service deletes garbage chunks on nodes over https (GC trusts the CA)', async () => {
    const writer = await client.openWriter('secure', 'ds=2026-12-02');
    await writer.write(ROWS.slice(0, 1_000));
    await writer.commit();
    const dropped = await client.metadata.dropPartition('secure', 'ds=2026-12-02');
    expect(dropped.blocksQueued).toBeGreaterThan(0);
    const gc = await pollUntil('GC to delete the dropped partition', async () => {
      const status = await client.metadata.gc();
      return status.records === 0 ? status : undefined;
    });
    expect(gc.chunks).toBe(0);
  });

  it('a node rebuilds a dead node shards from its peers over https (repair trusts the CA)', async () => {
    // A node that holds a shard: with 2+1 on four nodes, one of them may hold none.
    const plan = await client.metadata.plan('secure', {});
    const holder = plan.blocks[0]?.chunks[0]?.nodeId;
    const victim = cluster.nodes.find((node) => node.nodeId === holder);
    if (victim === undefined) throw new Error(`no node process for ${holder}`);
    await victim.kill('SIGKILL');
    const status = await pollUntil(
      'repair to restore the dead node shards',
      async () => {
        const repair = await client.metadata.repair();
        return repair.counters.shardsRestored > 0 && repair.blocks.underReplicated === 0 ? repair : undefined;
      },
      60_000,
      250,
    );
    expect(status.counters.shardsRestored).toBeGreaterThan(0);
    const rows = await readAll(client, 'secure');
    expect(rows.map((row) => ({ ...row, id: Number(row.id) }))).toEqual(ROWS);
  });
});
