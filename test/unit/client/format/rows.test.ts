import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ColumnType, formatDate, formatTimestamp } from '../../../../protocol/index.js';
import {
  arrowSchemaOf,
  arrowTypeOf,
  columnTypeOf,
  float32Number,
  recordBatchToRows,
  rowsToRecordBatch,
} from '../../../../client/format/index.js';
import { INT64_MAX, INT64_MIN, canon, expectedCanon, isoText, nullable, storedAt , TEST_COLUMN_TYPES, decimalText, testDecimalParams, unscaledOf } from './format-arbitraries.js';
import { expectFormatError } from './expect-format-error.js';

const ALL_COLUMNS = TEST_COLUMN_TYPES.map((type) => ({ name: `c_${type.replace(/\W/g, '_')}`, type }));

/** The JSON Lines shape `recordBatchToRows` gives for an input value. */
function outputShape(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const int64 = (v: number | string | bigint): number | string => {
    const big = BigInt(v);
    return big >= -(2n ** 53n - 1n) && big <= 2n ** 53n - 1n ? Number(big) : big.toString();
  };
  const decimal = testDecimalParams(type);
  if (decimal !== undefined) return decimalText(unscaledOf(value as string | number, decimal.scale), decimal.scale);
  switch (type) {
    case 'float':
      return float32Number(Math.fround(value as number));
    case 'int64':
      return int64(value as number);
    case 'bytes':
      return typeof value === 'string' ? value : Buffer.from(value as Uint8Array).toString('base64');
    case 'id_list':
      return (value as number[]).map(int64);
    case 'id_score_list':
      return (value as [number, number][]).map(([id, score]) => [int64(id), float32Number(Math.fround(score))]);
    case 'float_list':
      return (value as number[]).map((f) => float32Number(Math.fround(f)));
    case 'timestamp': {
      // Date#toISOString is the oracle where it reaches (±100,000,000 days), formatTimestamp beyond.
      const micros = BigInt(expectedCanon('timestamp', value).slice(0, -1));
      return micros > -8_639_999_000_000_000_000n && micros < 8_639_999_000_000_000_000n ? isoText(micros, 0) : formatTimestamp(micros);
    }
    case 'date': {
      const days = Number(expectedCanon('date', value));
      return Math.abs(days) < 100_000_000 ? new Date(days * 86_400_000).toISOString().slice(0, -14) : formatDate(days);
    }
    default:
      return value;
  }
}

