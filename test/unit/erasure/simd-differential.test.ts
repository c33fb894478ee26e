/**
 * The SIMD kernel against the reed-solomon-erasure library (the reference for codec rs-wasm-v1):
 * the same parity bytes and the same rebuilt bytes over random policies, shard lengths around
 * the kernel's 16/32-byte steps and 16 KiB slices, erasure patterns of data and parity shards,
 * and byte ranges at offsets that are not multiples of 16.
 */
import { describe, expect, it } from 'vitest';
import {
  DATA_SHARDS_MAX,
  PARITY_SHARDS_MAX,
  RsWasmCodec,
  SimdRsCodec,
  encodeParity,
  reconstructShards,
} from '../../../erasure/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const library = new RsWasmCodec();
const simd = new SimdRsCodec();

const SIZES = [1, 2, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 255, 1000, 4097, 16_383, 16_384, 16_385, 40_001];

function randomBytes(random: () => number, count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, () => {
    const shard = new Uint8Array(bytes);
    for (let j = 0; j < bytes; j++) shard[j] = Math.floor(random() * 256);
    return shard;
  });
}

function pick(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** Up to `most` distinct shard indices out of `total`, at least one. */
function erasure(random: () => number, total: number, most: number): number[] {
  const order = Array.from({ length: total }, (_, i) => i).sort(() => random() - 0.5);
  return order.slice(0, pick(random, 1, most)).sort((a, b) => a - b);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0 && a.length === b.length;
}

describe('SIMD erasure kernel vs the reed-solomon-erasure library', () => {
  it('computes the library parity byte for byte over random k, m and shard lengths', async () => {
    const random = seededRandom(13);
    for (let round = 0; round < 120; round++) {
      const k = round < 100 ? pick(random, 1, 20) : pick(random, 1, DATA_SHARDS_MAX);
      const m = round < 100 ? pick(random, 1, 8) : pick(random, 1, PARITY_SHARDS_MAX);
      const bytes = SIZES[round % SIZES.length] as number;
      const policy = { dataShards: k, parityShards: m };
      const data = randomBytes(random, k, bytes);
      const expected = await encodeParity(policy, data, library);
      const actual = await encodeParity(policy, data, simd);
      actual.forEach((parity, j) => expect(same(parity, expected[j] as Uint8Array), `RS ${k}+${m}, ${bytes} bytes, parity ${j}`).toBe(true));
    }
  });

  it('encodes zero-length shards to nothing and leaves parity buffers of other shapes alone', async () => {
    const parity = await encodeParity({ dataShards: 4, parityShards: 2 }, Array.from({ length: 4 }, () => new Uint8Array(0)), simd);
    expect(parity.map((p) => p.length)).toEqual([0, 0]);
  });

  it('refuses more shards than its memory is laid out for, rather than overlap them', async () => {
    const data = Array.from({ length: DATA_SHARDS_MAX + 1 }, () => new Uint8Array(64));
    await expect(simd.encodeParity(data, [new Uint8Array(64)])).rejects.toMatchObject({ code: 'GRN_ERASURE_INVALID_ARGUMENT' });
  });

  it('encodes shards that are views at odd offsets of larger buffers', async () => {
    const random = seededRandom(7);
    const [backing] = randomBytes(random, 1, 6 * 5003 + 11);
    const data = Array.from({ length: 6 }, (_, i) => (backing as Uint8Array).subarray(3 + i * 5003, 3 + (i + 1) * 5003));
    const policy = { dataShards: 6, parityShards: 3 };
    const expected = await encodeParity(policy, data, library);
    const parityBacking = new Uint8Array(3 * 5003 + 5);
    const parity = Array.from({ length: 3 }, (_, j) => parityBacking.subarray(1 + j * 5003, 1 + (j + 1) * 5003));
    await simd.encodeParity(data, parity);
    parity.forEach((p, j) => expect(same(p, expected[j] as Uint8Array)).toBe(true));
    expect(parityBacking[0]).toBe(0);
    expect(parityBacking[parityBacking.length - 1]).toBe(0);
  });

  it('rebuilds the same bytes as the library for any at most m erased data and parity shards', async () => {
    const random = seededRandom(29);
    for (let round = 0; round < 150; round++) {
      const k = pick(random, 1, 20);
      const m = pick(random, 1, 8);
      const bytes = SIZES[round % SIZES.length] as number;
      const policy = { dataShards: k, parityShards: m };
      const data = randomBytes(random, k, bytes);
      const all = [...data, ...(await encodeParity(policy, data, library))];
      const erased = erasure(random, k + m, m);
      const damaged = all.map((shard, i) => (erased.includes(i) ? null : shard));
      const [fromLibrary, fromSimd] = await Promise.all([
        reconstructShards(policy, damaged, erased, library),
        reconstructShards(policy, damaged, erased, simd),
      ]);
      erased.forEach((index, position) => {
        const label = `RS ${k}+${m}, ${bytes} bytes, erased ${erased.join(',')}, shard ${index}`;
        expect(same(fromSimd[position] as Uint8Array, all[index] as Uint8Array), label).toBe(true);
        expect(same(fromSimd[position] as Uint8Array, fromLibrary[position] as Uint8Array), label).toBe(true);
      });
    }
  });

  it('rebuilds byte ranges at any offset from the same range of the survivors, equal to the library', async () => {
    const random = seededRandom(31);
    for (let round = 0; round < 150; round++) {
      const k = pick(random, 1, 16);
      const m = pick(random, 1, 6);
      const bytes = pick(random, 1, 50_000);
      const policy = { dataShards: k, parityShards: m };
      const data = randomBytes(random, k, bytes);
      const all = [...data, ...(await encodeParity(policy, data, simd))];
      const start = pick(random, 0, bytes - 1);
      const end = pick(random, start + 1, bytes);
      const erased = erasure(random, k + m, m);
      const ranges = all.map((shard, i) => (erased.includes(i) ? undefined : shard.subarray(start, end)));
      const [fromLibrary, fromSimd] = await Promise.all([
        reconstructShards(policy, ranges, erased, library),
        reconstructShards(policy, ranges, erased, simd),
      ]);
      erased.forEach((index, position) => {
        const label = `RS ${k}+${m}, range [${start}, ${end}) of ${bytes}, erased ${erased.join(',')}, shard ${index}`;
        expect(same(fromSimd[position] as Uint8Array, (all[index] as Uint8Array).subarray(start, end)), label).toBe(true);
        expect(same(fromSimd[position] as Uint8Array, fromLibrary[position] as Uint8Array), label).toBe(true);
      });
    }
  });

  it('rebuilds the widest policy with every parity shard spent on data', async () => {
    const random = seededRandom(37);
    const policy = { dataShards: DATA_SHARDS_MAX, parityShards: PARITY_SHARDS_MAX };
    const data = randomBytes(random, DATA_SHARDS_MAX, 20_011);
    const parity = await encodeParity(policy, data, simd);
    const reference = await encodeParity(policy, data, library);
    parity.forEach((p, j) => expect(same(p, reference[j] as Uint8Array)).toBe(true));
    const erased = Array.from({ length: PARITY_SHARDS_MAX }, (_, i) => i * 2);
    const rebuilt = await reconstructShards(policy, [...data, ...parity].map((s, i) => (erased.includes(i) ? null : s)), erased, simd);
    erased.forEach((index, position) => expect(same(rebuilt[position] as Uint8Array, data[index] as Uint8Array)).toBe(true));
  });
});
