/**
 * The repair executor's failure handling, driven by a table of cases over in-memory storage
 * nodes with fault knobs (real sockets, milliseconds per case), like MinIO's erasure decode tests:
 * per source shard dead, missing, corrupt, slow or answering short; targets that refuse, hold a
 * rotten or differing copy, or are given the wrong checksum. A restored chunk must be byte for
 * byte the shard the block was written with, or its restore must fail with a reason; never a
 * wrong chunk stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumToHex, closeCodecThreads, contiguousLayout, encodeParity, splitBlock, xxh64 } from '../../../erasure/index.js';
import { HttpPools, type RepairSource, type RepairTask, type ShardRestore } from '../../../protocol/index.js';
import type { ChunkFaults } from '../../../storage-node/memory-chunk-store.js';
import { executeRepair } from '../../../storage-node/repair-executor.js';
import { type MemoryNodes, type WrittenBlock, startMemoryNodes } from '../../helpers/memory-nodes.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const POLICY = { dataShards: 4, parityShards: 2 };
/** Nodes 0-5 hold the block's shards; 6 and 7 are repair targets. */
const NODES = 8;
const TARGETS = [6, 7] as const;
const BLOCK_BYTES = 300_000;
/** Small windows, so every restore takes several. */
const WINDOW_BYTES = 16 * 1024;
const FAST_RATE = 1024 * 1024 * 1024;
const SLOW_MS = 150;

type SourceFault = 'dead' | 'missing' | 'corrupt' | 'slow' | 'short' | 'eio';

interface RestoreSpec {
  readonly shard: number;
  readonly mode: 'copy' | 'rebuild';
  /** Index into TARGETS. */
  readonly target: 0 | 1;
}

interface Case {
  readonly name: string;
  readonly restores: readonly RestoreSpec[];
  /** Faults of the block's other shards (by shard, on their own nodes). */
  readonly sources?: Readonly<Record<number, SourceFault>>;
  readonly target?: 'refuses' | 'rotten-copy' | 'differing-copy' | 'identical-copy' | 'wrong-checksum';
  /** Blocks committed before shard checksums were recorded. */
  readonly legacy?: boolean;
  /** Expected outcome per restored shard: true restored exactly, or a pattern its error matches. */
  readonly expect: Readonly<Record<number, true | RegExp>>;
}

const CASES: readonly Case[] = [
  { name: 'one shard rebuilt from healthy sources', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], expect: { 1: true } },
  { name: 'two shards rebuilt at once, to two targets', restores: [{ shard: 1, mode: 'rebuild', target: 0 }, { shard: 4, mode: 'rebuild', target: 1 }], expect: { 1: true, 4: true } },
  { name: 'a dead source is replaced by the next one', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], sources: { 0: 'dead' }, expect: { 1: true } },
  { name: 'a missing source is replaced', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], sources: { 2: 'missing' }, expect: { 1: true } },
  { name: 'a rotten source is refused by its node and replaced', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], sources: { 0: 'corrupt' }, expect: { 1: true } },
  { name: 'an unreadable (EIO) source is replaced', restores: [{ shard: 0, mode: 'rebuild', target: 0 }], sources: { 3: 'eio' }, expect: { 0: true } },
  { name: 'a source whose answer is cut short is replaced', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], sources: { 0: 'short' }, expect: { 1: true } },
  { name: 'a slow source only slows the rebuild', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], sources: { 0: 'slow' }, expect: { 1: true } },
  {
    name: 'fewer than k readable sources: the rebuild fails, nothing is stored',
    restores: [{ shard: 1, mode: 'rebuild', target: 0 }],
    sources: { 0: 'dead', 2: 'corrupt' },
    expect: { 1: /only 3 of the 4 shards/ },
  },
  { name: 'a draining shard is copied from its node', restores: [{ shard: 3, mode: 'copy', target: 0 }], expect: { 3: true } },
  { name: 'a copy from a rotten chunk fails (no rotten bytes are copied)', restores: [{ shard: 3, mode: 'copy', target: 0 }], sources: { 3: 'corrupt' }, expect: { 3: /copying from .*corrupt/ } },
  {
    name: 'a copy and a rebuild in one task',
    restores: [{ shard: 5, mode: 'copy', target: 0 }, { shard: 2, mode: 'rebuild', target: 1 }],
    expect: { 5: true, 2: true },
  },
  { name: 'a target that refuses fails its restore only', restores: [{ shard: 1, mode: 'rebuild', target: 0 }, { shard: 2, mode: 'rebuild', target: 1 }], target: 'refuses', expect: { 1: /storing on mem-6/, 2: true } },
  { name: 'the wrong recorded checksum: the target stores nothing', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], target: 'wrong-checksum', expect: { 1: /GRN_CHECKSUM_MISMATCH|hashes to/ } },
  { name: 'a rotten copy on the target is replaced in place', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], target: 'rotten-copy', expect: { 1: true } },
  { name: 'an intact identical copy on the target answers at once (the upload is not waited on)', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], target: 'identical-copy', expect: { 1: true } },
  { name: 'a copy that differs from the catalog is replaced', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], target: 'differing-copy', expect: { 1: true } },
  { name: 'a block without recorded checksums is rebuilt and stored all the same', restores: [{ shard: 2, mode: 'rebuild', target: 0 }], legacy: true, expect: { 2: true } },
];

