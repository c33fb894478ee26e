/**
 * File decimals, integers and lists into decimal(p,s), id_list and string_list columns: Parquet
 * DECIMAL of every physical type (the corpus), rescaled exactly or refused naming file, row and
 * column when a value would round or overflow; lists of narrower integers widened into id_list,
 * their null elements and too-large uint64 refused; lists of strings into string_list.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { conformBatch, planConform } from '../../../client/cli/formats/conform.js';
import { readInput } from '../../../client/cli/formats/input.js';
import { FormatError, type NamedColumn, recordBatchToRows } from '../../../client/format/index.js';

const CORPUS = 'test/fixtures/parquet-testing-types';
const DECIMAL_FILES = ['int32_decimal', 'int64_decimal', 'fixed_length_decimal', 'fixed_length_decimal_legacy', 'byte_array_decimal'];

async function rowsOf(file: string, columns: readonly NamedColumn[], shape = {}): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of readInput(`${CORPUS}/${file}.parquet`, 'parquet', columns, 1000, { shape })) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(FormatError);
  return outcome as Error;
}

function convert(type: NamedColumn['type'], vector: arrow.Vector): arrow.RecordBatch {
  const batch = new arrow.Table({ x: vector }).batches[0] as arrow.RecordBatch;
  return conformBatch(planConform(batch.schema, [{ name: 'x', type }], 'f.arrow'), batch);
}

function decimals(type: arrow.Decimal, unscaled: readonly bigint[]): arrow.Vector {
  const words = type.bitWidth / 32;
  const data = new Uint32Array(unscaled.length * words);
  unscaled.forEach((value, i) => {
    for (let w = 0; w < words; w++) data[i * words + w] = Number(BigInt.asUintN(32, value >> BigInt(32 * w)));
  });
  return new arrow.Vector([arrow.makeData({ type, length: unscaled.length, nullCount: 0, data })]);
}

describe('decimals into decimal(p,s)', () => {
  it('reads Parquet DECIMAL on INT32, INT64, FIXED_LEN_BYTE_ARRAY (both layouts) and BYTE_ARRAY exactly', async () => {
    for (const file of DECIMAL_FILES) {
      const rows = await rowsOf(file, [{ name: 'value', type: 'decimal(38,2)' }]);
      expect(rows.map((r) => r.value), file).toEqual(Array.from({ length: 24 }, (_, i) => `${i + 1}.00`));
    }
  });

  it('rescales up exactly, down only when the dropped digits are zeros, and refuses rounding and overflow by row', async () => {
    expect((await rowsOf('int64_decimal', [{ name: 'value', type: 'decimal(20,6)' }]))[23]).toEqual({ value: '24.000000' });
    expect((await rowsOf('byte_array_decimal', [{ name: 'value', type: 'decimal(2,0)' }]))[23]).toEqual({ value: '24' });
    const overflow = await failure(rowsOf('int32_decimal', [{ name: 'value', type: 'decimal(1,0)' }]));
    expect(overflow.message).toBe(`${CORPUS}/int32_decimal.parquet: row 9, column value: 10 does not fit decimal(1,0): at most 1 digits before the point (declare a larger precision)`);
    const rounded = await failure(Promise.resolve().then(() => convert('decimal(5,1)', decimals(new arrow.Decimal(2, 5, 128), [120n, 125n]))));
    expect(rounded.message).toBe('f.arrow: row 1, column x: 1.25 has more than 1 fraction digits and would be rounded in decimal(5,1); Granary does not round (declare the column with scale 2)');
  });

  it('checks a file column of the column\'s own type against its precision, and takes Decimal256 and integers', () => {
    const own = new arrow.Decimal(2, 5, 128);
    expect(recordBatchToRows(convert('decimal(5,2)', decimals(own, [-99999n, 1n]))).map((r) => r.x)).toEqual(['-999.99', '0.01']);
    expect(() => convert('decimal(5,2)', decimals(own, [100000n]))).toThrow(/row 0, column x: 1000.00 does not fit decimal\(5,2\)/);
    const wide = decimals(new arrow.Decimal(0, 50, 256), [-(10n ** 37n), 5n]);
    expect(recordBatchToRows(convert('decimal(38,0)', wide)).map((r) => r.x)).toEqual([(-(10n ** 37n)).toString(), '5']);
    expect(() => convert('decimal(38,0)', decimals(new arrow.Decimal(0, 50, 256), [10n ** 40n]))).toThrow(/does not fit decimal\(38,0\)/);
    expect(recordBatchToRows(convert('decimal(21,2)', arrow.vectorFromArray([-(2n ** 63n), 7n], new arrow.Int64()))).map((r) => r.x)).toEqual(['-9223372036854775808.00', '7.00']);
    expect(() => convert('decimal(3,2)', arrow.vectorFromArray([10], new arrow.Int32()))).toThrow(/row 0, column x: 10 does not fit decimal\(3,2\)/);
  });

  it('reads text columns exactly and refuses a text that would round, naming the row', () => {
    expect(recordBatchToRows(convert('decimal(10,3)', arrow.vectorFromArray(['1.5', null, '-0.125'], new arrow.Utf8()))).map((r) => r.x)).toEqual(['1.500', null, '-0.125']);
    expect(() => convert('decimal(10,2)', arrow.vectorFromArray(['1.5', '0.125'], new arrow.Utf8()))).toThrow(/f.arrow: row 1: column x \(decimal\(10,2\)\): "0.125" has more than 2 fraction digits/);
    expect(() => convert('decimal(10,2)', arrow.vectorFromArray([true], new arrow.Bool()))).toThrow(/column x is Bool in the file, cannot convert it to the table's decimal\(10,2\)/);
  });
});

describe('lists into id_list and string_list', () => {
  it('widens the corpus LIST<INT32> (datapage_v2 column e) into id_list', async () => {
    const columns: NamedColumn[] = [
      { name: 'a', type: 'string' },
      { name: 'b', type: 'int32' },
      { name: 'c', type: 'double' },
      { name: 'd', type: 'bool' },
      { name: 'e', type: 'id_list' },
    ];
    const rows = await rowsOf('datapage_v2.snappy', columns);
    // As DuckDB reads it.
    expect(rows.map((r) => r.e)).toEqual([[1, 2, 3], null, null, [1, 2, 3], [1, 2]]);
  });

  it('reads repeated INT32 and BYTE_ARRAY fields (repeated_primitive_no_list) into id_list and string_list', async () => {
    const columns: NamedColumn[] = [
      { name: 'Int32_list', type: 'id_list' },
      { name: 'String_list', type: 'string_list' },
      { name: 'group_of_lists_Int32_list_in_group', type: 'id_list' },
      { name: 'group_of_lists_String_list_in_group', type: 'string_list' },
    ];
    const rows = await rowsOf('repeated_primitive_no_list', columns, { flatten: true });
    expect(rows.length).toBe(4);
    // As DuckDB reads it.
    expect(rows.map((r) => [r.Int32_list, r.String_list])).toEqual([
      [[0, 1, 2, 3], ['foo', 'zero', 'one', 'two']],
      [[], ['three']],
      [[4], ['four']],
      [[5, 6, 7, 8], ['five', 'six', 'seven', 'eight']],
    ]);
    expect(rows.map((r) => [r.group_of_lists_Int32_list_in_group, r.group_of_lists_String_list_in_group])).toEqual(rows.map((r) => [r.Int32_list, r.String_list]));
  });

  it('widens List<Int16>, LargeList<Int32> and List<Uint64>, and refuses a null element and a uint64 past int64 by row and element', () => {
    const int16 = arrow.vectorFromArray([[1, -2], null, []], new arrow.List(new arrow.Field('item', new arrow.Int16(), true)));
    expect(recordBatchToRows(convert('id_list', int16)).map((r) => r.x)).toEqual([[1, -2], null, []]);
    const withNull = arrow.vectorFromArray([[1], [2, null, 3]], new arrow.List(new arrow.Field('item', new arrow.Int32(), true)));
    expect(() => convert('id_list', withNull)).toThrow('f.arrow: row 1, column x: element 1 of the list is null; an id_list holds no null ids (drop them, or make the whole list null)');
    const u64Type = new arrow.List(new arrow.Field('item', new arrow.Uint64(), false));
    const child = arrow.makeData({ type: new arrow.Uint64(), length: 2, nullCount: 0, data: BigUint64Array.from([5n, 2n ** 64n - 1n]) });
    const u64 = new arrow.Vector([arrow.makeData({ type: u64Type, length: 2, nullCount: 0, valueOffsets: Int32Array.from([0, 1, 2]), child })]);
    expect(() => convert('id_list', u64)).toThrow(/row 1, column x: element 0 of the list is uint64 18446744073709551615, above int64's maximum/);
    const sliced = new arrow.Vector([(int16.data[0] as arrow.Data).slice(1, 2)]);
    expect(recordBatchToRows(convert('id_list', sliced)).map((r) => r.x)).toEqual([null, []]);
  });

  it('takes List<Utf8> as it is and lists of LargeUtf8 through the row path; null strings refused', () => {
    const utf8 = arrow.vectorFromArray([['a', ''], null, []], new arrow.List(new arrow.Field('element', new arrow.Utf8(), true)));
    expect(recordBatchToRows(convert('string_list', utf8)).map((r) => r.x)).toEqual([['a', ''], null, []]);
    const large = arrow.vectorFromArray([['x', 'y']], new arrow.List(new arrow.Field('item', new arrow.LargeUtf8(), true)));
    expect(recordBatchToRows(convert('string_list', large)).map((r) => r.x)).toEqual([['x', 'y']]);
    const nullString = arrow.vectorFromArray([['x', null]], new arrow.List(new arrow.Field('item', new arrow.LargeUtf8(), true)));
    expect(() => convert('string_list', nullString)).toThrow(/f.arrow: row 0: column x: expected an array of strings, got null at index 1/);
    expect(() => convert('string_list', arrow.vectorFromArray([[1]], new arrow.List(new arrow.Field('item', new arrow.Int32(), true))))).toThrow(/cannot convert it to the table's string_list/);
  });
});
