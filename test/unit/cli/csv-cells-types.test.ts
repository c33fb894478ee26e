/** CSV cells of decimal(p,s) and string_list columns, in and out, through the row contract. */
import { describe, expect, it } from 'vitest';
import { CellError, QUOTED_EMPTY, decodeCell, encodeCell } from '../../../client/cli/formats/csv-cells.js';
import { recordBatchToRows, rowsToRecordBatch } from '../../../client/format/index.js';

describe('CSV cells of decimal and string_list columns', () => {
  it('keep decimal text as text, so rowsToRecordBatch reads it exactly (or says why not)', () => {
    expect(decodeCell('decimal(12,2)', ' 1.50 ')).toBe('1.50');
    expect(decodeCell('decimal(38,0)', '99999999999999999999999999999999999999')).toBe('99999999999999999999999999999999999999');
    expect(decodeCell('decimal(12,2)', '')).toBeNull();
    expect(decodeCell('decimal(12,2)', QUOTED_EMPTY)).toBeNull();
    const batch = rowsToRecordBatch([{ name: 'd', type: 'decimal(12,2)' }], [{ d: decodeCell('decimal(12,2)', '-0.5') }]);
    expect(encodeCell(recordBatchToRows(batch)[0]?.d)).toBe('-0.50');
    expect(() => rowsToRecordBatch([{ name: 'd', type: 'decimal(12,2)' }], [{ d: decodeCell('decimal(12,2)', '0.001') }])).toThrow(/would be rounded/);
  });

  it('read string_list cells as JSON arrays, as id_list cells are, and write them back the same way', () => {
    expect(decodeCell('string_list', '["a","",  "é"]')).toEqual(['a', '', 'é']);
    expect(decodeCell('string_list', '[]')).toEqual([]);
    expect(() => decodeCell('string_list', 'a,b')).toThrow(CellError);
    expect(() => decodeCell('string_list', 'a,b')).toThrow('expected a JSON array such as ["a","b"], got "a,b"');
    const batch = rowsToRecordBatch([{ name: 'l', type: 'string_list' }], [{ l: decodeCell('string_list', '["x","y"]') }]);
    expect(encodeCell(recordBatchToRows(batch)[0]?.l)).toBe('["x","y"]');
    expect(() => rowsToRecordBatch([{ name: 'l', type: 'string_list' }], [{ l: decodeCell('string_list', '[1]') }])).toThrow(/expected an array of strings, got 1 at index 0/);
  });
});
