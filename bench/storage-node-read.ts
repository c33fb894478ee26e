/**
 * Storage-node batched read throughput, as a ratio to the loopback HTTP ceiling measured in the
 * same run: a bare node:http server (own process) serving the same number of bytes per request
 * from memory, read by the same undici client at the same concurrency.
 *
 * Cases: 256 ranges of 16 KiB per request (a selective column read), and one 8 MiB range per
 * request (a large stream), each with page checks and without (`verifyPages: false`, as a scan's
 * first reads ask). Chunks sit in the page cache, so this measures the node's software path:
 * HTTP, page verification, framing, and the client's frame decoding (`readRanges`, as scans).
 */
import { Pool, request } from 'undici';
import { checksumToHex, xxh64 } from '../erasure/index.js';
import { HTTP_DEFAULTS, HttpPools, readRanges } from '../protocol/index.js';
import { bareGet, startBareServer } from './ceilings.js';
import { startNodeProcess } from '../test/helpers/storage-node-process.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { type Throughput, concurrently, gbps, printTable, ratio } from './measure.js';

const CONCURRENCY = 4;
const CHUNKS = 16;
const CHUNK_BYTES = 16 * 1024 * 1024;

interface ReadCase {
  readonly name: string;
  readonly ranges: number;
  readonly rangeBytes: number;
  /** false: the node skips its page checks, as for a scan's first reads (the client verifies). */
  readonly verifyPages: boolean;
}

const CASES: readonly ReadCase[] = [
  { name: '256 x 16 KiB ranges / request', ranges: 256, rangeBytes: 16 * 1024, verifyPages: true },
  { name: '1 x 8 MiB range / request', ranges: 1, rangeBytes: 8 * 1024 * 1024, verifyPages: true },
  { name: '256 x 16 KiB, unchecked (as scans read)', ranges: 256, rangeBytes: 16 * 1024, verifyPages: false },
  { name: '1 x 8 MiB, unchecked (as scans read)', ranges: 1, rangeBytes: 8 * 1024 * 1024, verifyPages: false },
];

export interface StorageReadFigures {
  readonly rows: readonly { case: string; bare: Throughput; granary: Throughput; requestsPerSecond: number }[];
}

export async function benchStorageNodeRead(seconds = 3, pageBytes = 64 * 1024): Promise<StorageReadFigures> {
  const dir = await makeTempDir('bench-node');
  const profileDir = process.env.GRANARY_PROFILE_DIR;
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const node = await startNodeProcess(dir.path, ['--log-level', 'warn', '--page-size', String(pageBytes)], nodeArgs);
  const bare = await startBareServer();
  const http = new HttpPools({ ...HTTP_DEFAULTS, connectionsPerOrigin: CONCURRENCY });
  const barePool = new Pool(bare.url, { connections: CONCURRENCY });
  try {
    const chunk = Buffer.alloc(CHUNK_BYTES);
    for (let i = 0; i < CHUNKS; i++) {
      chunk.fill(i + 1);
      const response = await request(`${node.url}/v1/chunks/bench.${i}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'x-granary-checksum': checksumToHex(xxh64(chunk)) },
        body: chunk,
      });
      await response.body.dump();
      if (response.statusCode !== 201) throw new Error(`put failed: ${response.statusCode}`);
    }
    const rows: StorageReadFigures['rows'][number][] = [];
    for (const readCase of CASES.filter((c) => process.env.GRANARY_BENCH_CASE === undefined || c.name.startsWith(process.env.GRANARY_BENCH_CASE))) {
      const payloadBytes = readCase.ranges * readCase.rangeBytes;
      let cursor = 0;
      const bareResult = await concurrently('bare', CONCURRENCY, seconds, () => bareGet(barePool, payloadBytes));
      const granaryResult = await concurrently('granary', CONCURRENCY, seconds, async () => {
        const ranges = Array.from({ length: readCase.ranges }, () => {
          const at = cursor++;
          const offset = ((at * 7919 * readCase.rangeBytes) % (CHUNK_BYTES - readCase.rangeBytes)) & ~4095;
          return { chunk: `bench.${at % CHUNKS}`, offset, length: readCase.rangeBytes };
        });
        // The client's own batched read (what a scan runs), not a copy of it.
        const frames = await readRanges(http, node.url, ranges, { verifyPages: readCase.verifyPages });
        let bytes = 0;
        for (const frame of frames) {
          if (frame.status !== 'ok') throw new Error(`range failed: ${frame.status} ${frame.message}`);
          bytes += frame.data.length;
        }
        return bytes;
      });
      rows.push({ case: readCase.name, bare: bareResult, granary: granaryResult, requestsPerSecond: granaryResult.requests / granaryResult.seconds });
    }
    printTable(`Storage node batched reads vs bare node:http from memory (${CONCURRENCY} requests in flight, loopback, ${pageBytes / 1024} KiB pages)`, [
      ['case', 'bare http', 'granary', 'ratio', 'granary req/s'],
      ...rows.map((r) => [r.case, gbps(r.bare.bytesPerSecond), gbps(r.granary.bytesPerSecond), ratio(r.granary.bytesPerSecond, r.bare.bytesPerSecond), r.requestsPerSecond.toFixed(0)]),
    ]);
    return { rows };
  } finally {
    await http.close();
    await barePool.close();
    bare.stop();
    await node.kill('SIGTERM');
    await dir.remove();
  }
}
