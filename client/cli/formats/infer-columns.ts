/**
 * The columns of a table made to take a file as it is (`granary table create NAME --like FILE`):
 * each column of the file's Arrow schema (Parquet as parquet-wasm reads it, or Arrow IPC) mapped
 * to the Granary type ingest stores it as, by the same widening rules ingest applies
 * (conform.ts, convert-values.ts, temporal-convert.ts): no column type is chosen that would make
 * ingest round, wrap or drop a value. A column Granary cannot hold is not skipped: it is refused
 * with the reason, so the user learns before the first ingest, not after.
 *
 *   Int8, Int16, Int32, Uint8, Uint16        int32
 *   Int64, Uint32                            int64
 *   Uint64                                   int64 (values above 2^63 - 1 are refused at ingest)
 *   Float16, Float32 / Float64               float / double
 *   Bool                                     bool
 *   Utf8, LargeUtf8, Utf8View                string
 *   Binary, LargeBinary, FixedSizeBinary     bytes
 *   Timestamp (any unit, any zone)           timestamp (nanoseconds must be whole microseconds)
 *   Date32, Date64                           date (Date64 must be whole days)
 *   Decimal (precision <= 38, scale >= 0)    decimal(p,s)
 *   List<integer>                            id_list
 *   List<Float16 | Float32>                  float_list
 *   List<Struct<id: integer, score: float>>  id_score_list
 *   List<Utf8>                               string_list
 *   Dictionary<_, T>                         as T
 *   Struct                                   with `flatten`, a column per field, `parent_child`
 *
 * Pure: a schema in, columns and reasons out; reading the file is the caller's (file-schema.ts).
 */
import * as arrow from 'apache-arrow';
import {
  type ColumnSpec,
  type ColumnType,
  DECIMAL_PRECISION_MAX,
  NAME_PATTERN,
  decimalTypeOf,
} from '../../../protocol/index.js';
import { ID_FIELD, SCORE_FIELD } from '../../format/arrow-types.js';
import { FLATTEN_SEPARATOR } from './shape/flatten.js';
import { normalizeName } from './shape/names.js';

export interface InferOptions {
  /** Spread each struct into a column per field named `parent_child`, as `granary ingest --flatten` does. */
  readonly flatten?: boolean;
  /** Make every name a valid column name, as `granary ingest --normalize-names` does. */
  readonly normalizeNames?: boolean;
}

/** A column of the file the table cannot take. */
export interface RefusedColumn {
  /** Its name in the file; a struct field's is the path, `parent.child`. */
  readonly column: string;
  /** Its Arrow type, as Arrow prints it. */
  readonly fileType: string;
  readonly reason: string;
}

/** A column taken by a rule whose limit a value may still hit at ingest. */
export interface ColumnNote {
  readonly column: string;
  readonly note: string;
}

export interface InferredColumns {
  /** The table's columns, in the file's order (a flattened struct's fields where the struct was). */
  readonly columns: readonly ColumnSpec[];
  /** Where each column comes from in the file, parallel to `columns`: its name, or a struct field's path. */
  readonly sources: readonly (readonly string[])[];
  /** Empty when the table can take every column. */
  readonly refused: readonly RefusedColumn[];
  readonly notes: readonly ColumnNote[];
}

/** Reasons, exported so that tests and messages say the same thing. */
export const REASONS = {
  null: 'the file gives it no type (Arrow Null: every value is null); declare its type in a schema file (--schema)',
  map: 'Granary has no map type; to spread a feature map into feature columns, declare the columns (with their featureId) in a schema file and ingest the map into them',
  struct: 'Granary has no struct type; --flatten makes a column of each field, named parent_child',
  emptyStruct: 'a struct without fields has no values to store',
  nestedList: 'Granary has no list of lists',
  doubleList: 'float_list holds float32 and Granary does not round a double; keep it as a double column per element or convert it before ingest',
  listItem: 'Granary lists are id_list (integers), float_list (float32), id_score_list (struct of integer id and float score) and string_list (strings)',
  idScoreStruct: 'a list of structs becomes an id_score_list only when the struct has two fields, an integer id and a float32 score',
  time: 'Granary has no time-of-day type; store it as int64 (of its unit) or as a string',
  duration: 'Granary has no duration or interval type; store it as int64 of its unit',
  decimalPrecision: `decimal(p,s) holds at most ${DECIMAL_PRECISION_MAX} digits`,
  decimalScale: 'decimal(p,s) needs a scale of 0 to p digits after the point',
  other: 'Granary has no column type for it',
} as const;

