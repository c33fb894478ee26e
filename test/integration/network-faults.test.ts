/**
 * Network faults with real processes, each in its own network namespace (test/helpers/
 * test-network.ts): a metadata service and eight storage nodes on a private bridge, RS 4+2, so a
 * lost node's shards have somewhere to go. The client runs in the test process and reaches them
 * over the bridge, as a reader on another machine would.
 *
 * - Cut off: a node's link goes down. Every row still reads back (around it: hedging, then
 *   suspect-node avoidance); once it is dead, repair rebuilds its chunks on other nodes, and fsck
 *   finds every block whole with none of them on the cut node.
 * - Heal: the link comes back. The node is alive again, is inventoried at once, and is
 *   reconciled with the catalog: the copies it still holds of chunks that moved away are deleted.
 * - Slow link: a node's packets are delayed. It heartbeats in time, so it stays alive and
 *   nothing is rebuilt; a hedged scan reads around its slowness and still returns every row.
 *
 * Needs root (network namespaces). The tests run in order on one cluster, each starting from
 * where the one before left it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, type ScanOptions, type ScanStats, newScanStats, recordBatchToRows } from '../../client/index.js';
import type { NodeInfo, NodeState, PlannedBlock, RepairStatus } from '../../protocol/index.js';
import { adminCapabilityHeaders, adminTokenOf, nodeCredentialArgs } from '../helpers/cluster.js';
import { GRANARY_BIN, type GranaryProcess } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { type TestNetwork, createTestNetwork } from '../helpers/test-network.js';

const run = promisify(execFile);

const METADATA_HOST = 0;
const NODE_COUNT = 8;
/** Storage node i (1..NODE_COUNT) runs on host i as node-i. */
const NODE_HOSTS = Array.from({ length: NODE_COUNT }, (_, i) => i + 1);
const DOMAINS = 3;
const NODES_STARTED_AT_ONCE = 2;
const EC = '4+2';
const DATA_SHARDS = 4;
const TABLE = 'events';

const HEARTBEAT_INTERVAL_MS = 200;
/**
 * Well above a heartbeat's period under SLOW_LINK_DELAY_MS (interval plus one delayed round
 * trip, ~500 ms), so the slow node is never late even on a loaded machine.
 */
const SUSPECT_AFTER_MS = 1_500;
/** Leaves a window of seconds between suspect and dead for the read-around-suspect scan. */
const DEAD_AFTER_MS = 5_000;
const METADATA_ARGS = [
  '--suspect-after-ms', String(SUSPECT_AFTER_MS),
  '--dead-after-ms', String(DEAD_AFTER_MS),
  '--inventory-interval-ms', '3000',
  '--orphan-grace-ms', '2000',
  '--gc-interval-ms', '200',
  '--lease-check-interval-ms', '200',
];

/** Generous for a loaded 2-core CI machine; every wait polls and ends as soon as the state is reached. */
const STATE_CHANGE_TIMEOUT_MS = 30_000;
const REPAIR_DEADLINE_MS = 90_000;
/**
 * After linkUp, the node's heartbeat that hung must time out (its 5 s request timeout) or be
 * retransmitted (TCP backoff) before one gets through; the metadata service's deletions of the
 * node's old copies back off exponentially while the node is away (5 s, 10 s, 20 s, ...).
 */
const RECOVERY_TIMEOUT_MS = 90_000;
/**
 * The node heartbeats every HEARTBEAT_INTERVAL_MS and its inventory is one page, so a round
 * takes well under a second; this is slack for a loaded machine, still far below the two
 * minutes after which the service gives up on a round nobody sends.
 */
const INVENTORY_AFTER_REJOIN_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 100;
/** A test waits on several of the deadlines above in turn. */
const CASE_TIMEOUT_MS = 300_000;

/**
 * Bounds the reading client's wait for an answer: a request to a cut-off host never fails by
 * itself (no RST, no FIN). Connection setup is bounded by undici's own connect timeout instead.
 */
const READER_TIMEOUT_MS = 3_000;
/** Well under SLOW_LINK_DELAY_MS, so every direct read from the slow node is hedged. */
const HEDGE_AFTER_MS = 100;
const SLOW_LINK_DELAY_MS = 300;
/**
 * How long the slow link is watched: past DEAD_AFTER_MS, so a node the service wrongly thought
 * silent would have been declared dead and repair would have started within the window.
 */