const FAULTS: Readonly<Record<SourceFault, ChunkFaults>> = {
  dead: {},
  missing: { missing: true },
  corrupt: { corrupt: true },
  slow: { slowMs: SLOW_MS },
  short: { short: true },
  eio: { eio: true },
};

let nodes: MemoryNodes;
let http: HttpPools;
let sequence = 0;

beforeAll(async () => {
  nodes = await startMemoryNodes(NODES);
  http = new HttpPools();
});

afterAll(async () => {
  await http?.close();
  await nodes?.close();
  await closeCodecThreads();
});

/** The block's shards as written, for comparison. */
async function shardsOf(bytes: Uint8Array): Promise<Uint8Array[]> {
  const data = splitBlock(contiguousLayout(POLICY, bytes.length), bytes);
  return [...data, ...(await encodeParity(POLICY, data))];
}

function taskFor(testCase: Case, block: WrittenBlock): RepairTask {
  const rebuilt = new Set(testCase.restores.filter((r) => r.mode === 'rebuild').map((r) => r.shard));
  const sources: RepairSource[] = block.chunks
    .filter((chunk) => !rebuilt.has(chunk.shard))
    .map((chunk) => ({ shard: chunk.shard, chunkId: chunk.chunkId, nodeId: chunk.nodeId, url: chunk.url }));
  const restores: ShardRestore[] = testCase.restores.map((spec) => {
    const target = nodes.nodes[TARGETS[spec.target]];
    const from = sources.find((source) => source.shard === spec.shard);
    const recorded = testCase.target === 'wrong-checksum' ? checksumToHex(xxh64(Buffer.from('something else'))) : block.shardChecksums[spec.shard];
    return {
      shard: spec.shard,
      chunkId: `${block.blockId}.${spec.shard}`,
      mode: spec.mode,
      ...(spec.mode === 'copy' && from !== undefined ? { from } : {}),
      target: { nodeId: target?.nodeId as string, url: target?.url as string },
      ...(testCase.legacy === true ? {} : { checksum: recorded as string }),
    };
  });
  return {
    taskId: `t${sequence}`,
    blockId: block.blockId,
    dataShards: POLICY.dataShards,
    parityShards: POLICY.parityShards,
    codec: block.codec,
    shardBytes: block.shardBytes,
    sources,
    restores,
    rateBytesPerSecond: FAST_RATE,
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
  };
}

