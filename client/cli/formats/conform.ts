/**
 * Fitting Arrow record batches from users' files (Parquet, Arrow IPC) to a table's columns, and
 * fitting the reader's batches to an output schema.
 *
 * A file column whose Arrow layout already is the table column's (`arrowTypeMatches`) is taken as
 * it is: its buffers are re-tagged with the table's Arrow type (list item names, nullability) and
 * never copied. A column of a different but convertible type (Float64 into `float`, Int32 into
 * `int64`, LargeUtf8 or a dictionary of strings into `string`, List<Int32> into `id_list`, ...)
 * goes through row values and `rowsToRecordBatch`, which checks every value (an Int64 beyond the
 * int32 range stored into an `int32` column is an error, not a wrap-around). Timestamps and dates
 * of another unit are converted buffer to buffer, exactly (temporal-convert.ts).
 */
import * as arrow from 'apache-arrow';
import type { ColumnType } from '../../../protocol/index.js';
import {
  FormatError,
  type NamedColumn,
  arrowSchemaOf,
  arrowTypeMatches,
  arrowTypeOf,
  findNullListElement,
  nullData,
  rowsToRecordBatch,
} from '../../format/index.js';
import { converterOf } from './convert-values.js';
import { type ShapePlan, fileColumnsRead, planShape, shapeBatch, spreadBatch } from './shape/arrow-shape.js';
import type { ShapeOptions, TableColumn } from './shape/options.js';
import { dataConverterOf } from './data-convert.js';
import type { DataConverter } from './temporal-convert.js';

/** How one table column is filled from a file. */
type ColumnSource =
  | { readonly kind: 'same'; readonly index: number }
  | { readonly kind: 'convert'; readonly index: number; readonly value: (raw: unknown) => unknown }
  | { readonly kind: 'data'; readonly index: number; readonly convert: DataConverter }
  | { readonly kind: 'null' };

/** A checked mapping from one file schema to the table's columns, applied to every batch. */
export interface ConformPlan {
  readonly columns: readonly NamedColumn[];
  readonly schema: arrow.Schema;
  readonly sources: readonly ColumnSource[];
  readonly label: string;
  /** How file batches are flattened, renamed and spread before their columns are fitted. */
  readonly shape: ShapePlan;
}

/**
 * Checks a file's schema against the table's columns. Throws a FormatError naming the file
 * (`label`) for a column the table does not have, a column present twice, or a column whose type
 * cannot be converted. A table column absent from the file is read as nulls, unless a feature map
 * of the file fills it (shape/feature-maps.ts). `shape` flattens and renames the file's columns
 * first (shape/arrow-shape.ts).
 */
export function planConform(schemaOfFile: arrow.Schema, columns: readonly TableColumn[], label: string, shapeOptions: ShapeOptions = {}): ConformPlan {
  const shape = planShape(schemaOfFile, columns, shapeOptions, label);
  const fileSchema = shape.schema;
  const byName = new Map<string, number>();
  const duplicates = new Set<string>();
  fileSchema.fields.forEach((field, i) => {
    if (byName.has(field.name)) duplicates.add(field.name);
    byName.set(field.name, i);
  });
  if (duplicates.size > 0) {
    throw new FormatError(`${label}: column ${quoteNames([...duplicates])} appears more than once in the file`);
  }
  const tableNames = new Set(columns.map((column) => column.name));
  const unknown = fileSchema.fields.map((field) => field.name).filter((name) => !tableNames.has(name));
  if (unknown.length > 0) {
    throw new FormatError(
      `${label}: the table has no column ${quoteNames(unknown)} (table columns: ${columns.map((c) => c.name).join(', ')})`,
    );
  }
  const problems: string[] = [];
  const sources = columns.map((column): ColumnSource => {
    const index = byName.get(column.name);
    if (index === undefined) return { kind: 'null' };
    const fileType = (fileSchema.fields[index] as arrow.Field).type;
    const tableType = arrowTypeOf(column.type);
    if (arrow.DataType.isNull(fileType)) return { kind: 'null' };
    // Buffer-to-buffer conversions first (data-convert.ts): a decimal of the column's own type is
    // checked there too, every other matching layout is taken as it is.
    const convert = dataConverterOf(column.type, fileType);
    if (convert !== undefined) return { kind: 'data', index, convert };
    if (arrowTypeMatches(tableType, fileType)) return { kind: 'same', index };
    const value = converterOf(column.type, fileType);
    if (value === undefined) {
      problems.push(`column ${shape.names.describe(column.name)} is ${String(fileType)} in the file, cannot convert it to the table's ${column.type} (${String(tableType)})`);
      return { kind: 'null' };
    }
    return { kind: 'convert', index, value };
  });
  if (problems.length > 0) throw new FormatError(`${label}: ${problems.join('; ')}`);
  return { columns, schema: arrowSchemaOf(columns), sources, label, shape };
}

