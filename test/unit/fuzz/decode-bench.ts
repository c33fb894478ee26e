/**
 * CPU time to decode a large commit body and a large scan plan: plain msgpackr (what Granary used
 * before), @msgpack/msgpack alone, the safety walk alone, and decodeUntrustedMsgpack (walk, then
 * @msgpack/msgpack). The figures in protocol/safe-msgpack.ts come from this script:
 *
 *   for d in msgpackr @msgpack walk decodeUntrusted; do node --expose-gc --import tsx test/unit/fuzz/decode-bench.ts $d; done
 *
 * One decoder per process (the argument picks it by name; none runs all), so one's JIT and heap
 * state do not tilt the next; CPU time (process.cpuUsage), not wall time, so a busy shared
 * machine skews it less.
 */
import { Decoder } from '@msgpack/msgpack';
import { pack, unpack } from 'msgpackr';
import { checkMsgpack, decodeUntrustedMsgpack, msgpackLimitsForBody } from '../../../protocol/safe-msgpack.js';

const RUNS = 9;

function commit(stripes: number, columns: number): unknown {
  const names = Array.from({ length: columns }, (_, c) => `column_${c}`);
  return {
    files: [
      {
        columns: names,
        stripes: Array.from({ length: stripes }, (_, s) => ({
          rows: 65_536,
          streams: names.map((_, c) => ({
            block: `b${Math.floor(s / 100)}0123456789abcdef`,
            offset: s * 100_000 + c * 1_000,
            length: 1_000 + c,
            checksum: '0123456789abcdef',
            encoding: 3,
            stats: { nulls: s % 7, min: -s * 1.5, max: s * 2 },
          })),
        })),
      },
    ],
    blocks: Array.from({ length: stripes / 100 }, (_, b) => ({
      blockId: `b${b}0123456789abcdef`,
      blockBytes: 60_000_000,
      shardBytes: 10_000_000,
      codec: 'rs-vandermonde',
      shardChecksums: new Array<string>(9).fill('0123456789abcdef'),
    })),
  };
}

function plan(stripes: number, columns: number): unknown {
  return {
    table: 't',
    schemaVersion: 1,
    columns: Array.from({ length: columns }, (_, c) => ({ name: `c${c}`, type: 'float', featureId: c })),
    blocks: Array.from({ length: stripes / 100 }, (_, b) => ({
      blockId: `b${b}`,
      dataShards: 6,
      parityShards: 3,
      codec: 'rs',
      chunks: Array.from({ length: 9 }, (_, i) => ({ chunkId: `b${b}.${i}`, nodeId: `node-${i}`, url: `http://127.0.0.1:${9_000 + i}` })),
    })),
    stripes: Array.from({ length: stripes }, (_, s) => ({ partition: 'ds=2026-01-01', fileId: 'f1', stripe: s, rows: 65_536, streams: Buffer.alloc(32 * columns, s) })),
    stripesConsidered: stripes,
    stripesPruned: 0,
  };
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function cpuMs(decode: () => unknown): { median: number; min: number } {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    gc();
    const before = process.cpuUsage();
    decode();
    const spent = process.cpuUsage(before);
    times.push((spent.user + spent.system) / 1000);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(RUNS / 2)] as number, min: times[0] as number };
}

const only = process.argv[2];
const limits = msgpackLimitsForBody(64 * 1024 * 1024);
const reference = new Decoder();
for (const [name, body] of [
  ['commit, 200,000 stream entries', pack(commit(20_000, 10))],
  ['scan plan, 50,000 stripes x 10 columns', pack(plan(50_000, 10))],
] as const) {
  console.log(`${name}: ${(body.length / 1e6).toFixed(1)} MB`);
  for (const [decoder, decode] of [
    ['msgpackr unpack (unsafe)', () => unpack(body)],
    ['@msgpack/msgpack alone', () => reference.decode(body)],
    ['safety walk alone', () => checkMsgpack(body, limits)],
    ['decodeUntrustedMsgpack', () => decodeUntrustedMsgpack(body, limits)],
  ] as const) {
    if (only !== undefined && !decoder.includes(only)) continue;
    const { median, min } = cpuMs(decode);
    console.log(`  ${decoder.padEnd(26)} CPU median ${median.toFixed(0).padStart(5)} ms, min ${min.toFixed(0).padStart(5)} ms`);
  }
}
