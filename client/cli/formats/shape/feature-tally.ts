/**
 * Features of map columns that the table has no column for. They are never dropped without a
 * count: the ingest reports how many distinct ids and values it saw (and some ids), and
 * `--add-features` adds a column for each, with the type their values imply. The tally also
 * catches an unknown id given twice in one row, which a map must not do.
 */
import { FormatError } from '../../../format/index.js';
import type { FeatureColumnType } from './options.js';

/** Distinct unknown ids tracked before a map is refused: past this its keys are not feature ids. */
export const UNKNOWN_FEATURE_IDS_MAX = 1_000_000;
/** Ids a report lists (the smallest). */
export const SAMPLE_IDS_MAX = 10;

/** What a value said about its feature's type: a column type, or a JSON shape that needs more. */
export type FeatureEvidence = FeatureColumnType | 'empty_list' | 'null' | 'other';

const EVIDENCE: readonly FeatureEvidence[] = ['float', 'double', 'int32', 'int64', 'string', 'id_list', 'float_list', 'id_score_list', 'empty_list', 'null', 'other'];
const BIT = new Map<FeatureEvidence, number>(EVIDENCE.map((evidence, i) => [evidence, 1 << i]));

/** The ingest's report of features it had no column for. */
export interface UnknownFeatures {
  /** Distinct feature ids. */
  readonly distinct: number;
  /** Values of those features (occurrences in rows' maps). */
  readonly values: number;
  /** The smallest ids, at most SAMPLE_IDS_MAX. */
  readonly sampleIds: readonly number[];
}

/** One unknown feature and the column type its values imply, for `--add-features`. */
export interface UnknownFeature {
  readonly id: number;
  readonly values: number;
  /** The map column (or JSON key) that gave it first, for messages. */
  readonly source: string;
  readonly type: FeatureColumnType;
}

interface Entry {
  values: number;
  /** Serial of the last row that gave this id, to catch one given twice in a row. */
  lastRow: number;
  /** FeatureEvidence bits. */
  evidence: number;
  readonly source: string;
}

export class FeatureTally {
  private readonly ids = new Map<number, Entry>();
  private nextRow = 0;
  private valueCount = 0;

  /** Reserves serial numbers for `rows` rows, the first returned: rows of all files are distinct. */
  beginRows(rows: number): number {
    const first = this.nextRow;
    this.nextRow += rows;
    return first;
  }

  /**
   * Counts one value of unknown feature `id` in row `row` (a serial of `beginRows`); false when the
   * row already gave this id. `source` names the map column; `where` the row, for the bound's error.
   */
  record(id: number, row: number, evidence: FeatureEvidence, source: string, where: () => string): boolean {
    let entry = this.ids.get(id);
    if (entry === undefined) {
      if (this.ids.size >= UNKNOWN_FEATURE_IDS_MAX) {
        throw new FormatError(
          `${where()}: map column ${source} holds more than ${UNKNOWN_FEATURE_IDS_MAX.toLocaleString('en-US')} distinct feature ids the table has no column for; its keys do not look like this table's feature ids`,
        );
      }
      entry = { values: 0, lastRow: -1, evidence: 0, source };
      this.ids.set(id, entry);
    } else if (entry.lastRow === row) {
      return false;
    }
    entry.lastRow = row;
    entry.values++;
    entry.evidence |= BIT.get(evidence) as number;
    this.valueCount++;
    return true;
  }

  get distinct(): number {
    return this.ids.size;
  }

  report(): UnknownFeatures {
    return { distinct: this.ids.size, values: this.valueCount, sampleIds: smallest([...this.ids.keys()], SAMPLE_IDS_MAX) };
  }

  /**
   * Every unknown feature with the column type its values imply. Throws for an id whose values
   * disagree (a number in one row, a list in another), whose lists were all empty (JSON cannot
   * tell ids from floats then), or that can never be a feature id (negative).
   */
  features(): UnknownFeature[] {
    const out: UnknownFeature[] = [];
    const problems: string[] = [];
    for (const [id, entry] of [...this.ids.entries()].sort(([a], [b]) => a - b)) {
      if (id < 0) {
        problems.push(`feature ${id} (map ${entry.source}) is negative; feature ids are 0 or more`);
        continue;
      }
      const type = impliedType(entry.evidence);
      if (typeof type === 'string') out.push({ id, values: entry.values, source: entry.source, type });
      else problems.push(`feature ${id} (map ${entry.source}): ${type.problem}`);
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, SAMPLE_IDS_MAX).join('; ');
      const more = problems.length > SAMPLE_IDS_MAX ? `; and ${problems.length - SAMPLE_IDS_MAX} more` : '';
      throw new FormatError(`--add-features cannot add ${problems.length === 1 ? 'a column' : 'columns'}: ${shown}${more}`);
    }
    return out;
  }
}

/** The column type the evidence bits imply: lists of integers among lists of floats are floats. */
function impliedType(bits: number): FeatureColumnType | { readonly problem: string } {
  const seen = EVIDENCE.filter((evidence) => (bits & (BIT.get(evidence) as number)) !== 0);
  if (seen.includes('other')) return { problem: 'a value that is not a number, a string or a list of numbers or [id, score] pairs' };
  let types = seen.filter((evidence): evidence is FeatureColumnType => evidence !== 'empty_list' && evidence !== 'null');
  if (types.includes('id_list') && types.includes('float_list')) types = types.filter((type) => type !== 'id_list');
  if (types.length === 1) return types[0] as FeatureColumnType;
  if (types.length === 0) return { problem: 'no value that tells its type (only nulls or empty lists); add its column with granary table alter' };
  return { problem: `values that imply different types (${types.join(', ')})` };
}

function smallest(ids: number[], count: number): number[] {
  return ids.sort((a, b) => a - b).slice(0, count);
}
