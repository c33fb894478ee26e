/**
 * INT32 columns whose pages are all DELTA_BINARY_PACKED are declared INT64 in the decoder's
 * footer, and narrowed back to 32 bits after decoding (int32-delta-batches.ts).
 *
 * Why: DuckDB (PARQUET_VERSION V2) computes an INT32 column's deltas in 64-bit arithmetic, so two
 * neighbours -2^31 and 2^31-1 give a delta of 2^32-1 and miniblocks 33 bits wide. arrow-rs's i32
 * delta decoder panics on a width above 32 (a wasm trap in parquet-wasm); its i64 decoder reads the
 * same bytes. The spec (Encodings.md) now says INT32 data "must not use more than 32 bits", so
 * such files break it, but DuckDB writes them and reads them back, and a user has them. The spec
 * lets a writer do the arithmetic in 32 bits: "overflow should be allowed and handled as wrapping
 * around in 2's complement notation". The low 32 bits of the 64-bit decode are
 * exactly the 32-bit decode, whichever the writer did: every step of the decode (first value plus
 * min delta plus packed value, repeated) is an addition, and addition modulo 2^64 reduces to
 * addition modulo 2^32. A 64-bit writer's values are int32 values, so the 64-bit decode gives them
 * unchanged; a 32-bit writer's may come out of the int32 range, and wrap back to the value written.
 * So every such column is rewritten, not only those with wide miniblocks (finding those would mean
 * decompressing the pages here), and the narrowing wraps rather than refuses.
 *
 * Only when every page of the column, in every row group, is a data page (v1 or v2) encoded
 * DELTA_BINARY_PACKED: a dictionary page or a PLAIN page holds 4-byte values the INT64 decoder
 * would misread, so such a column is left as stored. Files with an embedded Arrow schema
 * (`ARROW:schema`, written by Arrow writers, whose INT32 deltas are 32-bit) are left as stored too:
 * the hint it holds could turn the decoder's INT64 into another Arrow type.
 *
 * Changed per column in the decoder's footer: SchemaElement.type (INT64), its converted and logical
 * types removed (so the decoder gives plain Int64), ColumnMetaData.type, the statistics' min and max
 * and the chunk's column index dropped (4-byte values the decoder would read as 8).
 */
import { type RowGroupInfo, intValue, readAt } from './footer.js';
import { walkSchema } from './int96-footer.js';
import { intField, pathKey, retypeFooter } from './retype-chunks.js';
import { readPageHeader } from './page-checksums.js';
import { type ThriftList, type ThriftStruct, ThriftType, fieldOf } from './thrift-tree.js';

/** A rewritten column: its leaf position, its path and the 32-bit type it is narrowed to. */
export interface Int32DeltaColumn {
  /** Position among the schema's leaves: the decoder's Arrow leaves come in the same order. */
  readonly leaf: number;
  readonly path: readonly string[];
  readonly target: 'int32' | 'uint32' | 'date32';
}

const TYPE_INT32 = 1;
const TYPE_INT64 = 2;
/** Encoding values of parquet.thrift. */
const RLE = 3;
const BIT_PACKED = 4;
const DELTA_BINARY_PACKED = 5;
/** ConvertedType values. */
const CONVERTED_DATE = 6;
const CONVERTED_UINT_32 = 13;
const CONVERTED_INT_32 = 17;
/** PageType values. */
const DATA_PAGE = 0;
const DATA_PAGE_V2 = 3;

// Field ids of parquet.thrift.
const FILE_SCHEMA = 2;
const FILE_ROW_GROUPS = 4;
const FILE_KEY_VALUE_METADATA = 5;
const ROW_GROUP_COLUMNS = 1;
const CHUNK_META_DATA = 3;
const ELEMENT_TYPE = 1;
const ELEMENT_CONVERTED_TYPE = 6;
const ELEMENT_LOGICAL_TYPE = 10;
const LOGICAL_DATE = 6;
const LOGICAL_INTEGER = 10;
const META_TYPE = 1;
const META_ENCODINGS = 2;
const PAGE_TYPE = 1;
const PAGE_COMPRESSED_SIZE = 3;
const PAGE_DATA_HEADER = 5;
const PAGE_DATA_HEADER_V2 = 8;
const DATA_HEADER_ENCODING = 2;
const DATA_HEADER_V2_ENCODING = 4;

