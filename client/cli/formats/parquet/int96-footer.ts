/**
 * The footer given to the decoder declares INT96 columns FIXED_LEN_BYTE_ARRAY(12), so parquet-wasm
 * hands out each value's 12 raw bytes instead of nanoseconds it computes with wrapping int64
 * arithmetic (int96.ts converts the bytes exactly). The pages need no change: PLAIN INT96 and
 * PLAIN FIXED_LEN_BYTE_ARRAY(12) are the same bytes, and so are their dictionary pages.
 *
 * Changed per INT96 column: SchemaElement.type and type_length, ColumnMetaData.type, and the
 * statistics' min and max dropped (INT96 has no defined order, and compared as bytes they would
 * be wrong), as is the chunk's column index (per-page min and max, the same bytes). Columns under
 * a repeated field (lists, maps) are left as they are: Granary has no column type for a list of
 * timestamps, so those are refused by type anyway.
 */
import { intField, pathKey, retypeFooter } from './retype-chunks.js';
import { type ThriftField, type ThriftList, type ThriftStruct, ThriftType, fieldOf } from './thrift-tree.js';

/** Parquet's physical Type values. */
const TYPE_INT96 = 3;
const TYPE_FIXED_LEN_BYTE_ARRAY = 7;
const INT96_BYTES = 12;
/** FieldRepetitionType.REPEATED */
const REPEATED = 2;

// Field ids of parquet.thrift.
const FILE_SCHEMA = 2;
const ELEMENT_TYPE = 1;
const ELEMENT_TYPE_LENGTH = 2;
const ELEMENT_REPETITION = 3;
const ELEMENT_NAME = 4;
const ELEMENT_CHILDREN = 5;

/** `tree` (a FileMetaData) with its INT96 columns declared FIXED_LEN_BYTE_ARRAY(12), and their paths. */
export function int96AsFixedBytes(tree: ThriftStruct): { tree: ThriftStruct; columns: readonly (readonly string[])[] } {
  const schema = fieldOf(tree, FILE_SCHEMA);
  if (schema === undefined || schema.type !== ThriftType.LIST) return { tree, columns: [] };
  const elements = (schema.value as ThriftList).items;
  const columns: string[][] = [];
  const rewritten = new Set<number>();
  walkSchema(elements, (element, index, path, repeated) => {
    if (repeated || intField(element, ELEMENT_TYPE) !== TYPE_INT96) return;
    columns.push(path);
    rewritten.add(index);
  });
  if (columns.length === 0) return { tree, columns: [] };
  const retyping = { elements: rewritten, element: asFixedElement, keys: new Set(columns.map(pathKey)), from: TYPE_INT96, to: TYPE_FIXED_LEN_BYTE_ARRAY };
  return { tree: retypeFooter(tree, retyping), columns };
}

/**
 * Calls `leaf` for every leaf SchemaElement (depth first, as the list stores them) with its path
 * below the root and whether it or an ancestor is repeated. The walk trusts num_children only
 * as far as the list goes: a footer that lies is the decoder's to refuse.
 */
export function walkSchema(elements: readonly unknown[], leaf: (element: ThriftStruct, index: number, path: string[], repeated: boolean) => void): void {
  let next = 1;
  const visit = (count: number, path: string[], repeated: boolean): void => {
    for (let c = 0; c < count && next < elements.length; c++) {
      const index = next++;
      const element = elements[index] as ThriftStruct;
      const name = fieldOf(element, ELEMENT_NAME)?.value;
      const here = [...path, Buffer.isBuffer(name) ? name.toString('utf8') : ''];
      const isRepeated = repeated || intField(element, ELEMENT_REPETITION) === REPEATED;
      const children = intField(element, ELEMENT_CHILDREN) ?? 0;
      if (children > 0) visit(children, here, isRepeated);
      else leaf(element, index, here, isRepeated);
    }
  };
  const root = elements[0] as ThriftStruct | undefined;
  if (root !== undefined) visit(intField(root, ELEMENT_CHILDREN) ?? 0, [], false);
}

function asFixedElement(element: ThriftStruct): ThriftStruct {
  const fields: ThriftField[] = [];
  for (const field of element.fields) {
    if (field.id === ELEMENT_TYPE_LENGTH) continue;
    if (field.id === ELEMENT_TYPE) {
      fields.push({ ...field, value: TYPE_FIXED_LEN_BYTE_ARRAY });
      fields.push({ id: ELEMENT_TYPE_LENGTH, type: ThriftType.I32, value: INT96_BYTES });
    } else {
      fields.push(field);
    }
  }
  return { kind: 'struct', fields };
}

