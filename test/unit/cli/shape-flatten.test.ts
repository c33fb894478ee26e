/**
 * Struct columns spread into parent_child columns at ingest (`--flatten`,
 * client/cli/formats/shape/flatten.ts): nulls of every struct level merged into each child's
 * validity, children of null-free structs taken as they are, and the refusals (a struct without
 * the flag, a list of lists).
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { conformBatch, planConform, usedColumns } from '../../../client/cli/formats/conform.js';
import { type Leaf, leafData, leavesOf } from '../../../client/cli/formats/shape/flatten.js';
import { FormatError, recordBatchToRows } from '../../../client/format/index.js';
import { batchOf } from './shape-batches.js';

const inner = new arrow.Struct([new arrow.Field('c', new arrow.Utf8(), true)]);
const outer = new arrow.Struct([new arrow.Field('a', new arrow.Int64(), true), new arrow.Field('b', inner, true)]);

// Row 0: all there; 1: the outer struct null; 2: the inner struct null; 3: a child null; 4: all there.
const rowsOfS = [
  { a: 1n, b: { c: 'x' } },
  null,
  { a: 3n, b: null },
  { a: null, b: { c: null } },
  { a: 5n, b: { c: 'y' } },
];

const columns = [
  { name: 'id', type: 'int32' as const },
  { name: 's_a', type: 'int64' as const },
  { name: 's_b_c', type: 'string' as const },
];

function structBatch(): arrow.RecordBatch {
  return batchOf({ id: arrow.vectorFromArray([0, 1, 2, 3, 4], new arrow.Int32()), s: arrow.vectorFromArray(rowsOfS, outer) });
}

describe('--flatten', () => {
  it('spreads a struct into parent_child columns, nulls of both levels merged into each child', () => {
    const batch = structBatch();
    const plan = planConform(batch.schema, columns, 'nested.parquet', { flatten: true });
    expect(usedColumns(plan)).toEqual([0, 1]);
    const out = conformBatch(plan, batch);
    expect(recordBatchToRows(out)).toEqual([
      { id: 0, s_a: 1, s_b_c: 'x' },
      { id: 1, s_a: null, s_b_c: null },
      { id: 2, s_a: 3, s_b_c: null },
      { id: 3, s_a: null, s_b_c: null },
      { id: 4, s_a: 5, s_b_c: 'y' },
    ]);
    expect(out.data.children[1]?.nullCount).toBe(2);
    expect(out.data.children[2]?.nullCount).toBe(3);
  });

  it('takes the children of a struct without nulls as they are (zero copy)', () => {
    const batch = batchOf({ s: arrow.vectorFromArray([{ a: 1n, b: { c: 'x' } }, { a: null, b: { c: 'y' } }], outer) });
    const [a, c] = leavesOf(batch.schema, true, 'f');
    const top = batch.data.children[0] as arrow.Data;
    const childA = top.children[0] as arrow.Data;
    expect(leafData(top, a as Leaf)).toBe(childA);
    expect(leafData(top, c as Leaf)).toBe((top.children[1] as arrow.Data).children[0]);
    expect(leafData(top, a as Leaf).nullCount).toBe(1);
  });

  it('merges nulls of a sliced batch at its offset', () => {
    const whole = structBatch();
    const sliced = whole.slice(1, 5);
    const plan = planConform(sliced.schema, columns, 'nested.parquet', { flatten: true });
    expect(recordBatchToRows(conformBatch(plan, sliced)).map((row) => [row['s_a'], row['s_b_c']])).toEqual([
      [null, null],
      [3, null],
      [null, null],
      [5, 'y'],
    ]);
  });

  it('names leaves a_b_c and their paths a.b.c', () => {
    expect(leavesOf(structBatch().schema, true, 'f').map((leaf) => [leaf.name, leaf.path, leaf.fileIndex, leaf.childPath])).toEqual([
      ['id', 'id', 0, []],
      ['s_a', 's.a', 1, [0]],
      ['s_b_c', 's.b.c', 1, [1, 0]],
    ]);
  });

  it('refuses a struct without --flatten, naming the column and the flag', () => {
    const batch = structBatch();
    expect(() => planConform(batch.schema, columns, 'nested.parquet')).toThrow(FormatError);
    expect(() => planConform(batch.schema, columns, 'nested.parquet')).toThrow(
      /nested\.parquet: column "s" is a struct \(Struct<\{a:Int64, b:Struct<\{c:Utf8\}>\}>\); Granary has no struct type: --flatten spreads it into columns s_a, s_b/,
    );
  });

  it('refuses a list of lists, with or without --flatten', () => {
    const nested = new arrow.List(new arrow.Field('item', new arrow.List(new arrow.Field('item', new arrow.Int64(), true)), true));
    const batch = batchOf({ ids: arrow.vectorFromArray([[[1n]]], nested) });
    for (const flatten of [false, true]) {
      expect(() => planConform(batch.schema, [{ name: 'ids', type: 'id_list' }], 'lists.parquet', { flatten })).toThrow(
        /lists\.parquet: column "ids" is a list of lists \(List<List<Int64>>\), which no Granary column type holds/,
      );
    }
  });
});
