/**
 * The buffer-to-buffer converters of file columns into table columns, in one place for conform.ts:
 * timestamps and dates (temporal-convert.ts), decimals (decimal-convert.ts), floats and integers
 * (number-convert.ts), lists of integers into id_list (list-convert.ts). Each keeps every value
 * exact or refuses it naming file, row and column; what none of them takes goes through the row
 * values of convert-values.ts.
 */
import type * as arrow from 'apache-arrow';
import { type ColumnType, kindOf } from '../../../protocol/index.js';
import { arrowTypeMatches, arrowTypeOf } from '../../format/index.js';
import { decimalConverter } from './decimal-convert.js';
import { idListConverter } from './list-convert.js';
import { numberConverter } from './number-convert.js';
import { type DataConverter, temporalConverter } from './temporal-convert.js';

/**
 * The converter for a file column of Arrow type `fileType` into a `type` column, or undefined
 * when the file's buffers are taken as they are (same layout) or only the row path converts them.
 * A decimal column always gets one: its values are checked against the column's precision even
 * when the file declares the same type.
 */
export function dataConverterOf(type: ColumnType, fileType: arrow.DataType): DataConverter | undefined {
  const kind = kindOf(type);
  if (kind === 'decimal') return decimalConverter(type, fileType);
  if (arrowTypeMatches(arrowTypeOf(type), fileType)) return undefined;
  if (kind === 'timestamp' || kind === 'date') return temporalConverter(kind, fileType);
  return numberConverter(type, fileType) ?? idListConverter(type, fileType);
}
