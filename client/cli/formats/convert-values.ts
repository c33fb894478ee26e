/**
 * Value converters for file columns whose Arrow type is not the table column's layout but can be
 * read as it (Float64 into `float`, Int32 into `int64`, LargeUtf8 or a dictionary of strings into
 * `string`, List<Int32> into `id_list`, ...). They take values as `Vector.get` returns them and
 * give the JSON Lines shapes `rowsToRecordBatch` checks (so an Int64 beyond the int32 range
 * stored into an `int32` column is an error, not a wrap-around).
 */
import * as arrow from 'apache-arrow';
import { type ColumnType, kindOf } from '../../../protocol/index.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function valueType(type: arrow.DataType): arrow.DataType {
  return arrow.DataType.isDictionary(type) ? type.dictionary : type;
}

function isText(type: arrow.DataType): boolean {
  return arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type) || arrow.DataType.isUtf8View(type);
}

function isInteger(type: arrow.DataType): boolean {
  return arrow.DataType.isInt(type);
}

function isNumeric(type: arrow.DataType): boolean {
  return arrow.DataType.isInt(type) || arrow.DataType.isFloat(type);
}

function listItemType(type: arrow.DataType): arrow.DataType | undefined {
  if (arrow.DataType.isList(type) || arrow.DataType.isLargeList(type) || arrow.DataType.isFixedSizeList(type)) {
    return type.children[0]?.type;
  }
  return undefined;
}

function toNumber(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

function toInt32(value: unknown): unknown {
  // A bigint within range becomes a number; beyond it stays a bigint, which rowsToRecordBatch
  // rejects with the expected range in the message.
  return typeof value === 'bigint' && value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX) ? Number(value) : value;
}

function listOf(value: unknown, element: (item: unknown) => unknown): unknown {
  if (value === null || value === undefined) return null;
  const out: unknown[] = [];
  for (const item of value as Iterable<unknown>) out.push(element(item));
  return out;
}

/** How to turn a value of Arrow type `fileType` into a `type` value, or undefined if it cannot be. */
export function converterOf(type: ColumnType, fileType: arrow.DataType): ((raw: unknown) => unknown) | undefined {
  const t = valueType(fileType);
  switch (kindOf(type)) {
    case 'decimal':
      // Text is read exactly as in JSON Lines; a double only as its shortest text of at most 15
      // digits (protocol/decimal.ts). Decimals and integers are converted by decimal-convert.ts.
      return isText(t) || (arrow.DataType.isFloat(t) && t.precision === arrow.Precision.DOUBLE) ? (raw) => raw : undefined;
    case 'string_list': {
      const item = listItemType(t);
      return item !== undefined && isText(valueType(item)) ? (raw) => listOf(raw, (s) => s) : undefined;
    }
    case 'float':
    case 'double':
      return isNumeric(t) ? toNumber : undefined;
    case 'int32':
      return isInteger(t) ? toInt32 : undefined;
    case 'int64':
      return isInteger(t) ? (raw) => raw : undefined;
    case 'bool':
      return arrow.DataType.isBool(t) ? (raw) => raw : undefined;
    case 'string':
      return arrow.DataType.isUtf8(t) || arrow.DataType.isLargeUtf8(t) || arrow.DataType.isUtf8View(t) ? (raw) => raw : undefined;
    case 'bytes':
      return arrow.DataType.isBinary(t) ||
        arrow.DataType.isLargeBinary(t) ||
        arrow.DataType.isBinaryView(t) ||
        arrow.DataType.isFixedSizeBinary(t)
        ? (raw) => raw
        : undefined;
    case 'timestamp':
    case 'date':
      // Text is parsed as in JSON Lines; Arrow timestamps and dates are converted by temporal-convert.ts.
      return arrow.DataType.isUtf8(t) || arrow.DataType.isLargeUtf8(t) || arrow.DataType.isUtf8View(t) ? (raw) => raw : undefined;
    case 'id_list': {
      const item = listItemType(t);
      return item !== undefined && isInteger(item) ? (raw) => listOf(raw, (id) => id) : undefined;
    }
    case 'float_list': {
      const item = listItemType(t);
      return item !== undefined && isNumeric(item) ? (raw) => listOf(raw, toNumber) : undefined;
    }
    case 'id_score_list': {
      const item = listItemType(t);
      if (item === undefined || !arrow.DataType.isStruct(item) || item.children.length !== 2) return undefined;
      const names = item.children.map((field) => field.name);
      // By name when the struct says id and score, else by position.
      const idIndex = names.includes('id') && names.includes('score') ? names.indexOf('id') : 0;
      const scoreIndex = 1 - idIndex;
      const idType = (item.children[idIndex] as arrow.Field).type;
      const scoreType = (item.children[scoreIndex] as arrow.Field).type;
      if (!isInteger(idType) || !isNumeric(scoreType)) return undefined;
      return (raw) =>
        listOf(raw, (pair) => {
          if (pair === null || pair === undefined) return pair;
          const values = (pair as arrow.StructRow).toArray() as unknown[];
          return [values[idIndex], toNumber(values[scoreIndex])];
        });
    }
  }
}
