/**
 * Values of the Parquet conformance corpus in one canonical text form per Granary column type, so
 * that what DuckDB reads from the original file, what `granary read --format arrow` hands back and
 * what DuckDB reads from `granary read --format parquet` compare cell by cell. Floating-point
 * values are their bits (hex), read from the raw buffers, never through a JS number (which may
 * lose a NaN's payload and sign): Arrow's Float32Array / Float64Array, and DuckDB's vector memory
 * (node-api's float vectors are typed-array views of it).
 *
 *   int32, int64        decimal integer text          float, double   bits as hex
 *   bool                "true" / "false"              string          the string
 *   bytes               hex                           timestamp       microseconds since the epoch
 *   date                days since the epoch          decimal(p,s)    unscaled integer "/" scale
 *   id_list, float_list, string_list, id_score_list   JSON array of the element forms ([id, score])
 *
 * A null cell is null; a null list element is null inside the array.
 */
import {
  DuckDBBlobValue,
  type DuckDBConnection,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBDoubleVector,
  DuckDBFloatVector,
  DuckDBListVector,
  DuckDBStructVector,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBVector,
} from '@duckdb/node-api';
import * as arrow from 'apache-arrow';

/** One column's cells in canonical form. */
export type CanonicalColumn = (string | null)[];

/** The kinds of column the forms above are defined for (a decimal(p,s) is 'decimal'). */
export type CanonicalKind =
  | 'float'
  | 'double'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'timestamp'
  | 'date'
  | 'decimal'
  | 'id_list'
  | 'float_list'
  | 'string_list'
  | 'id_score_list';

export function canonicalKindOf(type: string): CanonicalKind {
  return type.startsWith('decimal(') ? 'decimal' : (type as CanonicalKind);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function bitsOf(values: Float32Array | Float64Array, index: number): string {
  return hex(new Uint8Array(values.buffer, values.byteOffset + index * values.BYTES_PER_ELEMENT, values.BYTES_PER_ELEMENT).slice().reverse());
}

// ---------------------------------------------------------------- DuckDB

/** What DuckDB gives for one element of a list or a scalar cell, as the canonical form of `kind`. */
function duckScalar(value: unknown, kind: CanonicalKind, where: string): string | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'int32':
    case 'int64':
    case 'id_list':
      if (typeof value === 'bigint' || typeof value === 'number') return BigInt(value).toString();
      break;
    case 'bool':
      if (typeof value === 'boolean') return String(value);
      break;
    case 'string':
    case 'string_list':
      if (typeof value === 'string') return value;
      break;
    case 'bytes':
      if (value instanceof DuckDBBlobValue) return hex(value.bytes);
      break;
    case 'timestamp':
      if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue) return value.micros.toString();
      if (value instanceof DuckDBTimestampNanosecondsValue) return value.nanos % 1000n === 0n ? (value.nanos / 1000n).toString() : `${value.nanos}ns`;
      if (value instanceof DuckDBTimestampMillisecondsValue) return (value.millis * 1000n).toString();
      if (value instanceof DuckDBTimestampSecondsValue) return (value.seconds * 1_000_000n).toString();
      break;
    case 'date':
      if (value instanceof DuckDBDateValue) return String(value.days);
      break;
    case 'decimal':
      if (value instanceof DuckDBDecimalValue) return `${value.value}/${value.scale}`;
      break;
    default:
      break;
  }
  throw new Error(`${where}: DuckDB gave ${describe(value)} for a ${kind} column`);
}

function describe(value: unknown): string {
  return typeof value === 'object' && value !== null ? (value.constructor?.name ?? 'object') : typeof value;
}

function duckFloatBits(vector: DuckDBVector, index: number, where: string): string | null {
  if (!(vector instanceof DuckDBFloatVector) && !(vector instanceof DuckDBDoubleVector)) {
    throw new Error(`${where}: DuckDB gave a ${vector.type.toString()} vector for a floating-point column`);
  }
  // `items` is private in node-api's types but is the typed-array view of the vector's memory:
  // the only way to the bits without a JS number in between.
  return vector.getItem(index) === null ? null : bitsOf((vector as unknown as { readonly items: Float32Array | Float64Array }).items, index);
}

function duckCell(vector: DuckDBVector, index: number, kind: CanonicalKind, where: string): string | null {
  if (kind === 'float' || kind === 'double') return duckFloatBits(vector, index, where);
  if (kind === 'id_list' || kind === 'float_list' || kind === 'string_list' || kind === 'id_score_list') {
    if (!(vector instanceof DuckDBListVector)) throw new Error(`${where}: DuckDB gave a ${vector.type.toString()} vector for a ${kind} column`);
    const items = vector.getItemVector(index);
    if (items === null) return null;
    const out: unknown[] = [];
    for (let j = 0; j < items.itemCount; j++) {
      if (kind === 'float_list') out.push(duckFloatBits(items, j, where));
      else if (kind === 'id_score_list') out.push(duckPair(items, j, where));
      else out.push(duckScalar(items.getItem(j), kind, where));
    }
    return JSON.stringify(out);
  }
  return duckScalar(vector.getItem(index), kind, where);
}

