/**
 * The reading thread's schema and batches with the INT32 delta columns (decoded as Int64 from the
 * decoder's footer, int32-delta-footer.ts) narrowed back to Int32, UInt32 or Date32: each value's
 * low 32 bits, which are the 32-bit decode of the page whichever arithmetic its writer used (see
 * int32-delta-footer.ts), so no value is refused. Columns anywhere in the schema (inside structs,
 * lists and maps) are found by leaf position; other columns' buffers pass through as they are.
 */
import * as arrow from 'apache-arrow';
import type { Int32DeltaColumn } from './int32-delta-footer.js';

export class Int32DeltaBatches {
  private readonly targets: ReadonlyMap<number, Int32DeltaColumn>;

  constructor(
    columns: readonly Int32DeltaColumn[],
    private readonly path: string,
  ) {
    this.targets = new Map(columns.map((column) => [column.leaf, column]));
  }

  /** The schema message (Arrow IPC stream, no batch) with the columns at their 32-bit types. */
  schema(ipc: Uint8Array): Uint8Array {
    const schema = arrow.tableFromIPC(ipc).schema;
    return arrow.tableToIPC(new arrow.Table(this.schemaOf(schema)), 'stream');
  }

  /** A batch message (Arrow IPC stream) with the columns narrowed. */
  batch(ipc: Uint8Array): Uint8Array {
    const table = arrow.tableFromIPC(ipc);
    const schema = this.schemaOf(table.schema);
    const batches = table.batches.map((batch) => {
      const leaf = { next: 0 };
      const children = batch.schema.fields.map((field, c) => this.convert(field.type, batch.data.children[c] as arrow.Data, leaf));
      return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
    });
    return arrow.tableToIPC(new arrow.Table(schema, batches), 'stream');
  }

  private schemaOf(schema: arrow.Schema): arrow.Schema {
    const leaf = { next: 0 };
    return new arrow.Schema(
      schema.fields.map((field) => this.fieldOf(field, leaf)),
      schema.metadata,
    );
  }

  private fieldOf(field: arrow.Field, leaf: { next: number }): arrow.Field {
    const type = this.typeOf(field.type, leaf);
    return type === field.type ? field : new arrow.Field(field.name, type, field.nullable, field.metadata);
  }

  /** `type` with the rewritten leaves at their 32-bit types; `leaf` counts leaves visited. */
  private typeOf(type: arrow.DataType, leaf: { next: number }): arrow.DataType {
    if (arrow.DataType.isStruct(type)) {
      const children = type.children.map((child) => this.fieldOf(child, leaf));
      return children.every((child, i) => child === type.children[i]) ? type : new arrow.Struct(children);
    }
    if (arrow.DataType.isList(type) || arrow.DataType.isFixedSizeList(type) || arrow.DataType.isMap(type) || type instanceof arrow.LargeList) {
      const child = type.children[0] as arrow.Field;
      const narrowed = this.fieldOf(child, leaf);
      if (narrowed === child) return type;
      if (arrow.DataType.isList(type)) return new arrow.List(narrowed);
      if (arrow.DataType.isFixedSizeList(type)) return new arrow.FixedSizeList(type.listSize, narrowed);
      if (arrow.DataType.isMap(type)) return new arrow.Map_(narrowed as arrow.Field<arrow.Struct>, type.keysSorted);
      return new arrow.LargeList(narrowed);
    }
    const column = this.targets.get(leaf.next++);
    if (column === undefined) return type;
    if (!arrow.DataType.isInt(type) || type.bitWidth !== 64 || !type.isSigned) {
      throw new Error(`${this.path}: column ${column.path.join('.')}: the decoder gave ${String(type)} for a column its footer declares INT64`);
    }
    return targetType(column.target);
  }

  private convert(type: arrow.DataType, data: arrow.Data, leaf: { next: number }): arrow.Data {
    const start = leaf.next;
    const narrowedType = this.typeOf(type, { next: start });
    if (narrowedType === type) {
      leaf.next = start + leaves(type);
      return data;
    }
    if (childrenOf(type).length === 0) {
      leaf.next++;
      return narrow(data as arrow.Data<arrow.Int64>, narrowedType);
    }
    const children = type.children.map((child, c) => this.convert(child.type, data.children[c] as arrow.Data, leaf));
    return arrow.makeData({
      type: narrowedType,
      offset: data.offset,
      length: data.length,
      nullCount: data.nullCount,
      nullBitmap: data.nullBitmap,
      // Lists and maps take their one child as `child`, structs theirs as `children`.
      ...(arrow.DataType.isStruct(type) ? { children } : { child: children[0], valueOffsets: (data as arrow.Data<arrow.List>).valueOffsets }),
    } as unknown as Parameters<typeof arrow.makeData>[0]);
  }
}

function targetType(target: Int32DeltaColumn['target']): arrow.DataType {
  if (target === 'uint32') return new arrow.Uint32();
  if (target === 'date32') return new arrow.DateDay();
  return new arrow.Int32();
}

function leaves(type: arrow.DataType): number {
  const children = childrenOf(type);
  return children.length === 0 ? 1 : children.reduce((sum, child) => sum + leaves(child.type), 0);
}

/** A type's child fields; Arrow JS gives null, not [], for types without any. */
function childrenOf(type: arrow.DataType): readonly arrow.Field[] {
  return (type.children as arrow.Field[] | null) ?? [];
}

/** Each Int64's low 32 bits (the even 32-bit words, Arrow buffers being little-endian). */
function narrow(data: arrow.Data<arrow.Int64>, type: arrow.DataType): arrow.Data {
  const values = data.values;
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
  const out = new Int32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = words[2 * i] as number;
  const bytes = type instanceof arrow.Uint32 ? new Uint32Array(out.buffer) : out;
  return arrow.makeData({
    type,
    offset: data.offset,
    length: data.length,
    nullCount: data.nullCount,
    nullBitmap: data.nullBitmap,
    data: bytes,
  } as unknown as Parameters<typeof arrow.makeData>[0]);
}
