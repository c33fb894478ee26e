/**
 * A file's list column taken as it is (List<Int64> into id_list, List<Utf8> into string_list) with
 * a null element is refused naming the file's row, the column and the element, counting rows
 * across batches.
 */
import * as arrow from 'apache-arrow';
import { expect, it } from 'vitest';
import { conformBatch, planConform } from '../../../client/cli/formats/conform.js';
import { FormatError, arrowTypeOf } from '../../../client/format/index.js';

it('names the file row, column and element of a null inside a list', () => {
  const type = arrowTypeOf('string_list') as arrow.List<arrow.Utf8>;
  const vector = arrow.vectorFromArray([['a'], null, ['b', null, 'c']], type);
  const schema = new arrow.Schema([new arrow.Field('tags', type, true)]);
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: 3, nullCount: 0, children: [vector.data[0] as arrow.Data] });
  const batch = new arrow.RecordBatch(schema, struct);
  const plan = planConform(schema, [{ name: 'tags', type: 'string_list' }], 'f.parquet');
  const refusal = (() => {
    try {
      conformBatch(plan, batch, 1000);
    } catch (error) {
      return error;
    }
    return undefined;
  })();
  expect(refusal).toBeInstanceOf(FormatError);
  expect((refusal as FormatError).message).toBe('f.parquet: row 1002, column tags: element 1 of the list is null; Granary lists hold no null elements');
  // The same column without the null element passes through unchanged.
  const clean = arrow.vectorFromArray([['a'], null, ['b', 'c']], type);
  const cleanBatch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: 3, nullCount: 0, children: [clean.data[0] as arrow.Data] }));
  expect(conformBatch(plan, cleanBatch, 0).getChild('tags')?.toJSON().map((row) => (row === null ? null : [...(row as arrow.Vector)]))).toEqual([['a'], null, ['b', 'c']]);
});
