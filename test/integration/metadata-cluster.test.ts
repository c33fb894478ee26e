/**
 * The metadata service with real storage nodes: registration, partition writes end to end (chunks
 * stored on the placed nodes, streams read back by plan), SIGKILL of the metadata service around
 * commits, lease resume and expiry across restarts, corrupt-chunk reports and dead nodes as
 * repair work.
 */
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TooManyShardsMissingError, checksumToHex, xxh64 } from '../../erasure/index.js';
import {
  type BlockPlacement,
  type CommitManifest,
  type ScanPlan,
  decodeStreamEntry,
  type RepairStatus,
} from '../../protocol/index.js';
import { fanoutOf } from '../../storage-node/data-dir.js';
import { readBlockRange, storeBlock } from '../helpers/block-io.js';
import { type Cluster, adminCapabilityHeaders, listNodes, startCluster } from '../helpers/cluster.js';
import { pollUntil } from '../helpers/poll.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 9,
    domains: 3,
    metadataArgs: ['--lease-check-interval-ms', '100', '--suspect-after-ms', '1000', '--dead-after-ms', '2500', '--gc-interval-ms', '100'],
    // These tests watch damage being found and read around; repair itself is tested in repair.test.ts.
    nodeArgs: ['--repair-slots', '0'],
  });
});

