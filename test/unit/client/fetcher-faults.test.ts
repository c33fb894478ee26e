/**
 * The reader's failure handling, table-driven (fault-table.ts) over real sockets to in-process
 * memory nodes: for RS 4+2 and 6+3, each case gives shards faults, writes a block of seeded
 * random streams, and reads three ranges (inside one shard, across two, the whole block) twice:
 *
 * - through the Fetcher (read-plan's planReads/groupByNode, then fetch), checking what each shard
 *   read holds of the range against its checksum and rebuilding from parity on a mismatch, as a
 *   scan does with stream checksums: first reads skip the nodes' page checks, so a rotten
 *   chunk's bytes come back with status ok;
 * - through scanTable with a stub metadata client serving the block's plan: the reader as users
 *   run it, stream checksums and repair included.
 *
 * Each read must return exactly the original bytes, or, with more than m shards unreadable and
 * one of them needed, throw DataUnavailableError naming the block; report the chunks it found
 * corrupt or missing (flagged as such) and no others; and count a degraded read exactly when a
 * needed shard was bad.
 *
 * The last test of each policy hedges around two slow nodes at once, with requests of several
 * reads (coalescing off): the hedge itself must not wait for the second slow node.
 */
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCodecThreads, contiguousLayout, totalShards, xxh64 } from '../../../erasure/index.js';
import { type CorruptReporter, DataUnavailableError, type FetchStats, Fetcher, newFetchStats } from '../../../client/reader/fetcher.js';
import { COALESCING_DEFAULTS, NO_COALESCING, type ShardRead, groupByNode, planReads } from '../../../client/reader/read-plan.js';
import { newScanStats, scanTable } from '../../../client/reader/scan.js';
import { GranaryError, HttpPools, type PlannedBlock } from '../../../protocol/index.js';
import type { MemoryChunkStore } from '../../../storage-node/index.js';
import { type MemoryNodes, startMemoryNodes } from '../../helpers/memory-nodes.js';
import { type BlockRange, FAULT_TABLE, type FaultBlock, StubMetadata, makeFaultBlock, scanPlanOf, shardsOfRange } from './fault-block.js';
import { type Expectation, type FaultCase, HEDGE_AFTER_MS, RS_4_2, RS_6_3, type ReadName, casesFor, expectationFor } from './fault-table.js';

/** Shard sizes: blocks of 250 KiB (4+2) and 281 KiB (6+3), 12-16 pages of 4 KiB per shard. */
const SHARD_BYTES: Readonly<Record<string, number>> = { '4+2': 64_000, '6+3': 48_000 };
/** A hedged-around node's delay: never waited out (resetting the nodes answers it). */
const SLOW_HEDGED_MS = 10_000;
/** An unhedged slow node's delay: the read waits it out. */
const SLOW_UNHEDGED_MS = 50;
/** Timers may fire this much before their delay, by the clock the test reads. */
const TIMER_EARLY_MS = 2;
/** The slow nodes' delay in the stalled-hedge test: long against the hedge, short for a unit test. */
const STALLED_SLOW_MS = 5_000;
const CONCURRENCY = 16;

interface ReadCase {
  readonly name: ReadName;
  readonly range: BlockRange;
  readonly stripes: { readonly from: number; readonly to: number };
}

type Outcome = { readonly bytes: readonly Uint8Array[] } | { readonly error: unknown };

interface Report {
  readonly chunkId: string;
  readonly missing: boolean;
}

let blockSequence = 0;

