import { Worker } from 'node:worker_threads';
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xxh64 } from '../../../../erasure/index.js';
import { type ColumnType, ENCODING_PLAIN, ENCODING_SECTIONS } from '../../../../protocol/index.js';
import { FormatError, decodeStoredStream, encodeStream, storePlain } from '../../../../client/format/index.js';
import { CONTAINER_HEADER_BYTES, Codec, SECTION_ENTRY_BYTES, Transform, readContainer, sectionKinds, writeContainer } from '../../../../client/format/encodings/container.js';
import { rebuildPlain } from '../../../../client/format/encodings/decode.js';
import {
  buildFixedDictionary,
  decodeDelta,
  decodeFixedDict,
  decodeFor,
  decodeSplit,
  encodeDelta,
  encodeFixedDict,
  encodeFor,
  encodeSplit,
  intRanges,
  type ValueBytes,
} from '../../../../client/format/encodings/fixed-transforms.js';
import { zstdCompress, zstdDecompress } from '../../../../client/format/encodings/zstd.js';
import { seededRandom } from '../../../helpers/seeded-random.js';
import { INT64_MAX, INT64_MIN, VALUE_ARBITRARIES, columnValues, expectSameValues, vectorOf , TEST_COLUMN_TYPES } from './format-arbitraries.js';


async function expectFormatErrorAsync(run: () => Promise<unknown>, message?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FormatError);
  if (message !== undefined) expect((caught as Error).message).toMatch(message);
}

/** Stores a column with encodings and checks the container rebuilds the plain stream byte for byte. */
async function roundTrip(type: ColumnType, data: arrow.Data | arrow.Vector, rows: number): Promise<{ plain: Uint8Array; stored: Uint8Array; encoding: number; data: arrow.Data }> {
  const plain = encodeStream(type, data);
  const stored = await storePlain(type, plain, { compressionLevel: 1 });
  expect(stored.rawBytes).toBe(plain.bytes.length);
  expect(stored.checksum).toBe(xxh64(stored.bytes));
  expect(stored.bytes.length % 8).toBe(0);
  if (stored.encoding === ENCODING_SECTIONS) {
    expect(stored.bytes.length).toBeLessThan(plain.bytes.length);
    expect(await rebuildPlain(type, stored.bytes, rows)).toEqual(plain.bytes);
  } else {
    expect(stored.encoding).toBe(ENCODING_PLAIN);
    expect(stored.bytes).toBe(plain.bytes);
  }
  const decoded = await decodeStoredStream(type, stored.encoding, stored.bytes, rows);
  return { plain: plain.bytes, stored: stored.bytes, encoding: stored.encoding, data: decoded };
}

/** Arbitrary column shapes that make each transform win somewhere: few distinct values, sorted runs, all equal. */
function shapedValues(type: ColumnType): fc.Arbitrary<unknown[]> {
  const lowCardinality = fc
    .tuple(fc.array(columnValues(type).map((v) => v[0]), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 3000 }))
    .chain(([pool, n]) => fc.array(fc.constantFrom(...pool), { minLength: n, maxLength: n }));
  return fc.oneof(columnValues(type), lowCardinality, fc.tuple(columnValues(type), fc.integer({ min: 1, max: 2000 })).map(([v, n]) => new Array(n).fill(v[0])));
}