describe('repair executor, by table of faults', () => {
  for (const testCase of CASES) {
    it(testCase.name, async () => {
      const random = seededRandom(++sequence);
      const bytes = new Uint8Array(BLOCK_BYTES).map(() => Math.floor(random() * 256));
      const block = await nodes.writeBlock(`rb${sequence}`, POLICY, bytes);
      const shards = await shardsOf(bytes);
      try {
        for (const [shard, fault] of Object.entries(testCase.sources ?? {})) {
          const chunk = block.chunks[Number(shard)];
          const store = nodes.nodes.find((node) => node.nodeId === chunk?.nodeId)?.store;
          if (fault === 'dead') store?.setUnavailable('refuse');
          else store?.setChunkFaults(chunk?.chunkId as string, FAULTS[fault]);
        }
        const firstTarget = nodes.nodes[TARGETS[0]];
        const firstChunk = `${block.blockId}.${testCase.restores[0]?.shard}`;
        if (testCase.target === 'refuses') firstTarget?.store.setUnavailable('refuse');
        if (testCase.target === 'rotten-copy' || testCase.target === 'differing-copy' || testCase.target === 'identical-copy') {
          const shard = shards[testCase.restores[0]?.shard as number] as Uint8Array;
          const stored = Buffer.from(shard);
          if (testCase.target === 'differing-copy') stored[10] = (stored[10] as number) ^ 1;
          await firstTarget?.store.put(firstChunk, (async function* () {
            yield stored;
          })(), { expectedChecksum: xxh64(stored) });
          if (testCase.target === 'rotten-copy') firstTarget?.store.setChunkFaults(firstChunk, { corrupt: true });
        }
        const startedMs = performance.now();
        const outcome = await executeRepair(taskFor(testCase, block), http, AbortSignal.timeout(30_000), WINDOW_BYTES);
        const elapsedMs = performance.now() - startedMs;
        for (const spec of testCase.restores) {
          const result = outcome.results.find((r) => r.shard === spec.shard);
          const wanted = testCase.expect[spec.shard];
          const target = nodes.nodes[TARGETS[spec.target]];
          const chunkId = `${block.blockId}.${spec.shard}`;
          if (wanted === true) {
            expect(result, `shard ${spec.shard}: ${result?.error ?? ''}`).toEqual({ shard: spec.shard, ok: true });
            // Exactly the shard as written, and whole: read back with page checks on.
            target?.store.clearFaults();
            const stored = await target?.store.readRange(chunkId, 0, block.shardBytes);
            expect(Buffer.from(stored as Buffer).equals(Buffer.from(shards[spec.shard] as Uint8Array)), `shard ${spec.shard} bytes`).toBe(true);
          } else {
            expect(result?.ok).toBe(false);
            expect(result?.error).toMatch(wanted as RegExp);
            // Nothing half-written or wrong was left where the restore was going.
            expect(target?.store.chunkIds()).not.toContain(chunkId);
          }
        }
        const restored = outcome.results.filter((r) => r.ok).length;
        expect(outcome.bytesWritten).toBe(restored * block.shardBytes);
        if (testCase.sources !== undefined && Object.values(testCase.sources).includes('slow')) expect(elapsedMs).toBeGreaterThanOrEqual(SLOW_MS - 5);
      } finally {
        for (const node of nodes.nodes) node.store.setUnavailable(undefined);
        nodes.reset();
      }
    });
  }

  it('paces its reads to the task\'s share of the repair rate', async () => {
    const random = seededRandom(999);
    const bytes = new Uint8Array(BLOCK_BYTES).map(() => Math.floor(random() * 256));
    const block = await nodes.writeBlock('rbpaced', POLICY, bytes);
    const rate = 1024 * 1024;
    const task = { ...taskFor({ name: 'paced', restores: [{ shard: 1, mode: 'rebuild', target: 0 }], expect: {} }, block), rateBytesPerSecond: rate };
    const startedMs = performance.now();
    const outcome = await executeRepair(task, http, AbortSignal.timeout(30_000), WINDOW_BYTES);
    const elapsedMs = performance.now() - startedMs;
    expect(outcome.results).toEqual([{ shard: 1, ok: true }]);
    // k sources of a ~75 KB shard at 1 MiB/s: the reads alone take about 0.29 s.
    expect(outcome.bytesRead).toBe(POLICY.dataShards * block.shardBytes);
    expect(elapsedMs).toBeGreaterThanOrEqual((outcome.bytesRead / rate) * 1000 - (WINDOW_BYTES * POLICY.dataShards / rate) * 1000 - 5);
  });
});
