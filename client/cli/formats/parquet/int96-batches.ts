/**
 * The reading thread's schema and batches with the INT96 columns (decoded as FixedSizeBinary(12),
 * int96-footer.ts) turned into Timestamp<MICROSECOND, "UTC"> (int96.ts), so everything after the
 * thread (conform's zero-copy same-type path, `table create --like`) sees a `timestamp`. Columns
 * inside structs are converted too; other columns' buffers are passed through as they are.
 */
import * as arrow from 'apache-arrow';
import { arrowTypeOf } from '../../../format/arrow-types.js';
import { type Int96Label, int96ToTimestamp, isInt96Bytes } from './int96.js';
import { pathKey } from './retype-chunks.js';

/** Names the place of value `index` of the column at `path` (file, row group, row and column). */
export type Int96Where = (column: string, index: number) => string;

export class Int96Batches {
  private readonly keys: ReadonlySet<string>;

  constructor(columns: readonly (readonly string[])[]) {
    this.keys = new Set(columns.map(pathKey));
  }

  /** The schema message (Arrow IPC stream, no batch) with the INT96 columns as timestamps. */
  schema(ipc: Uint8Array): Uint8Array {
    const schema = arrow.tableFromIPC(ipc).schema;
    return arrow.tableToIPC(new arrow.Table(this.schemaOf(schema)), 'stream');
  }

  /** A batch message (Arrow IPC stream) with the INT96 columns converted, or a FormatError. */
  batch(ipc: Uint8Array, where: Int96Where): Uint8Array {
    const table = arrow.tableFromIPC(ipc);
    const schema = this.schemaOf(table.schema);
    const batches = table.batches.map((batch) => {
      const children = batch.schema.fields.map((field, c) => this.convert(field, batch.data.children[c] as arrow.Data, [field.name], where));
      return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
    });
    return arrow.tableToIPC(new arrow.Table(schema, batches), 'stream');
  }

  private schemaOf(schema: arrow.Schema): arrow.Schema {
    return new arrow.Schema(
      schema.fields.map((field) => this.fieldOf(field, [field.name])),
      schema.metadata,
    );
  }

  private fieldOf(field: arrow.Field, path: readonly string[]): arrow.Field {
    const type = this.typeOf(field.type, path);
    return type === field.type ? field : new arrow.Field(field.name, type, field.nullable, field.metadata);
  }

  private typeOf(type: arrow.DataType, path: readonly string[]): arrow.DataType {
    if (isInt96Bytes(type) && this.keys.has(pathKey(path))) return arrowTypeOf('timestamp');
    if (arrow.DataType.isStruct(type)) {
      const children = type.children.map((child) => this.fieldOf(child, [...path, child.name]));
      return children.every((child, i) => child === type.children[i]) ? type : new arrow.Struct(children);
    }
    return type;
  }

  private convert(field: arrow.Field, data: arrow.Data, path: readonly string[], where: Int96Where): arrow.Data {
    if (isInt96Bytes(field.type) && this.keys.has(pathKey(path))) {
      const column = path.join('.');
      const label: Int96Label = (index) => where(column, index);
      return int96ToTimestamp(data as arrow.Data<arrow.FixedSizeBinary>, label);
    }
    if (!arrow.DataType.isStruct(field.type)) return data;
    const type = this.typeOf(field.type, path);
    if (type === field.type) return data;
    // A struct's rows are its children's rows (a batch decoded from IPC has offset 0).
    const children = field.type.children.map((child, c) => this.convert(child, data.children[c] as arrow.Data, [...path, child.name], where));
    return arrow.makeData({
      type: type as arrow.Struct,
      offset: data.offset,
      length: data.length,
      nullCount: data.nullCount,
      nullBitmap: data.nullBitmap,
      children,
    });
  }
}