describe('rows <-> record batches', () => {
  it('round-trips rows of every column type into the JSON Lines output shapes', () => {
    const row = fc.record(Object.fromEntries(ALL_COLUMNS.map((c) => [c.name, nullable(c.type)])));
    fc.assert(
      fc.property(fc.array(row, { maxLength: 200 }), (rows) => {
        const input = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
        const batch = rowsToRecordBatch(ALL_COLUMNS, input);
        expect(batch.numRows).toBe(rows.length);
        const output = recordBatchToRows(batch);
        expect(output.length).toBe(rows.length);
        rows.forEach((r, i) => {
          const out = output[i] as Record<string, unknown>;
          expect(Object.keys(out)).toEqual(ALL_COLUMNS.map((c) => c.name));
          for (const column of ALL_COLUMNS) {
            const value = r[column.name];
            expect(canon(out[column.name])).toBe(canon(outputShape(column.type, value)));
          }
        });
        // And the output rows, fed back in, build the same batch.
        const again = rowsToRecordBatch(ALL_COLUMNS, output);
        expect(recordBatchToRows(again).map((r) => canon(Object.values(r)))).toEqual(output.map((r) => canon(Object.values(r))));
      }),
      { numRuns: 60 },
    );
  });

  it('reads value for value what apache-arrow reads', () => {
    for (const type of TEST_COLUMN_TYPES) {
      fc.assert(
        fc.property(fc.array(nullable(type), { maxLength: 50 }), (values) => {
          const batch = rowsToRecordBatch([{ name: 'x', type }], values.map((v) => (v === undefined ? {} : { x: v })));
          const vector = batch.getChildAt(0) as arrow.Vector;
          expect(vector.nullCount).toBe(values.filter((v) => v === null || v === undefined).length);
          values.forEach((value, i) => {
            // apache-arrow's get makes float milliseconds of timestamps and dates (and throws
            // beyond 2^53 of them): read what is stored.
            const got: unknown = type === 'timestamp' || type === 'date' ? storedAt(vector, i) : vector.get(i);
            if (value === null || value === undefined) expect(got).toBeNull();
            else if (type === 'string' || type === 'bool' || type === 'int32') expect(got).toBe(value);
            else if (type === 'int64') expect(got).toBe(BigInt(value as string));
            else if (type === 'float') expect(Object.is(got, Math.fround(value as number))).toBe(true);
            else if (type === 'double') expect(Object.is(got, value)).toBe(true);
            else if (type === 'timestamp' || type === 'date') expect(canon(got)).toBe(expectedCanon(type, value));
            else expect(got).not.toBeNull();
          });
        }),
        { numRuns: 20 },
      );
    }
  });

  it('builds typed arrays, not per-value objects', () => {
    const batch = rowsToRecordBatch(ALL_COLUMNS, [
      {
        c_float: 1,
        c_double: 2,
        c_int32: 3,
        c_int64: 4,
        c_bool: true,
        c_string: 's',
        c_bytes: 'AA==',
        c_id_list: [1],
        c_id_score_list: [[1, 0.5]],
        c_float_list: [0.5],
      },
    ]);
    const data = (name: string): arrow.Data => (batch.getChild(name) as arrow.Vector).data[0] as arrow.Data;
    expect(data('c_float').values).toBeInstanceOf(Float32Array);
    expect(data('c_double').values).toBeInstanceOf(Float64Array);
    expect(data('c_int32').values).toBeInstanceOf(Int32Array);
    expect(data('c_int64').values).toBeInstanceOf(BigInt64Array);
    expect(data('c_bool').values).toBeInstanceOf(Uint8Array);
    expect(data('c_string').valueOffsets).toBeInstanceOf(Int32Array);
    expect(data('c_bytes').values).toBeInstanceOf(Uint8Array);
    expect(data('c_id_list').children[0]?.values).toBeInstanceOf(BigInt64Array);
    expect(data('c_float_list').children[0]?.values).toBeInstanceOf(Float32Array);
    const pairs = data('c_id_score_list').children[0] as arrow.Data;
    expect(pairs.children[0]?.values).toBeInstanceOf(BigInt64Array);
    expect(pairs.children[1]?.values).toBeInstanceOf(Float32Array);
    expect(arrow.util.compareSchemas(batch.schema, arrowSchemaOf(ALL_COLUMNS))).toBe(true);
    for (const field of batch.schema.fields) expect(field.nullable).toBe(true);
  });

  it('reads int64 as a safe number, a decimal string or a bigint, and writes it back the same way', () => {
    const batch = rowsToRecordBatch(
      [{ name: 'v', type: 'int64' }, { name: 'ids', type: 'id_list' }],
      [
        { v: '-9223372036854775808', ids: [1, '9223372036854775807', -5n] },
        { v: 9007199254740991, ids: ['9007199254740993'] },
        { v: 123n },
        { v: '9007199254740992' },
      ],
    );
    const vector = batch.getChild('v') as arrow.Vector;
    expect([0, 1, 2, 3].map((i) => vector.get(i))).toEqual([INT64_MIN, 9007199254740991n, 123n, 2n ** 53n]);
    expect(recordBatchToRows(batch)).toEqual([
      { v: '-9223372036854775808', ids: [1, '9223372036854775807', -5] },
      { v: 9007199254740991, ids: ['9007199254740993'] },
      { v: 123, ids: null },
      { v: '9007199254740992', ids: null },
    ]);
    expect(String(INT64_MAX)).toBe('9223372036854775807');
  });

  it('reads bytes from a Uint8Array, a Buffer or base64, and writes base64', () => {
    const batch = rowsToRecordBatch([{ name: 'b', type: 'bytes' }], [
      { b: new Uint8Array([0, 1, 255]) },
      { b: Buffer.from('hi') },
      { b: 'AAEC/w==' },
      { b: '' },
    ]);
    expect(recordBatchToRows(batch)).toEqual([{ b: 'AAH/' }, { b: 'aGk=' }, { b: 'AAEC/w==' }, { b: '' }]);
  });

  it('treats a missing key and null alike, and handles column names that are Object members', () => {
    const columns = [
      { name: 'constructor', type: 'float' },
      { name: '__proto__', type: 'string' },
      { name: 'to_string', type: 'bool' },
    ] as const;
    const input = JSON.parse('[{"__proto__": "p", "constructor": 1.5}, {"constructor": null}, {}]') as Record<string, unknown>[];
    const rows = recordBatchToRows(rowsToRecordBatch(columns, input));
    expect(rows.map((r) => Object.getOwnPropertyNames(r))).toEqual([
      ['constructor', '__proto__', 'to_string'],
      ['constructor', '__proto__', 'to_string'],
      ['constructor', '__proto__', 'to_string'],
    ]);
    expect(rows[0]?.['__proto__']).toBe('p');
    expect(rows[0]?.['constructor']).toBe(1.5);
    expect(rows[1]?.['constructor']).toBeNull();
    expect(rows[2]?.['constructor']).toBeNull();
    expect(rows[2]?.['to_string']).toBeNull();
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);
  });

  it('reads sliced record batches', () => {
    fc.assert(
      fc.property(fc.array(nullable('id_score_list'), { maxLength: 60 }), fc.nat(), fc.nat(), (values, x, y) => {
        const rows = values.map((v) => (v === undefined ? {} : { p: v }));
        const batch = rowsToRecordBatch([{ name: 'p', type: 'id_score_list' }, { name: 'q', type: 'bool' }], rows);
        const a = x % (values.length + 1);
        const b = a + (y % (values.length - a + 1));
        const expected = recordBatchToRows(batch).slice(a, b);
        expect(recordBatchToRows(batch.slice(a, b))).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });

  describe('wrong shapes', () => {
    const cases: [ColumnType, unknown, string][] = [
      ['id_list', 'abc', 'expected an array of integers, got "abc"'],
      ['id_list', [1, 'x'], 'expected an array of integers, got "x" at index 1'],
      ['id_list', [1.5], 'expected an array of integers, got 1.5 at index 0'],
      ['id_list', ['9223372036854775808'], 'expected an array of integers, got "9223372036854775808" at index 0'],
      ['id_score_list', [[1, 2, 3]], 'expected an array of [id, score] pairs, got [1,2,3] at index 0'],
      ['id_score_list', [[1, '0.5']], 'expected an array of [id, score] pairs, got [1,"0.5"] at index 0'],
      ['float_list', [1, null], 'expected an array of numbers, got null at index 1'],
      ['float', '1.5', 'expected a number, got "1.5"'],
      ['double', true, 'expected a number, got true'],
      ['int32', 2 ** 31, 'expected an integer in -2147483648..2147483647, got 2147483648'],
      ['int32', 0.5, 'expected an integer in -2147483648..2147483647, got 0.5'],
      ['int64', 2 ** 53, 'expected an int64 (a safe integer, a decimal string or a bigint), got 9007199254740992'],
      ['int64', 2n ** 63n, 'expected an int64 (a safe integer, a decimal string or a bigint), got 9223372036854775808n'],
      ['int64', '12a', 'expected an int64 (a safe integer, a decimal string or a bigint), got "12a"'],
      ['bool', 1, 'expected true or false, got 1'],
      ['string', 5, 'expected a string, got 5'],
      ['bytes', 'not base64!', 'expected bytes (a Uint8Array or a base64 string), got "not base64!"'],
      ['bytes', [1, 2], 'expected bytes (a Uint8Array or a base64 string), got [1,2]'],
      ['float', 'x'.repeat(100), `expected a number, got "${'x'.repeat(59)}...`],
    ];
    for (const [type, value, expected] of cases) {
      it(`${type}: ${expected}`, () => {
        const rows: Record<string, unknown>[] = Array.from({ length: 18 }, () => ({}));
        rows[17] = { ids_2001: value };
        const run = (): unknown => rowsToRecordBatch([{ name: 'ids_2001', type }], rows);
        if (expected.endsWith('...')) expectFormatError(run, new RegExp(`^row 17, column ids_2001: ${escape(expected)}$`));
        else expectFormatError(run, `row 17, column ids_2001: ${expected}`);
      });
    }

    it('names a row that is not an object, and duplicate columns', () => {
      expectFormatError(() => rowsToRecordBatch([{ name: 'a', type: 'float' }], [{}, [1] as never]), 'row 1: expected an object, got [1]');
      expectFormatError(
        () => rowsToRecordBatch([{ name: 'a', type: 'float' }, { name: 'a', type: 'int32' }], []),
        'column a appears twice',
      );
      expectFormatError(() => rowsToRecordBatch([{ name: 'a', type: 'decimal' as never }], []), 'column a: unknown type decimal');
    });

    it('rejects a value of another shape for every column type', () => {
      const wrong: Record<string, unknown> = {
        'decimal(9,2)': true,
        string_list: [1],
        float: 'x',
        double: '1',
        int32: 'x',
        int64: 1.5,
        bool: 'true',
        string: 1,
        bytes: 1,
        id_list: 1,
        id_score_list: [1],
        float_list: 'x',
        timestamp: true,
        date: [2026, 11, 20],
      };
      for (const [type, value] of Object.entries(wrong) as [ColumnType, unknown][]) {
        expectFormatError(() => rowsToRecordBatch([{ name: 'z', type }], [{ z: value }]), /^row 0, column z: expected /);
      }
    });
  });

  it('refuses to turn an Arrow type Granary does not have into rows', () => {
    const small = arrow.vectorFromArray([1, 2], new arrow.Int16());
    const batch = new arrow.Table({ small }).batches[0] as arrow.RecordBatch;
    expectFormatError(() => recordBatchToRows(batch), /column small: Arrow type Int16 is not a Granary column type/);
  });

  it('maps every column type to an Arrow type and back', () => {
    for (const type of TEST_COLUMN_TYPES) expect(columnTypeOf(arrowTypeOf(type))).toBe(type);
    expect(columnTypeOf(new arrow.Uint64())).toBeUndefined();
    expect(columnTypeOf(new arrow.List(new arrow.Field('element', new arrow.Int64(), false)))).toBe('id_list');
    expect(String(arrowTypeOf('id_score_list'))).toBe('List<Struct<{id:Int64, score:Float32}>>');
  });

  it('prints float32 values as the shortest decimal that reads back the same', () => {
    expect(float32Number(Math.fround(0.1))).toBe(0.1);
    expect(Object.is(float32Number(-0), -0)).toBe(true);
    expect(float32Number(Number.NaN)).toBeNaN();
    fc.assert(
      fc.property(fc.float(), (f) => {
        const printed = float32Number(f);
        expect(Object.is(Math.fround(printed), f)).toBe(true);
        expect(String(printed).length).toBeLessThanOrEqual(String(f).length);
      }),
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