function duckPair(vector: DuckDBVector, index: number, where: string): [string | null, string | null] | null {
  if (!(vector instanceof DuckDBStructVector)) throw new Error(`${where}: DuckDB gave a ${vector.type.toString()} vector for (id, score) pairs`);
  if (!vector.isItemValid(index)) return null;
  const names = vector.type.entryNames;
  const idAt = names.includes('id') && names.includes('score') ? names.indexOf('id') : 0;
  return [duckScalar(vector.entryVectorAt(idAt).getItem(index), 'int64', where), duckFloatBits(vector.entryVectorAt(1 - idAt), index, where)];
}

/**
 * The canonical columns of `sql`'s result: column c of the result is read as `kinds[c]`. Reads
 * chunk by chunk straight from DuckDB's vectors.
 */
export async function duckdbColumns(connection: DuckDBConnection, sql: string, kinds: readonly CanonicalKind[], label: string): Promise<CanonicalColumn[]> {
  const result = await connection.run(sql);
  if (result.columnCount !== kinds.length) throw new Error(`${label}: the query gives ${result.columnCount} columns, expected ${kinds.length}`);
  const columns: CanonicalColumn[] = kinds.map(() => []);
  let row = 0;
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    kinds.forEach((kind, c) => {
      const vector = chunk.getColumnVector(c);
      const column = columns[c] as CanonicalColumn;
      for (let i = 0; i < chunk.rowCount; i++) column.push(duckCell(vector, i, kind, `${label}: row ${row + i}, column ${result.columnName(c)}`));
    });
    row += chunk.rowCount;
  }
  return columns;
}

// ---------------------------------------------------------------- Arrow

function int64At(data: arrow.Data, index: number): bigint {
  const values = data.values as BigInt64Array | Int32Array;
  if (values instanceof BigInt64Array) return values[index] as bigint;
  // Older layouts keep 64-bit values as pairs of int32 (low, high).
  return (BigInt(values[2 * index + 1] as number) << 32n) | BigInt((values[2 * index] as number) >>> 0);
}

function decimalAt(data: arrow.Data, index: number): bigint {
  const words = data.values as Uint32Array;
  let value = 0n;
  for (let w = 3; w >= 0; w--) value = (value << 32n) | BigInt(words[4 * index + w] as number);
  return BigInt.asIntN(128, value);
}

/** The canonical form of cell `index` of one Data chunk of Granary's Arrow output. */
function arrowCell(data: arrow.Data, index: number, kind: CanonicalKind): string | null {
  if (!data.getValid(index)) return null;
  switch (kind) {
    case 'float':
    case 'double':
      return bitsOf(data.values as Float32Array | Float64Array, index);
    case 'int32':
      return String((data.values as Int32Array)[index]);
    case 'int64':
    case 'timestamp':
      return int64At(data, index).toString();
    case 'date':
      return String((data.values as Int32Array)[index]);
    case 'bool':
    case 'string':
    case 'bytes': {
      const value = arrow.makeVector(data).get(index) as boolean | string | Uint8Array;
      return value instanceof Uint8Array ? hex(value) : String(value);
    }
    case 'decimal':
      return `${decimalAt(data, index)}/${(data.type as arrow.Decimal).scale}`;
    default: {
      const offsets = data.valueOffsets as Int32Array;
      const child = data.children[0] as arrow.Data;
      const out: unknown[] = [];
      for (let j = offsets[index] as number; j < (offsets[index + 1] as number); j++) out.push(arrowElement(child, j, kind));
      return JSON.stringify(out);
    }
  }
}

function arrowElement(child: arrow.Data, index: number, kind: CanonicalKind): unknown {
  if (kind === 'id_score_list') {
    if (!child.getValid(index)) return null;
    const [ids, scores] = child.children as [arrow.Data, arrow.Data];
    return [arrowCell(ids, index, 'int64'), arrowCell(scores, index, 'float')];
  }
  return arrowCell(child, index, kind === 'id_list' ? 'int64' : kind === 'float_list' ? 'float' : 'string');
}

/** The canonical columns of an Arrow table (Granary's `--format arrow` output), column c read as `kinds[c]`. */
export function arrowColumns(table: arrow.Table, kinds: readonly CanonicalKind[]): CanonicalColumn[] {
  return kinds.map((kind, c) => {
    const vector = table.getChildAt(c);
    if (vector === null) throw new Error(`the Arrow output has no column ${c}`);
    const column: CanonicalColumn = [];
    for (const data of vector.data) for (let i = 0; i < data.length; i++) column.push(arrowCell(data, i, kind));
    return column;
  });
}

// ---------------------------------------------------------------- comparing

/** The first difference between two sets of columns, or undefined when they are the same cell for cell. */
export function firstDifference(names: readonly string[], expected: readonly CanonicalColumn[], actual: readonly CanonicalColumn[]): string | undefined {
  for (let c = 0; c < names.length; c++) {
    const want = expected[c] ?? [];
    const got = actual[c] ?? [];
    if (want.length !== got.length) return `column ${names[c]}: ${got.length} rows, expected ${want.length}`;
    for (let r = 0; r < want.length; r++) {
      if (want[r] !== got[r]) return `column ${names[c]}, row ${r}: ${JSON.stringify(got[r])}, expected ${JSON.stringify(want[r])}`;
    }
  }
  return undefined;
}