const SLOW_OBSERVATION_MS = DEAD_AFTER_MS + 2_000;

const INVENTORY_SENT = 'inventory sent to metadata service';

const COLUMNS = [
  { name: 'id', type: 'int64' },
  { name: 'label', type: 'float' },
  { name: 'tag', type: 'string' },
  { name: 'ids', type: 'id_list' },
] as const;
const PARTITIONS = [
  { ds: '2026-11-01', rows: 12_000, seed: 3 },
  { ds: '2026-11-02', rows: 8_000, seed: 5 },
] as const;

type Row = Record<string, unknown>;

let network: TestNetwork | undefined;
let dir: Awaited<ReturnType<typeof makeTempDir>> | undefined;
let metadata: GranaryProcess;
/** The metadata service's bootstrap admin token (it runs with auth on). */
let adminToken = '';
/** Storage node processes by node id. */
const nodes = new Map<string, GranaryProcess>();
/** Writes and metadata calls, with the default (long) timeouts: a loaded machine may fsync slowly. */
let client: GranaryClient | undefined;
/** Scans, with short timeouts so a cut-off node costs seconds, not minutes. */
let reader: GranaryClient | undefined;
/** Rows written, by partition value, sorted by id. */
const written = new Map<string, Row[]>();

function makeRows(count: number, seed: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: seed * 1_000_000 + i,
    label: i % 2,
    tag: `t${(i * seed) % 97}`,
    ids: Array.from({ length: (i % 9) + 1 }, (_, j) => i * 31 + j * seed),
  }));
}

function theClient(): GranaryClient {
  if (client === undefined) throw new Error('beforeAll did not create the client');
  return client;
}

function theNetwork(): TestNetwork {
  if (network === undefined) throw new Error('beforeAll did not create the network');
  return network;
}

function nodeProcess(nodeId: string): GranaryProcess {
  const node = nodes.get(nodeId);
  if (node === undefined) throw new Error(`no storage node ${nodeId}`);
  return node;
}

function hostOf(nodeId: string): number {
  return Number(nodeId.slice('node-'.length));
}

async function write(ds: string, rows: Row[]): Promise<void> {
  // Small blocks and stripes, so each partition spreads over many blocks and every node holds some.
  const writer = await theClient().openWriter(TABLE, `ds=${ds}`, { stripeRows: 500, blockBytes: 128 * 1024 });
  try {
    await writer.write(rows);
    await writer.commit();
  } finally {
    await writer.close();
  }
  written.set(ds, rows);
}

/** Scans every partition written, each with the same options, and expects every row exactly. */
async function expectAllRows(options: Pick<ScanOptions, 'hedgeAfterMs' | 'stats'> = {}): Promise<void> {
  if (reader === undefined) throw new Error('beforeAll did not create the reader');
  for (const [ds, rows] of written) {
    const out: Row[] = [];
    for await (const batch of reader.scan(TABLE, { ...options, partitions: { ds: { eq: ds } } })) out.push(...recordBatchToRows(batch));
    out.sort((a, b) => Number(a.id) - Number(b.id));
    expect(out.length).toBe(rows.length);
    // int64 and id_list values come back as bigints.
    expect(out.map((row) => ({ ...row, id: Number(row.id), ids: (row.ids as unknown[]).map(Number) }))).toEqual(rows);
  }
}

function adminHeaders(): Record<string, string> {
  return { authorization: `Bearer ${adminToken}` };
}

async function listNodes(): Promise<NodeInfo[]> {
  const response = await request(`${metadata.url}/v1/nodes`, { headers: adminHeaders() });
  return ((await response.body.json()) as { nodes: NodeInfo[] }).nodes;
}

async function stateOf(nodeId: string): Promise<NodeState | undefined> {
  return (await listNodes()).find((node) => node.nodeId === nodeId)?.state;
}

function waitForState(nodeId: string, state: NodeState, timeoutMs = STATE_CHANGE_TIMEOUT_MS): Promise<true> {
  return pollUntil(`${nodeId} to be ${state}`, async () => ((await stateOf(nodeId)) === state ? true : undefined), timeoutMs, POLL_INTERVAL_MS);
}

