/**
 * Keeping data through churn, with real processes: ten storage nodes and RS 4+2, so a lost node's
 * shards have somewhere to go. Nodes are drained and removed, lost for good (SIGKILL and their
 * data directory deleted) one and two at a time until more than m have been lost in total, brought
 * back empty under the same id, and taken down while a partition is written; the metadata service
 * is killed in the middle of repair. After each step every partition reads back value for value,
 * `granary fsck` verifies every chunk where the catalog places it, and nothing is lost.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, recordBatchToRows } from '../../client/index.js';
import { checksumToHex, xxh64 } from '../../erasure/index.js';
import { CAPABILITY_HEADER, signCapability } from '../../protocol/capability.js';
import type { NodeInfo, PlannedBlock, RepairStatus } from '../../protocol/index.js';
import { type Cluster, adminCapabilityHeaders, listNodes, nodeCredentialArgs, startCluster } from '../helpers/cluster.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { type NodeProcess, startNodeProcess } from '../helpers/storage-node-process.js';

const run = promisify(execFile);

const NODES = 10;
const EC = '4+2';
/** Long enough for loaded CI machines; every wait polls and ends as soon as the state is reached. */
const REPAIR_DEADLINE_MS = 90_000;
const METADATA_ARGS = [
  '--suspect-after-ms', '800',
  '--dead-after-ms', '2500',
  '--gc-interval-ms', '200',
  '--lease-check-interval-ms', '200',
  '--inventory-interval-ms', '2000',
  '--orphan-grace-ms', '2000',
  '--repair-rate', '64MiB',
  '--repair-tasks-max', '4',
];
const COLUMNS = [
  { name: 'id', type: 'int64' },
  { name: 'label', type: 'float' },
  { name: 'tag', type: 'string' },
  { name: 'ids', type: 'id_list' },
] as const;

let cluster: Cluster;
let client: GranaryClient;
/** Node processes by id; a lost node's entry is removed, a restarted one's replaced. */
const nodes = new Map<string, NodeProcess>();
/** Rows written, by table and partition. */
const written = new Map<string, Record<string, unknown>[]>();

function makeRows(count: number, seed: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    id: seed * 1_000_000 + i,
    label: (i % 2) as number,
    tag: `t${(i * seed) % 97}`,
    ids: Array.from({ length: (i % 9) + 1 }, (_, j) => i * 31 + j * seed),
  }));
}

async function write(table: string, partition: string, rows: Record<string, unknown>[]): Promise<void> {
  // Tiny blocks (a stripe or two each: stripes encode to a few KiB), so a partition spreads over
  // tens of blocks and every node holds some. With 128 KiB blocks the encoded partitions fitted in
  // one block each, and a node of the four-node domain missed both blocks one run in four.
  const writer = await client.openWriter(table, partition, { stripeRows: 500, blockBytes: 2 * 1024 });
  try {
    await writer.write(rows);
    await writer.commit();
  } finally {
    await writer.close();
  }
  written.set(`${table}/${partition}`, rows);
}

/** Every partition written so far reads back exactly. */
async function expectAllData(): Promise<void> {
  for (const [key, rows] of written) {
    const [table, partition] = key.split('/') as [string, string];
    const out: Record<string, unknown>[] = [];
    const [name, value] = partition.split('=') as [string, string];
    for await (const batch of client.scan(table, { partitions: { [name]: { eq: value } } })) out.push(...recordBatchToRows(batch));
    out.sort((a, b) => Number(a.id) - Number(b.id));
    expect(out.length).toBe(rows.length);
    expect(out.map((row) => ({ ...row, id: Number(row.id), ids: (row.ids as unknown[]).map(Number) }))).toEqual(rows);
  }
}

