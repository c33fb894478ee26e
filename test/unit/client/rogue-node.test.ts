/**
 * A lying node and a dribbling node (issue 11) against the real reader: one shard of an RS 4+2
 * block is "served" by a plain node:http server on loopback that answers batch reads with
 *
 * - a frame claiming 4 GiB for a range of a few KiB (then a little data, and never ends), or
 * - one byte every few hundred milliseconds, forever (undici's idle timeout never fires);
 *
 * and the other five shards by in-process memory nodes. The scan must return the original bytes,
 * rebuilt from parity, within a bound, without the client's memory growing by anything like
 * what the node claimed, and the client must hang up on the rogue.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCodecThreads } from '../../../erasure/index.js';
import { newScanStats, scanTable } from '../../../client/reader/scan.js';
import { FRAMES_CONTENT_TYPE, HTTP_DEFAULTS, HttpPools, type PlannedBlock, readRanges } from '../../../protocol/index.js';
import { FRAME_HEADER_BYTES, FRAME_STATUS } from '../../../protocol/batch-read.js';
import { type MemoryNodes, startMemoryNodes } from '../../helpers/memory-nodes.js';
import { pollUntil } from '../../helpers/poll.js';
import { FAULT_TABLE, StubMetadata, makeFaultBlock, scanPlanOf } from './fault-block.js';
import { RS_4_2 } from './fault-table.js';

const SHARD_BYTES = 64_000;
const CLAIMED_BYTES = 0xffff_fff0;
const DRIBBLE_INTERVAL_MS = 200;
/** The dribbling test's deadline floor: short for a unit test, long against a healthy node's answer. */
const TEST_DEADLINE_FLOOR_MS = 600;
/** A scan around the rogue must end within this: far below the default 10 s deadline floor and 30 s idle timeout. */
const SCAN_MS_MAX = 5_000;
/** Growth of the process's ArrayBuffer bytes allowed for a scan of a 250 KiB block (the node claimed 4 GiB). */
const ARRAY_BUFFER_GROWTH_MAX = 64 * 1024 * 1024;

type RogueMode = 'huge-frame' | 'dribble';

interface Rogue {
  readonly url: string;
  /** Batch reads it has been sent. */
  requests: number;
  /** Of those, answers whose connection the client has closed. */
  hungUp: number;
  close(): Promise<void>;
}

async function startRogue(mode: RogueMode): Promise<Rogue> {
  const timers = new Set<NodeJS.Timeout>();
  const rogue = { requests: 0, hungUp: 0 } as Rogue;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    rogue.requests++;
    response.on('close', () => {
      rogue.hungUp++;
    });
    response.writeHead(200, { 'content-type': FRAMES_CONTENT_TYPE });
    if (mode === 'huge-frame') {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      header.writeUInt8(FRAME_STATUS.ok, 0);
      header.writeUInt32LE(CLAIMED_BYTES, 4);
      response.write(Buffer.concat([header, Buffer.alloc(4096, 0xab)]));
      return;
    }
    const timer = setInterval(() => response.write(Buffer.from([0])), DRIBBLE_INTERVAL_MS);
    timers.add(timer);
    response.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(rogue, {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

function blobsOf(batch: arrow.RecordBatch): Uint8Array[] {
  const column = batch.getChildAt(0) as arrow.Vector<arrow.Binary>;
  return Array.from({ length: batch.numRows }, (_, row) => column.get(row) as Uint8Array);
}

describe('a rogue node among the shards of a block', () => {
  let nodes: MemoryNodes;
  beforeAll(async () => {
    nodes = await startMemoryNodes(6);
  });
  afterAll(async () => {
    await nodes.close();
    await closeCodecThreads();
  });

  const cases: readonly { mode: RogueMode; what: string; http: () => HttpPools }[] = [
    {
      mode: 'huge-frame',
      what: 'a frame claiming 4 GiB for a range of KiB is read around at once, with default deadlines, allocating nothing for it',
      http: () => new HttpPools(),
    },
    {
      mode: 'dribble',
      what: 'a node dribbling a byte every 200 ms is abandoned at the read deadline and read around',
      http: () => new HttpPools({ ...HTTP_DEFAULTS, batchReadDeadline: { floorMs: TEST_DEADLINE_FLOOR_MS, bytesPerSecondMin: 1_000_000 } }),
    },
  ];

  let seed = 1100;
  for (const { mode, what, http: makeHttp } of cases) {
    it(what, async () => {
      const rogue = await startRogue(mode);
      const http = makeHttp();
      try {
        const faultBlock = makeFaultBlock(RS_4_2, SHARD_BYTES, ++seed);
        const written = await nodes.writeBlock(`blk-rogue-${seed}`, RS_4_2, faultBlock.bytes);
        // Shard 0, the one every read of the first stripe needs, is the rogue's.
        const block: PlannedBlock = { ...written, chunks: written.chunks.map((chunk) => (chunk.shard === 0 ? { ...chunk, url: rogue.url } : chunk)) };
        const metadata = new StubMetadata(http, scanPlanOf(block, faultBlock));
        const stats = newScanStats();
        const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
        const startedMs = performance.now();
        const values: Uint8Array[] = [];
        for await (const batch of scanTable(http, metadata, FAULT_TABLE, { stats, concurrency: 8 })) values.push(...blobsOf(batch));
        const elapsedMs = performance.now() - startedMs;

        expect(values.length).toBe(faultBlock.blobs.length);
        expect(Buffer.concat(values).equals(Buffer.concat(faultBlock.blobs)), 'bytes differ from the original').toBe(true);
        expect(rogue.requests, 'the rogue was asked').toBeGreaterThan(0);
        expect(stats.degradedReads, 'shard 0 was rebuilt from parity').toBeGreaterThan(0);
        expect(elapsedMs).toBeLessThan(SCAN_MS_MAX);
        if (mode === 'dribble') expect(elapsedMs).toBeGreaterThanOrEqual(TEST_DEADLINE_FLOOR_MS - 5);
        expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(ARRAY_BUFFER_GROWTH_MAX);
        expect(metadata.reported, 'a misbehaving node is read around, not reported as holding damaged chunks').toEqual([]);
        await pollUntil('the client to hang up on the rogue', () => (rogue.hungUp >= rogue.requests ? true : undefined), 5_000);
      } finally {
        await http.close();
        await rogue.close();
      }
    });
  }

  it('readRanges rejects a dribbled answer at its deadline, naming the node and the deadline', async () => {
    const rogue = await startRogue('dribble');
    const http = new HttpPools({ ...HTTP_DEFAULTS, batchReadDeadline: { floorMs: 300, bytesPerSecondMin: 1_000_000 } });
    try {
      const startedMs = performance.now();
      await expect(readRanges(http, rogue.url, [{ chunk: 'blk.0', offset: 0, length: 4096 }])).rejects.toMatchObject({
        code: 'GRN_UNAVAILABLE',
        message: expect.stringContaining(`${rogue.url} did not finish answering 1 ranges (4096 bytes) within 300 ms`),
      });
      expect(performance.now() - startedMs).toBeLessThan(SCAN_MS_MAX);
      await pollUntil('the client to hang up on the rogue', () => (rogue.hungUp >= 1 ? true : undefined), 5_000);
    } finally {
      await http.close();
      await rogue.close();
    }
  });
});