for (const policy of [RS_4_2, RS_6_3]) {
  const policyName = `${policy.dataShards}+${policy.parityShards}`;
  const shardBytes = SHARD_BYTES[policyName] as number;

  describe(`reader faults, RS ${policyName}`, () => {
    let nodes: MemoryNodes;
    beforeAll(async () => {
      nodes = await startMemoryNodes(totalShards(policy));
    });
    afterAll(async () => {
      await nodes.close();
    });

    for (const faultCase of casesFor(policy)) {
      it(faultCase.name, async () => {
        const seed = ++blockSequence;
        const faultBlock = makeFaultBlock(policy, shardBytes, seed);
        const block = await nodes.writeBlock(`blk-${seed}`, policy, faultBlock.bytes);
        expect(contiguousLayout(policy, faultBlock.bytes.length).shardBytes).toBe(shardBytes);
        applyFaults(nodes, block, faultCase);
        const http = new HttpPools();
        try {
          // Each read has its own fetcher (its own view of which nodes are down), so they run at once.
          await Promise.all(
            readCases(faultBlock).flatMap((read) => {
              const expectation = expectationFor(faultCase, shardsOfRange(read.range, shardBytes));
              return [checkFetcherRead(http, block, faultBlock, faultCase, read, expectation), checkScan(http, block, faultBlock, faultCase, read, expectation)];
            }),
          );
        } finally {
          // Answers the slow reads still waiting, so the client's pools close at once.
          nodes.reset();
          await http.close();
        }
      });
    }

    // A request with several reads (streams of one shard more than gapBytes apart; coalescing off
    // makes that so here) is hedged by rebuilding them all at once from k other shards; when one
    // of those is slow too, the hedge must move on to the remaining shards, not wait for it.
    it(`RS ${policyName} 0:slow 2:slow (hedged), coalescing off: the hedge does not wait for the other slow node`, async () => {
      const seed = ++blockSequence;
      const faultBlock = makeFaultBlock(policy, shardBytes, seed);
      const block = await nodes.writeBlock(`blk-${seed}`, policy, faultBlock.bytes);
      for (const shard of [0, 2]) storeOf(nodes, block, shard).setChunkFaults(`${block.blockId}.${shard}`, { slowMs: STALLED_SLOW_MS });
      const http = new HttpPools();
      try {
        const stats = newScanStats();
        const metadata = new StubMetadata(http, scanPlanOf(block, faultBlock));
        const options = { stats, hedgeAfterMs: HEDGE_AFTER_MS, concurrency: CONCURRENCY, coalescing: NO_COALESCING };
        const startedMs = performance.now();
        const values: Uint8Array[] = [];
        for await (const batch of scanTable(http, metadata, FAULT_TABLE, options)) values.push(...blobsOf(batch));
        const elapsedMs = performance.now() - startedMs;
        expect(values.length).toBe(faultBlock.blobs.length);
        expect(Buffer.concat(values).equals(Buffer.concat(faultBlock.blobs)), 'bytes differ from the original').toBe(true);
        expect(stats.hedgedRequests).toBeGreaterThan(0);
        expect(elapsedMs).toBeLessThan(STALLED_SLOW_MS / 2);
      } finally {
        nodes.reset();
        await http.close();
      }
    });
  });
}

afterAll(async () => {
  await closeCodecThreads();
});

function readCases(faultBlock: FaultBlock): ReadCase[] {
  const inside = faultBlock.insideShardStripe;
  const across = faultBlock.acrossShardsStripe;
  return [
    { name: 'inside one shard', range: faultBlock.streams[inside] as BlockRange, stripes: { from: inside, to: inside + 1 } },
    { name: 'across two shards', range: faultBlock.streams[across] as BlockRange, stripes: { from: across, to: across + 1 } },
    { name: 'whole block', range: { offset: 0, length: faultBlock.bytes.length }, stripes: { from: 0, to: faultBlock.streams.length } },
  ];
}

/** The store of the node holding a shard of the block. */
function storeOf(nodes: MemoryNodes, block: PlannedBlock, shard: number): MemoryChunkStore {
  const store = nodes.nodes.find((node) => node.nodeId === block.chunks[shard]?.nodeId)?.store;
  if (store === undefined) throw new Error(`block ${block.blockId} has no shard ${shard}`);
  return store;
}