afterAll(async () => {
  await cluster?.stop();
});

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await request(`${cluster.metadata.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${cluster.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const raw = Buffer.from(await response.body.arrayBuffer());
  const type = String(response.headers['content-type'] ?? '');
  return { status: response.statusCode, body: (type.includes('msgpack') ? unpack(raw) : JSON.parse(raw.toString() || 'null')) as T };
}

const COLUMNS = ['label', 'f_1', 'f_2'];
/** What each session wrote: stream bytes by (stripe, column). */
const written = new Map<string, Buffer[][]>();

/** Writes one file of `stripes` stripes in one block; returns the session id and the commit. */
async function writeFile(partition: string, stripes: number, leaseMs?: number) {
  const opened = await api<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition, ...(leaseMs === undefined ? {} : { leaseMs }) });
  expect(opened.status).toBe(201);
  const sessionId = opened.body.sessionId;
  const placement = (await api<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
  const streams = Array.from({ length: stripes }, () => COLUMNS.map(() => randomBytes(1000 + Math.floor(Math.random() * 3000))));
  const block = Buffer.concat(streams.flat());
  const sizes = await storeBlock(placement, block);
  let offset = 0;
  const manifest: CommitManifest = {
    files: [
      {
        columns: COLUMNS,
        stripes: streams.map((columns) => ({
          rows: 10,
          streams: columns.map((bytes) => {
            const entry = { block: placement.blockId, offset, length: bytes.length, checksum: checksumToHex(xxh64(bytes)), encoding: 1 };
            offset += bytes.length;
            return entry;
          }),
        })),
      },
    ],
    blocks: [{ blockId: placement.blockId, ...sizes, codec: placement.codec }],
  };
  written.set(sessionId, streams);
  return { sessionId, placement, manifest };
}

/** The status a storage node answers a chunk admin route with (an admin capability opens it). */
async function statusOf(url: string): Promise<number> {
  const response = await request(url, { headers: await adminCapabilityHeaders(cluster.metadata.url, cluster.adminToken) });
  await response.body.dump();
  return response.statusCode;
}

async function commit(sessionId: string, manifest: CommitManifest) {
  return api<{ fileIds: string[]; rows: number }>('POST', `/v1/sessions/${sessionId}/commit`, manifest);
}

async function plan(body: object = {}): Promise<ScanPlan> {
  const response = await api<ScanPlan>('POST', '/v1/tables/events/scan', body);
  expect(response.status).toBe(200);
  return response.body;
}

/** Reads every stream of a plan and checks it against its checksum. */
async function readAll(scan: ScanPlan): Promise<Buffer[][]> {
  const out: Buffer[][] = [];
  for (const stripe of scan.stripes) {
    const row: Buffer[] = [];
    for (let c = 0; c < scan.columns.length; c++) {
      const entry = decodeStreamEntry(stripe.streams, c);
      const block = scan.blocks[entry.blockRef];
      const bytes = Buffer.from(await readBlockRange(block as ScanPlan['blocks'][number], entry.offset, entry.length));
      expect(xxh64(bytes)).toBe(entry.checksum);
      row.push(bytes);
    }
    out.push(row);
  }
  return out;
}

describe('metadata service with real storage nodes', () => {
  it('registers every node with its address and failure domain', async () => {
    const nodes = await listNodes(cluster.metadata.url, undefined, cluster.adminToken);
    expect(nodes.map((n) => n.nodeId)).toEqual(cluster.nodes.map((_, i) => `node-${i}`).sort());
    for (const node of nodes) {
      const process = cluster.nodes.find((p) => p.nodeId === node.nodeId);
      expect(node.url).toBe(process?.url);
      expect(node.domain).toBe(`rack-${Number(node.nodeId.split('-')[1]) % 3}`);
      expect(node.state).toBe('alive');
      expect(node.capacityBytes).toBeGreaterThan(0);
    }
    const created = await api('POST', '/v1/tables', {
      name: 'events',
      columns: COLUMNS.map((name) => ({ name, type: 'float' })),
      ec: '6+3',
    });
    expect(created.status).toBe(201);
  });

  it('stores a partition end to end: every stream reads back by plan, exactly', async () => {
    const { sessionId, manifest } = await writeFile('ds=2026-11-20', 4);
    expect((await commit(sessionId, manifest)).status).toBe(200);
    const scan = await plan({ partitions: { ds: { eq: '2026-11-20' } } });
    expect(scan.stripes).toHaveLength(4);
    expect(await readAll(scan)).toEqual(written.get(sessionId));
    const subset = await plan({ partitions: { ds: { eq: '2026-11-20' } }, columns: ['f_2'] });
    expect((await readAll(subset)).map((row) => row[0])).toEqual(written.get(sessionId)?.map((row) => row[2]));
  });

  it('loses no acknowledged commit and shows no partial one when killed with SIGKILL', async () => {
    const writers = await Promise.all(Array.from({ length: 6 }, () => writeFile('ds=2026-11-21', 2)));
    const acknowledged: string[] = [];
    const attempts = writers.map(async ({ sessionId, manifest }) => {
      try {
        const result = await commit(sessionId, manifest);
        if (result.status === 200) acknowledged.push(sessionId);
      } catch {
        // The service died under this request: the commit may or may not have landed.
      }
    });
    await pollUntil('three commits to be acknowledged', () => (acknowledged.length >= 3 ? true : undefined));
    await cluster.restartMetadata('SIGKILL');
    await Promise.all(attempts);

    const detail = await api<{ rows: number; fileList: { sessionId: string }[] }>('GET', `/v1/tables/events/partitions/${encodeURIComponent('ds=2026-11-21')}`);
    const visible = new Set(detail.body.fileList.map((f) => f.sessionId));
    for (const sessionId of acknowledged) expect(visible.has(sessionId)).toBe(true);
    for (const { sessionId } of writers) {
      const state = (await api<{ state: string }>('GET', `/v1/sessions/${sessionId}`)).body.state;
      expect(state === 'committed').toBe(visible.has(sessionId));
    }
    expect(detail.body.rows).toBe(visible.size * 2 * 10);
    const scan = await plan({ partitions: { ds: { eq: '2026-11-21' } } });
    expect(scan.stripes).toHaveLength(visible.size * 2);
    await readAll(scan);
  });

  it('resumes an open session after a restart and expires an abandoned one', async () => {
    const kept = await writeFile('ds=2026-11-22', 1, 60_000);
    const abandoned = await writeFile('ds=2026-11-22', 1, 1_500);
    await cluster.restartMetadata('SIGTERM');
    expect((await api<{ state: string }>('POST', `/v1/sessions/${kept.sessionId}/renew`)).body.state).toBe('open');
    expect((await commit(kept.sessionId, kept.manifest)).status).toBe(200);
    // Expired, queued for garbage collection, then its chunks deleted from every node.
    await pollUntil('the abandoned session\'s chunks to be deleted from the nodes', async () => {
      const present = await Promise.all(
        abandoned.placement.chunks.map(async (chunk) => await statusOf(`${chunk.url}/v1/chunks/${chunk.chunkId}/info`)),
      );
      return present.every((status) => status === 404) ? true : undefined;
    });
    await pollUntil('the garbage-collection queue to drop the block', async () => {
      const gc = (await api<{ blocks: { blockId: string }[] }>('GET', '/v1/gc')).body.blocks;
      return gc.some((b) => b.blockId === abandoned.placement.blockId) ? undefined : true;
    });
    for (const chunk of kept.placement.chunks) {
      expect(await statusOf(`${chunk.url}/v1/chunks/${chunk.chunkId}/info`)).toBe(200);
    }
    expect((await api<{ state: string }>('GET', `/v1/sessions/${abandoned.sessionId}`)).body.state).toBe('expired');
    expect((await commit(abandoned.sessionId, abandoned.manifest)).body).toMatchObject({ code: 'GRN_SESSION_CLOSED' });
  });

  it('turns a corrupt chunk found by a scrub into repair work', async () => {
    const scan = await plan({ partitions: { ds: { eq: '2026-11-20' } } });
    const block = scan.blocks[0] as ScanPlan['blocks'][number];
    const chunk = block.chunks[1] as ScanPlan['blocks'][number]['chunks'][number];
    const node = cluster.nodes.find((n) => n.nodeId === chunk.nodeId);
    const path = join(cluster.root, chunk.nodeId, 'chunks', fanoutOf(chunk.chunkId), chunk.chunkId);
    const handle = await open(path, 'r+');
    await handle.write(Buffer.from([0xaa, 0x55]), 0, 2, 10);
    await handle.close();
    const scrub = await request(`${node?.url}/v1/scrub?wait=true`, { method: 'POST', headers: await adminCapabilityHeaders(cluster.metadata.url, cluster.adminToken, chunk.nodeId) });
    expect(((await scrub.body.json()) as { corrupt: { id: string }[] }).corrupt.map((c) => c.id)).toEqual([chunk.chunkId]);
    await pollUntil('the corrupt chunk to be listed for repair', async () => {
      const repair = (await api<RepairStatus>('GET', '/v1/repair')).body.items;
      const item = repair.find((b) => b.blockId === block.blockId);
      return item?.badShards.some((s) => s.chunkId === chunk.chunkId && s.reason === 'corrupt') === true ? true : undefined;
    });
    // Reads go around the rotten chunk.
    expect((await readAll(scan)).length).toBe(4);
  });

  it('reads through 3 lost shards, lists the block as under-replicated, and refuses to guess past m', async () => {
    const scan = await plan({ partitions: { ds: { eq: '2026-11-20' } } });
    const block = scan.blocks[0] as ScanPlan['blocks'][number];
    // Shard 1 is corrupt (previous test); kill the nodes of shards 2 and 3: three shards lost.
    const victims = block.chunks.slice(2, 4).map((c) => c.nodeId);
    const kill = (ids: readonly string[]) => Promise.all(cluster.nodes.filter((n) => ids.includes(n.nodeId)).map((n) => n.kill('SIGKILL')));
    await kill(victims);
    expect(await readAll(scan)).toEqual(written.get([...written.keys()][0] as string));
    const repairOf = async () => (await api<RepairStatus>('GET', '/v1/repair')).body.items.find((b) => b.blockId === block.blockId);
    await pollUntil('the killed nodes to be declared dead', async () => {
      const nodes = await listNodes(cluster.metadata.url, undefined, cluster.adminToken);
      return victims.every((id) => nodes.find((n) => n.nodeId === id)?.state === 'dead') ? true : undefined;
    });
    expect(await repairOf()).toMatchObject({ status: 'under-replicated', healthyShards: 6, nodeFailuresToSpare: 0 });

    const fourth = block.chunks[4]?.nodeId as string;
    await kill([fourth]);
    await pollUntil('the fourth node to be declared dead', async () => {
      const nodes = await listNodes(cluster.metadata.url, undefined, cluster.adminToken);
      return nodes.find((n) => n.nodeId === fourth)?.state === 'dead' ? true : undefined;
    });
    expect(await repairOf()).toMatchObject({ status: 'unavailable', healthyShards: 5, nodeFailuresToSpare: -1 });
    // A range of shard 2 now needs 6 of the 5 readable shards: refused, never guessed.
    await expect(readBlockRange(block, 2 * block.shardBytes + 100, 16)).rejects.toBeInstanceOf(TooManyShardsMissingError);
  });
});
