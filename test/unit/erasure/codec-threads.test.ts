import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CodecThreadPool,
  RsWasmCodec,
  SimdRsCodec,
  ThreadedCodec,
  closeCodecThreads,
  codecById,
  codecThreadCount,
  encodeParity,
  encodeParityInto,
  reconstructShards,
  threadedCodecById,
} from '../../../erasure/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';
import { codecSuite } from './codec-suite.js';

const pool = new CodecThreadPool(2);
afterAll(async () => {
  await pool.close();
  await closeCodecThreads();
});

// Every job through the workers, however small: the whole codec contract must hold there too.
codecSuite('rs-wasm-v1 on worker threads', () => new ThreadedCodec(new RsWasmCodec(), pool, 0));

function randomShards(count: number, bytes: number, seed: number): Uint8Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => new Uint8Array(bytes).map(() => Math.floor(random() * 256)));
}

describe('erasure codec threads', () => {
  const policy = { dataShards: 6, parityShards: 3 };

  it('computes the parity of the codec on the calling thread, byte for byte, for many jobs at once', async () => {
    const threaded = new ThreadedCodec(codecById('rs-wasm-v1'), pool);
    const blocks = Array.from({ length: 8 }, (_, i) => randomShards(6, 100_000 + i * 8, i));
    const [onThreads, inline] = await Promise.all([
      Promise.all(blocks.map((data) => encodeParity(policy, data, threaded))),
      Promise.all(blocks.map((data) => encodeParity(policy, data, codecById('rs-wasm-v1')))),
    ]);
    onThreads.forEach((parity, b) => parity.forEach((shard, j) => expect(Buffer.from(shard).equals(Buffer.from((inline[b] as Uint8Array[])[j] as Uint8Array))).toBe(true)));
  });

  it('works in place on shards that share one SharedArrayBuffer', async () => {
    const threaded = new ThreadedCodec(codecById('rs-wasm-v1'), pool, 0);
    const shardBytes = 50_000;
    const space = new SharedArrayBuffer(9 * shardBytes + 24);
    const shards = Array.from({ length: 9 }, (_, i) => new Uint8Array(space, 8 + i * shardBytes, shardBytes));
    randomShards(6, shardBytes, 5).forEach((data, i) => (shards[i] as Uint8Array).set(data));
    await encodeParityInto(policy, shards.slice(0, 6), shards.slice(6), threaded);
    const expected = await encodeParity(policy, shards.slice(0, 6), codecById('rs-wasm-v1'));
    expected.forEach((parity, j) => expect(Buffer.from(shards[6 + j] as Uint8Array).equals(Buffer.from(parity))).toBe(true));
    const original = Uint8Array.from(shards[2] as Uint8Array);
    (shards[2] as Uint8Array).fill(0);
    await threaded.reconstructData(shards, shards.map((_, i) => i !== 2), 6);
    expect(Buffer.from(shards[2] as Uint8Array).equals(Buffer.from(original))).toBe(true);
  });

  it('rebuilds lost data and parity shards of a large block', async () => {
    const threaded = threadedCodecById('rs-wasm-v1');
    const data = randomShards(6, 300_000, 9);
    const all = [...data, ...(await encodeParity(policy, data, threaded))];
    const lost = [1, 4, 7];
    const rebuilt = await reconstructShards(policy, all.map((s, i) => (lost.includes(i) ? null : s)), lost, threaded);
    lost.forEach((index, position) => expect(Buffer.from(rebuilt[position] as Uint8Array).equals(Buffer.from(all[index] as Uint8Array))).toBe(true));
  });

  it('rebuilds one wanted data shard when parity shards are absent too (the degraded read shape)', async () => {
    const data = randomShards(6, 70_001, 11);
    const all = [...data, ...(await encodeParity(policy, data, codecById('rs-wasm-v1')))];
    for (const codec of [new ThreadedCodec(new RsWasmCodec(), pool, 0), new ThreadedCodec(new SimdRsCodec(), pool, 0), new RsWasmCodec(), new SimdRsCodec()]) {
      const ranges = all.map((shard, i) => (i === 2 || i === 7 || i === 8 ? undefined : shard.subarray(5, 60_005)));
      const [rebuilt] = await reconstructShards(policy, ranges, [2], codec);
      expect(Buffer.from(rebuilt as Uint8Array).equals(Buffer.from((data[2] as Uint8Array).subarray(5, 60_005)))).toBe(true);
    }
  });

  it('is reached by id like the codec itself, and off with GRANARY_CODEC_THREADS=0', () => {
    expect(threadedCodecById('rs-wasm-v1').id).toBe('rs-wasm-v1');
    expect(() => threadedCodecById('no-such-codec')).toThrow(/unknown erasure codec/);
    expect(codecThreadCount({ GRANARY_CODEC_THREADS: '0' })).toBe(0);
    expect(codecThreadCount({ GRANARY_CODEC_THREADS: '3' })).toBe(3);
    expect(codecThreadCount({})).toBeGreaterThanOrEqual(1);
    expect(() => codecThreadCount({ GRANARY_CODEC_THREADS: 'many' })).toThrow(/GRANARY_CODEC_THREADS must be a whole number/);
  });

  it('runs from the built package, where the worker is compiled JavaScript, and lets the process exit', async () => {
    const dist = new URL('../../../dist/erasure/index.js', import.meta.url).href;
    const script = `
      import { threadedCodecById, codecById, encodeParity } from ${JSON.stringify(dist)};
      const data = Array.from({ length: 6 }, (_, i) => new Uint8Array(400000).map((_, j) => (i * 7 + j * 13) & 255));
      const policy = { dataShards: 6, parityShards: 3 };
      const [a, b] = [await encodeParity(policy, data, threadedCodecById('rs-wasm-v1')), await encodeParity(policy, data, codecById('rs-wasm-v1'))];
      console.log(a.every((s, i) => Buffer.from(s).equals(Buffer.from(b[i]))) ? 'same' : 'different');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe('same');
  });

  it('answers jobs after its threads were closed, by starting new ones', async () => {
    const own = new CodecThreadPool(1);
    const threaded = new ThreadedCodec(codecById('rs-wasm-v1'), own, 0);
    const data = randomShards(6, 1000, 3);
    const first = await encodeParity(policy, data, threaded);
    await own.close();
    const second = await encodeParity(policy, data, threaded);
    expect(second.map((s) => Buffer.from(s).toString('hex'))).toEqual(first.map((s) => Buffer.from(s).toString('hex')));
    await own.close();
  });
});
