/**
 * `granary ingest --add-features`: features of the files' maps that the table has no column for
 * become columns `f_<id>` (with that featureId and the type the map's values imply) before
 * anything is written. Which ids are unknown is only known once the maps are read, so the files
 * are read twice. The first pass is the whole ingest read (every column decoded, converted and
 * checked) with nothing written: a file that would fail, fails before the table is altered, so a
 * refused ingest changes nothing, not even the schema. Reading only the map columns would be
 * cheaper for files with many other columns, but would alter the table before the rest of the
 * file is known to be good.
 */
import type { ColumnSpec } from '../../../../protocol/index.js';
import { FormatError } from '../../../format/index.js';
import { FeatureTally, type UnknownFeature } from './feature-tally.js';
import type { ShapeOptions, TableColumn } from './options.js';

/** The name a feature column added for feature `id` gets. */
export function featureColumnName(id: number): string {
  return `f_${id}`;
}

/** Reads every file (and checks it) as the ingest would; the batches are dropped. */
export type ReadAll = (shape: ShapeOptions) => Promise<void>;

/**
 * The columns to add for the features of the files' maps the table lacks (empty when there are
 * none). Throws a FormatError when a file is bad, when an id's values do not imply one column
 * type, and when the column name `f_<id>` is taken by another column.
 */
export async function featureColumnsToAdd(columns: readonly TableColumn[], shape: ShapeOptions, readAll: ReadAll): Promise<ColumnSpec[]> {
  const tally = new FeatureTally();
  await readAll({ ...shape, features: tally });
  const features: UnknownFeature[] = tally.features();
  const names = new Set(columns.map((column) => column.name));
  const taken = features.filter((feature) => names.has(featureColumnName(feature.id)));
  if (taken.length > 0) {
    throw new FormatError(
      `--add-features: the table already has column ${taken.map((feature) => featureColumnName(feature.id)).join(', ')} without the feature id of that name; add the feature's column with granary table alter --add-column <name>:<type>:<featureId>`,
    );
  }
  return features.map((feature) => ({ name: featureColumnName(feature.id), type: feature.type, featureId: feature.id }));
}

/** `f_7 (float), f_9 (id_list), ...` for the ingest's output line. */
export function describeAdded(added: readonly ColumnSpec[], shown = 10): string {
  const list = added.slice(0, shown).map((column) => `${column.name} (${column.type})`).join(', ');
  return added.length > shown ? `${list}, ... (${added.length} in all)` : list;
}
