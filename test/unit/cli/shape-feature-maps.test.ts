/**
 * Feature maps spread into a table's feature columns at ingest
 * (client/cli/formats/shape/feature-maps.ts, feature-values.ts): every map value type the
 * spreader takes, with nulls at every level, empty and null maps, missing features (null), and
 * the errors: a feature twice in a row, a feature given by a map and a plain column or by two
 * maps, a value that does not fit its column, maps that cannot be spread. Unknown features are
 * counted in the tally.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { type ConformPlan, conformBatch, planConform, usedColumns } from '../../../client/cli/formats/conform.js';
import { DENSE_LOOKUP_SPAN_MAX } from '../../../client/cli/formats/shape/feature-maps.js';
import { FeatureTally } from '../../../client/cli/formats/shape/feature-tally.js';
import type { TableColumn } from '../../../client/cli/formats/shape/options.js';
import { FormatError, recordBatchToRows } from '../../../client/format/index.js';
import { batchOf, mapVector } from './shape-batches.js';

const COLUMNS: readonly TableColumn[] = [
  { name: 'id', type: 'int64' },
  { name: 'f_1', type: 'float', featureId: 1 },
  { name: 'f_2', type: 'double', featureId: 2 },
  { name: 'f_3', type: 'int64', featureId: 3 },
  { name: 'ids_10', type: 'id_list', featureId: 10 },
  { name: 'floats_11', type: 'float_list', featureId: 11 },
  { name: 'pairs_12', type: 'id_score_list', featureId: 12 },
  { name: 'name_13', type: 'string', featureId: 13 },
  { name: 'plain', type: 'float' },
];

const i64 = new arrow.Int64();
const f32 = new arrow.Float32();
const listOf = (item: arrow.DataType): arrow.List => new arrow.List(new arrow.Field('item', item, true));
const pairType = new arrow.Struct([new arrow.Field('id', i64, true), new arrow.Field('score', f32, true)]);

function spread(batch: arrow.RecordBatch, tally = new FeatureTally(), columns = COLUMNS): { rows: Record<string, unknown>[]; plan: ConformPlan; out: arrow.RecordBatch } {
  const plan = planConform(batch.schema, columns, 'maps.parquet', { features: tally });
  const out = conformBatch(plan, batch, 100);
  return { rows: recordBatchToRows(out), plan, out };
}

function pick(rows: readonly Record<string, unknown>[], ...names: string[]): unknown[][] {
  return rows.map((row) => names.map((name) => row[name]));
}

describe('feature maps of scalars', () => {
  it('spreads Map<int64, float> by featureId: nulls, empty and null maps, unknown ids counted', () => {
    const feats = mapVector(
      [
        new Map([
          [1n, 0.5],
          [2n, 1.5],
          [99n, 7],
        ]),
        new Map([[1n, null]]),
        new Map(),
        null,
        new Map([
          [2n, 42],
          [99n, 1],
          [98n, 2],
        ]),
      ],
      i64,
      f32,
    );
    const tally = new FeatureTally();
    const batch = batchOf({ id: arrow.vectorFromArray([0n, 1n, 2n, 3n, 4n], i64), feats });
    const { rows, plan } = spread(batch, tally);
    expect(usedColumns(plan)).toEqual([0, 1]);
    expect(pick(rows, 'id', 'f_1', 'f_2', 'f_3', 'ids_10', 'plain')).toEqual([
      [0, 0.5, 1.5, null, null, null],
      [1, null, null, null, null, null],
      [2, null, null, null, null, null],
      [3, null, null, null, null, null],
      [4, null, 42, null, null, null],
    ]);
    expect(tally.report()).toEqual({ distinct: 2, values: 3, sampleIds: [98, 99] });
  });

  it('copies float bits: NaN payloads, -0 and subnormals survive', () => {
    const bits = new Uint32Array([0x7fc00001, 0xffc00000, 0x80000000, 0x00000001]);
    const values = new Float32Array(bits.buffer);
    const feats = mapVector(
      [...values].map((value) => new Map([[1n, value]])),
      i64,
      f32,
    );
    const { out } = spread(batchOf({ feats }));
    const column = out.data.children[1] as arrow.Data;
    expect([...new Uint32Array((column.values as Float32Array).buffer, (column.values as Float32Array).byteOffset, 4)]).toEqual([...bits]);
  });

  it('widens and narrows numbers as conform does: int32 keys, double into float, int into double', () => {
    const feats = mapVector(
      [
        new Map([
          [1, 0.1],
          [2, 2.5],
        ]),
      ],
      new arrow.Int32(),
      new arrow.Float64(),
    );
    const ints = mapVector([new Map([[2n, 7n]])], i64, i64);
    const { rows } = spread(batchOf({ feats }));
    expect(pick(rows, 'f_1', 'f_2')).toEqual([[0.1, 2.5]]);
    expect((spread(batchOf({ feats })).out.data.children[1]?.values as Float32Array)[0]).toBe(Math.fround(0.1));
    expect(pick(spread(batchOf({ ints })).rows, 'f_2')).toEqual([[7]]);
  });

  it('refuses a value that does not fit its column, naming file, row, map column and feature', () => {
    const feats = mapVector([new Map(), new Map([[3n, 0.5]])], i64, f32);
    expect(() => spread(batchOf({ feats }))).toThrow(FormatError);
    expect(() => spread(batchOf({ feats }))).toThrow('maps.parquet: row 101, map column feats, feature 3: a Float32 value does not fit column f_3 (int64)');
    const lists = mapVector([new Map([[1n, [1n]]])], i64, listOf(i64));
    expect(() => spread(batchOf({ lists }))).toThrow('maps.parquet: row 100, map column lists, feature 1: a List<Int64> value does not fit column f_1 (float)');
  });
});

describe('feature maps of lists', () => {
  it('spreads list<int64> and list<int32> into id_list, list<float> into float_list, null elements refused', () => {
    const ids = mapVector([new Map([[10n, [1n, 2n, 3n]]]), new Map([[10n, []]]), new Map([[10n, null]]), new Map()], i64, listOf(i64));
    expect(pick(spread(batchOf({ ids })).rows, 'ids_10')).toEqual([[[1, 2, 3]], [[]], [null], [null]]);
    const narrow = mapVector([new Map([[10n, [-1, 2 ** 31 - 1]]])], i64, listOf(new arrow.Int32()));
    expect(pick(spread(batchOf({ narrow })).rows, 'ids_10')).toEqual([[[-1, 2 ** 31 - 1]]]);
    const floats = mapVector([new Map([[11n, [0.5, -2]]]), null], i64, listOf(f32));
    expect(pick(spread(batchOf({ floats })).rows, 'floats_11')).toEqual([[[0.5, -2]], [null]]);
    const holed = mapVector([new Map(), new Map([[10n, [1n, null]]])], i64, listOf(i64));
    expect(() => spread(batchOf({ holed }))).toThrow('maps.parquet: row 101, map column holed, feature 10 (column ids_10): element 1 of the list is null; Granary list elements cannot be null');
  });

  it('spreads list<struct<id, score>> into id_score_list', () => {
    const pairs = mapVector(
      [
        new Map([
          [
            12n,
            [
              { id: 7n, score: 0.25 },
              { id: 8n, score: 1 },
            ],
          ],
        ]),
        new Map([[12n, []]]),
      ],
      i64,
      listOf(pairType),
    );
    expect(pick(spread(batchOf({ pairs })).rows, 'pairs_12')).toEqual([
      [
        [
          [7, 0.25],
          [8, 1],
        ],
      ],
      [[]],
    ]);
  });

  it('spreads strings into string columns', () => {
    const names = mapVector([new Map([[13n, 'héllo']]), new Map([[13n, '']])], i64, new arrow.Utf8());
    expect(pick(spread(batchOf({ names })).rows, 'name_13')).toEqual([['héllo'], ['']]);
  });
});

describe('map forms, lookups and refusals', () => {
  it('takes List<Struct<key, value>> as older engines write maps', () => {
    const entry = new arrow.Struct([new arrow.Field('key', i64, false), new arrow.Field('value', f32, true)]);
    const old = arrow.vectorFromArray(
      [
        [
          { key: 1n, value: 0.5 },
          { key: 2n, value: 3 },
        ],
        [],
      ],
      listOf(entry),
    );
    expect(pick(spread(batchOf({ old })).rows, 'f_1', 'f_2')).toEqual([
      [0.5, 3],
      [null, null],
    ]);
  });

  it('finds sparse feature ids through a map when they span more than the dense table', () => {
    const far = DENSE_LOOKUP_SPAN_MAX * 4;
    const columns: TableColumn[] = [
      { name: 'low', type: 'float', featureId: 1 },
      { name: 'high', type: 'float', featureId: far },
    ];
    const feats = mapVector(
      [
        new Map([
          [BigInt(far), 2],
          [1n, 1],
          [5n, 0],
        ]),
      ],
      i64,
      f32,
    );
    const tally = new FeatureTally();
    expect(spread(batchOf({ feats }), tally, columns).rows).toEqual([{ low: 1, high: 2 }]);
    expect(tally.report().sampleIds).toEqual([5]);
  });

  it('refuses a feature twice in one row (known or not), but not in two rows', () => {
    const entry = new arrow.Struct([new arrow.Field('key', i64, false), new arrow.Field('value', f32, true)]);
    const twice = (key: bigint): arrow.Vector =>
      arrow.vectorFromArray(
        [
          [{ key, value: 1 }],
          [
            { key, value: 1 },
            { key, value: 2 },
          ],
        ],
        listOf(entry),
      );
    expect(() => spread(batchOf({ feats: twice(1n) }))).toThrow("maps.parquet: row 101, map column feats, feature 1: the row's map gives feature 1 twice");
    expect(() => spread(batchOf({ feats: twice(77n) }))).toThrow("maps.parquet: row 101, map column feats, feature 77: the row's maps give feature 77 twice");
  });

  it('refuses a feature given by a map and by a plain column, or by two maps', () => {
    const feats = mapVector([new Map([[1n, 0.5]])], i64, f32);
    const plain = batchOf({ f_1: arrow.vectorFromArray([0.25], f32), feats });
    expect(() => spread(plain)).toThrow('maps.parquet: row 100, map column feats, feature 1: the file also has column f_1 for feature 1; give each feature once');
    const other = mapVector([new Map([[2n, 0.5]]), new Map([[1n, 0.5]])], i64, f32);
    const first = mapVector([new Map([[1n, 0.5]]), new Map()], i64, f32);
    expect(() => spread(batchOf({ first, other }))).toThrow(/row 101, map column other, feature 1: map column first of the file gives feature 1 too \(column f_1\)/);
  });

  it('refuses maps that cannot be spread: string keys, values no column holds, keys beyond 2^53', () => {
    const byName = mapVector([new Map([['a', 1]])], new arrow.Utf8(), f32);
    expect(() => spread(batchOf({ by_name: byName }))).toThrow(/column "by_name" is a map with Utf8 keys; only a map with integer keys \(feature ids\) is spread/);
    const flags = mapVector([new Map([[1n, true]])], i64, new arrow.Bool());
    expect(() => spread(batchOf({ flags }))).toThrow(/map column "flags" has Bool values, which no feature column can hold/);
    const huge = mapVector([new Map([[2n ** 60n, 1]])], i64, f32);
    expect(() => spread(batchOf({ huge }))).toThrow(/row 100, map column huge: key 1152921504606846976 is not a feature id \(beyond 2\^53\)/);
  });

  it('counts unknown features across batches of one tally, one serial per row', () => {
    const tally = new FeatureTally();
    const feats = mapVector([new Map([[50n, 1]]), new Map([[50n, 2]])], i64, f32);
    const batch = batchOf({ feats });
    const plan = planConform(batch.schema, COLUMNS, 'maps.parquet', { features: tally });
    conformBatch(plan, batch, 0);
    conformBatch(plan, batch, 2);
    expect(tally.report()).toEqual({ distinct: 1, values: 4, sampleIds: [50] });
    expect(tally.features()).toEqual([{ id: 50, values: 4, source: 'feats', type: 'float' }]);
  });
});