/** The file's top-level columns a plan reads: check these before using a batch (arrow-validate.ts). */
export function usedColumns(plan: ConformPlan): number[] {
  return fileColumnsRead(
    plan.shape,
    plan.sources.flatMap((source) => (source.kind === 'null' ? [] : [source.index])),
  );
}

/** One file batch as a batch of the table's columns, in the table's order and Arrow types. */
export function conformBatch(plan: ConformPlan, fileBatch: arrow.RecordBatch, firstRow = 0): arrow.RecordBatch {
  const batch = shapeBatch(plan.shape, fileBatch);
  const length = batch.numRows;
  const children: (arrow.Data | undefined)[] = plan.sources.map((source, c) => {
    const column = plan.columns[c] as NamedColumn;
    // A column a feature map fills is left to spreadBatch below: no nulls to build and drop.
    if (source.kind === 'null') return plan.shape.spreadColumns.has(c) ? undefined : nullData(column.type, length);
    if (source.kind === 'same') return sameColumn(columnData(batch, source.index), column, (r) => `${plan.label}: row ${firstRow + r}, column ${column.name}`);
    if (source.kind === 'data') return source.convert(columnData(batch, source.index), (r) => `${plan.label}: row ${firstRow + r}, column ${column.name}`);
    return undefined;
  });
  const converted = plan.sources.flatMap((source, c) => (source.kind === 'convert' ? [{ source, c }] : []));
  if (converted.length > 0) {
    const rows: Record<string, unknown>[] = [];
    for (let r = 0; r < length; r++) rows.push(Object.create(null) as Record<string, unknown>);
    for (const { source, c } of converted) {
      const name = (plan.columns[c] as NamedColumn).name;
      const vector = batch.getChildAt(source.index) as arrow.Vector;
      for (let r = 0; r < length; r++) (rows[r] as Record<string, unknown>)[name] = source.value(vector.get(r));
    }
    const columns = converted.map(({ c }) => plan.columns[c] as NamedColumn);
    const built = buildRecordBatch(columns, rows, (r) => `${plan.label}: row ${firstRow + r}`);
    converted.forEach(({ c }, i) => {
      children[c] = built.data.children[i];
    });
  }
  for (const spread of spreadBatch(plan.shape, fileBatch, firstRow)) children[spread.column] = spread.data;
  return makeBatch(plan.schema, length, children as arrow.Data[]);
}

/**
 * `rowsToRecordBatch`, with a failure reported against the offending row: `where(r)` names it
 * (a file and line number, say) and the message says what is wrong with it.
 */
export function buildRecordBatch(
  columns: readonly NamedColumn[],
  rows: readonly Record<string, unknown>[],
  where: (row: number) => string,
): arrow.RecordBatch {
  try {
    return rowsToRecordBatch(columns, rows);
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    // Find the first bad row by building it alone (only on this failure path).
    for (let r = 0; r < rows.length; r++) {
      try {
        rowsToRecordBatch(columns, [rows[r] as Record<string, unknown>]);
      } catch (rowError) {
        if (!(rowError instanceof FormatError)) throw rowError;
        throw new FormatError(`${where(r)}: ${rowError.message.replace(/^row 0, /, '')}`, { cause: rowError });
      }
    }
    throw new FormatError(`${where(0)} (batch of ${rows.length} rows): ${error.message}`, { cause: error });
  }
}