export const UINT64_NOTE = 'uint64 is stored as int64: a value above 9223372036854775807 is refused at ingest';
export const NANOSECOND_NOTE = 'timestamp holds microseconds: a nanosecond value that is not a whole microsecond is refused at ingest';
export const DATE64_NOTE = 'date holds days: a Date64 that is not a whole day is refused at ingest';

type Inference = { readonly type: ColumnType; readonly note?: string } | { readonly reason: string };

/** The table columns that take a file of `schema`, or the reasons some of its columns cannot be taken. */
export function inferColumns(schema: arrow.Schema, options: InferOptions = {}): InferredColumns {
  const found: { readonly path: readonly string[]; readonly type: ColumnType; readonly fileType: string }[] = [];
  const refused: RefusedColumn[] = [];
  const notes: ColumnNote[] = [];
  const visit = (path: readonly string[], type: arrow.DataType): void => {
    if (arrow.DataType.isStruct(type) && options.flatten === true && type.children.length > 0) {
      for (const child of type.children) visit([...path, child.name], child.type);
      return;
    }
    const inference = infer(type);
    if ('reason' in inference) {
      refused.push({ column: path.join('.'), fileType: String(type), reason: inference.reason });
      return;
    }
    found.push({ path, type: inference.type, fileType: String(type) });
    if (inference.note !== undefined) notes.push({ column: path.join('.'), note: inference.note });
  };
  for (const field of schema.fields) visit([field.name], field.type);

  // Names last: a refused column's name is not worth a second complaint.
  const columns: ColumnSpec[] = [];
  const sources: (readonly string[])[] = [];
  const byName = new Map<string, string>();
  for (const { path, type, fileType } of found) {
    // Ingest's names: flattened first (its `parent_child`), then normalized (shape/names.ts).
    const joined = path.join(FLATTEN_SEPARATOR);
    const name = options.normalizeNames === true ? normalizeName(joined) : joined;
    const column = path.join('.');
    if (!NAME_PATTERN.test(name)) {
      refused.push({
        column,
        fileType,
        reason:
          options.normalizeNames === true
            ? `${JSON.stringify(name)} is not a column name even normalized (${NAME_PATTERN.source})`
            : `${JSON.stringify(name)} is not a column name (lower-case letters, digits and _, starting with a letter or _, at most 128): --normalize-names makes it ${JSON.stringify(normalizeName(joined))}`,
      });
      continue;
    }
    const other = byName.get(name);
    if (other !== undefined) {
      refused.push({ column, fileType, reason: `it and column ${JSON.stringify(other)} would both be named ${name}` });
      continue;
    }
    byName.set(name, column);
    columns.push({ name, type });
    sources.push(path);
  }
  return { columns, sources, refused, notes };
}

/** One line naming every refused column and why, for an error message. */
export function describeRefusals(refused: readonly RefusedColumn[]): string {
  return refused.map((r) => `column ${JSON.stringify(r.column)} (${r.fileType}): ${r.reason}`).join('; ');
}

