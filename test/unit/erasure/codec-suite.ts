/**
 * The erasure codec contract, run against every implementation (`for (const codec of CODECS)`):
 * round trips over random policies, sizes and erasure patterns; range reconstruction equals the
 * same slice of full reconstruction; too many missing shards is a typed error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ErasureCodec,
  type ErasurePolicy,
  TooManyShardsMissingError,
  encodeParity,
  reconstructShards,
} from '../../../erasure/index.js';

const policyArb = fc.record({
  dataShards: fc.integer({ min: 1, max: 16 }),
  parityShards: fc.integer({ min: 1, max: 4 }),
});

/** A policy, shard length, data shards and a set of at most m shards to erase. */
const caseArb = policyArb.chain((policy) =>
  fc.record({
    policy: fc.constant(policy),
    shards: fc.integer({ min: 1, max: 3000 }).chain((shardBytes) =>
      fc.array(fc.uint8Array({ minLength: shardBytes, maxLength: shardBytes }), {
        minLength: policy.dataShards,
        maxLength: policy.dataShards,
      }),
    ),
    erased: fc.subarray(
      Array.from({ length: policy.dataShards + policy.parityShards }, (_, i) => i),
      { minLength: 1, maxLength: policy.parityShards },
    ),
  }),
);

async function encodeAll(policy: ErasurePolicy, data: Uint8Array[], codec: ErasureCodec): Promise<Uint8Array[]> {
  return [...data, ...(await encodeParity(policy, data, codec))];
}

export function codecSuite(name: string, makeCodec: () => ErasureCodec): void {
  describe(`erasure codec ${name}`, () => {
    const codec = makeCodec();

    it('rebuilds any m erased shards exactly', async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ policy, shards, erased }) => {
          const all = await encodeAll(policy, shards, codec);
          const damaged = all.map((shard, index) => (erased.includes(index) ? null : shard));
          const rebuilt = await reconstructShards(policy, damaged, erased, codec);
          erased.forEach((index, position) => {
            expect(Buffer.from(rebuilt[position] as Uint8Array).equals(Buffer.from(all[index] as Uint8Array))).toBe(true);
          });
        }),
        { numRuns: 150 },
      );
    });

    it('rebuilds a byte range from the same range of k shards, equal to that slice of a full rebuild', async () => {
      const rangeCase = caseArb.chain((c) => {
        const shardBytes = (c.shards[0] as Uint8Array).length;
        return fc.record({
          c: fc.constant(c),
          start: fc.integer({ min: 0, max: shardBytes - 1 }),
          span: fc.integer({ min: 1, max: shardBytes }),
        });
      });
      await fc.assert(
        fc.asyncProperty(rangeCase, async ({ c, start, span }) => {
          const { policy, shards, erased } = c;
          const end = Math.min(start + span, (shards[0] as Uint8Array).length);
          const all = await encodeAll(policy, shards, codec);
          const full = await reconstructShards(policy, all.map((s, i) => (erased.includes(i) ? null : s)), erased, codec);
          const ranged = await reconstructShards(
            policy,
            all.map((s, i) => (erased.includes(i) ? null : s.subarray(start, end))),
            erased,
            codec,
          );
          erased.forEach((_, position) => {
            const expected = Buffer.from((full[position] as Uint8Array).subarray(start, end));
            expect(Buffer.from(ranged[position] as Uint8Array).equals(expected)).toBe(true);
          });
        }),
        { numRuns: 100 },
      );
    });

    it('refuses more than m missing shards with an error naming them', async () => {
      const policy = { dataShards: 6, parityShards: 3 };
      const data = Array.from({ length: 6 }, (_, i) => new Uint8Array(64).fill(i + 1));
      const all = await encodeAll(policy, data, codec);
      const damaged = all.map((s, i) => ([0, 2, 7, 8].includes(i) ? null : s));
      const attempt = reconstructShards(policy, damaged, undefined, codec);
      await expect(attempt).rejects.toBeInstanceOf(TooManyShardsMissingError);
      await expect(attempt).rejects.toMatchObject({ code: 'GRN_ERASURE_TOO_MANY_MISSING', missingShards: [0, 2, 7, 8] });
      await expect(attempt).rejects.toThrow(/shards 0, 2, 7, 8/);
    });

    it('survives thousands of calls on one instance (no heap corruption)', async () => {
      const policy = { dataShards: 6, parityShards: 3 };
      const data = Array.from({ length: 6 }, (_, i) => new Uint8Array(100).map((_, j) => (i * 37 + j) & 255));
      const all = await encodeAll(policy, data, codec);
      for (let round = 0; round < 3000; round++) {
        const lost = [round % 9, (round + 4) % 9];
        const [first] = await reconstructShards(policy, all.map((s, i) => (lost.includes(i) ? null : s)), lost, codec);
        expect(Buffer.from(first as Uint8Array).equals(Buffer.from(all[lost[0] as number] as Uint8Array))).toBe(true);
      }
    });

    it('handles shards larger than one codec slice and wide policies', async () => {
      for (const policy of [{ dataShards: 10, parityShards: 4 }, { dataShards: 32, parityShards: 16 }]) {
        const shardBytes = 200_003;
        const data = Array.from({ length: policy.dataShards }, (_, i) => new Uint8Array(shardBytes).map((_, j) => (i * 131 + j * 7) & 255));
        const all = await encodeAll(policy, data, codec);
        const lost = Array.from({ length: policy.parityShards }, (_, i) => i * 2);
        const rebuilt = await reconstructShards(policy, all.map((s, i) => (lost.includes(i) ? null : s)), lost, codec);
        lost.forEach((index, position) => {
          expect(Buffer.from(rebuilt[position] as Uint8Array).equals(Buffer.from(all[index] as Uint8Array))).toBe(true);
        });
      }
    });
  });
}