describe('per-stream encodings', () => {
  for (const type of TEST_COLUMN_TYPES) {
    describe(type, () => {
      it('round-trips random and shaped values value for value, rebuilding the plain stream byte for byte', async () => {
        await fc.assert(
          fc.asyncProperty(shapedValues(type), async (values) => {
            const { data } = await roundTrip(type, vectorOf(type, values), values.length);
            expectSameValues(type, data, values);
          }),
          { numRuns: 25 },
        );
      });

      it('stores zero rows, one row and all nulls', async () => {
        for (const values of [[], [null], new Array(3000).fill(null)]) {
          const { data } = await roundTrip(type, vectorOf(type, values), values.length);
          expectSameValues(type, data, values);
        }
      });

      it('never fails with anything but FormatError on corrupted or truncated containers', async () => {
        // Low-cardinality shapes of a few thousand rows: the container always wins for them.
        let sample: unknown[] = [];
        let stored = await storePlain(type, encodeStream(type, vectorOf(type, [])));
        const constant = fc.sample(VALUE_ARBITRARIES[type] as fc.Arbitrary<unknown>, { numRuns: 5, seed: 7 }).map((value) => new Array<unknown>(8000).fill(value));
        for (const candidate of [...fc.sample(shapedValues(type), { numRuns: 60, seed: 7 }), ...constant]) {
          if (candidate.length < 200) continue;
          stored = await storePlain(type, encodeStream(type, vectorOf(type, candidate)), { compressionLevel: 1 });
          sample = candidate;
          if (stored.encoding === ENCODING_SECTIONS) break;
        }
        expect(stored.encoding).toBe(ENCODING_SECTIONS);
        const bytes = stored.bytes;
        for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 50))) {
          await expectFormatErrorAsync(() => decodeStoredStream(type, ENCODING_SECTIONS, bytes.subarray(0, cut), sample.length));
        }
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
            const corrupt = bytes.slice();
            corrupt[at] = (corrupt[at] as number) ^ flip;
            try {
              await decodeStoredStream(type, ENCODING_SECTIONS, corrupt, sample.length);
            } catch (error) {
              expect(error).toBeInstanceOf(FormatError);
            }
          }),
          { numRuns: 150 },
        );
      });
    });
  }

  it('decodes a container at an unaligned offset, and encodes an unaligned plain stream alike', async () => {
    const random = seededRandom(5);
    const lists = Array.from({ length: 3000 }, (_, i) => (i % 10 === 0 ? null : Array.from({ length: i % 7 }, () => BigInt(Math.floor(random() * 1000)))));
    for (const [type, values] of [['id_list', lists], ['string', lists.map((l) => (l === null ? null : `k${l.length}`))]] as const) {
      const plain = encodeStream(type, vectorOf(type, values));
      const stored = await storePlain(type, plain, { compressionLevel: 1 });
      expect(stored.encoding).toBe(ENCODING_SECTIONS);
      const shifted = new Uint8Array(stored.bytes.length + 1).subarray(1);
      shifted.set(stored.bytes);
      expectSameValues(type, await decodeStoredStream(type, ENCODING_SECTIONS, shifted, values.length), values);
      const plainShifted = new Uint8Array(plain.bytes.length + 4).subarray(4);
      plainShifted.set(plain.bytes);
      const oddPlain = new Uint8Array(plain.bytes.length + 3).subarray(3);
      oddPlain.set(plain.bytes);
      for (const input of [plainShifted, oddPlain]) {
        const again = await storePlain(type, { ...plain, bytes: input }, { compressionLevel: 1 });
        expect(again.bytes).toEqual(stored.bytes);
      }
    }
  });

  it('keeps int64 extremes, alternating min and max, exact', async () => {
    const values = Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? INT64_MIN : INT64_MAX));
    for (const type of ['int64', 'id_list'] as const) {
      const column = type === 'int64' ? values : [values, [], [INT64_MAX, INT64_MIN, 0n, -1n]];
      const { data } = await roundTrip(type, vectorOf(type, column), column.length);
      expectSameValues(type, data, column);
    }
  });

  it('keeps float bits exact: NaN payloads, -0, infinities', async () => {
    const bits = new Uint32Array([0x7fc00001, 0xffffffff, 0x7f800001, 0x80000000, 0, 0x7f800000, 0xff800000, 0x3f800000]);
    const floats = new Float32Array(4096);
    const words = new Uint32Array(floats.buffer);
    for (let i = 0; i < floats.length; i++) words[i] = bits[(i * 7) % bits.length] as number;
    const data = arrow.makeData({ type: new arrow.Float32(), length: floats.length, data: floats });
    const { data: back, encoding } = await roundTrip('float', data, floats.length);
    expect(encoding).toBe(ENCODING_SECTIONS);
    expect(new Uint32Array((back.values as Float32Array).slice().buffer)).toEqual(words);
    const doubles = new Float64Array(4096).map((_, i) => [Number.NaN, -0, 0, Infinity, 1.5][i % 5] as number);
    const dwords = new Uint32Array(doubles.buffer);
    dwords[1] = 0x7ff00001 >>> 0; // a signalling NaN payload in value 0's high word
    const dData = arrow.makeData({ type: new arrow.Float64(), length: doubles.length, data: doubles });
    const { data: dBack } = await roundTrip('double', dData, doubles.length);
    expect(new Uint32Array((dBack.values as Float64Array).slice().buffer)).toEqual(dwords);
  });

  it('stores empty and huge lists and invalid UTF-8 bytes', async () => {
    const huge = Array.from({ length: 70_000 }, (_, i) => BigInt(i * 3));
    const lists = [[], huge, [], null, [1n]];
    const { data } = await roundTrip('id_list', vectorOf('id_list', lists), lists.length);
    expectSameValues('id_list', data, lists);
    const junk = [new Uint8Array([0xff, 0xfe, 0xc3]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([])];
    const bytes = Array.from({ length: 3000 }, (_, i) => junk[i % 3] as Uint8Array);
    const stored = await roundTrip('bytes', vectorOf('bytes', bytes), bytes.length);
    expectSameValues('bytes', stored.data, bytes);
  });

  describe('the chooser', () => {
    function transformsOf(type: ColumnType, bytes: Uint8Array, rows: number): number[] {
      return readContainer(type, bytes, rows).sections.map((s) => s.transform);
    }

    it('picks a dictionary for low-cardinality strings', async () => {
      const airports = ['ATL', 'ORD', 'DFW', 'DEN', 'LAX', 'SFO', 'SEA', 'JFK', 'BOS', 'MIA'];
      const random = seededRandom(1);
      const values = Array.from({ length: 50_000 }, () => airports[Math.floor(random() * airports.length)]);
      const { plain, stored, encoding } = await roundTrip('string', vectorOf('string', values), values.length);
      expect(encoding).toBe(ENCODING_SECTIONS);
      expect(transformsOf('string', stored, values.length)).toEqual([Transform.STRING_DICT_INDICES, Transform.STRING_DICT_VALUES]);
      // 4 bits per row at most, before zstd.
      expect(stored.length).toBeLessThan(values.length / 2 + 1024);
      expect(stored.length * 10).toBeLessThan(plain.length);
    });

    it('bit-packs integers of a small range and delta-packs sorted ones', async () => {
      const small = Int32Array.from({ length: 50_000 }, (_, i) => 1_000_000 + ((i * 2654435761) % 1000));
      const a = await roundTrip('int32', arrow.makeData({ type: new arrow.Int32(), length: small.length, data: small }), small.length);
      expect(a.encoding).toBe(ENCODING_SECTIONS);
      expect([Transform.FOR, Transform.DICT]).toContain(transformsOf('int32', a.stored, small.length)[0]);
      expect(a.stored.length).toBeLessThanOrEqual((small.length * 10) / 8 + 1024);
      const sorted = BigInt64Array.from({ length: 50_000 }, (_, i) => 1_764_633_600_000_000n + BigInt(i) * 1_000_000n + BigInt((i * 7) % 13));
      const b = await roundTrip('int64', arrow.makeData({ type: new arrow.Int64(), length: sorted.length, data: sorted }), sorted.length);
      expect(transformsOf('int64', b.stored, sorted.length)[0]).toBe(Transform.DELTA);
      expect(b.stored.length * 8).toBeLessThan(b.plain.length);
    });

    it('keeps a stream plain when nothing is smaller, or when the table asks for plain', async () => {
      const values = [1.5];
      const plain = encodeStream('double', vectorOf('double', values));
      expect((await storePlain('double', plain)).encoding).toBe(ENCODING_PLAIN);
      const many = encodeStream('int32', vectorOf('int32', new Array(5000).fill(7)));
      const forced = await storePlain('int32', many, { encoding: 'plain' });
      expect(forced.encoding).toBe(ENCODING_PLAIN);
      expect(forced.bytes).toBe(many.bytes);
    });
  });

  describe('transforms', () => {
    const word64 = fc.bigInt({ min: INT64_MIN, max: INT64_MAX });
    const columns = (bytes: ValueBytes): fc.Arbitrary<Uint32Array> => {
      const one = bytes === 8 ? word64 : fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(BigInt);
      const base = fc.tuple(one, fc.array(fc.integer({ min: 0, max: 1 << 20 }), { maxLength: 300 })).map(([b, offs]) => offs.map((o) => BigInt.asIntN(bytes * 8, b + BigInt(o))));
      const extremes = fc.array(fc.constantFrom(bytes === 8 ? INT64_MIN : -(2n ** 31n), bytes === 8 ? INT64_MAX : 2n ** 31n - 1n, 0n, -1n), { maxLength: 300 });
      return fc.oneof(fc.array(one, { maxLength: 300 }), base, extremes).map((values) => {
        const out = bytes === 8 ? new BigInt64Array(values) : Int32Array.from(values, Number);
        return new Uint32Array(out.buffer);
      });
    };
    for (const bytes of [4, 8] as const) {
      it(`FOR, delta, dictionary and split round-trip ${bytes}-byte values at every width they allow`, () => {
        fc.assert(
          fc.property(columns(bytes), fc.integer({ min: 0, max: 16 }), (words, extra) => {
            const count = words.length / (bytes / 4);
            const ranges = intRanges(words, count, bytes);
            const out = new Uint32Array(words.length);
            const forWidth = Math.min(bytes * 8, ranges.forWidth + extra);
            decodeFor(encodeFor(words, count, bytes, ranges.baseLow, ranges.baseHigh, forWidth), count, bytes, out, 'test');
            expect(out).toEqual(words);
            out.fill(0);
            decodeDelta(encodeDelta(words, count, bytes, ranges, Math.min(bytes * 8, ranges.deltaWidth + extra)), count, bytes, out, 'test');
            expect(out).toEqual(words);
            const dict = buildFixedDictionary(words, count, bytes, 1 << 16);
            if (dict === undefined) throw new Error('dictionary gave up');
            out.fill(0);
            decodeFixedDict(encodeFixedDict(dict, count, bytes), count, bytes, out, 'test');
            expect(out).toEqual(words);
            out.fill(0);
            decodeFixedDict(encodeFixedDict(dict, count, bytes, 32), count, bytes, out, 'test');
            expect(out).toEqual(words);
            const raw = new Uint8Array(words.buffer);
            const back = new Uint8Array(raw.length);
            decodeSplit(encodeSplit(raw, count, bytes), count, bytes, back, 'test');
            expect(back).toEqual(raw);
          }),
          { numRuns: 200 },
        );
      });
    }
  });

  describe('malformed containers', () => {
    const rows = 5000;
    const random = seededRandom(3);
    const values = Int32Array.from({ length: rows }, () => [0, 1000, 2000, 5000, 9999][Math.floor(random() * 5)] as number);
    const words = new Uint32Array(values.buffer);
    /** A hand-made container with one uncompressed main section. */
    function container(transform: number, payload: Uint8Array): Uint8Array {
      return writeContainer('int32', { rows, nulls: 0, childCount: 0, sections: [{ transform: transform as 0, codec: Codec.NONE, stored: payload, payloadBytes: payload.length }] });
    }
    const at = Math.ceil((CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES) / 8) * 8;
    const decode = (bytes: Uint8Array, n = rows) => () => decodeStoredStream('int32', ENCODING_SECTIONS, bytes, n);

    it('decodes the hand-made containers it corrupts below', async () => {
      const dict = buildFixedDictionary(words, rows, 4, 16) as NonNullable<ReturnType<typeof buildFixedDictionary>>;
      const data = await decodeStoredStream('int32', ENCODING_SECTIONS, container(Transform.DICT, encodeFixedDict(dict, rows, 4)), rows);
      expect(data.values).toEqual(values);
      const ranges = intRanges(words, rows, 4);
      const forData = await decodeStoredStream('int32', ENCODING_SECTIONS, container(Transform.FOR, encodeFor(words, rows, 4, ranges.baseLow, 0, ranges.forWidth)), rows);
      expect(forData.values).toEqual(values);
    });

    it('refuses an index past the dictionary, a wrong index width, a bit width wider than the value', async () => {
      const dict = buildFixedDictionary(words, rows, 4, 16) as NonNullable<ReturnType<typeof buildFixedDictionary>>;
      expect(dict.entries).toBe(5);
      const bytes = container(Transform.DICT, encodeFixedDict(dict, rows, 4));
      const outOfRange = bytes.slice();
      outOfRange[at + 8 + 5 * 4] = 0xff; // first index 7 (3-bit indices) of a 5-entry dictionary
      await expectFormatErrorAsync(decode(outOfRange), /indexes entry 7 of a 5-entry dictionary/);
      const width = bytes.slice();
      width[at + 4] = 40;
      await expectFormatErrorAsync(decode(width), /take 3- to 32-bit indices, the payload says 40/);
      const entries = bytes.slice();
      entries[at] = 0;
      await expectFormatErrorAsync(decode(entries), /empty dictionary/);
      const ranges = intRanges(words, rows, 4);
      const forBytes = container(Transform.FOR, encodeFor(words, rows, 4, ranges.baseLow, 0, ranges.forWidth));
      const wide = forBytes.slice();
      wide[at + 8] = 33;
      await expectFormatErrorAsync(decode(wide), /bit width 33/);
      const narrow = forBytes.slice();
      narrow[at + 8] = 3;
      await expectFormatErrorAsync(decode(narrow), /5000 values of 3 bits take/);
    });

    it('refuses lying sizes, counts, types and trailing bytes', async () => {
      const ranges = intRanges(words, rows, 4);
      const bytes = container(Transform.FOR, encodeFor(words, rows, 4, ranges.baseLow, 0, ranges.forWidth));
      const lying = bytes.slice();
      new DataView(lying.buffer).setUint32(CONTAINER_HEADER_BYTES + 8, 999, true);
      await expectFormatErrorAsync(decode(lying), /uncompressed, yet/);
      const stored = bytes.slice();
      new DataView(stored.buffer).setUint32(CONTAINER_HEADER_BYTES + 4, 1 << 30, true);
      new DataView(stored.buffer).setUint32(CONTAINER_HEADER_BYTES + 8, 1 << 30, true);
      await expectFormatErrorAsync(decode(stored), /runs past the stream/);
      await expectFormatErrorAsync(decode(bytes, rows + 1), /holds 5000 rows, expected 5001/);
      const transformBad = bytes.slice();
      transformBad[CONTAINER_HEADER_BYTES] = Transform.STRING_DICT_INDICES;
      await expectFormatErrorAsync(decode(transformBad), /not one a main section of int32 may use/);
      const codecBad = bytes.slice();
      codecBad[CONTAINER_HEADER_BYTES + 1] = 9;
      await expectFormatErrorAsync(decode(codecBad), /codec 9 is not known/);
      const longer = new Uint8Array(bytes.length + 8);
      longer.set(bytes);
      await expectFormatErrorAsync(decode(longer), /8 bytes after its last section/);
      const nulls = bytes.slice();
      nulls[12] = 1; // one null, yet no validity section
      await expectFormatErrorAsync(decode(nulls), /2 sections expected/);
      const bomb = writeContainer('id_list', { rows: 1, nulls: 0, childCount: 0x7fff_ffff, sections: [] });
      await expectFormatErrorAsync(() => decodeStoredStream('id_list', ENCODING_SECTIONS, bomb, 1), /sections expected|above the/);
      expect(sectionKinds('id_score_list', 1)).toEqual(['validity', 'main', 'child', 'scores']);
    });

    it('refuses zstd frames that lie about their size or are not frames', async () => {
      const payload = new Uint8Array(100_000).map((_, i) => i % 7);
      const frame = await zstdCompress(payload, 3);
      expect(Buffer.from(await zstdDecompress(frame, payload.length, 'test')).equals(payload)).toBe(true);
      await expectFormatErrorAsync(() => zstdDecompress(frame, payload.length + 1, 'test'));
      await expectFormatErrorAsync(() => zstdDecompress(frame, 10, 'test'));
      await expectFormatErrorAsync(() => zstdDecompress(frame.subarray(0, frame.length - 1), payload.length, 'test'));
      await expectFormatErrorAsync(() => zstdDecompress(new Uint8Array(16), payload.length, 'test'), /bad magic/);
      const twoFrames = new Uint8Array(frame.length * 2);
      twoFrames.set(frame);
      twoFrames.set(frame, frame.length);
      await expectFormatErrorAsync(() => zstdDecompress(twoFrames, payload.length * 2, 'test'));
    });

    it('refuses an unknown encoding id', async () => {
      await expectFormatErrorAsync(() => decodeStoredStream('int32', 999, new Uint8Array(8), 1), /encoding 999/);
    });
  });

  it('loads zstd in a worker thread', async () => {
    const payload = new Uint8Array(50_000).map((_, i) => i % 13);
    const frame = await zstdCompress(payload, 3);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { createRequire } = require('node:module');
       const zstd = createRequire(workerData.from)('@mongodb-js/zstd/bindings.js');
       zstd.decompress(Buffer.from(workerData.frame)).then((out) => parentPort.postMessage(out.length), (e) => parentPort.postMessage(String(e)));`,
      { eval: true, workerData: { frame, from: new URL('../../../../package.json', import.meta.url).pathname } },
    );
    try {
      const answer = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(answer).toBe(payload.length);
    } finally {
      await worker.terminate();
    }
  });
});