function applyFaults(nodes: MemoryNodes, block: PlannedBlock, faultCase: FaultCase): void {
  for (const [shardText, fault] of Object.entries(faultCase.faults)) {
    const shard = Number(shardText);
    const store = storeOf(nodes, block, shard);
    const id = `${block.blockId}.${shard}`;
    if (fault === 'dead') store.setUnavailable('reset');
    else if (fault === 'refused') store.setUnavailable('refuse');
    else if (fault === 'slow') store.setChunkFaults(id, { slowMs: faultCase.hedgeAfterMs === undefined ? SLOW_UNHEDGED_MS : SLOW_HEDGED_MS });
    else if (fault !== 'ok') store.setChunkFaults(id, { [fault]: true });
  }
}

async function checkFetcherRead(http: HttpPools, block: PlannedBlock, faultBlock: FaultBlock, faultCase: FaultCase, read: ReadCase, expectation: Expectation): Promise<void> {
  const stats = newFetchStats();
  const reported: Report[] = [];
  const reporter: CorruptReporter = (chunk, _reason, missing) => {
    reported.push({ chunkId: chunk.chunkId, missing });
  };
  const fetcher = new Fetcher(http, [block], fetchOptions(faultCase), stats, reporter);
  const expected = faultBlock.bytes.subarray(read.range.offset, read.range.offset + read.range.length);
  const startedMs = performance.now();
  const outcome = await outcomeOf(async () => [await readCheckedRange(fetcher, block, read.range, expected)]);
  checkOutcome(`fetcher, ${read.name}`, outcome, [expected], block, faultCase, expectation, stats, reported, performance.now() - startedMs);
}

async function checkScan(http: HttpPools, block: PlannedBlock, faultBlock: FaultBlock, faultCase: FaultCase, read: ReadCase, expectation: Expectation): Promise<void> {
  const metadata = new StubMetadata(http, scanPlanOf(block, faultBlock));
  const stats = newScanStats();
  const startedMs = performance.now();
  const outcome = await outcomeOf(async () => {
    const values: Uint8Array[] = [];
    for await (const batch of scanTable(http, metadata, FAULT_TABLE, { stripes: read.stripes, stats, ...fetchOptions(faultCase) })) {
      values.push(...blobsOf(batch));
    }
    return values;
  });
  const elapsedMs = performance.now() - startedMs;
  const expected = faultBlock.blobs.slice(read.stripes.from, read.stripes.to);
  const where = `scan, ${read.name}`;
  checkOutcome(where, outcome, expected, block, faultCase, expectation, stats, metadata.reported, elapsedMs);
}

function checkOutcome(
  where: string,
  outcome: Outcome,
  expected: readonly Uint8Array[],
  block: PlannedBlock,
  faultCase: FaultCase,
  expectation: Expectation,
  stats: FetchStats,
  reports: readonly Report[],
  elapsedMs: number,
): void {
  const reportedShards = reports.map((report) => shardOf(block, report.chunkId));
  if (expectation.unavailable) {
    expect('error' in outcome, `${where}: more than m shards unreadable must not return bytes`).toBe(true);
    const error = (outcome as { error: unknown }).error;
    expect(error, where).toBeInstanceOf(DataUnavailableError);
    expect(error, where).toMatchObject({ code: 'GRN_DATA_UNAVAILABLE', blockId: block.blockId, message: expect.stringContaining(block.blockId) });
  } else {
    if ('error' in outcome) throw new Error(`${where}: the read failed: ${String(outcome.error)}`, { cause: outcome.error });
    expect(outcome.bytes.length, where).toBe(expected.length);
    outcome.bytes.forEach((bytes, i) => {
      expect(Buffer.from(bytes).equals(expected[i] as Uint8Array), `${where}: bytes of part ${i} differ from the original`).toBe(true);
    });
    const reported = new Set(reportedShards);
    expect(expectation.mustReport.filter((shard) => !reported.has(shard)), `${where}: needed damaged shards not reported`).toEqual([]);
  }
  const mayReport = new Set(expectation.mayReport);
  expect(reportedShards.filter((shard) => !mayReport.has(shard)), `${where}: reported a chunk that is not damaged`).toEqual([]);
  const missing = new Set(expectation.missing);
  const misflagged = reports.filter((report, i) => report.missing !== missing.has(reportedShards[i] as number));
  expect(misflagged, `${where}: reports flagged missing must be the missing chunks`).toEqual([]);
  if (expectation.degraded) expect(stats.degradedReads, `${where}: degraded reads`).toBeGreaterThan(0);
  // With hedging on, a loaded machine may hedge a healthy read too: only unhedged cases must stay undegraded.
  else if (faultCase.hedgeAfterMs === undefined) expect(stats.degradedReads, `${where}: degraded reads`).toBe(0);
  if (expectation.hedged) {
    expect(stats.hedgedRequests, `${where}: hedged requests`).toBeGreaterThan(0);
    expect(elapsedMs, `${where}: a hedged read must not wait for the slow node`).toBeLessThan(SLOW_HEDGED_MS / 4);
  } else if (faultCase.hedgeAfterMs === undefined) {
    expect(stats.hedgedRequests, `${where}: hedged requests`).toBe(0);
  }
  if (expectation.waitsForSlow) expect(elapsedMs, `${where}: an unhedged read waits for the slow node`).toBeGreaterThanOrEqual(SLOW_UNHEDGED_MS - TIMER_EARLY_MS);
}

