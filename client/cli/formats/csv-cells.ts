/**
 * CSV cells of Granary columns, both ways. A cell is text; its column type says how to read it:
 *
 *   float, double   a decimal number, NaN, Infinity / inf (signed)
 *   int32           a decimal integer
 *   int64           a decimal integer (kept as text, so values beyond 2^53 are exact)
 *   bool            true / false / 1 / 0 (any case)
 *   string          the text itself
 *   bytes           base64
 *   id_list, id_score_list, float_list   the JSON Lines shape as JSON text: [1,2,3], [[1,0.5]]
 *   timestamp       RFC 3339 text (2026-11-20T08:15:00.123456Z; any offset; none = UTC) or
 *                   integer microseconds
 *   date            YYYY-MM-DD
 *   decimal(p,s)    decimal text (123.45), kept as text so it is read exactly
 *   string_list     a JSON array of strings, as id_list: ["a","b"]
 *
 * An empty cell is null. A quoted empty cell ("") is the empty string for `string` and empty
 * bytes for `bytes` (null for the other types), so the output writes empty strings quoted and
 * nulls as nothing.
 */
import { type ColumnType, kindOf } from '../../../protocol/index.js';

/** What the CSV parser hands over for a quoted empty cell (`""`), as opposed to an empty one. */
export const QUOTED_EMPTY: unique symbol = Symbol('csv quoted empty cell');
export type CsvCell = string | typeof QUOTED_EMPTY;

/** A cell that does not read as its column's type; the caller adds file, line and column. */
export class CellError extends Error {}

const DECIMAL_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DECIMAL_INTEGER = /^[+-]?\d+$/;
const SPECIAL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['nan', Number.NaN],
  ['+nan', Number.NaN],
  ['-nan', Number.NaN],
  ['inf', Infinity],
  ['+inf', Infinity],
  ['infinity', Infinity],
  ['+infinity', Infinity],
  ['-inf', -Infinity],
  ['-infinity', -Infinity],
]);
const QUOTE_CHARS_MAX = 60;

export function decodeCell(type: ColumnType, cell: CsvCell): unknown {
  if (cell === QUOTED_EMPTY) return type === 'string' || type === 'bytes' ? '' : null;
  if (cell === '') return null;
  const kind = kindOf(type);
  switch (kind) {
    case 'string':
    case 'bytes':
      // bytes stay base64 text: rowsToRecordBatch decodes and checks it.
      return cell;
    case 'timestamp': {
      // Kept as text (integers too, so microseconds beyond 2^53 stay exact): rowsToRecordBatch
      // parses and checks it.
      const text = cell.trim();
      return text.startsWith('+') && DECIMAL_INTEGER.test(text) ? text.slice(1) : text;
    }
    case 'date':
    case 'decimal':
      // rowsToRecordBatch reads decimal text exactly, and says why when it would round.
      return cell.trim();
    case 'float':
    case 'double': {
      const text = cell.trim();
      const special = SPECIAL_NUMBERS.get(text.toLowerCase());
      if (special !== undefined) return special;
      if (!DECIMAL_NUMBER.test(text)) throw new CellError(`expected a number, got ${quote(cell)}`);
      return Number(text);
    }
    case 'int32': {
      const text = cell.trim();
      if (!DECIMAL_INTEGER.test(text)) throw new CellError(`expected an integer, got ${quote(cell)}`);
      return Number(text);
    }
    case 'int64': {
      const text = cell.trim();
      if (!DECIMAL_INTEGER.test(text)) throw new CellError(`expected an integer, got ${quote(cell)}`);
      return text.startsWith('+') ? text.slice(1) : text;
    }
    case 'bool': {
      const text = cell.trim().toLowerCase();
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw new CellError(`expected true, false, 1 or 0, got ${quote(cell)}`);
    }
    case 'id_list':
    case 'id_score_list':
    case 'float_list':
    case 'string_list': {
      let value: unknown;
      try {
        value = JSON.parse(cell);
      } catch {
        const example = kind === 'id_score_list' ? '[[1,0.5]]' : kind === 'string_list' ? '["a","b"]' : '[1,2,3]';
        throw new CellError(`expected a JSON array such as ${example}, got ${quote(cell)}`);
      }
      if (!Array.isArray(value)) throw new CellError(`expected a JSON array, got ${quote(cell)}`);
      return value;
    }
  }
}

/**
 * A JSON Lines value (as `recordBatchToRows` gives it) as CSV cell text; null for a null value
 * (an empty cell). An empty string comes back as '' and must be written quoted.
 */
export function encodeCell(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return JSON.stringify(value);
}

function quote(text: string): string {
  const shown = text.length > QUOTE_CHARS_MAX ? `${text.slice(0, QUOTE_CHARS_MAX)}...` : text;
  return JSON.stringify(shown);
}