async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GRANARY_BIN, ...args, '--metadata', cluster.metadata.url], {
      timeout: 120_000,
      env: { ...process.env, GRANARY_TOKEN: cluster.adminToken },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function adminHeaders(): Record<string, string> {
  return { authorization: `Bearer ${cluster.adminToken}` };
}

async function repairStatus(): Promise<RepairStatus> {
  const response = await request(`${cluster.metadata.url}/v1/repair?limit=5`, { headers: adminHeaders() });
  return (await response.body.json()) as RepairStatus;
}

/** Waits until repair has restored every block, then has fsck verify every chunk where the catalog places it. */
async function expectFullRedundancy(): Promise<void> {
  await pollUntil(
    'every block back at full redundancy',
    async () => {
      const status = await repairStatus();
      return status.blocks.healthy === status.blocks.total && status.tasksRunning === 0 ? status : undefined;
    },
    REPAIR_DEADLINE_MS,
    200,
  );
  const fsck = await granary(['fsck', '--json']);
  expect(fsck.stderr).toBe('');
  expect(fsck.code).toBe(0);
  expect(JSON.parse(fsck.stdout)).toMatchObject({ underReplicated: 0, unavailable: 0 });
}

async function nodeArgs(nodeId: string, index: number): Promise<string[]> {
  return [
    '--metadata', cluster.metadata.url,
    '--domain', `rack-${index % 3}`,
    '--heartbeat-interval-ms', '200',
    // --node-id and a node token for it
    ...(await nodeCredentialArgs(cluster.metadata.url, cluster.adminToken, nodeId)),
    '--reserve', '0',
  ];
}

async function startNode(nodeId: string): Promise<NodeProcess> {
  const index = Number(nodeId.slice('node-'.length));
  const node = await startNodeProcess(join(cluster.root, nodeId), await nodeArgs(nodeId, index));
  nodes.set(nodeId, node);
  // A node serves chunk requests once it has registered and learnt the key capabilities are
  // signed with (503 until then; an empty disk has no key kept from an earlier run).
  await pollUntil(`${nodeId} to check capabilities`, async () => {
    const response = await request(`${node.url}/v1/chunks?limit=1`, { headers: await adminCapabilityHeaders(cluster.metadata.url, cluster.adminToken, nodeId) });
    await response.body.dump();
    return response.statusCode === 503 ? undefined : true;
  }, REPAIR_DEADLINE_MS, 50);
  return node;
}

/** SIGKILL, and (for a permanent loss) the data directory deleted. */
async function killNode(nodeId: string, loseDisk: boolean): Promise<void> {
  await nodes.get(nodeId)?.kill('SIGKILL');
  nodes.delete(nodeId);
  if (loseDisk) await rm(join(cluster.root, nodeId), { recursive: true, force: true });
}

async function nodeInfo(nodeId: string): Promise<NodeInfo | undefined> {
  return (await listNodes(cluster.metadata.url, undefined, cluster.adminToken)).find((node) => node.nodeId === nodeId);
}

async function waitState(nodeId: string, state: NodeInfo['state']): Promise<void> {
  await pollUntil(`${nodeId} ${state}`, async () => ((await nodeInfo(nodeId))?.state === state ? true : undefined), REPAIR_DEADLINE_MS, 50);
}

/** Chunk ids a node holds, from its own listing. */
async function chunksOn(node: NodeProcess): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  do {
    const response = await request(`${node.url}/v1/chunks?limit=10000${after === null ? '' : `&after=${after}`}`, {
      headers: await adminCapabilityHeaders(cluster.metadata.url, cluster.adminToken, node.nodeId),
    });
    const page = (await response.body.json()) as { chunks: { id: string }[]; next: string | null };
    if (response.statusCode !== 200) throw new Error(`listing the chunks of ${node.nodeId} answered ${response.statusCode}: ${JSON.stringify(page)}`);
    ids.push(...page.chunks.map((chunk) => chunk.id));
    after = page.next;
  } while (after !== null);
  return ids;
}

/** The table's blocks with their chunk locations, per the catalog (one page is enough here). */
async function blocksOf(table: string): Promise<readonly PlannedBlock[]> {
  const page = await client.metadata.listBlocks({ table });
  expect(page.next).toBeNull();
  return page.blocks;
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: NODES, domains: 3, metadataArgs: METADATA_ARGS });
  cluster.nodes.forEach((node) => nodes.set(node.nodeId, node));
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: 'events', columns: COLUMNS, ec: EC });
  await write('events', 'ds=2026-11-01', makeRows(12_000, 3));
  await write('events', 'ds=2026-11-02', makeRows(8_000, 5));
});

afterAll(async () => {
  await client?.close();
  await Promise.all([...nodes.values()].map((node) => node.kill('SIGKILL')));
  await cluster?.stop();
});