/**
 * A batch laid out as `schema`: columns picked by name, buffers re-tagged with the schema's
 * types (zero copy). Throws when a column is missing, extra or of another layout.
 */
export function alignToSchema(batch: arrow.RecordBatch, schema: arrow.Schema): arrow.RecordBatch {
  if (batch.schema === schema) return batch;
  const names = batch.schema.fields.map((field) => field.name);
  const extra = names.filter((name) => !schema.fields.some((field) => field.name === name));
  if (extra.length > 0) throw new FormatError(`the batch has column ${quoteNames(extra)}, which the output schema does not`);
  const children = schema.fields.map((field) => {
    const index = names.indexOf(field.name);
    if (index < 0) throw new FormatError(`the batch has no column ${field.name} of the output schema`);
    const actual = (batch.schema.fields[index] as arrow.Field).type;
    if (!arrowTypeMatches(field.type, actual)) {
      throw new FormatError(`column ${field.name} is ${String(actual)} in the batch, the output schema says ${String(field.type)}`);
    }
    return retype(columnData(batch, index), field.type);
  });
  return makeBatch(schema, batch.numRows, children);
}

/** A zero-row batch of `schema`. */
export function emptyBatch(schema: arrow.Schema): arrow.RecordBatch {
  return makeBatch(
    schema,
    0,
    schema.fields.map((field) => emptyData(field.type)),
  );
}

function emptyData(type: arrow.DataType): arrow.Data {
  const children = (type.children ?? []).map((child) => emptyData(child.type));
  if (arrow.DataType.isList(type)) {
    return arrow.makeData({ type, length: 0, nullCount: 0, valueOffsets: new Int32Array(1), child: children[0] as arrow.Data });
  }
  if (arrow.DataType.isStruct(type)) return arrow.makeData({ type, length: 0, nullCount: 0, children });
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isBinary(type)) {
    return arrow.makeData({ type: type as arrow.Utf8, length: 0, nullCount: 0, valueOffsets: new Int32Array(1), data: new Uint8Array(0) });
  }
  return arrow.makeData({ type: type as arrow.Int, length: 0, nullCount: 0 });
}

function makeBatch(schema: arrow.Schema, length: number, children: arrow.Data[]): arrow.RecordBatch {
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length, nullCount: 0, children });
  return new arrow.RecordBatch(schema, struct);
}

/** The single `Data` of column `index` of a record batch. */
function columnData(batch: arrow.RecordBatch, index: number): arrow.Data {
  const data = batch.data.children[index];
  if (data === undefined) throw new FormatError(`the batch has no data for column ${index}`);
  return data;
}

/**
 * A file column taken as it is, under the table's type. A list holding a null element is refused
 * here, where the file's row is known (the writer would name only its batch's row).
 */
function sameColumn(data: arrow.Data, column: NamedColumn, where: (row: number) => string): arrow.Data {
  const type = arrowTypeOf(column.type);
  if (arrow.DataType.isList(type)) {
    const found = findNullListElement(data);
    if (found !== undefined) {
      throw new FormatError(`${where(found.row)}: ${found.what} ${found.element} of the list is null; Granary lists hold no null elements`);
    }
  }
  return retype(data, type);
}

/** The same buffers under `type` (same layout, possibly other field names or nullability). */
function retype(data: arrow.Data, type: arrow.DataType): arrow.Data {
  if (data.type === type) return data;
  const childTypes = type.children ?? [];
  const children = data.children.map((child, i) => {
    const childField = childTypes[i];
    return childField === undefined ? child : retype(child, childField.type);
  });
  return data.clone(type, undefined, undefined, undefined, undefined, children);
}

function quoteNames(names: readonly string[]): string {
  return names.map((name) => JSON.stringify(name)).join(', ');
}
