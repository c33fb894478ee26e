/**
 * The shaping of JSON Lines rows, the counterpart of arrow-shape.ts for text: keys renamed
 * (`--rename`, `--normalize-names`), nested objects spread into `parent_child` keys
 * (`--flatten`), and feature maps, objects whose keys are integers (`"feats": {"1001": 0.5}`)
 * under a key that is not a table column, spread into the feature columns by featureId. A row
 * whose keys need none of this is passed on as it is.
 *
 * A key that is not a table column and holds null is read as a null feature map when the table
 * has feature columns (nothing is lost: it carries no value). JSON.parse keeps the last of two
 * equal keys, so a feature given twice with the same spelling cannot be seen; two spellings of one
 * id ("7" and "07") are an error.
 */
import { FormatError } from '../../../format/index.js';
import { type FeatureEvidence, FeatureTally } from './feature-tally.js';
import { FLATTEN_SEPARATOR } from './flatten.js';
import { NameMapper } from './names.js';
import type { ShapeOptions, TableColumn } from './options.js';

const INTEGER_KEY = /^-?\d+$/;

type Row = Record<string, unknown>;

/** What a feature column holds, as JSON values go: numbers, strings or arrays. */
type JsonShape = 'number' | 'string' | 'array' | 'other';

export class JsonRowShaper {
  private readonly names: NameMapper;
  private readonly columns: ReadonlyMap<string, TableColumn>;
  private readonly byFeature = new Map<number, TableColumn>();
  private readonly tally: FeatureTally;
  private readonly flatten: boolean;

  constructor(
    columns: readonly TableColumn[],
    options: ShapeOptions,
    /** The file, for messages. */
    private readonly path: string,
  ) {
    this.names = new NameMapper(options, path);
    this.columns = new Map(columns.map((column) => [column.name, column]));
    for (const column of columns) if (column.featureId !== undefined) this.byFeature.set(column.featureId, column);
    this.tally = options.features ?? new FeatureTally();
    this.flatten = options.flatten === true;
  }

  /** The row keyed by table column names; `line` names it in errors. */
  shape(row: Row, line: number): Row {
    if (this.asItIs(row)) return row;
    const out = Object.create(null) as Row;
    const maps: [string, Row][] = [];
    this.spreadKeys(row, '', out, maps, line);
    if (maps.length > 0) {
      const serial = this.tally.beginRows(1);
      const given = new Map<string, string>();
      for (const [name, map] of maps) this.spreadFeatures(name, map, out, given, serial, line);
    }
    return out;
  }

  /** No key to rename, flatten or spread: the row is used as it is. */
  private asItIs(row: Row): boolean {
    if (this.names.active) return false;
    for (const key in row) {
      if (!this.columns.has(key)) return false;
      const value = row[key];
      if (isObject(value)) return false;
    }
    return true;
  }

  private spreadKeys(object: Row, prefix: string, out: Row, maps: [string, Row][], line: number): void {
    for (const key of Object.keys(object)) {
      const raw = `${prefix}${key}`;
      const value = object[key];
      const name = this.names.map(raw);
      if (this.columns.has(name)) {
        out[name] = value;
        continue;
      }
      if (isObject(value)) {
        if (isFeatureMap(value)) {
          maps.push([raw, value]);
          continue;
        }
        if (this.flatten) {
          this.spreadKeys(value, `${raw}${FLATTEN_SEPARATOR}`, out, maps, line);
          continue;
        }
        throw new FormatError(
          `${this.path}:${line}: key ${JSON.stringify(raw)} holds a JSON object and the table has no column ${JSON.stringify(name)}; --flatten spreads it into ${raw}${FLATTEN_SEPARATOR}<key> columns`,
        );
      }
      // A null map (a row without features, as a map column writes it) carries nothing to spread.
      if (value === null && this.byFeature.size > 0) continue;
      const mapped = name === raw ? '' : ` (key ${JSON.stringify(raw)})`;
      throw new FormatError(`${this.path}:${line}: the table has no column ${JSON.stringify(name)}${mapped}`);
    }
  }

  /** Spreads map `name` into `out`; `given` records which map filled each column of this row. */
  private spreadFeatures(name: string, map: Row, out: Row, given: Map<string, string>, serial: number, line: number): void {
    for (const key of Object.keys(map)) {
      const id = Number(key);
      const value = map[key];
      const where = (): string => `${this.path}:${line}: map ${JSON.stringify(name)}, feature ${key}`;
      if (!Number.isSafeInteger(id)) throw new FormatError(`${where()}: not a feature id (beyond 2^53)`);
      const column = this.byFeature.get(id);
      if (column === undefined) {
        if (!this.tally.record(id, serial, evidenceOf(value), name, where)) throw new FormatError(`${where()}: the row gives feature ${id} twice`);
        continue;
      }
      const earlier = given.get(column.name);
      if (earlier !== undefined) throw new FormatError(`${where()}: the row gives feature ${id} twice (also in map ${JSON.stringify(earlier)})`);
      if (Object.hasOwn(out, column.name)) throw new FormatError(`${where()}: the row also has column ${column.name} for feature ${id}; give each feature once`);
      const shape = jsonShape(value);
      if (value !== null && shape !== expectedShape(column)) {
        throw new FormatError(`${where()}: ${describeShape(shape)} does not fit column ${column.name} (${column.type})`);
      }
      given.set(column.name, name);
      out[column.name] = value;
    }
  }
}

function isObject(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object every key of which is an integer (an empty object is an empty map). */
function isFeatureMap(value: Row): boolean {
  for (const key in value) if (!INTEGER_KEY.test(key)) return false;
  return true;
}

function jsonShape(value: unknown): JsonShape {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) return 'array';
  return 'other';
}

/** The JSON shape of a column's values: numbers for numeric columns, arrays for lists, strings else. */
function expectedShape(column: TableColumn): JsonShape {
  const type = column.type;
  if (type === 'float' || type === 'double' || type === 'int32' || type === 'int64') return 'number';
  if (type === 'id_list' || type === 'float_list' || type === 'id_score_list' || type === 'string_list') return 'array';
  return 'string';
}

function describeShape(shape: JsonShape): string {
  return shape === 'number' ? 'a number' : shape === 'string' ? 'a string' : shape === 'array' ? 'a list' : 'an object or boolean';
}

/** The column type a JSON value suggests, for `--add-features` (numbers are floats). */
function evidenceOf(value: unknown): FeatureEvidence {
  if (value === null) return 'null';
  if (typeof value === 'number') return 'float';
  if (typeof value === 'string') return 'string';
  if (!Array.isArray(value)) return 'other';
  if (value.length === 0) return 'empty_list';
  if (value.every((item) => typeof item === 'number')) return value.every((item) => Number.isSafeInteger(item)) ? 'id_list' : 'float_list';
  const pairs = value.every((item) => Array.isArray(item) && item.length === 2 && Number.isSafeInteger(item[0]) && typeof item[1] === 'number');
  return pairs ? 'id_score_list' : 'other';
}