function fetchOptions(faultCase: FaultCase): { concurrency: number; hedgeAfterMs?: number } {
  return faultCase.hedgeAfterMs === undefined ? { concurrency: CONCURRENCY } : { concurrency: CONCURRENCY, hedgeAfterMs: faultCase.hedgeAfterMs };
}

/**
 * Reads a block range as a scan reads streams: unchecked by the nodes, then what each shard read
 * holds of the range checked here (each piece plays a stream with its writer's checksum), and a
 * read with a bad piece rebuilt from parity (page-checked inputs) and reported, as scan.ts does.
 */
async function readCheckedRange(fetcher: Fetcher, block: PlannedBlock, range: BlockRange, expected: Uint8Array): Promise<Uint8Array> {
  const blocks = [block];
  const reads = planReads(blocks, [{ blockRef: 0, ...range }], COALESCING_DEFAULTS);
  const data = await fetcher.fetch(groupByNode(blocks, reads, COALESCING_DEFAULTS));
  for (const read of reads) {
    if (piecesMatch(read, data.get(read) as Uint8Array, expected)) continue;
    const rebuilt = await fetcher.rebuildRead(read, 'piece checksum mismatch');
    if (!piecesMatch(read, rebuilt, expected)) throw new GranaryError('GRN_DATA_CORRUPT', `shard ${read.shard} does not match its checksum, read or rebuilt`);
    fetcher.reportBadRead(read, 'served bytes that fail their checksum');
    data.set(read, rebuilt);
  }
  return assemble(reads, data, range.length);
}

function piecesMatch(read: ShardRead, bytes: Uint8Array, expected: Uint8Array): boolean {
  return read.pieces.every(
    (piece) =>
      xxh64(bytes.subarray(piece.readOffset, piece.readOffset + piece.length)) === xxh64(expected.subarray(piece.streamOffset, piece.streamOffset + piece.length)),
  );
}

function assemble(reads: readonly ShardRead[], data: ReadonlyMap<ShardRead, Uint8Array>, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (const read of reads) {
    const bytes = data.get(read) as Uint8Array;
    for (const piece of read.pieces) out.set(bytes.subarray(piece.readOffset, piece.readOffset + piece.length), piece.streamOffset);
  }
  return out;
}

async function outcomeOf(read: () => Promise<Uint8Array[]>): Promise<Outcome> {
  try {
    return { bytes: await read() };
  } catch (error) {
    return { error };
  }
}

function blobsOf(batch: arrow.RecordBatch): Uint8Array[] {
  const column = batch.getChildAt(0) as arrow.Vector<arrow.Binary>;
  return Array.from({ length: batch.numRows }, (_, row) => column.get(row) as Uint8Array);
}

function shardOf(block: PlannedBlock, chunkId: string): number {
  return block.chunks.find((chunk) => chunk.chunkId === chunkId)?.shard ?? -1;
}
