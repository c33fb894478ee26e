/**
 * Column chunks re-declared with another physical type in the footer the decoder is given
 * (INT96 as FIXED_LEN_BYTE_ARRAY(12), int96-footer.ts; delta-encoded INT32 as INT64,
 * int32-delta-footer.ts). The page bytes stay as stored; the chunk's min/max statistics and its
 * column index go, since they are encoded in the old type and would be misread in the new one.
 */
import { type ThriftField, type ThriftList, type ThriftStruct, type ThriftValue, ThriftType, fieldOf } from './thrift-tree.js';

// FileMetaData, RowGroup, ColumnChunk and ColumnMetaData field ids (parquet.thrift).
const FILE_SCHEMA = 2;
const FILE_ROW_GROUPS = 4;
const ROW_GROUP_COLUMNS = 1;
const CHUNK_META_DATA = 3;
const CHUNK_COLUMN_INDEX_OFFSET = 6;
const CHUNK_COLUMN_INDEX_LENGTH = 7;
const META_TYPE = 1;
const META_PATH = 3;
const META_STATISTICS = 12;
/** Statistics: max, min (deprecated), max_value, min_value, is_max_value_exact, is_min_value_exact. */
const STATISTICS_BOUNDS = new Set([1, 2, 5, 6, 7, 8]);

/** What one rewrite re-declares: schema elements (by index in FileMetaData.schema) and their chunks. */
export interface Retyping {
  readonly elements: ReadonlySet<number>;
  /** The element as the decoder is to see it. */
  readonly element: (element: ThriftStruct) => ThriftStruct;
  /** The columns' paths (pathKey), whose chunks of type `from` are declared `to`. */
  readonly keys: ReadonlySet<string>;
  readonly from: number;
  readonly to: number;
}

/** The footer `tree` (FileMetaData) with `retyping`'s schema elements and column chunks re-declared. */
export function retypeFooter(tree: ThriftStruct, retyping: Retyping): ThriftStruct {
  const fields = tree.fields.map((field): ThriftField => {
    if (field.type !== ThriftType.LIST) return field;
    const list = field.value as ThriftList;
    if (field.id === FILE_SCHEMA) {
      return { ...field, value: { ...list, items: list.items.map((element, i) => (retyping.elements.has(i) ? retyping.element(element as ThriftStruct) : element)) } };
    }
    if (field.id === FILE_ROW_GROUPS) {
      return { ...field, value: { ...list, items: list.items.map((group) => retypeRowGroup(group, retyping.keys, retyping.from, retyping.to)) } };
    }
    return field;
  });
  return { kind: 'struct', fields };
}

/** `group` (a RowGroup) with the chunks of the columns at `keys` (pathKey) of type `from` declared `to`. */
function retypeRowGroup(group: ThriftValue, keys: ReadonlySet<string>, from: number, to: number): ThriftValue {
  const struct = group as ThriftStruct;
  if (typeof group !== 'object' || struct.kind !== 'struct') return group;
  return {
    kind: 'struct',
    fields: struct.fields.map((field) => {
      if (field.id !== ROW_GROUP_COLUMNS || field.type !== ThriftType.LIST) return field;
      const chunks = field.value as ThriftList;
      return { ...field, value: { ...chunks, items: chunks.items.map((chunk) => retypeChunk(chunk as ThriftStruct, keys, from, to)) } };
    }),
  };
}

function retypeChunk(chunk: ThriftStruct, keys: ReadonlySet<string>, from: number, to: number): ThriftStruct {
  const meta = fieldOf(chunk, CHUNK_META_DATA);
  if (chunk.kind !== 'struct' || meta === undefined || meta.type !== ThriftType.STRUCT) return chunk;
  const metadata = meta.value as ThriftStruct;
  if (intField(metadata, META_TYPE) !== from) return chunk;
  const path = fieldOf(metadata, META_PATH)?.value;
  if (path === undefined || (path as ThriftList).kind !== 'list') return chunk;
  const names = (path as ThriftList).items.map((name) => (Buffer.isBuffer(name) ? name.toString('utf8') : ''));
  if (!keys.has(pathKey(names))) return chunk;
  const metaFields = metadata.fields.map((field): ThriftField => {
    if (field.id === META_TYPE) return { ...field, value: to };
    if (field.id === META_STATISTICS && field.type === ThriftType.STRUCT) {
      const statistics = field.value as ThriftStruct;
      return { ...field, value: { kind: 'struct', fields: statistics.fields.filter((stat) => !STATISTICS_BOUNDS.has(stat.id)) } };
    }
    return field;
  });
  return {
    kind: 'struct',
    fields: chunk.fields
      .filter((field) => field.id !== CHUNK_COLUMN_INDEX_OFFSET && field.id !== CHUNK_COLUMN_INDEX_LENGTH)
      .map((field) => (field === meta ? { ...field, value: { kind: 'struct', fields: metaFields } } : field)),
  };
}

/** An integer field of a struct, or undefined when it is absent or not an integer. */
export function intField(struct: ThriftStruct, id: number): number | undefined {
  const value = fieldOf(struct, id)?.value;
  return typeof value === 'number' ? value : undefined;
}

/** A path as one string; NUL is not in column names Granary reads, so paths do not collide. */
export function pathKey(path: readonly string[]): string {
  return path.join('\u0000');
}
