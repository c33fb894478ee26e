/**
 * Struct columns of a file spread into `parent_child` columns (`--flatten`), recursively
 * (`a_b_c`), for files from Spark and Hive where nested records are common and Granary has no
 * struct type. A child's values are its own buffers; only its validity changes, because a null
 * struct makes every child of that row null: the struct's nulls are merged into the child's
 * validity (a new bitmap), and a child of a struct without nulls is taken as it is (zero copy).
 *
 * Without `--flatten` a struct column is refused, naming it and the flag; a list of lists is
 * refused either way (no Granary type holds one).
 */
import * as arrow from 'apache-arrow';
import { FormatError } from '../../../format/index.js';

/** The separator between a struct's name and its child's in flattened names. */
export const FLATTEN_SEPARATOR = '_';

/** One column of a file after flattening: a top-level column, or a struct's descendant. */
export interface Leaf {
  /** The file's names joined by `_` (`parent_child`), before any renaming. */
  readonly name: string;
  /** The file's names joined by `.`, for messages (`parent.child`). */
  readonly path: string;
  readonly type: arrow.DataType;
  /** Index of the top-level file column it comes from. */
  readonly fileIndex: number;
  /** Child indices from the top-level column down to this one (empty for a top-level column). */
  readonly childPath: readonly number[];
}

/**
 * The columns of `schema` as ingest sees them: structs spread into their leaves when `flatten`,
 * else refused. `label` names the file in errors.
 */
export function leavesOf(schema: arrow.Schema, flatten: boolean, label: string): Leaf[] {
  const leaves: Leaf[] = [];
  const visit = (field: arrow.Field, name: string, path: string, fileIndex: number, childPath: readonly number[]): void => {
    const type = field.type;
    if (arrow.DataType.isStruct(type)) {
      if (!flatten) {
        const children = type.children.map((child) => `${name}${FLATTEN_SEPARATOR}${child.name}`);
        throw new FormatError(
          `${label}: column ${JSON.stringify(path)} is a struct (${String(type)}); Granary has no struct type: --flatten spreads it into columns ${children.slice(0, 4).join(', ')}${children.length > 4 ? ', ...' : ''}`,
        );
      }
      type.children.forEach((child, i) => visit(child, `${name}${FLATTEN_SEPARATOR}${child.name}`, `${path}.${child.name}`, fileIndex, [...childPath, i]));
      return;
    }
    if (isListLike(type) && isListLike(listItemType(type))) {
      throw new FormatError(`${label}: column ${JSON.stringify(path)} is a list of lists (${String(type)}), which no Granary column type holds`);
    }
    leaves.push({ name, path, type, fileIndex, childPath });
  };
  schema.fields.forEach((field, i) => visit(field, field.name, field.name, i, []));
  return leaves;
}

/**
 * The data of `leaf` in a batch's top-level column `top`: the child's own buffers, with the nulls
 * of every struct above it merged into its validity.
 */
export function leafData(top: arrow.Data, leaf: Leaf): arrow.Data {
  let data = top;
  for (const index of leaf.childPath) {
    const child = data.children[index];
    if (child === undefined) throw new FormatError(`struct column ${leaf.path}: the batch has no data for child ${index}`);
    data = withParentNulls(fitLength(child, data.length), data);
  }
  return data;
}

/** A struct child as long as its struct (a child may be longer; its first rows are the struct's). */
function fitLength(child: arrow.Data, length: number): arrow.Data {
  return child.length === length ? child : child.slice(0, length);
}

/** `child` null wherever `parent` is: zero copy when the parent has no nulls, else a new bitmap. */
export function withParentNulls(child: arrow.Data, parent: arrow.Data): arrow.Data {
  if (parent.nullCount === 0) return child;
  const length = child.length;
  const parentBits = parent.nullBitmap as Uint8Array;
  const childBits = child.nullCount === 0 ? null : (child.nullBitmap as Uint8Array);
  // Indexed from the child's offset, as its values are.
  const bits = new Uint8Array(Math.ceil((child.offset + length) / 8));
  let nulls = 0;
  if (child.offset === 0 && parent.offset === 0) {
    const bytes = length >> 3;
    for (let i = 0; i < bytes; i++) {
      const byte = (parentBits[i] as number) & (childBits === null ? 0xff : (childBits[i] as number));
      bits[i] = byte;
      nulls += 8 - (BYTE_BITS[byte] as number);
    }
    for (let i = bytes << 3; i < length; i++) nulls += copyBit(bits, i, bitAt(parentBits, i) && (childBits === null || bitAt(childBits, i)));
  } else {
    for (let i = 0; i < length; i++) {
      const valid = bitAt(parentBits, parent.offset + i) && (childBits === null || bitAt(childBits, child.offset + i));
      nulls += copyBit(bits, child.offset + i, valid);
    }
  }
  return child.clone(child.type, child.offset, length, nulls, [child.valueOffsets, child.values, bits, child.typeIds] as never);
}

function bitAt(bits: Uint8Array, index: number): boolean {
  return ((bits[index >> 3] as number) & (1 << (index & 7))) !== 0;
}

/** Sets bit `index` when `valid`; 1 when it stays clear (a null), else 0. */
function copyBit(bits: Uint8Array, index: number, valid: boolean): number {
  if (!valid) return 1;
  bits[index >> 3] = (bits[index >> 3] as number) | (1 << (index & 7));
  return 0;
}

const BYTE_BITS = Uint8Array.from({ length: 256 }, (_, byte) => {
  let n = 0;
  for (let b = byte; b !== 0; b >>= 1) n += b & 1;
  return n;
});

function isListLike(type: arrow.DataType | undefined): boolean {
  return type !== undefined && (arrow.DataType.isList(type) || arrow.DataType.isLargeList(type) || arrow.DataType.isFixedSizeList(type));
}

function listItemType(type: arrow.DataType): arrow.DataType | undefined {
  return type.children?.[0]?.type;
}