async function repairStatus(): Promise<RepairStatus> {
  const response = await request(`${metadata.url}/v1/repair?limit=5`, { headers: adminHeaders() });
  return (await response.body.json()) as RepairStatus;
}

/** Every committed block of the table with its chunk locations, per the catalog. */
async function blocks(): Promise<PlannedBlock[]> {
  const all: PlannedBlock[] = [];
  let after: string | undefined;
  do {
    const page = await theClient().metadata.listBlocks({ table: TABLE, ...(after === undefined ? {} : { after }) });
    all.push(...page.blocks);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return all;
}

/** Chunk ids the catalog places on the node. */
async function placedOn(nodeId: string): Promise<Set<string>> {
  return new Set((await blocks()).flatMap((block) => block.chunks.filter((chunk) => chunk.nodeId === nodeId).map((chunk) => chunk.chunkId)));
}

/** Chunk ids the node holds, from its own listing. */
async function chunksOn(nodeId: string): Promise<Set<string>> {
  const ids: string[] = [];
  let after: string | null = null;
  do {
    const response = await request(`${nodeProcess(nodeId).url}/v1/chunks?limit=10000${after === null ? '' : `&after=${after}`}`, {
      headers: await adminCapabilityHeaders(metadata.url, adminToken, nodeId),
      headersTimeout: READER_TIMEOUT_MS,
      bodyTimeout: READER_TIMEOUT_MS,
    });
    const page = (await response.body.json()) as { chunks: { id: string }[]; next: string | null };
    ids.push(...page.chunks.map((chunk) => chunk.id));
    after = page.next;
  } while (after !== null);
  return new Set(ids);
}

async function fsck(): Promise<{ code: number; stdout: string; stderr: string }> {
  // The CLI runs in the root namespace, like the test process, and reaches every host over the bridge.
  try {
    const { stdout, stderr } = await run(process.execPath, [GRANARY_BIN, 'fsck', '--json', '--metadata', metadata.url], {
      timeout: REPAIR_DEADLINE_MS,
      env: { ...process.env, GRANARY_TOKEN: adminToken },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Waits until every block is healthy and no repair runs, then has fsck verify every chunk where the catalog places it. */
async function expectFullRedundancy(): Promise<RepairStatus> {
  const status = await pollUntil(
    'every block back at full redundancy',
    async () => {
      const current = await repairStatus();
      return current.blocks.healthy === current.blocks.total && current.tasksRunning === 0 ? current : undefined;
    },
    REPAIR_DEADLINE_MS,
    POLL_INTERVAL_MS,
  );
  const checked = await fsck();
  expect(checked.stderr).toBe('');
  expect(checked.code).toBe(0);
  expect(JSON.parse(checked.stdout)).toMatchObject({ underReplicated: 0, unavailable: 0 });
  return status;
}

/**
 * The node holding the most data shards. A full scan reads data shards only (parity just when
 * rebuilding), so this is the node a fault on it disturbs most.
 */
async function nodeWithMostDataShards(): Promise<string> {
  const counts = new Map<string, number>();
  for (const block of await blocks()) {
    for (const chunk of block.chunks) if (chunk.shard < DATA_SHARDS) counts.set(chunk.nodeId, (counts.get(chunk.nodeId) ?? 0) + 1);
  }
  const [most] = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (most === undefined) throw new Error('no block holds a data shard');
  return most[0];
}

function countOccurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Starts node-<host> in its host, registered with the metadata service. */
async function startNode(net: TestNetwork, root: string, host: number): Promise<void> {
  const nodeId = `node-${host}`;
  const node = await net.startGranary(
    host,
    [
      'storage-node',
      '--data', join(root, nodeId),
      '--port', '0',
      '--metadata', metadata.url,
      // --node-id and a node token for it
      ...(await nodeCredentialArgs(metadata.url, adminToken, nodeId)),
      '--domain', `rack-${host % DOMAINS}`,
      '--heartbeat-interval-ms', String(HEARTBEAT_INTERVAL_MS),
      '--reserve', '0',
      '--scrub-interval-hours', '0',
    ],
    'storage node ready',
  );
  nodes.set(nodeId, node);
}

beforeAll(async () => {
  network = await createTestNetwork({ hosts: 1 + NODE_COUNT });
  dir = await makeTempDir('network-faults');
  const net = network;
  const root = dir.path;
  metadata = await net.startGranary(METADATA_HOST, ['metadata', '--data', join(root, 'metadata'), '--port', '0', ...METADATA_ARGS], 'metadata ready');
  adminToken = await adminTokenOf(join(root, 'metadata'));
  // A few at a time: each must be ready within the helper's deadline, and on a loaded 2-core
  // machine eight starting at once share the CPU eight ways.
  for (let first = 0; first < NODE_HOSTS.length; first += NODES_STARTED_AT_ONCE) {
    await Promise.all(NODE_HOSTS.slice(first, first + NODES_STARTED_AT_ONCE).map((host) => startNode(net, root, host)));
  }
  await pollUntil(
    'every storage node to be alive',
    async () => ((await listNodes()).filter((node) => node.state === 'alive').length === NODE_COUNT ? true : undefined),
    STATE_CHANGE_TIMEOUT_MS,
    POLL_INTERVAL_MS,
  );
  client = new GranaryClient({ metadataUrl: metadata.url, token: adminToken });
  reader = new GranaryClient({ metadataUrl: metadata.url, token: adminToken, http: { timeoutMs: READER_TIMEOUT_MS } });
  await client.metadata.createTable({ name: TABLE, columns: COLUMNS, ec: EC });
  for (const partition of PARTITIONS) await write(partition.ds, makeRows(partition.rows, partition.seed));
}, CASE_TIMEOUT_MS);

afterAll(async () => {
  // Clients first, while their peers still exist; then every process, then the files.
  await reader?.close();
  await client?.close();
  await network?.destroy();
  await dir?.remove();
});

describe('network faults on an 8-node RS 4+2 cluster in network namespaces', () => {
  /** The node whose link is cut and healed. */
  let cut: string;
  /** What it held before the cut: its copies the catalog moves away while it is gone. */
  let heldBeforeCut: Set<string>;
  /** Inventories the cut node had sent when its link came back. */
  let inventoriesAtLinkUp = 0;

  it(
    'reads every row while a node is cut off, and rebuilds its chunks elsewhere once it is dead',
    async () => {
      const net = theNetwork();
      cut = await nodeWithMostDataShards();
      heldBeforeCut = await chunksOn(cut);
      expect(heldBeforeCut.size).toBeGreaterThan(0);
      expect(heldBeforeCut).toEqual(await placedOn(cut));
      const repairBefore = await repairStatus();
      expect(repairBefore.blocks.healthy).toBe(repairBefore.blocks.total);
      await waitForState(cut, 'alive');

      const cutAt = Date.now();
      await net.linkDown(hostOf(cut));
      try {
        // At once: the catalog still calls it alive, so its reads hang until hedged around. Run
        // alongside the wait for suspect, so that the window between suspect and dead does not
        // depend on how long this scan takes (its rebuilds may wait out request timeouts).
        const hedged = newScanStats();
        const hedgedScan = expectAllRows({ hedgeAfterMs: HEDGE_AFTER_MS, stats: hedged });
        // Awaited below; until then a failure must not surface as an unhandled rejection.
        hedgedScan.catch(() => undefined);

        // Suspect: read around without being asked at all, and with no hedging needed.
        const late = await pollUntil(
          `${cut} to be suspect`,
          async () => {
            const state = await stateOf(cut);
            return state === 'suspect' || state === 'dead' ? state : undefined;
          },
          STATE_CHANGE_TIMEOUT_MS,
          POLL_INTERVAL_MS,
        );
        expect(late, `${cut} was already dead when first seen late, ${Date.now() - cutAt} ms after the cut`).toBe('suspect');
        const aroundSuspect = newScanStats();
        await expectAllRows({ stats: aroundSuspect });
        expect(aroundSuspect.bytesByNode[cut]).toBeUndefined();
        expect(aroundSuspect.degradedReads).toBeGreaterThan(0);
        await hedgedScan;
        expect(hedged.degradedReads).toBeGreaterThan(0);

        await waitForState(cut, 'dead');
        const repaired = await expectFullRedundancy();
        expect(repaired.counters.shardsRestored - repairBefore.counters.shardsRestored).toBeGreaterThanOrEqual(heldBeforeCut.size);
        for (const block of await blocks()) {
          expect(block.chunks.map((chunk) => chunk.nodeId)).not.toContain(cut);
          // Every shard on a node of its own again.
          expect(new Set(block.chunks.map((chunk) => chunk.nodeId)).size).toBe(block.chunks.length);
        }
        await expectAllRows();
        expect(await stateOf(cut)).toBe('dead');
      } finally {
        inventoriesAtLinkUp = countOccurrences(nodeProcess(cut).output(), INVENTORY_SENT);
        await net.linkUp(hostOf(cut));
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'takes the node back when its link returns: alive again',
    async () => {
      await waitForState(cut, 'alive', RECOVERY_TIMEOUT_MS);
    },
    CASE_TIMEOUT_MS,
  );

  /**
   * While the link was down the node's heartbeat requests timed out and it closed their sockets,
   * but their bytes stayed queued in its kernel and reached the service after linkUp: the first
   * counts as the node's return and opens an inventory round whose answer nobody reads. The
   * service offers a round that has received no page again, so the node is inventoried at once.
   */
  it(
    'inventories the node soon after it rejoins',
    async () => {
      await pollUntil(
        `${cut} to send an inventory after rejoining`,
        () => (countOccurrences(nodeProcess(cut).output(), INVENTORY_SENT) > inventoriesAtLinkUp ? true : undefined),
        INVENTORY_AFTER_REJOIN_TIMEOUT_MS,
        POLL_INTERVAL_MS,
      );
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'reconciles the node: its copies of the chunks that moved away are deleted, and it holds just what the catalog places there',
    async () => {
      const placed = await placedOn(cut);
      // Every chunk it held moved while it was dead.
      const moved = [...heldBeforeCut].filter((chunkId) => !placed.has(chunkId));
      expect(moved.length).toBe(heldBeforeCut.size);
      const held = await pollUntil(
        `${cut} to hold none of the ${moved.length} chunks moved off it`,
        async () => {
          const now = await chunksOn(cut);
          return moved.some((chunkId) => now.has(chunkId)) ? undefined : now;
        },
        RECOVERY_TIMEOUT_MS,
        POLL_INTERVAL_MS,
      );
      expect(held).toEqual(await placedOn(cut));
      expect(await stateOf(cut)).toBe('alive');
      await expectFullRedundancy();
      await expectAllRows();
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'reads around a slow node with hedging, and neither suspects it nor repairs anything',
    async () => {
      const net = theNetwork();
      const slow = await nodeWithMostDataShards();
      await waitForState(slow, 'alive');
      const before = await repairStatus();
      expect(before.blocks.healthy).toBe(before.blocks.total);
      expect(before.tasksRunning).toBe(0);

      const slowSince = Date.now();
      await net.setDelay(hostOf(slow), SLOW_LINK_DELAY_MS);
      try {
        const stats: ScanStats = newScanStats();
        await expectAllRows({ hedgeAfterMs: HEDGE_AFTER_MS, stats });
        expect(stats.hedgedRequests).toBeGreaterThan(0);
        expect(stats.bytesByNode[slow]).toBeGreaterThan(0);
        // Sampled over the whole window, not only at its end: a moment of suspicion is a failure too.
        let samples = 0;
        while (samples === 0 || Date.now() - slowSince < SLOW_OBSERVATION_MS) {
          expect(await stateOf(slow)).toBe('alive');
          const status = await repairStatus();
          expect(status.blocks.underReplicated).toBe(0);
          expect(status.blocks.unavailable).toBe(0);
          expect(status.counters.tasksStarted).toBe(before.counters.tasksStarted);
          expect(status.counters.shardsRestored).toBe(before.counters.shardsRestored);
          samples++;
          await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
        }
      } finally {
        await net.clearDelay(hostOf(slow));
      }
      const after = await repairStatus();
      expect(after.counters.tasksStarted).toBe(before.counters.tasksStarted);
      expect(after.counters.shardsRestored).toBe(before.counters.shardsRestored);
      expect(after.blocks.healthy).toBe(after.blocks.total);
      expect(await stateOf(slow)).toBe('alive');
    },
    CASE_TIMEOUT_MS,
  );
});
