/**
 * The shaping of an Arrow file (Parquet, Arrow IPC) before its columns are fitted to the table's
 * types (conform.ts): structs flattened (`--flatten`), names mapped (`--rename`,
 * `--normalize-names`), and map columns that are not table columns set apart to be spread into
 * feature columns. Planned once per file from its schema; applied to every batch without copying
 * values (only a flattened child under a struct with nulls gets a new validity bitmap).
 */
import * as arrow from 'apache-arrow';
import { FormatError } from '../../../format/index.js';
import { FeatureTally } from './feature-tally.js';
import { FeatureSpreader, type MapColumn, type SpreadColumn, mapColumnOf } from './feature-maps.js';
import { type Leaf, leafData, leavesOf } from './flatten.js';
import { NameMapper } from './names.js';
import type { ShapeOptions, TableColumn } from './options.js';

export interface ShapePlan {
  /** The file's plain columns under their table names: what conform fits to the table. */
  readonly schema: arrow.Schema;
  /** Where each column of `schema` comes from. */
  readonly leaves: readonly Leaf[];
  /** Batches are used as they are (nothing flattened, renamed or spread). */
  readonly identity: boolean;
  readonly spreader: FeatureSpreader | undefined;
  /** Indices of the table columns the spreader fills (in every batch). */
  readonly spreadColumns: ReadonlySet<number>;
  readonly names: NameMapper;
}

/**
 * Plans the shaping of a file of schema `fileSchema` for a table of `columns`. Throws a
 * FormatError naming the file (`label`) for a struct without `--flatten`, a list of lists, two
 * file columns that map to one name, a map that cannot be spread, and a column the table does not
 * have (named as the file names it and as mapped).
 */
export function planShape(fileSchema: arrow.Schema, columns: readonly TableColumn[], options: ShapeOptions, label: string): ShapePlan {
  const leaves = leavesOf(fileSchema, options.flatten === true, label);
  const names = new NameMapper(options, label);
  const tableNames = new Set(columns.map((column) => column.name));
  const plain: Leaf[] = [];
  const plainNames: string[] = [];
  const maps: MapColumn[] = [];
  const unknown: string[] = [];
  for (const leaf of leaves) {
    const name = names.map(leaf.name);
    if (tableNames.has(name)) {
      plain.push(leaf);
      plainNames.push(name);
      continue;
    }
    const map = mapColumnOf(leaf, label);
    if (map !== undefined) maps.push(map);
    else unknown.push(leaf.path === name ? JSON.stringify(name) : `${JSON.stringify(name)} (file column ${JSON.stringify(leaf.path)})`);
  }
  if (unknown.length > 0) {
    throw new FormatError(
      `${label}: the table has no column ${unknown.join(', ')} (table columns: ${columns.map((c) => c.name).join(', ')})${hint(options, unknown.length)}`,
    );
  }
  const spreader =
    maps.length === 0 ? undefined : new FeatureSpreader(maps, columns, new Set(plainNames), label, options.features ?? new FeatureTally());
  const identity = maps.length === 0 && plain.every((leaf, i) => leaf.childPath.length === 0 && leaf.fileIndex === i && leaf.name === plainNames[i]) && plain.length === fileSchema.fields.length;
  const schema = new arrow.Schema(plain.map((leaf, i) => new arrow.Field(plainNames[i] as string, leaf.type, true)));
  return { schema, leaves: plain, identity, spreader, spreadColumns: new Set(spreader?.columns ?? []), names };
}

function hint(options: ShapeOptions, count: number): string {
  if (options.normalizeNames === true || (options.renames?.size ?? 0) > 0) return '';
  return `; --rename 'file name=table name' or --normalize-names maps ${count === 1 ? 'it' : 'them'}`;
}

/** The indices of the file's top-level columns that `plainIndices` (of the plan's schema) and the maps read. */
export function fileColumnsRead(plan: ShapePlan, plainIndices: readonly number[]): number[] {
  const read = new Set<number>(plainIndices.map((i) => (plan.leaves[i] as Leaf).fileIndex));
  for (const index of plan.spreader?.fileIndices ?? []) read.add(index);
  return [...read].sort((a, b) => a - b);
}

/** A file batch as a batch of the plan's schema (the plain columns, flattened and renamed). */
export function shapeBatch(plan: ShapePlan, batch: arrow.RecordBatch): arrow.RecordBatch {
  if (plan.identity) return batch;
  const children = plan.leaves.map((leaf) => {
    const top = batch.data.children[leaf.fileIndex];
    if (top === undefined) throw new FormatError(`the batch has no data for column ${leaf.path}`);
    return leafData(top, leaf);
  });
  const struct = arrow.makeData({ type: new arrow.Struct(plan.schema.fields), length: batch.numRows, nullCount: 0, children });
  return new arrow.RecordBatch(plan.schema, struct);
}

/** The feature columns the batch's maps fill (none when the file has no map column). */
export function spreadBatch(plan: ShapePlan, batch: arrow.RecordBatch, firstRow: number): SpreadColumn[] {
  return plan.spreader === undefined ? [] : plan.spreader.spread(batch, firstRow);
}