/** Bytes read for a page header at first: headers of delta pages are tens of bytes. */
const HEADER_READ_BYTES = 1024;

/**
 * `tree` (the decoder's FileMetaData, whose chunks are `rowGroups`) with its all-delta INT32
 * columns declared INT64, and those columns. Reads the page headers of candidate columns from `fd`.
 */
export function int32DeltaAsInt64(
  tree: ThriftStruct,
  rowGroups: readonly RowGroupInfo[],
  fd: number,
  path: string,
): { tree: ThriftStruct; columns: readonly Int32DeltaColumn[] } {
  const schema = fieldOf(tree, FILE_SCHEMA);
  if (schema === undefined || schema.type !== ThriftType.LIST || hasArrowSchema(tree)) return { tree, columns: [] };
  const elements = (schema.value as ThriftList).items;
  const candidates = new Map<string, { leaf: number; index: number; path: string[]; target: Int32DeltaColumn['target'] }>();
  let leaf = 0;
  walkSchema(elements, (element, index, leafPath) => {
    const target = int32Target(element);
    if (target !== undefined) candidates.set(leafPath.join('.'), { leaf, index, path: leafPath, target });
    leaf++;
  });
  if (candidates.size === 0) return { tree, columns: [] };
  // A chunk's metadata is read in the same order as its row group's chunks.
  const chunkMetas = chunkMetadata(tree);
  for (const [g, group] of rowGroups.entries()) {
    for (const [c, chunk] of group.columns.entries()) {
      if (!candidates.has(chunk.path)) continue;
      const meta = chunkMetas[g]?.[c];
      const allDelta =
        meta !== undefined &&
        intField(meta, META_TYPE) === TYPE_INT32 &&
        onlyDeltaEncodings(meta) &&
        chunk.externalFile === undefined &&
        pagesAllDelta(fd, chunk.firstPageOffset, chunk.totalCompressedBytes, `${path}: row group ${g}, column ${chunk.path}`);
      if (!allDelta) candidates.delete(chunk.path);
    }
  }
  if (candidates.size === 0) return { tree, columns: [] };
  const retyping = {
    elements: new Set([...candidates.values()].map((candidate) => candidate.index)),
    element: asInt64Element,
    keys: new Set([...candidates.values()].map((candidate) => pathKey(candidate.path))),
    from: TYPE_INT32,
    to: TYPE_INT64,
  };
  const columns = [...candidates.values()].map(({ leaf: at, path: leafPath, target }) => ({ leaf: at, path: leafPath, target }));
  return { tree: retypeFooter(tree, retyping), columns: columns.sort((a, b) => a.leaf - b.leaf) };
}

/** The 32-bit type of an INT32 leaf this rewrite handles; undefined for others (decimals, times, 8/16-bit). */
function int32Target(element: ThriftStruct): Int32DeltaColumn['target'] | undefined {
  if (intField(element, ELEMENT_TYPE) !== TYPE_INT32) return undefined;
  const converted = intField(element, ELEMENT_CONVERTED_TYPE);
  const logical = fieldOf(element, ELEMENT_LOGICAL_TYPE);
  if (logical !== undefined) {
    if (logical.type !== ThriftType.STRUCT) return undefined;
    const union = (logical.value as ThriftStruct).fields[0];
    if (union?.id === LOGICAL_DATE) return converted === undefined || converted === CONVERTED_DATE ? 'date32' : undefined;
    if (union?.id !== LOGICAL_INTEGER || union.type !== ThriftType.STRUCT) return undefined;
    const int = union.value as ThriftStruct;
    if (intField(int, 1) !== 32) return undefined;
    const signed = fieldOf(int, 2)?.value;
    if (typeof signed !== 'boolean') return undefined;
    const target = signed ? 'int32' : 'uint32';
    return converted === undefined || converted === (signed ? CONVERTED_INT_32 : CONVERTED_UINT_32) ? target : undefined;
  }
  if (converted === undefined || converted === CONVERTED_INT_32) return 'int32';
  if (converted === CONVERTED_UINT_32) return 'uint32';
  if (converted === CONVERTED_DATE) return 'date32';
  return undefined;
}

