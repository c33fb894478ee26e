/**
 * What `granary ingest` may do to a file's columns to fit them to a table (the `--rename`,
 * `--normalize-names` and `--flatten` flags, and feature maps), shared by every input format.
 */
import type { ColumnType } from '../../../../protocol/index.js';
import type { NamedColumn } from '../../../format/index.js';
import type { FeatureTally } from './feature-tally.js';
import type { NameOptions } from './names.js';

export interface ShapeOptions extends NameOptions {
  /** Spread struct columns (JSON objects) into `parent_child` columns. */
  readonly flatten?: boolean;
  /**
   * Where features of map columns that the table has no column for are counted (and their value
   * types kept, for `--add-features`). Without it they are still counted, in a tally of the plan.
   */
  readonly features?: FeatureTally;
}

/** A table column as ingest sees it: name, type and the feature id a map's key is matched with. */
export interface TableColumn extends NamedColumn {
  readonly featureId?: number;
}

/** The table column types a map value can be spread into, by what a map's value type implies. */
export type FeatureColumnType = Extract<ColumnType, 'float' | 'double' | 'int32' | 'int64' | 'string' | 'id_list' | 'float_list' | 'id_score_list'>;
