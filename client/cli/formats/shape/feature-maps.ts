/**
 * Feature maps flattened at ingest: a file column that is a map from integer feature ids to values
 * (`Map<int64, float>`, `Map<int64, list<int64>>`, `Map<int64, list<struct<id, score>>>`, and the
 * same written as `List<Struct<key, value>>` by older engines) and is not a table column is spread
 * into the table's columns by their `featureId`: feature 1001 of a row's map becomes that row's
 * value of the column whose featureId is 1001; a row whose map lacks it gets null there. This is
 * the flattening of the training-data papers, done once when data arrives instead of by every
 * reader.
 *
 * The work is two passes over buffers per batch. The first walks the map's offsets and keys
 * (typed arrays) and, for each (feature column, row), records which entry holds the value: a
 * slot matrix of entry indices. The second builds each feature column from its slots
 * (feature-values.ts). Feature ids are found through a dense table when the table's ids span
 * less than DENSE_LOOKUP_SPAN_MAX, else a Map. A feature id twice in one row's map, a feature
 * given by a map and by a plain column of the file (or by two maps), and a value that does not
 * fit its column are errors naming file, row, map column and feature id; features the table
 * has no column for are counted in the tally.
 */
import * as arrow from 'apache-arrow';
import type { ColumnType } from '../../../../protocol/index.js';
import { FormatError, arrowTypeOf, nullData } from '../../../format/index.js';
import type { FeatureTally } from './feature-tally.js';
import { type Scalar, type ValueSource, fits, gatherColumn, impliedColumnType, isIntegerScalar, scalarOf, valueSourceOf } from './feature-values.js';
import { type Leaf, leafData } from './flatten.js';
import type { TableColumn } from './options.js';

/** Largest span of feature ids (max - min + 1) looked up through a dense array (4 bytes each). */
export const DENSE_LOOKUP_SPAN_MAX = 1 << 20;
/** Map columns one file may spread (an id's owner is kept in an Int16Array). */
export const MAP_COLUMNS_MAX = 1024;

/** A map column of a file, spread into feature columns. */
export interface MapColumn {
  readonly leaf: Leaf;
  /** As the file names it (`parent.child` when flattened), for messages. */
  readonly name: string;
  readonly keyIndex: number;
  readonly valueIndex: number;
  readonly key: Scalar;
  readonly value: ValueSource;
  readonly valueType: arrow.DataType;
}

/** The entries of a map-like Arrow type: a Map, or a List of Struct<key, value>. */
function entriesOf(type: arrow.DataType): { keyType: arrow.DataType; valueType: arrow.DataType; keyIndex: number; valueIndex: number } | undefined {
  const isMap = arrow.DataType.isMap(type);
  if (!isMap && !arrow.DataType.isList(type)) return undefined;
  const entries = type.children[0]?.type;
  if (entries === undefined || !arrow.DataType.isStruct(entries) || entries.children.length !== 2) return undefined;
  const names = entries.children.map((field) => field.name.toLowerCase());
  const keyIndex = isMap ? 0 : names.indexOf('key');
  const valueIndex = isMap ? 1 : names.indexOf('value');
  if (keyIndex < 0 || valueIndex < 0) return undefined;
  return { keyType: (entries.children[keyIndex] as arrow.Field).type, valueType: (entries.children[valueIndex] as arrow.Field).type, keyIndex, valueIndex };
}

/**
 * The map column `leaf` is, or undefined when it is not map-like. A map whose keys are not
 * integers, or whose values cannot become a column value, is an error naming it.
 */
export function mapColumnOf(leaf: Leaf, label: string): MapColumn | undefined {
  const entries = entriesOf(leaf.type);
  if (entries === undefined) return undefined;
  const key = scalarOf(entries.keyType);
  if (key === undefined || !isIntegerScalar(key)) {
    throw new FormatError(
      `${label}: column ${JSON.stringify(leaf.path)} is a map with ${String(entries.keyType)} keys; only a map with integer keys (feature ids) is spread into the table's feature columns, and the table has no column of this name`,
    );
  }
  const value = valueSourceOf(entries.valueType);
  if (value === undefined) {
    throw new FormatError(
      `${label}: map column ${JSON.stringify(leaf.path)} has ${String(entries.valueType)} values, which no feature column can hold (float, double, integers, strings, lists of integers or floats, lists of (id, score) structs)`,
    );
  }
  return { leaf, name: leaf.path, keyIndex: entries.keyIndex, valueIndex: entries.valueIndex, key, value, valueType: entries.valueType };
}