describe('repair on a 10-node RS 4+2 cluster', () => {
  it('drains a node with --wait while reads go on, then it can die and be removed with nothing lost', async () => {
    const victim = 'node-9';
    const held = (await nodeInfo(victim))?.chunksHeld ?? 0;
    expect(held).toBeGreaterThan(0);
    const drain = await granary(['node', 'drain', victim, '--wait', '--timeout', '120', '--progress']);
    expect(drain.stdout + drain.stderr).toMatch(/node-9 is draining/);
    expect(drain.code).toBe(0);
    // --progress off a terminal: lines, the last with every chunk moved.
    expect(drain.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^drain node-9 100% · ${held.toLocaleString('en-US')} of ${held.toLocaleString('en-US')} chunks · none left`));
    expect((await nodeInfo(victim))?.chunksHeld).toBe(0);
    await killNode(victim, true);
    await expectAllData();
    await expectFullRedundancy();
    // Refused while in service; accepted once drained.
    expect((await granary(['node', 'remove', 'node-0'])).stderr).toMatch(/GRN_NODE_IN_USE/);
    const removed = await granary(['node', 'remove', victim, '--json']);
    expect(removed.code).toBe(0);
    expect(await nodeInfo(victim)).toBeUndefined();
  });

  it('rebuilds a lost node, then survives m more at once, until more than m are lost in total', async () => {
    const lost = 'node-8';
    await killNode(lost, true);
    await waitState(lost, 'dead');
    // `repair wait` returns once nothing is left to restore, having shown the bytes restored.
    const waited = await granary(['repair', 'wait', '--timeout', String(REPAIR_DEADLINE_MS / 1000), '--progress']);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/0 under-replicated/);
    // Done of the total restored (or nothing, had repair finished before it asked).
    expect(waited.stderr.trim().split('\n').at(-1)).toMatch(/^repair (100% · [\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B|0 B) · /);
    await expectFullRedundancy();
    for (const block of await blocksOf('events')) expect(block.chunks.map((chunk) => chunk.nodeId)).not.toContain(lost);
    // m = 2 more at once: every partition still reads, from parity.
    await killNode('node-7', true);
    await killNode('node-6', true);
    await expectAllData();
    await waitState('node-7', 'dead');
    await waitState('node-6', 'dead');
    await expectFullRedundancy();
    await expectAllData();
    // Dead and no longer needed: forgotten, and their pending deletions with them.
    for (const id of [lost, 'node-7', 'node-6']) expect((await granary(['node', 'remove', id])).code).toBe(0);
    const status = (await granary(['status'])).stdout;
    expect(status).toMatch(/cluster HEALTHY/);
    expect(status).toMatch(/shards .*restored/);
  });

  it('writes while m nodes are down, and brings the new partition to full redundancy when they return', async () => {
    // Six nodes are left (k+m): with two down, shards double up rather than the write failing.
    await killNode('node-5', false);
    await killNode('node-4', false);
    await pollUntil('two nodes out of placement', async () => {
      const states = await Promise.all(['node-5', 'node-4'].map(nodeInfo));
      return states.every((info) => info?.state !== 'alive') ? true : undefined;
    }, REPAIR_DEADLINE_MS, 50);
    await write('events', 'ds=2026-11-03', makeRows(6_000, 7));
    const shared = (await blocksOf('events')).filter((block) => new Set(block.chunks.map((c) => c.nodeId)).size < block.chunks.length);
    expect(shared.length).toBeGreaterThan(0);
    expect((await repairStatus()).blocks.underReplicated).toBeGreaterThan(0);
    await expectAllData();
    await startNode('node-5');
    await startNode('node-4');
    await expectFullRedundancy();
    for (const block of await blocksOf('events')) expect(new Set(block.chunks.map((c) => c.nodeId)).size).toBe(block.chunks.length);
    await expectAllData();
  });

  it('finds the missing chunks of a node restarted with an empty disk, without any read, and rebuilds them', async () => {
    const victim = 'node-3';
    const before = (await nodeInfo(victim))?.chunksHeld ?? 0;
    expect(before).toBeGreaterThan(0);
    await killNode(victim, true);
    const node = await startNode(victim);
    expect(await chunksOn(node)).toEqual([]);
    // No scan runs here: only the node's inventory can reveal what it lost.
    await pollUntil('missing chunks found', async () => ((await repairStatus()).blocks.underReplicated > 0 || (await chunksOn(node)).length > 0 ? true : undefined), REPAIR_DEADLINE_MS, 100);
    await expectFullRedundancy();
    // Six nodes for six shards: every block places one on node-3 again, rewritten in place.
    expect((await chunksOn(node)).length).toBe(before);
    await expectAllData();
  });

  it('deletes an orphan chunk after its grace period, but never the chunk of an open write session', async () => {
    const node = nodes.get('node-2') as NodeProcess;
    const orphan = Buffer.from('left behind by nobody');
    // A chunk the catalog knows nothing of (say one whose record was lost with a catalog restored
    // from an older copy): stored with a write capability signed here with the service's own key,
    // read from its data directory, since the service never hands one out for such a chunk.
    const signingKey = createPrivateKey(await readFile(join(cluster.root, 'metadata', 'capability-signing.key'), 'utf8'));
    const orphanCapability = signCapability({ op: 'write', scope: 'borphan0000000000000.0', expiresAtMs: Date.now() + 600_000 }, signingKey);
    const put = await request(`${node.url}/v1/chunks/borphan0000000000000.0`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(orphan)), [CAPABILITY_HEADER]: orphanCapability },
      body: orphan,
    });
    expect(put.statusCode).toBe(201);
    await put.body.dump();
    // An open session's block, stored but not committed (the lease is long).
    const session = await client.metadata.openSession('events', { partition: 'ds=2026-11-04', leaseMs: 600_000 });
    const placement = await client.metadata.allocateBlock(session.sessionId);
    const pending = placement.chunks[0] as { url: string; chunkId: string; capability?: string };
    const body = Buffer.from('a shard of a write in progress');
    const stored = await request(`${pending.url}/v1/chunks/${pending.chunkId}`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        'x-granary-checksum': checksumToHex(xxh64(body)),
        ...(pending.capability === undefined ? {} : { [CAPABILITY_HEADER]: pending.capability }),
      },
      body,
    });
    expect(stored.statusCode).toBe(201);
    await stored.body.dump();
    await pollUntil('orphan deleted', async () => ((await chunksOn(node)).includes('borphan0000000000000.0') ? undefined : true), REPAIR_DEADLINE_MS, 200);
    const holder = [...nodes.values()].find((n) => n.url === pending.url) as NodeProcess;
    expect(await chunksOn(holder)).toContain(pending.chunkId);
    await client.metadata.abort(session.sessionId);
  });

  it('finishes repair after the metadata service is killed in the middle of it, with no block on a missing or partial chunk', async () => {
    await killNode('node-1', false);
    await waitState('node-1', 'dead');
    // A dead node's blocks have no other node to go to (six nodes, six shards) until it is
    // removed and another joins: node-9 comes back as a new node with an empty disk.
    expect((await granary(['node', 'remove', 'node-1'])).code).toBe(0);
    await startNode('node-9');
    await pollUntil('repair under way', async () => {
      const status = await repairStatus();
      return status.tasksRunning > 0 || status.counters.tasksStarted > 0 ? true : undefined;
    }, REPAIR_DEADLINE_MS, 20);
    await cluster.restartMetadata('SIGKILL');
    await expectFullRedundancy();
    await expectAllData();
  });

  it('collects garbage on live nodes while a node holding some of it is dead', async () => {
    const dead = 'node-0';
    const blocks = (await blocksOf('events')).filter((block) => block.chunks.some((chunk) => chunk.nodeId === dead));
    expect(blocks.length).toBeGreaterThan(0);
    await killNode(dead, false);
    await waitState(dead, 'dead');
    const dropped = await granary(['partition', 'drop', 'events', 'ds=2026-11-01']);
    expect(dropped.code).toBe(0);
    const gone = new Set((await blocksOf('events')).map((block) => block.blockId));
    const droppedChunks = new Set<string>();
    for (const block of blocks) if (!gone.has(block.blockId)) for (const chunk of block.chunks) droppedChunks.add(chunk.chunkId);
    // Done when no live node lists a dropped chunk and the queue holds the dead node's chunks
    // only: a record is rewritten after its pass's deletes, and other garbage (old copies left by
    // the repairs above) may still be queued behind a back-off, so both are polled, not read once.
    const liveGarbage = async (): Promise<string[]> => {
      const gc = (await (await request(`${cluster.metadata.url}/v1/gc`, { headers: adminHeaders() })).body.json()) as { blocks: { chunks: { nodeId: string; chunkId: string }[] }[] };
      const queued = gc.blocks.flatMap((record) => record.chunks).filter((chunk) => chunk.nodeId !== dead).map((chunk) => `${chunk.nodeId}/${chunk.chunkId}`);
      for (const node of nodes.values()) for (const id of await chunksOn(node)) if (droppedChunks.has(id)) queued.push(`${node.nodeId}/${id} (still stored)`);
      return queued;
    };
    let left: string[] = [];
    await pollUntil('garbage collected on every live node', async () => {
      left = await liveGarbage();
      return left.length === 0 ? true : undefined;
    }, REPAIR_DEADLINE_MS, 200).catch((error: unknown) => {
      throw new Error(`${String(error)}; left on live nodes: ${left.slice(0, 10).join(', ')}`);
    });
    expect(droppedChunks.size).toBeGreaterThan(0);
  });
});
