/**
 * Column names of files written by other engines (Spark's `userId`, Impala's `c_customer_sk:`,
 * pandas' `Unnamed: 0`) mapped to a table's names at ingest, so a file is ingested as it is
 * instead of rewritten: explicit renames first (`--rename 'Name=name'`), then, for every other
 * column, `--normalize-names`. Two file columns that end up with one name are an error naming
 * both, never a column silently read twice or dropped.
 */
import { GranaryError } from '../../../../protocol/index.js';
import { FormatError } from '../../../format/index.js';

/** How file column names become table column names; empty: as they are. */
export interface NameOptions {
  /** File column name -> table column name, applied before normalizing. */
  readonly renames?: ReadonlyMap<string, string>;
  /** Lower-case, other characters to `_`, runs of `_` collapsed, a leading digit prefixed. */
  readonly normalizeNames?: boolean;
}

/**
 * `Customer ID` -> `customer_id`, `c_customer_sk:` -> `c_customer_sk_`, `2nd` -> `_2nd`: lower
 * case, every character outside [a-z0-9_] becomes `_`, runs of `_` become one, and a name that
 * would start with a digit gets a `_` in front (table names cannot start with one).
 */
export function normalizeName(name: string): string {
  const replaced = name.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/_+/g, '_');
  if (replaced === '') return '_';
  return /^[0-9]/.test(replaced) ? `_${replaced}` : replaced;
}

/**
 * The value of `--rename` (repeatable): `File Name=table_name` pairs separated by commas. The
 * first `=` of a pair separates the file's name from the table's, so a file name cannot hold a
 * comma or `=`; a file column named twice, or a pair without a name on either side, is a
 * GRN_BAD_REQUEST.
 */
export function parseRenames(values: readonly string[]): Map<string, string> {
  const renames = new Map<string, string>();
  for (const value of values) {
    for (const pair of value.split(',')) {
      if (pair.trim() === '') continue;
      const at = pair.indexOf('=');
      const from = at < 0 ? '' : pair.slice(0, at).trim();
      const to = at < 0 ? '' : pair.slice(at + 1).trim();
      if (from === '' || to === '') {
        throw new GranaryError('GRN_BAD_REQUEST', `--rename takes 'file column=table column' pairs separated by commas; got ${JSON.stringify(pair)}`);
      }
      const earlier = renames.get(from);
      if (earlier !== undefined && earlier !== to) {
        throw new GranaryError('GRN_BAD_REQUEST', `--rename names file column ${JSON.stringify(from)} twice (to ${JSON.stringify(earlier)} and ${JSON.stringify(to)})`);
      }
      renames.set(from, to);
    }
  }
  return renames;
}

/**
 * Maps the file's column names one at a time (a file's schema, or JSON Lines keys as they appear)
 * and remembers which file name took each table name, so that a second file name arriving at the
 * same one is an error naming both. One mapper per file: names are a property of the file.
 */
export class NameMapper {
  private readonly mapped = new Map<string, string>();
  private readonly takenBy = new Map<string, string>();

  constructor(
    private readonly options: NameOptions,
    /** The file, for messages. */
    private readonly label: string,
  ) {}

  /** Whether names change at all (when not, `map` is the identity). */
  get active(): boolean {
    return (this.options.renames?.size ?? 0) > 0 || this.options.normalizeNames === true;
  }

  /** The table name of file column `name`; throws when another file column already has it. */
  map(name: string): string {
    const known = this.mapped.get(name);
    if (known !== undefined) return known;
    const target = this.options.renames?.get(name) ?? (this.options.normalizeNames === true ? normalizeName(name) : name);
    const other = this.takenBy.get(target);
    if (other !== undefined && other !== name) {
      throw new FormatError(
        `${this.label}: file columns ${JSON.stringify(other)} and ${JSON.stringify(name)} both become column ${JSON.stringify(target)}${this.how(other, name)}; --rename one of them`,
      );
    }
    this.mapped.set(name, target);
    this.takenBy.set(target, name);
    return target;
  }

  /** Table column `name` for a message: `file_name (file column "File Name")` when it was mapped. */
  describe(name: string): string {
    const original = this.takenBy.get(name);
    return original === undefined || original === name ? name : `${name} (file column ${JSON.stringify(original)})`;
  }

  private how(a: string, b: string): string {
    const renamed = [a, b].filter((name) => this.options.renames?.has(name) === true);
    if (renamed.length > 0) return ` (${renamed.map((name) => JSON.stringify(name)).join(' and ')} by --rename)`;
    return this.options.normalizeNames === true ? ' (by --normalize-names)' : '';
  }
}
