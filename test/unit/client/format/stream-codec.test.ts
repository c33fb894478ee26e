import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xxh64 } from '../../../../erasure/index.js';
import { COLUMN_TYPES, type ColumnType } from '../../../../protocol/index.js';
import {
  ENCODING_PLAIN,
  FormatError,
  STREAM_HEADER_BYTES,
  STREAM_MAGIC,
  arrowTypeOf,
  decodeStream,
  encodeStream,
  nullData,
} from '../../../../client/format/index.js';
import { INT64_MAX, INT64_MIN, actualCanon, columnValues, expectSameValues, vectorOf , TEST_COLUMN_TYPES } from './format-arbitraries.js';
import { expectFormatError } from './expect-format-error.js';


const FIXED_WIDTH: Partial<Record<ColumnType, { width: number; arrayType: string }>> = {
  float: { width: 4, arrayType: 'Float32Array' },
  double: { width: 8, arrayType: 'Float64Array' },
  int32: { width: 4, arrayType: 'Int32Array' },
  int64: { width: 8, arrayType: 'BigInt64Array' },
  timestamp: { width: 8, arrayType: 'BigInt64Array' },
  date: { width: 4, arrayType: 'Int32Array' },
};

describe('column stream codec', () => {
  for (const type of TEST_COLUMN_TYPES) {
    describe(type, () => {
      it('round-trips random values, nulls included, value for value', () => {
        fc.assert(
          fc.property(columnValues(type), (values) => {
            const encoded = encodeStream(type, vectorOf(type, values));
            const nulls = values.filter((v) => v === null || v === undefined).length;
            expect(encoded.nulls).toBe(nulls);
            expect(encoded.encoding).toBe(ENCODING_PLAIN);
            expect(encoded.checksum).toBe(xxh64(encoded.bytes));
            expect(encoded.bytes.length % 8).toBe(0);
            const decoded = decodeStream(type, encoded.bytes, values.length);
            expect(decoded.nullCount).toBe(nulls);
            expectSameValues(type, decoded, values);
            // Decoded data re-encodes to the same bytes: the encoding is canonical.
            expect(encodeStream(type, decoded).bytes).toEqual(encoded.bytes);
          }),
          { numRuns: 60 },
        );
      });

      it('decodes an unaligned copy to the same values', () => {
        fc.assert(
          fc.property(columnValues(type), fc.integer({ min: 1, max: 7 }), (values, shift) => {
            const { bytes } = encodeStream(type, vectorOf(type, values));
            const buffer = new Uint8Array(bytes.length + shift).fill(0xee);
            buffer.set(bytes, shift);
            const shifted = buffer.subarray(shift);
            const decoded = decodeStream(type, shifted, values.length);
            expectSameValues(type, decoded, values);
            // The same from a Node Buffer (whose slice() is a view, not a copy), as network reads are.
            expectSameValues(type, decodeStream(type, Buffer.from(buffer.buffer, shift, bytes.length), values.length), values);
            const fixed = FIXED_WIDTH[type];
            if (fixed !== undefined && shift % fixed.width !== 0) {
              // A misaligned section is copied, never viewed (a view would throw a RangeError).
              expect((decoded.values as Float32Array).buffer).not.toBe(shifted.buffer);
            }
          }),
          { numRuns: 30 },
        );
      });

      it('encodes slices of a vector like the rows they hold', () => {
        fc.assert(
          fc.property(columnValues(type), fc.nat(), fc.nat(), (values, x, y) => {
            const a = values.length === 0 ? 0 : x % (values.length + 1);
            const b = a + (values.length === 0 ? 0 : y % (values.length - a + 1));
            const sliced = vectorOf(type, values).slice(a, b);
            const encoded = encodeStream(type, sliced);
            const expected = encodeStream(type, vectorOf(type, values.slice(a, b)));
            expect(encoded.bytes).toEqual(expected.bytes);
            expect(encoded.nulls).toBe(expected.nulls);
            expect(encoded.min).toEqual(expected.min);
            expect(encoded.max).toEqual(expected.max);
            expectSameValues(type, decodeStream(type, encoded.bytes, b - a), values.slice(a, b));
          }),
          { numRuns: 40 },
        );
      });

      it('encodes a chunked vector (and a slice across its chunks) like one chunk', () => {
        fc.assert(
          fc.property(columnValues(type), columnValues(type), fc.nat(), (first, second, cut) => {
            const chunked = vectorOf(type, first).concat(vectorOf(type, second));
            expect(chunked.data.length).toBe(2);
            const all = [...first, ...second];
            expect(encodeStream(type, chunked).bytes).toEqual(encodeStream(type, vectorOf(type, all)).bytes);
            const a = all.length === 0 ? 0 : cut % (all.length + 1);
            const across = chunked.slice(a, all.length);
            const decoded = decodeStream(type, encodeStream(type, across).bytes, all.length - a);
            expectSameValues(type, decoded, all.slice(a));
          }),
          { numRuns: 30 },
        );
      });

      it('rejects every truncation and any extension of a stream', () => {
        fc.assert(
          fc.property(columnValues(type), fc.nat(), fc.integer({ min: 1, max: 16 }), (values, cut, extra) => {
            const { bytes } = encodeStream(type, vectorOf(type, values));
            const length = cut % bytes.length;
            expectFormatError(() => decodeStream(type, bytes.subarray(0, length), values.length));
            const longer = new Uint8Array(bytes.length + extra);
            longer.set(bytes);
            expectFormatError(() => decodeStream(type, longer, values.length), /too long/);
          }),
          { numRuns: 40 },
        );
      });

      it('never fails with anything but FormatError on corrupted bytes', () => {
        fc.assert(
          fc.property(
            columnValues(type),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
            (values, flips) => {
              const { bytes } = encodeStream(type, vectorOf(type, values));
              const corrupt = bytes.slice();
              for (const [at, mask] of flips) {
                const i = at % corrupt.length;
                corrupt[i] = (corrupt[i] as number) ^ mask;
              }
              try {
                const decoded = decodeStream(type, corrupt, values.length);
                // Whatever decodes is well-formed: every row is readable.
                const vector = new arrow.Vector([decoded]);
                for (let i = 0; i < vector.length; i++) actualCanon(type, vector, i);
                expect(decoded.length).toBe(values.length);
              } catch (error) {
                expect(error).toBeInstanceOf(FormatError);
              }
            },
          ),
          { numRuns: 60 },
        );
      });

      it('builds all-null data for a column a stripe predates', () => {
        for (const rows of [0, 1, 7, 8, 9, 1000]) {
          const data = nullData(type, rows);
          expect(data.length).toBe(rows);
          expect(data.nullCount).toBe(rows);
          expect(arrow.util.compareTypes(data.type, arrowTypeOf(type))).toBe(true);
          const values = new Array<null>(rows).fill(null);
          expectSameValues(type, data, values);
          const encoded = encodeStream(type, data);
          expect(encoded.nulls).toBe(rows);
          expect(encoded.min).toBeUndefined();
          expectSameValues(type, decodeStream(type, encoded.bytes, rows), values);
        }
      });
    });
  }

  it('encodes input built by Arrow builders (padded buffers) like the same rows', () => {
    const cases: [ColumnType, unknown[], unknown[]][] = [
      ['float', [1.5, null, Number.NaN, -0], [1.5, null, Number.NaN, -0]],
      ['int64', [INT64_MIN, null, INT64_MAX], [INT64_MIN, null, INT64_MAX]],
      ['bool', [true, false, null, true, true, false, false, true, false], [true, false, null, true, true, false, false, true, false]],
      ['string', ['', null, 'ünï', '🧪'], ['', null, 'ünï', '🧪']],
      ['id_list', [[1n, 2n], null, [], [INT64_MIN]], [[1, 2], null, [], [INT64_MIN]]],
      ['float_list', [[0.5, -0], [], null], [[0.5, -0], [], null]],
      ['id_score_list', [[{ id: 7n, score: 0.25 }], null, []], [[[7, 0.25]], null, []]],
    ];
    for (const [type, arrowValues, rowValues] of cases) {
      const built = arrow.vectorFromArray(arrowValues, arrowTypeOf(type));
      const encoded = encodeStream(type, built);
      expect(encoded.bytes).toEqual(encodeStream(type, vectorOf(type, rowValues)).bytes);
      expectSameValues(type, decodeStream(type, encoded.bytes, rowValues.length), rowValues);
    }
  });

  it('normalises list offsets that do not start at 0 and null slots that hold values', () => {
    // Rows: [10, 11], null (but covering [12, 13]), [] ; offsets start at 2.
    const child = arrow.makeData({
      type: new arrow.Int64(),
      length: 7,
      nullCount: 0,
      data: new BigInt64Array([0n, 0n, 10n, 11n, 12n, 13n, 99n]),
    });
    const list = arrow.makeData({
      type: arrowTypeOf('id_list') as arrow.List,
      length: 3,
      nullCount: 1,
      nullBitmap: new Uint8Array([0b101]),
      valueOffsets: new Int32Array([2, 4, 6, 6]),
      child,
    });
    const encoded = encodeStream('id_list', list);
    expect(encoded.bytes).toEqual(encodeStream('id_list', vectorOf('id_list', [[10, 11], null, []])).bytes);
    const decoded = decodeStream('id_list', encoded.bytes, 3);
    expect([...(decoded.valueOffsets as Int32Array)]).toEqual([0, 2, 2, 2]);
    expectSameValues('id_list', decoded, [[10, 11], null, []]);
  });

  it('zeroes null slots that hold values, so equal columns give equal bytes', () => {
    const validity = new Uint8Array([0b101]);
    const cases: [ColumnType, arrow.Data][] = [
      ['int32', arrow.makeData({ type: new arrow.Int32(), length: 3, nullCount: 1, nullBitmap: validity, data: new Int32Array([1, 77, 3]) })],
      ['double', arrow.makeData({ type: new arrow.Float64(), length: 3, nullCount: 1, nullBitmap: validity, data: new Float64Array([1, 77, 3]) })],
      ['int64', arrow.makeData({ type: new arrow.Int64(), length: 3, nullCount: 1, nullBitmap: validity, data: new BigInt64Array([1n, 77n, 3n]) })],
      ['bool', arrow.makeData({ type: new arrow.Bool(), length: 3, nullCount: 1, nullBitmap: validity, data: new Uint8Array([0b111]) })],
      [
        'string',
        arrow.makeData({
          type: new arrow.Utf8(),
          length: 3,
          nullCount: 1,
          nullBitmap: validity,
          valueOffsets: new Int32Array([0, 1, 4, 5]),
          data: new TextEncoder().encode('1xyz3'),
        }),
      ],
    ];
    for (const [type, data] of cases) {
      const clean = type === 'bool' ? [true, null, true] : type === 'string' ? ['1', null, '3'] : [1, null, 3];
      const encoded = encodeStream(type, data);
      expect(encoded.bytes).toEqual(encodeStream(type, vectorOf(type, clean)).bytes);
      expect(encoded.max).toEqual(type === 'string' ? undefined : type === 'bool' ? 1 : 3);
    }
  });

  describe('zero-copy decoding', () => {
    for (const [type, values] of [
      ['float', [1.5, null, 2.5]],
      ['double', [1.5, null, 2.5]],
      ['int32', [1, null, -3]],
      ['int64', ['9223372036854775807', null, -3]],
      ['timestamp', ['2026-11-20T08:15:00.123456Z', null, -3]],
      ['date', ['2026-11-20', null, -3]],
    ] as const) {
      it(`views the ${type} values of an aligned stream in place`, () => {
        const { bytes } = encodeStream(type, vectorOf(type, [...values]));
        // Aligned at the start of its buffer, and at offset 64 of a larger one.
        const host = new Uint8Array(64 + bytes.length);
        host.set(bytes, 64);
        for (const aligned of [bytes, host.subarray(64)]) {
          const decoded = decodeStream(type, aligned, values.length);
          const typed = decoded.values as Float32Array;
          expect(typed.constructor.name).toBe(FIXED_WIDTH[type]?.arrayType);
          expect(typed.buffer).toBe(aligned.buffer);
          expect(decoded.nullBitmap?.buffer).toBe(aligned.buffer);
          // Shared memory, not a copy: a change to the bytes shows in the values.
          const before = typed[0];
          const first = typed.byteOffset - aligned.byteOffset;
          aligned[first] = (aligned[first] as number) ^ 0xff;
          expect(typed[0]).not.toBe(before);
        }
      });
    }

    it('views list offsets, ids and scores in place', () => {
      const { bytes } = encodeStream('id_score_list', vectorOf('id_score_list', [[[1, 0.5]], null, [[2, 1], [3, 2]]]));
      const decoded = decodeStream('id_score_list', bytes, 3);
      expect((decoded.valueOffsets as Int32Array).buffer).toBe(bytes.buffer);
      const pairs = decoded.children[0] as arrow.Data;
      expect((pairs.children[0]?.values as BigInt64Array).buffer).toBe(bytes.buffer);
      expect((pairs.children[1]?.values as Float32Array).buffer).toBe(bytes.buffer);
    });
  });

  describe('stats', () => {
    for (const type of ['float', 'double', 'int32', 'int64', 'bool'] as const) {
      it(`records nulls and min/max of non-null, non-NaN ${type} values`, () => {
        fc.assert(
          fc.property(columnValues(type), (values) => {
            const encoded = encodeStream(type, vectorOf(type, values));
            const present = values.filter((v) => v !== null && v !== undefined);
            expect(encoded.nulls).toBe(values.length - present.length);
            let expectedMin: number | string | undefined;
            let expectedMax: number | string | undefined;
            if (type === 'int64') {
              const ints = present.map((v) => BigInt(v as number | string | bigint));
              if (ints.length > 0) {
                const min = ints.reduce((m, v) => (v < m ? v : m));
                const max = ints.reduce((m, v) => (v > m ? v : m));
                const json = (v: bigint): number | string => (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString());
                expectedMin = json(min);
                expectedMax = json(max);
              }
            } else {
              const numbers = present
                .map((v) => (type === 'bool' ? (v ? 1 : 0) : type === 'float' ? Math.fround(v as number) : (v as number)))
                .filter((v) => !Number.isNaN(v));
              // Stats are JSON numbers: a stripe holding an infinity keeps none.
              if (numbers.length > 0 && numbers.every(Number.isFinite)) {
                expectedMin = Math.min(...numbers);
                expectedMax = Math.max(...numbers);
              }
            }
            expect(encoded.min === undefined ? undefined : Number(encoded.min) === 0 ? 0 : encoded.min).toEqual(
              expectedMin === 0 ? 0 : expectedMin,
            );
            expect(encoded.max === undefined ? undefined : Number(encoded.max) === 0 ? 0 : encoded.max).toEqual(
              expectedMax === 0 ? 0 : expectedMax,
            );
            expect('min' in encoded).toBe(expectedMin !== undefined);
          }),
          { numRuns: 60 },
        );
      });
    }

    it('gives int64 extremes as decimal strings and safe integers as numbers', () => {
      const encoded = encodeStream('int64', vectorOf('int64', [INT64_MAX, null, INT64_MIN, 5]));
      expect(encoded.min).toBe('-9223372036854775808');
      expect(encoded.max).toBe('9223372036854775807');
      const safe = encodeStream('int64', vectorOf('int64', [2n ** 53n, -(2n ** 53n), 0]));
      expect(safe.min).toBe(-(2 ** 53));
      expect(safe.max).toBe(2 ** 53);
    });

    it('leaves min/max out of a float stripe holding an infinity (JSON has none to send)', () => {
      for (const type of ['float', 'double'] as const) {
        for (const values of [[1.5, Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY, null, 2]]) {
          const encoded = encodeStream(type, vectorOf(type, values));
          expect(encoded.min).toBeUndefined();
          expect(encoded.max).toBeUndefined();
        }
      }
    });

    it('leaves min/max out for NaN-only floats and for non-scalar columns', () => {
      const nan = encodeStream('double', vectorOf('double', [Number.NaN, null, Number.NaN]));
      expect(nan.min).toBeUndefined();
      expect(nan.max).toBeUndefined();
      expect(nan.nulls).toBe(1);
      const strings = encodeStream('string', vectorOf('string', ['a', 'b', null]));
      expect(strings.min).toBeUndefined();
      expect(strings.nulls).toBe(1);
      const bools = encodeStream('bool', vectorOf('bool', [true, true, null]));
      expect([bools.min, bools.max]).toEqual([1, 1]);
    });
  });

  describe('malformed streams', () => {
    const values = [1, null, 3, 4, null, 6, 7, 8, 9, 10];
    const good = (): Uint8Array => encodeStream('int32', vectorOf('int32', values)).bytes;
    const header = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, STREAM_HEADER_BYTES);

    it('names a bad magic', () => {
      const bytes = good();
      header(bytes).setUint32(0, 0xdeadbeef, true);
      expectFormatError(() => decodeStream('int32', bytes, values.length), /magic is 0xdeadbeef, expected 0x4752534d/);
      expect(STREAM_MAGIC).toBe(0x4752534d);
      expect(Buffer.from(good().subarray(0, 4)).toString('latin1')).toBe('MSRG');
    });

    it('names an unknown version', () => {
      const bytes = good();
      header(bytes).setUint16(4, 2, true);
      expectFormatError(() => decodeStream('int32', bytes, values.length), /version 2 is not supported/);
    });

    it('names a type code that does not match the column', () => {
      expectFormatError(() => decodeStream('float', good(), values.length), /holds int32 \(type code 2\), expected float/);
      const bytes = good();
      header(bytes).setUint16(6, 999, true);
      expectFormatError(() => decodeStream('int32', bytes, values.length), /unknown type \(type code 999\)/);
      for (const type of TEST_COLUMN_TYPES.filter((t) => t !== 'int32')) {
        expectFormatError(() => decodeStream(type, good(), values.length), /type code/);
      }
    });

    it('names a row count that differs from the stripe', () => {
      expectFormatError(() => decodeStream('int32', good(), values.length + 1), /holds 10 rows, expected 11/);
      const bytes = good();
      header(bytes).setUint32(8, 4_000_000_000, true);
      expectFormatError(() => decodeStream('int32', bytes, 4_000_000_000), /4000000000 rows with 2 nulls take at least 16500000016 bytes, got 64 \(truncated\)/);
    });

    it('names a null count that the bitmap contradicts or that exceeds the rows', () => {
      const bytes = good();
      header(bytes).setUint32(12, 3, true);
      expectFormatError(() => decodeStream('int32', bytes, values.length), /marks 2 nulls, its header says 3/);
      header(bytes).setUint32(12, 11, true);
      expectFormatError(() => decodeStream('int32', bytes, values.length), /claims 11 nulls in 10 rows/);
    });

    it('names decreasing or out-of-range list offsets', () => {
      const encoded = encodeStream('string', vectorOf('string', ['ab', 'cd', 'ef']));
      const bytes = encoded.bytes.slice();
      const offsets = new Int32Array(bytes.buffer, STREAM_HEADER_BYTES, 4);
      offsets[1] = 5;
      expectFormatError(() => decodeStream('string', bytes, 3), /offsets decrease at row 1/);
      offsets[1] = 2;
      offsets[3] = 2_000_000_000;
      expectFormatError(() => decodeStream('string', bytes, 3), /truncated/);
      offsets[3] = 6;
      offsets[0] = 1;
      expectFormatError(() => decodeStream('string', bytes, 3), /offsets start at 1/);
    });

    it('names a stream shorter than its header', () => {
      expectFormatError(() => decodeStream('int64', new Uint8Array(5), 0), /16-byte header, got 5 bytes/);
      expectFormatError(() => decodeStream('int64', new Uint8Array(0), 0), /got 0 bytes/);
    });
  });

  describe('input checks', () => {
    it('rejects data of another Arrow type', () => {
      expectFormatError(() => encodeStream('int32', vectorOf('float', [1])), /column type int32 is Arrow Int32, got Float32/);
      expectFormatError(() => encodeStream('id_list', vectorOf('float_list', [[1]])), /got List<Float32>/);
    });

    it('rejects null elements inside lists', () => {
      const withNull = arrow.vectorFromArray([[1n, null]], arrowTypeOf('id_list'));
      expectFormatError(() => encodeStream('id_list', withNull), /id_list value element 1 is null/);
      const nullScore = arrow.vectorFromArray([[{ id: 1n, score: null }]], arrowTypeOf('id_score_list'));
      expectFormatError(() => encodeStream('id_score_list', nullScore), /id_score_list score element 0 is null/);
    });

    it('rejects a bad row count when decoding', () => {
      expectFormatError(() => decodeStream('int32', new Uint8Array(16), -1), /rows must be an integer/);
      expectFormatError(() => nullData('int32', 1.5), /rows must be an integer/);
    });
  });
});