function hasArrowSchema(tree: ThriftStruct): boolean {
  const metadata = fieldOf(tree, FILE_KEY_VALUE_METADATA);
  if (metadata === undefined || metadata.type !== ThriftType.LIST) return false;
  return (metadata.value as ThriftList).items.some((item) => {
    const key = fieldOf(item as ThriftStruct, 1)?.value;
    return Buffer.isBuffer(key) && key.toString('utf8') === 'ARROW:schema';
  });
}

/** ColumnMetaData of every chunk, by row group then chunk (undefined where missing). */
function chunkMetadata(tree: ThriftStruct): (ThriftStruct | undefined)[][] {
  const groups = fieldOf(tree, FILE_ROW_GROUPS);
  if (groups === undefined || groups.type !== ThriftType.LIST) return [];
  return (groups.value as ThriftList).items.map((group) => {
    const chunks = fieldOf(group as ThriftStruct, ROW_GROUP_COLUMNS);
    if (chunks === undefined || chunks.type !== ThriftType.LIST) return [];
    return (chunks.value as ThriftList).items.map((chunk) => {
      const meta = fieldOf(chunk as ThriftStruct, CHUNK_META_DATA);
      return meta !== undefined && meta.type === ThriftType.STRUCT ? (meta.value as ThriftStruct) : undefined;
    });
  });
}

/** The chunk's claimed encodings are levels' and DELTA_BINARY_PACKED only: a cheap first test. */
function onlyDeltaEncodings(meta: ThriftStruct): boolean {
  const encodings = fieldOf(meta, META_ENCODINGS);
  if (encodings === undefined || encodings.type !== ThriftType.LIST) return false;
  const items = (encodings.value as ThriftList).items;
  return items.includes(DELTA_BINARY_PACKED) && items.every((item) => item === DELTA_BINARY_PACKED || item === RLE || item === BIT_PACKED);
}

/** Every page of the chunk is a data page encoded DELTA_BINARY_PACKED, by its page header. */
function pagesAllDelta(fd: number, start: number, bytes: number, where: string): boolean {
  const end = start + bytes;
  let position = start;
  while (position < end) {
    const { header, headerBytes } = readPageHeader(fd, position, end - position, where, HEADER_READ_BYTES);
    const type = intField(header, PAGE_TYPE);
    const size = fieldOf(header, PAGE_COMPRESSED_SIZE);
    if (size === undefined) return false;
    let encoding: number | undefined;
    if (type === DATA_PAGE) encoding = subInt(header, PAGE_DATA_HEADER, DATA_HEADER_ENCODING);
    else if (type === DATA_PAGE_V2) encoding = subInt(header, PAGE_DATA_HEADER_V2, DATA_HEADER_V2_ENCODING);
    if (encoding !== DELTA_BINARY_PACKED) return false;
    position += headerBytes + intValue(size, 'PageHeader.compressed_page_size', where);
  }
  return position === end;
}

function subInt(struct: ThriftStruct, id: number, subId: number): number | undefined {
  const field = fieldOf(struct, id);
  return field !== undefined && field.type === ThriftType.STRUCT ? intField(field.value as ThriftStruct, subId) : undefined;
}

function asInt64Element(element: ThriftStruct): ThriftStruct {
  const fields = element.fields
    .filter((field) => field.id !== ELEMENT_CONVERTED_TYPE && field.id !== ELEMENT_LOGICAL_TYPE)
    .map((field) => (field.id === ELEMENT_TYPE ? { ...field, value: TYPE_INT64 } : field));
  return { kind: 'struct', fields };
}

