/**
 * A footer whose fields have the wire types the Parquet format declares today. Some writers put
 * fields of their own at ids the format later gave to other fields (Dremio's parquet-mr fork
 * wrote a list of structs at ColumnMetaData 15, which the format now declares as
 * `bloom_filter_length: i32`). Thrift readers generated from parquet.thrift skip a field whose
 * wire type is not the declared one, so parquet-mr, Arrow C++ and DuckDB read such files; the
 * strict decoder of arrow-rs in parquet-wasm refuses the whole footer ("Expected list element
 * type of I64 but got I16"). So when parquet-wasm refuses a footer and the footer has such
 * fields, the decoder is given the same file with a footer re-encoded without them: the file's
 * bytes up to the footer (a slice of the file-backed Blob, not a copy; no page moves), the new
 * footer, its length and the magic (footer.ts). Fields the format does not declare are kept as
 * they are.
 */
import { type DeclaredType, PARQUET_STRUCTS } from './parquet-thrift-schema.js';
import {
  type ThriftField,
  type ThriftList,
  type ThriftStruct,
  type ThriftValue,
  ThriftType,
  thriftTypeName,
} from './thrift-tree.js';

/** Bytes of the magic at the start of the file: no page starts before them. */
const MAGIC_BYTES = 4;

/** A field the repair removed, and why. */
export interface DroppedField {
  readonly rowGroup: number | undefined;
  /** The column chunk's index in its row group. */
  readonly columnChunk: number | undefined;
  /** `ColumnMetaData field 15`. */
  readonly field: string;
  readonly reason: string;
}

interface Place {
  readonly rowGroup: number | undefined;
  readonly columnChunk: number | undefined;
}

/** FileMetaData.row_groups and RowGroup.columns: the lists whose indices name a place. */
const ROW_GROUPS_FIELD = 4;
const COLUMNS_FIELD = 1;
const DICTIONARY_PAGE_OFFSET_FIELD = 11;

/**
 * `tree` (a FileMetaData) as the other readers see it: without the fields whose wire type
 * differs from the declared one, and without a dictionary page offset inside the file's magic
 * (0, which parquet-mr and DuckDB read as "no dictionary page"), which arrow-rs would otherwise
 * follow to the magic and decode as a page header.
 */
export function repairFooterTree(tree: ThriftStruct): { tree: ThriftStruct; dropped: DroppedField[] } {
  const dropped: DroppedField[] = [];
  const place: Place = { rowGroup: undefined, columnChunk: undefined };
  return { tree: cleanStruct(tree, 'FileMetaData', place, dropped), dropped };
}

function cleanStruct(struct: ThriftStruct, name: string, place: Place, dropped: DroppedField[]): ThriftStruct {
  const declared = PARQUET_STRUCTS[name];
  if (declared === undefined) return struct;
  const fields: ThriftField[] = [];
  for (const field of struct.fields) {
    const type = declared[field.id];
    if (type === undefined) {
      fields.push(field);
      continue;
    }
    const problem = mismatch(field.type, field.value, type);
    if (problem !== undefined) {
      dropped.push({ ...place, field: `${name} field ${field.id}`, reason: `its wire type is ${problem.wire}, the format declares ${problem.declared}` });
      continue;
    }
    fields.push({ ...field, value: cleanValue(field.value, type, name, field.id, place, dropped) });
  }
  if (name === 'ColumnMetaData') return dropFalseDictionaryOffset(fields, place, dropped);
  return { kind: 'struct', fields };
}

function cleanValue(value: ThriftValue, type: DeclaredType, name: string, id: number, place: Place, dropped: DroppedField[]): ThriftValue {
  if (type.type === 'STRUCT' && type.struct !== undefined) return cleanStruct(value as ThriftStruct, type.struct, place, dropped);
  const element = type.element;
  if ((type.type === 'LIST' || type.type === 'SET') && element?.type === 'STRUCT' && element.struct !== undefined) {
    const list = value as ThriftList;
    const placeOf = (i: number): Place =>
      name === 'FileMetaData' && id === ROW_GROUPS_FIELD
        ? { rowGroup: i, columnChunk: undefined }
        : name === 'RowGroup' && id === COLUMNS_FIELD
          ? { ...place, columnChunk: i }
          : place;
    return { ...list, items: list.items.map((item, i) => cleanStruct(item as ThriftStruct, element.struct as string, placeOf(i), dropped)) };
  }
  return value;
}

function dropFalseDictionaryOffset(fields: ThriftField[], place: Place, dropped: DroppedField[]): ThriftStruct {
  const dictionary = fields.find((field) => field.id === DICTIONARY_PAGE_OFFSET_FIELD)?.value;
  if (typeof dictionary !== 'bigint' || dictionary >= BigInt(MAGIC_BYTES)) return { kind: 'struct', fields };
  dropped.push({
    ...place,
    field: `ColumnMetaData field ${DICTIONARY_PAGE_OFFSET_FIELD}`,
    reason: `dictionary_page_offset ${dictionary} points inside the file's magic, so there is no dictionary page`,
  });
  return { kind: 'struct', fields: fields.filter((field) => field.id !== DICTIONARY_PAGE_OFFSET_FIELD) };
}

/** How a field's wire type (or its list's element type) differs from the declared one. */
function mismatch(wire: number, value: ThriftValue, declared: DeclaredType): { wire: string; declared: string } | undefined {
  if (wire !== ThriftType[declared.type]) return { wire: thriftTypeName(wire), declared: declared.type };
  if ((declared.type === 'LIST' || declared.type === 'SET') && declared.element !== undefined) {
    const elementType = (value as ThriftList).elementType;
    // An empty list's element type says nothing (writers put anything there).
    if ((value as ThriftList).items.length > 0 && elementType !== ThriftType[declared.element.type]) {
      return { wire: `list<${thriftTypeName(elementType)}>`, declared: `list<${declared.element.type}>` };
    }
  }
  return undefined;
}
