/**
 * `table create --like`'s type rules (client/cli/formats/infer-columns.ts): every Arrow type a
 * Parquet or Arrow IPC file can hand over maps to the column type ingest stores it as, or is
 * refused with the reason; names that are not column names are refused unless normalized; structs
 * are refused unless flattened.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import {
  DATE64_NOTE,
  NANOSECOND_NOTE,
  REASONS,
  UINT64_NOTE,
  describeRefusals,
  inferColumns,
} from '../../../client/cli/formats/infer-columns.js';

const field = (name: string, type: arrow.DataType): arrow.Field => new arrow.Field(name, type, true);
const listOf = (type: arrow.DataType, name = 'element'): arrow.List => new arrow.List(field(name, type));
const schemaOf = (...fields: arrow.Field[]): arrow.Schema => new arrow.Schema(fields);

/** The type inferred for one column of type `type`, or its refusal reason. */
function typeOf(type: arrow.DataType): string {
  const inferred = inferColumns(schemaOf(field('c', type)));
  return inferred.columns[0]?.type ?? `refused: ${inferred.refused[0]?.reason}`;
}

describe('inferColumns', () => {
  it('maps scalar types by ingest widening rules', () => {
    const cases: [arrow.DataType, string][] = [
      [new arrow.Bool(), 'bool'],
      [new arrow.Int8(), 'int32'],
      [new arrow.Int16(), 'int32'],
      [new arrow.Int32(), 'int32'],
      [new arrow.Uint8(), 'int32'],
      [new arrow.Uint16(), 'int32'],
      [new arrow.Uint32(), 'int64'],
      [new arrow.Int64(), 'int64'],
      [new arrow.Uint64(), 'int64'],
      [new arrow.Float16(), 'float'],
      [new arrow.Float32(), 'float'],
      [new arrow.Float64(), 'double'],
      [new arrow.Utf8(), 'string'],
      [new arrow.LargeUtf8(), 'string'],
      [new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), 'string'],
      [new arrow.Dictionary(new arrow.Int64(), new arrow.Int8()), 'int64'],
      [new arrow.Binary(), 'bytes'],
      [new arrow.LargeBinary(), 'bytes'],
      [new arrow.FixedSizeBinary(16), 'bytes'],
      [new arrow.TimestampSecond(), 'timestamp'],
      [new arrow.TimestampMillisecond('+02:00'), 'timestamp'],
      [new arrow.TimestampMicrosecond('UTC'), 'timestamp'],
      [new arrow.TimestampNanosecond(), 'timestamp'],
      [new arrow.DateDay(), 'date'],
      [new arrow.DateMillisecond(), 'date'],
      [new arrow.Decimal(2, 12, 128), 'decimal(12,2)'],
      [new arrow.Decimal(0, 38, 128), 'decimal(38,0)'],
      [new arrow.Decimal(3, 7, 32), 'decimal(7,3)'],
    ];
    for (const [type, expected] of cases) expect(typeOf(type), String(type)).toBe(expected);
  });

  it('maps lists of integers, floats, strings and (id, score) structs to the list types', () => {
    const idScore = (id: arrow.DataType, score: arrow.DataType, names = ['id', 'score']): arrow.Struct =>
      new arrow.Struct([field(names[0] as string, id), field(names[1] as string, score)]);
    const cases: [arrow.DataType, string][] = [
      [listOf(new arrow.Int64()), 'id_list'],
      [listOf(new arrow.Int32()), 'id_list'],
      [listOf(new arrow.Uint8()), 'id_list'],
      [new arrow.LargeList(field('item', new arrow.Int64())), 'id_list'],
      [new arrow.FixedSizeList(4, field('item', new arrow.Int16())), 'id_list'],
      [listOf(new arrow.Float32()), 'float_list'],
      [listOf(new arrow.Float16()), 'float_list'],
      [listOf(new arrow.Utf8()), 'string_list'],
      [listOf(new arrow.LargeUtf8()), 'string_list'],
      [listOf(new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())), 'string_list'],
      [listOf(idScore(new arrow.Int64(), new arrow.Float32())), 'id_score_list'],
      [listOf(idScore(new arrow.Float32(), new arrow.Int32(), ['score', 'id'])), 'id_score_list'],
      [listOf(idScore(new arrow.Int32(), new arrow.Float32(), ['feature', 'weight'])), 'id_score_list'],
    ];
    for (const [type, expected] of cases) expect(typeOf(type), String(type)).toBe(expected);
  });

  it('refuses what Granary cannot hold, with the reason', () => {
    const cases: [arrow.DataType, string][] = [
      [new arrow.Null(), REASONS.null],
      [new arrow.TimeMillisecond(), REASONS.time],
      [new arrow.TimeNanosecond(), REASONS.time],
      [new arrow.DurationSecond(), REASONS.duration],
      [new arrow.IntervalDayTime(), REASONS.duration],
      [new arrow.Map_(field('entries', new arrow.Struct([new arrow.Field('key', new arrow.Int64(), false), field('value', new arrow.Float32())]))), REASONS.map],
      [new arrow.Struct([field('a', new arrow.Int32())]), REASONS.struct],
      [new arrow.Struct([]), REASONS.emptyStruct],
      [listOf(listOf(new arrow.Int32())), REASONS.nestedList],
      [listOf(new arrow.Float64()), REASONS.doubleList],
      [listOf(new arrow.Bool()), REASONS.listItem],
      [listOf(new arrow.Binary()), REASONS.listItem],
      [listOf(new arrow.Null()), REASONS.listItem],
      [listOf(new arrow.Struct([field('id', new arrow.Int64()), field('score', new arrow.Float64())])), REASONS.idScoreStruct],
      [listOf(new arrow.Struct([field('id', new arrow.Int64())])), REASONS.idScoreStruct],
      [new arrow.Decimal(0, 40, 256), `precision 40: ${REASONS.decimalPrecision}`],
      [new arrow.Decimal(-2, 10, 128), `scale -2: ${REASONS.decimalScale}`],
    ];
    for (const [type, expected] of cases) expect(typeOf(type), String(type)).toBe(`refused: ${expected}`);
  });

  it('notes the rules whose limit a value may still hit at ingest', () => {
    const inferred = inferColumns(
      schemaOf(field('u', new arrow.Uint64()), field('ns', new arrow.TimestampNanosecond()), field('d', new arrow.DateMillisecond()), field('i', new arrow.Int64())),
    );
    expect(inferred.notes).toEqual([
      { column: 'u', note: UINT64_NOTE },
      { column: 'ns', note: NANOSECOND_NOTE },
      { column: 'd', note: DATE64_NOTE },
    ]);
  });

  it('lists every refused column in one message, keeping the others in file order', () => {
    const inferred = inferColumns(
      schemaOf(field('id', new arrow.Int64()), field('m', new arrow.Map_(field('entries', new arrow.Struct([new arrow.Field('key', new arrow.Utf8(), false), field('value', new arrow.Int32())])))), field('t', new arrow.TimeSecond()), field('score', new arrow.Float32())),
    );
    expect(inferred.columns).toEqual([
      { name: 'id', type: 'int64' },
      { name: 'score', type: 'float' },
    ]);
    expect(describeRefusals(inferred.refused)).toBe(
      `column "m" (Map<{key:Utf8, value:Int32}>): ${REASONS.map}; column "t" (Time32<SECOND>): ${REASONS.time}`,
    );
  });

  it('flattens structs into parent_child columns when asked, refusing what a field cannot hold by its path', () => {
    const stats = new arrow.Struct([field('min', new arrow.Int64()), field('count', new arrow.Uint64()), field('inner', new arrow.Struct([field('x', new arrow.Float64()), field('t', new arrow.TimeSecond())]))]);
    const schema = schemaOf(field('id', new arrow.Int32()), field('stats', stats), field('last', new arrow.Utf8()));
    expect(inferColumns(schema).refused.map((r) => r.column)).toEqual(['stats']);
    const flat = inferColumns(schema, { flatten: true });
    expect(flat.columns).toEqual([
      { name: 'id', type: 'int32' },
      { name: 'stats_min', type: 'int64' },
      { name: 'stats_count', type: 'int64' },
      { name: 'stats_inner_x', type: 'double' },
      { name: 'last', type: 'string' },
    ]);
    expect(flat.sources).toEqual([['id'], ['stats', 'min'], ['stats', 'count'], ['stats', 'inner', 'x'], ['last']]);
    expect(flat.refused).toEqual([{ column: 'stats.inner.t', fileType: 'Time32<SECOND>', reason: REASONS.time }]);
    expect(flat.notes).toEqual([{ column: 'stats.count', note: UINT64_NOTE }]);
  });

  it('refuses names that are not column names, suggesting --normalize-names, and normalizes them when asked', () => {
    const schema = schemaOf(field('ID', new arrow.Int64()), field('column with spaces', new arrow.Utf8()), field('c_birth_day:', new arrow.Int32()), field('ok_name', new arrow.Bool()));
    const refused = inferColumns(schema).refused;
    expect(refused.map((r) => r.column)).toEqual(['ID', 'column with spaces', 'c_birth_day:']);
    expect(refused[0]?.reason).toMatch(/^"ID" is not a column name .*--normalize-names makes it "id"$/);
    expect(refused[1]?.reason).toMatch(/--normalize-names makes it "column_with_spaces"$/);
    const normalized = inferColumns(schema, { normalizeNames: true });
    expect(normalized.refused).toEqual([]);
    expect(normalized.columns.map((c) => c.name)).toEqual(['id', 'column_with_spaces', 'c_birth_day_', 'ok_name']);
  });

  it('refuses two columns that would get the same name', () => {
    const inferred = inferColumns(schemaOf(field('Name', new arrow.Utf8()), field('name', new arrow.Utf8())), { normalizeNames: true });
    expect(inferred.columns).toEqual([{ name: 'name', type: 'string' }]);
    expect(inferred.refused).toEqual([{ column: 'name', fileType: 'Utf8', reason: 'it and column "Name" would both be named name' }]);
  });
});