/** A table column filled from maps: its index in the table's columns, and what it holds. */
interface Target {
  readonly column: number;
  readonly name: string;
  readonly type: ColumnType;
  readonly arrowType: arrow.DataType;
  readonly featureId: number;
}

/** Lookup results besides a target index. */
const UNKNOWN = -1;
const PLAIN = -2;

/** A spread column: the table column's index and its data for the batch. */
export interface SpreadColumn {
  readonly column: number;
  readonly data: arrow.Data;
}

export class FeatureSpreader {
  private readonly targets: readonly Target[];
  /** featureId - lookupMin -> target index, UNKNOWN or PLAIN; or the Map when ids are sparse. */
  private readonly dense: Int32Array | undefined;
  private readonly lookupMin: number;
  private readonly sparse: Map<number, number> | undefined;
  /** Plain file columns that give a feature, by feature id, for messages. */
  private readonly plainNames = new Map<number, string>();
  /** fits[m * targets + t]: map m's values fit target t's column. */
  private readonly fitTable: Uint8Array;
  /** The map that gave each target first (in this file), -1 before any. */
  private readonly owner: Int16Array;
  private readonly implied: readonly ReturnType<typeof impliedColumnType>[];
  private slots = new Int32Array(0);
  /** Keys of a batch's map as numbers, reused from batch to batch. */
  private keyBuffer = new Float64Array(0);

  constructor(
    private readonly maps: readonly MapColumn[],
    columns: readonly TableColumn[],
    /** Table columns the file gives as plain columns. */
    plainColumns: ReadonlySet<string>,
    private readonly label: string,
    private readonly tally: FeatureTally,
  ) {
    if (maps.length > MAP_COLUMNS_MAX) throw new FormatError(`${label}: ${maps.length} map columns, more than the ${MAP_COLUMNS_MAX} one file may spread`);
    const targets: Target[] = [];
    const entries: [number, number][] = [];
    columns.forEach((column, index) => {
      if (column.featureId === undefined) return;
      if (plainColumns.has(column.name)) {
        entries.push([column.featureId, PLAIN]);
        this.plainNames.set(column.featureId, column.name);
        return;
      }
      entries.push([column.featureId, targets.length]);
      targets.push({ column: index, name: column.name, type: column.type, arrowType: arrowTypeOf(column.type), featureId: column.featureId });
    });
    this.targets = targets;
    const ids = entries.map(([id]) => id);
    const min = ids.length === 0 ? 0 : Math.min(...ids);
    const span = ids.length === 0 ? 0 : Math.max(...ids) - min + 1;
    this.lookupMin = min;
    if (span <= DENSE_LOOKUP_SPAN_MAX) {
      this.dense = new Int32Array(span).fill(UNKNOWN);
      for (const [id, to] of entries) this.dense[id - min] = to;
    } else {
      this.sparse = new Map(entries);
    }
    this.fitTable = new Uint8Array(maps.length * targets.length);
    maps.forEach((map, m) => targets.forEach((target, t) => (this.fitTable[m * targets.length + t] = fits(map.value, target.type) ? 1 : 0)));
    this.owner = new Int16Array(targets.length).fill(-1);
    this.implied = maps.map((map) => impliedColumnType(map.value));
  }

  /** Indices of the table columns this spreader fills. */
  get columns(): number[] {
    return this.targets.map((target) => target.column);
  }

  /** Index of the file columns the maps come from (to check them before they are read). */
  get fileIndices(): number[] {
    return this.maps.map((map) => map.leaf.fileIndex);
  }