function infer(type: arrow.DataType): Inference {
  if (arrow.DataType.isDictionary(type)) return infer(type.dictionary);
  if (arrow.DataType.isNull(type)) return { reason: REASONS.null };
  if (arrow.DataType.isBool(type)) return { type: 'bool' };
  if (arrow.DataType.isInt(type)) return integer(type);
  if (arrow.DataType.isFloat(type)) return { type: type.precision === arrow.Precision.DOUBLE ? 'double' : 'float' };
  if (arrow.DataType.isDecimal(type)) return decimal(type);
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type) || arrow.DataType.isUtf8View(type)) return { type: 'string' };
  if (isBinary(type)) return { type: 'bytes' };
  if (arrow.DataType.isTimestamp(type)) return type.unit === arrow.TimeUnit.NANOSECOND ? { type: 'timestamp', note: NANOSECOND_NOTE } : { type: 'timestamp' };
  if (arrow.DataType.isDate(type)) return type.unit === arrow.DateUnit.MILLISECOND ? { type: 'date', note: DATE64_NOTE } : { type: 'date' };
  if (arrow.DataType.isTime(type)) return { reason: REASONS.time };
  if (arrow.DataType.isDuration(type) || arrow.DataType.isInterval(type)) return { reason: REASONS.duration };
  if (arrow.DataType.isList(type) || arrow.DataType.isLargeList(type) || arrow.DataType.isFixedSizeList(type)) {
    const item = type.children[0]?.type;
    return item === undefined ? { reason: REASONS.listItem } : list(item);
  }
  if (arrow.DataType.isMap(type)) return { reason: REASONS.map };
  if (arrow.DataType.isStruct(type)) return { reason: type.children.length === 0 ? REASONS.emptyStruct : REASONS.struct };
  return { reason: REASONS.other };
}

function integer(type: arrow.Int): Inference {
  if (type.bitWidth <= 16 || (type.bitWidth === 32 && type.isSigned)) return { type: 'int32' };
  if (type.bitWidth === 64 && !type.isSigned) return { type: 'int64', note: UINT64_NOTE };
  return { type: 'int64' };
}

function decimal(type: arrow.Decimal): Inference {
  if (type.precision < 1 || type.precision > DECIMAL_PRECISION_MAX) return { reason: `precision ${type.precision}: ${REASONS.decimalPrecision}` };
  if (type.scale < 0 || type.scale > type.precision) return { reason: `scale ${type.scale}: ${REASONS.decimalScale}` };
  return { type: decimalTypeOf(type.precision, type.scale) };
}

function list(item: arrow.DataType): Inference {
  const element = arrow.DataType.isDictionary(item) ? item.dictionary : item;
  if (arrow.DataType.isInt(element)) {
    return element.bitWidth === 64 && !element.isSigned ? { type: 'id_list', note: UINT64_NOTE } : { type: 'id_list' };
  }
  if (arrow.DataType.isFloat(element)) return element.precision === arrow.Precision.DOUBLE ? { reason: REASONS.doubleList } : { type: 'float_list' };
  if (arrow.DataType.isUtf8(element) || arrow.DataType.isLargeUtf8(element) || arrow.DataType.isUtf8View(element)) return { type: 'string_list' };
  if (arrow.DataType.isStruct(element)) return isIdScore(element) ? { type: 'id_score_list' } : { reason: REASONS.idScoreStruct };
  if (arrow.DataType.isList(element) || arrow.DataType.isLargeList(element) || arrow.DataType.isFixedSizeList(element)) return { reason: REASONS.nestedList };
  return { reason: REASONS.listItem };
}

/**
 * An (id, score) struct as ingest reads one (convert-values.ts): by the names id and score when it
 * has them, else by position; the score must be a float32 (or float16) for the value to survive.
 */
function isIdScore(struct: arrow.Struct): boolean {
  if (struct.children.length !== 2) return false;
  const names = struct.children.map((field) => field.name);
  const idIndex = names.includes(ID_FIELD) && names.includes(SCORE_FIELD) ? names.indexOf(ID_FIELD) : 0;
  const id = (struct.children[idIndex] as arrow.Field).type;
  const score = (struct.children[1 - idIndex] as arrow.Field).type;
  return arrow.DataType.isInt(id) && arrow.DataType.isFloat(score) && score.precision !== arrow.Precision.DOUBLE;
}

function isBinary(type: arrow.DataType): boolean {
  return arrow.DataType.isBinary(type) || arrow.DataType.isLargeBinary(type) || arrow.DataType.isBinaryView(type) || arrow.DataType.isFixedSizeBinary(type);
}
