/**
 * N in-process storage nodes over memory stores, each a real HTTP server on a loopback port, so
 * tests drive the client's actual network path (batched reads, keep-alive pools, sockets that
 * die) while starting in milliseconds. Faults are set on each node's store (MemoryChunkStore).
 */
import { openAuth } from './open-auth.js';
import type { FastifyInstance } from 'fastify';
import {
  DEFAULT_CODEC_ID,
  type ErasurePolicy,
  checksumToHex,
  contiguousLayout,
  encodeParity,
  splitBlock,
  totalShards,
  xxh64,
} from '../../erasure/index.js';
import type { PlannedBlock, PlannedChunk } from '../../protocol/index.js';
import { MemoryChunkStore, type MemoryChunkStoreOptions, Scrubber, buildStorageServer } from '../../storage-node/index.js';
import { NodeMetrics } from '../../storage-node/metrics.js';
import type { ReadMemoryOptions } from '../../storage-node/routes/batch-read-route.js';

/** Small pages, so blocks of a few hundred KiB span many of them, as real chunks do. */
export const MEMORY_NODE_PAGE_BYTES = 4096;
/** Scrubs run only on request in these nodes, at no useful limit. */
const SCRUB_RATE_BYTES_PER_SECOND = 1e12;

export interface MemoryNode {
  readonly nodeId: string;
  readonly url: string;
  readonly store: MemoryChunkStore;
}

/** A block as a scan plan names it, with the xxh64 (hex) of each of its k+m shards. */
export interface WrittenBlock extends PlannedBlock {
  readonly shardChecksums: readonly string[];
}

export interface MemoryNodes {
  readonly nodes: readonly MemoryNode[];
  readonly urls: readonly string[];
  readonly stores: readonly MemoryChunkStore[];
  /**
   * Erasure codes `bytes` under `policy` and stores shard i as chunk `<blockId>.<i>` on node
   * (firstNode + i) mod N, straight into the stores (faults do not apply to writes).
   */
  writeBlock(blockId: string, policy: ErasurePolicy, bytes: Uint8Array, firstNode?: number): Promise<WrittenBlock>;
  /** Clears every fault of every node; slow reads waiting are answered at once. */
  reset(): void;
  /** Closes every server and store; slow reads in flight are cut short. */
  close(): Promise<void>;
}

interface RunningNode extends MemoryNode {
  readonly app: FastifyInstance;
  readonly scrubber: Scrubber;
}

/** Settings of the nodes' HTTP servers. */
export interface MemoryNodeServerOptions {
  /** Bounds of batch-read memory (storage-node/routes/batch-read-route.ts). */
  readonly readMemory?: Partial<ReadMemoryOptions>;
}

export async function startMemoryNodes(
  count: number,
  storeOptions: Partial<MemoryChunkStoreOptions> = {},
  serverOptions: MemoryNodeServerOptions = {},
): Promise<MemoryNodes> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startNode(`mem-${i}`, storeOptions, serverOptions)));
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = started.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(running.map(stopNode));
    throw failure.reason;
  }
  return {
    nodes: running,
    urls: running.map((node) => node.url),
    stores: running.map((node) => node.store),
    writeBlock: (blockId, policy, bytes, firstNode = 0) => writeBlock(running, blockId, policy, bytes, firstNode),
    reset: () => {
      for (const node of running) node.store.clearFaults();
    },
    close: async () => {
      await Promise.all(running.map(stopNode));
    },
  };
}

async function startNode(nodeId: string, storeOptions: Partial<MemoryChunkStoreOptions>, serverOptions: MemoryNodeServerOptions): Promise<RunningNode> {
  const store = new MemoryChunkStore({ pageBytes: MEMORY_NODE_PAGE_BYTES, ...storeOptions });
  const metrics = new NodeMetrics(store);
  const scrubber = new Scrubber(store, metrics, { rateBytesPerSecond: SCRUB_RATE_BYTES_PER_SECOND, intervalMs: 0, onError: () => undefined });
  const app = await buildStorageServer({ nodeId, store, metrics, scrubber, logger: false, faults: store.serverFaults, ...openAuth(), ...serverOptions });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await app.close();
    await store.close();
    throw error;
  }
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error(`memory node ${nodeId} has no port`);
  return { nodeId, url: `http://127.0.0.1:${address.port}`, store, app, scrubber };
}

async function stopNode(node: RunningNode): Promise<void> {
  // The store first: it cuts slow reads short, so the server is not kept open waiting for them.
  await node.store.close();
  await node.scrubber.stop();
  await node.app.close();
}

async function writeBlock(
  nodes: readonly MemoryNode[],
  blockId: string,
  policy: ErasurePolicy,
  bytes: Uint8Array,
  firstNode: number,
): Promise<WrittenBlock> {
  const shardCount = totalShards(policy);
  if (shardCount > nodes.length) {
    throw new Error(`RS ${policy.dataShards}+${policy.parityShards} needs ${shardCount} nodes for distinct placement, there are ${nodes.length}`);
  }
  const layout = contiguousLayout(policy, bytes.length);
  const data = splitBlock(layout, bytes);
  const shards = [...data, ...(await encodeParity(policy, data))];
  const checksums = shards.map((shard) => xxh64(shard));
  const chunks: PlannedChunk[] = await Promise.all(
    shards.map(async (shard, index) => {
      const node = nodes[(firstNode + index) % nodes.length] as MemoryNode;
      const chunkId = `${blockId}.${index}`;
      await node.store.put(chunkId, single(shard), { expectedChecksum: checksums[index] as bigint, expectedBytes: shard.length });
      return { shard: index, chunkId, nodeId: node.nodeId, url: node.url, nodeState: 'alive' };
    }),
  );
  return {
    blockId,
    dataShards: policy.dataShards,
    parityShards: policy.parityShards,
    codec: DEFAULT_CODEC_ID,
    blockBytes: bytes.length,
    shardBytes: layout.shardBytes,
    chunks,
    shardChecksums: checksums.map(checksumToHex),
  };
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
