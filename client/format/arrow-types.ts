/**
 * The Arrow type each Granary column type is read and written as. Readers hand users Arrow record
 * batches, writers take them; both sides must agree on one mapping, so it lives here and nowhere
 * else. Every field is nullable (every Granary column is).
 */
import * as arrow from 'apache-arrow';
// The two protocol modules, not its index: this module loads in every Parquet reading thread,
// and the index brings the wire and erasure modules with it (a quarter second of CPU a thread).
import { COLUMN_TYPES, type ColumnType, kindOf } from '../../protocol/catalog-types.js';
import { decimalParamsOf, decimalTypeOf } from '../../protocol/decimal.js';
import { GranaryError } from '../../protocol/errors.js';

/** The Arrow field name of a list's elements (the Arrow / Parquet convention). */
export const LIST_ITEM_FIELD = 'item';
/** Field names of the struct inside an `id_score_list`. */
export const ID_FIELD = 'id';
export const SCORE_FIELD = 'score';
/** Timestamps are instants: Arrow says so with a timezone, and UTC is the one they are kept in. */
export const TIMESTAMP_TIMEZONE = 'UTC';

/** Bits of a decimal value in Arrow (Decimal128). */
export const DECIMAL_BIT_WIDTH = 128;

export function arrowTypeOf(type: ColumnType): arrow.DataType {
  const kind = kindOf(type);
  if (kind === 'decimal') {
    const { precision, scale } = decimalParamsOf(type) as { precision: number; scale: number };
    return new arrow.Decimal(scale, precision, DECIMAL_BIT_WIDTH);
  }
  switch (kind) {
    case 'float':
      return new arrow.Float32();
    case 'double':
      return new arrow.Float64();
    case 'int32':
      return new arrow.Int32();
    case 'int64':
      return new arrow.Int64();
    case 'bool':
      return new arrow.Bool();
    case 'string':
      return new arrow.Utf8();
    case 'bytes':
      return new arrow.Binary();
    case 'id_list':
      return new arrow.List(new arrow.Field(LIST_ITEM_FIELD, new arrow.Int64(), true));
    case 'id_score_list':
      return new arrow.List(
        new arrow.Field(
          LIST_ITEM_FIELD,
          new arrow.Struct([
            new arrow.Field(ID_FIELD, new arrow.Int64(), true),
            new arrow.Field(SCORE_FIELD, new arrow.Float32(), true),
          ]),
          true,
        ),
      );
    case 'float_list':
      return new arrow.List(new arrow.Field(LIST_ITEM_FIELD, new arrow.Float32(), true));
    case 'timestamp':
      return new arrow.TimestampMicrosecond(TIMESTAMP_TIMEZONE);
    case 'date':
      return new arrow.DateDay();
    case 'string_list':
      return new arrow.List(new arrow.Field(LIST_ITEM_FIELD, new arrow.Utf8(), true));
    default:
      return assertNever(kind);
  }
}

export interface NamedColumn {
  readonly name: string;
  readonly type: ColumnType;
}

export function arrowSchemaOf(columns: readonly NamedColumn[]): arrow.Schema {
  return new arrow.Schema(columns.map((column) => new arrow.Field(column.name, arrowTypeOf(column.type), true)));
}

/**
 * The columns a read selects from a table's (all of them when `names` is undefined), in the
 * order asked, and the Arrow schema its batches have: what an output writer needs before the
 * first batch. A name the table lacks is refused, naming the ones it has.
 */
export function selectedSchema(table: string, columns: readonly NamedColumn[], names?: readonly string[]): { names: string[]; schema: arrow.Schema } {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const chosen = names === undefined ? columns.map((column) => column.name) : [...names];
  const unknown = chosen.filter((name) => !byName.has(name));
  if (unknown.length > 0) throw new GranaryError('GRN_BAD_REQUEST', `table ${table} has no column ${unknown.join(', ')}; it has ${columns.map((c) => c.name).join(', ')}`);
  return { names: chosen, schema: arrowSchemaOf(chosen.map((name) => byName.get(name) as NamedColumn)) };
}

/**
 * True when `actual` has the physical layout of `expected`: the same type ids, widths and
 * children. Field names and nullability are not compared (a list from Parquet may call its item
 * `element`; a struct child may be declared non-nullable). Nor is a timestamp's timezone: Arrow
 * keeps a zoned timestamp as UTC instants, and a timezone-less one is taken as UTC, so the same
 * microseconds mean the same instant whatever zone is named.
 */
export function arrowTypeMatches(expected: arrow.DataType, actual: arrow.DataType): boolean {
  if (expected.typeId !== actual.typeId) return false;
  if (arrow.DataType.isTimestamp(expected) || arrow.DataType.isDate(expected)) {
    return expected.unit === (actual as arrow.Timestamp | arrow.Date_).unit;
  }
  if (arrow.DataType.isInt(expected)) {
    const other = actual as arrow.Int;
    return expected.bitWidth === other.bitWidth && expected.isSigned === other.isSigned;
  }
  if (arrow.DataType.isFloat(expected)) {
    return expected.precision === (actual as arrow.Float).precision;
  }
  if (arrow.DataType.isDecimal(expected)) {
    const other = actual as arrow.Decimal;
    return expected.precision === other.precision && expected.scale === other.scale && expected.bitWidth === other.bitWidth;
  }
  const expectedChildren = expected.children ?? [];
  const actualChildren = actual.children ?? [];
  if (expectedChildren.length !== actualChildren.length) return false;
  return expectedChildren.every((child, i) => arrowTypeMatches(child.type, (actualChildren[i] as arrow.Field).type));
}

const ARROW_TYPES: readonly (readonly [ColumnType, arrow.DataType])[] = COLUMN_TYPES.flatMap((kind) =>
  kind === 'decimal' ? [] : [[kind, arrowTypeOf(kind)] as const],
);

/** The column type whose Arrow layout `type` has, or undefined when Granary has no such column type. */
export function columnTypeOf(type: arrow.DataType): ColumnType | undefined {
  if (arrow.DataType.isDecimal(type)) {
    const decimal = decimalTypeOf(type.precision, type.scale);
    return type.bitWidth === DECIMAL_BIT_WIDTH && decimalParamsOf(decimal) !== undefined ? decimal : undefined;
  }
  return ARROW_TYPES.find(([, arrowType]) => arrowTypeMatches(arrowType, type))?.[0];
}

function assertNever(value: never): never {
  throw new Error(`unknown column type ${String(value)}`);
}

/**
 * The child of an `id_score_list` column (`type`, as arrowTypeOf gives it): `length` pairs of
 * `ids` and `scores`, no nulls (Granary lists hold no null elements).
 */
export function idScorePairsData(type: arrow.List, ids: BigInt64Array, scores: Float32Array): arrow.Data {
  const pairType = type.valueType as arrow.Struct;
  const [idField, scoreField] = pairType.children as [arrow.Field<arrow.Int64>, arrow.Field<arrow.Float32>];
  const length = ids.length;
  return arrow.makeData({
    type: pairType,
    length,
    nullCount: 0,
    children: [
      arrow.makeData({ type: idField.type, length, nullCount: 0, data: ids }),
      arrow.makeData({ type: scoreField.type, length, nullCount: 0, data: scores }),
    ],
  });
}