  /**
   * The feature columns of one batch (those no map of the batch gives are null), from the
   * batch's top-level columns. `firstRow` is the batch's first row in the file, for messages.
   */
  spread(batch: arrow.RecordBatch, firstRow: number): SpreadColumn[] {
    const rows = batch.numRows;
    const targetCount = this.targets.length;
    const cells = targetCount * rows;
    if (this.slots.length < cells) this.slots = new Int32Array(cells);
    const slots = this.slots;
    slots.fill(-1, 0, cells);
    const counts = new Int32Array(targetCount);
    const firstSerial = this.tally.beginRows(rows);
    const values: arrow.Data[] = [];
    this.maps.forEach((map, m) => {
      const top = batch.data.children[map.leaf.fileIndex];
      if (top === undefined) throw new FormatError(`${this.label}: the batch has no data for map column ${map.name}`);
      values.push(this.fillSlots(m, leafData(top, map.leaf), rows, firstRow, firstSerial, counts));
    });
    const out: SpreadColumn[] = [];
    this.targets.forEach((target, t) => {
      const m = this.owner[t] as number;
      if ((counts[t] as number) === 0 || m < 0) {
        out.push({ column: target.column, data: nullData(target.type, rows) });
        return;
      }
      const map = this.maps[m] as MapColumn;
      const where = (r: number): string => `${this.label}: row ${firstRow + r}, map column ${map.name}, feature ${target.featureId} (column ${target.name})`;
      out.push({ column: target.column, data: gatherColumn(map.value, values[m] as arrow.Data, target.type, target.arrowType, { slots, base: t * rows, rows }, where) });
    });
    return out;
  }

  /** Pass one for map `m`: slots of known features, the tally for the others. Returns the map's values. */
  private fillSlots(m: number, data: arrow.Data, rows: number, firstRow: number, firstSerial: number, counts: Int32Array): arrow.Data {
    const map = this.maps[m] as MapColumn;
    const entries = data.children[0] as arrow.Data;
    const keys = entries.children[map.keyIndex] as arrow.Data;
    const values = entries.children[map.valueIndex] as arrow.Data;
    const offsets = data.valueOffsets as Int32Array;
    const mapBits = data.nullCount > 0 ? (data.nullBitmap as Uint8Array) : null;
    const first = rows === 0 ? 0 : (offsets[0] as number);
    const last = rows === 0 ? 0 : (offsets[rows] as number);
    if (this.keyBuffer.length < last - first) this.keyBuffer = new Float64Array(last - first);
    const ids = keyNumbers(map.key, keys.values as ArrayBufferView & { length: number }, first, last, this.keyBuffer);
    if (entries.nullCount > 0 || keys.nullCount > 0) this.checkEntries(map, data, entries, keys, rows, firstRow);
    const dense = this.dense;
    const sparse = this.sparse;
    const min = this.lookupMin;
    const span = dense?.length ?? 0;
    const slots = this.slots;
    const owner = this.owner;
    const fitTable = this.fitTable;
    const fitBase = m * this.targets.length;
    const evidence = this.implied[m] as ReturnType<typeof impliedColumnType>;
    for (let r = 0; r < rows; r++) {
      if (mapBits !== null && ((mapBits[(data.offset + r) >> 3] as number) & (1 << ((data.offset + r) & 7))) === 0) continue;
      const end = offsets[r + 1] as number;
      for (let e = offsets[r] as number; e < end; e++) {
        const id = ids[e - first] as number;
        let t: number;
        if (dense !== undefined) {
          const d = id - min;
          t = d >= 0 && d < span ? (dense[d] as number) : UNKNOWN;
        } else {
          t = (sparse as Map<number, number>).get(id) ?? UNKNOWN;
        }
        if (t >= 0) {
          // The first value of a feature in this file decides which map gives it, and whether it fits.
          if (owner[t] !== m) {
            if (owner[t] !== -1) throw this.twice(m, t, id, r, firstRow);
            if (fitTable[fitBase + t] === 0) throw this.misfit(m, t, r, firstRow);
            owner[t] = m;
          }
          const cell = t * rows + r;
          if ((slots[cell] as number) !== -1) throw this.twice(m, t, id, r, firstRow);
          slots[cell] = e;
          counts[t] = (counts[t] as number) + 1;
        } else if (t === PLAIN) {
          throw new FormatError(
            `${this.label}: row ${firstRow + r}, map column ${map.name}, feature ${id}: the file also has column ${this.plainNames.get(id)} for feature ${id}; give each feature once`,
          );
        } else {
          const where = (): string => `${this.label}: row ${firstRow + r}`;
          if (!Number.isSafeInteger(id)) {
            const exact = String((keys.values as ArrayLike<number | bigint>)[e]);
            throw new FormatError(`${where()}, map column ${map.name}: key ${exact} is not a feature id (beyond 2^53)`);
          }
          if (!this.tally.record(id, firstSerial + r, evidence, map.name, where)) {
            throw new FormatError(`${where()}, map column ${map.name}, feature ${id}: the row's maps give feature ${id} twice`);
          }
        }
      }
    }
    return values;
  }

  /** Maps must not hold null entries or null keys: the first one is an error naming its row. */
  private checkEntries(map: MapColumn, data: arrow.Data, entries: arrow.Data, keys: arrow.Data, rows: number, firstRow: number): void {
    const check = entryChecker(entries, keys);
    const offsets = data.valueOffsets as Int32Array;
    const mapBits = data.nullCount > 0 ? (data.nullBitmap as Uint8Array) : null;
    for (let r = 0; r < rows; r++) {
      if (mapBits !== null && ((mapBits[(data.offset + r) >> 3] as number) & (1 << ((data.offset + r) & 7))) === 0) continue;
      for (let e = offsets[r] as number; e < (offsets[r + 1] as number); e++) {
        const problem = check(e);
        if (problem !== undefined) throw new FormatError(`${this.label}: row ${firstRow + r}, map column ${map.name}: entry ${e - (offsets[r] as number)} ${problem}`);
      }
    }
  }

  private twice(m: number, t: number, id: number, r: number, firstRow: number): FormatError {
    const map = this.maps[m] as MapColumn;
    const owner = this.owner[t] as number;
    const target = this.targets[t] as Target;
    if (owner !== m && owner !== -1) {
      return new FormatError(
        `${this.label}: row ${firstRow + r}, map column ${map.name}, feature ${id}: map column ${(this.maps[owner] as MapColumn).name} of the file gives feature ${id} too (column ${target.name}); give each feature in one map`,
      );
    }
    return new FormatError(`${this.label}: row ${firstRow + r}, map column ${map.name}, feature ${id}: the row's map gives feature ${id} twice`);
  }

  private misfit(m: number, t: number, r: number, firstRow: number): FormatError {
    const map = this.maps[m] as MapColumn;
    const target = this.targets[t] as Target;
    return new FormatError(
      `${this.label}: row ${firstRow + r}, map column ${map.name}, feature ${target.featureId}: a ${String(map.valueType)} value does not fit column ${target.name} (${target.type})`,
    );
  }
}

/**
 * Keys `start..end` as numbers, exact up to 2^53 in magnitude (feature ids are safe integers; a
 * key beyond is refused where it is met), int64 keys read as two 32-bit words (no BigInt per key).
 */
function keyNumbers(key: Scalar, array: ArrayBufferView & { length: number }, start: number, end: number, out: Float64Array): Float64Array {
  if (key === 'i64') {
    const words = new Int32Array(array.buffer, array.byteOffset, array.length * 2);
    for (let e = start; e < end; e++) out[e - start] = (words[2 * e + 1] as number) * 4294967296 + ((words[2 * e] as number) >>> 0);
  } else {
    out.set((array as unknown as Int32Array).subarray(start, end));
  }
  return out;
}

/** For maps with null entries or keys (never valid in a map): what is wrong with entry e. */
function entryChecker(entries: arrow.Data, keys: arrow.Data): (e: number) => string | undefined {
  const entryBits = entries.nullCount > 0 ? (entries.nullBitmap as Uint8Array) : null;
  const keyBits = keys.nullCount > 0 ? (keys.nullBitmap as Uint8Array) : null;
  const bit = (bits: Uint8Array, i: number): boolean => ((bits[i >> 3] as number) & (1 << (i & 7))) !== 0;
  return (e) => {
    if (entryBits !== null && !bit(entryBits, entries.offset + e)) return 'is null';
    if (keyBits !== null && !bit(keyBits, keys.offset + e)) return 'has a null key';
    return undefined;
  };
}
