/**
 * A null element inside a list is found by row and by its place in that row's list, whatever the
 * slicing; and a writer refuses a batch holding one with that location (not the stripe-wide
 * position the stream encoder would report).
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { FormatError, arrowTypeOf, findNullListElement } from '../../../../client/format/index.js';
import { assertNoNullListElements } from '../../../../client/writer/list-check.js';

function idLists(rows: (readonly (number | null)[] | null)[]): arrow.Data {
  const vector = arrow.vectorFromArray(
    rows.map((row) => (row === null ? null : row.map((id) => (id === null ? null : BigInt(id))))),
    arrowTypeOf('id_list') as arrow.List<arrow.Int64>,
  );
  return vector.data[0] as arrow.Data;
}

describe('findNullListElement', () => {
  it('names the row and the element within its list', () => {
    const data = idLists([[1, 2], null, [3, 4, null, 5], [null]]);
    expect(findNullListElement(data)).toEqual({ row: 2, element: 2, what: 'element' });
  });

  it('finds nothing when only whole rows are null, or in an empty column', () => {
    expect(findNullListElement(idLists([[1], null, [], [2, 3]]))).toBeUndefined();
    expect(findNullListElement(idLists([]))).toBeUndefined();
  });

  it('counts rows from the start of a slice', () => {
    const data = idLists([[1], [2], [null, 3], [4, null]]).slice(1, 3);
    expect(findNullListElement(data)).toEqual({ row: 1, element: 0, what: 'element' });
    const later = idLists([[null], [2], [3], [4, null]]).slice(2, 2);
    expect(findNullListElement(later)).toEqual({ row: 1, element: 1, what: 'element' });
  });

  it('looks into the fields of struct elements (id_score_list)', () => {
    const type = arrowTypeOf('id_score_list') as arrow.List<arrow.Struct>;
    const vector = arrow.vectorFromArray([[{ id: 1n, score: 0.5 }], [{ id: 2n, score: 1 }, { id: 3n, score: null }]], type);
    expect(findNullListElement(vector.data[0] as arrow.Data)).toEqual({ row: 1, element: 1, what: 'score of element' });
  });
});

describe('the writer check', () => {
  it('refuses a batch with a null list element, naming row and column', () => {
    const schema = new arrow.Schema([new arrow.Field('ids', arrowTypeOf('id_list'), true)]);
    const data = idLists([[1], [2, null]]);
    const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: 2, nullCount: 0, children: [data] });
    const batch = new arrow.RecordBatch(schema, struct);
    expect(() => assertNoNullListElements(batch)).toThrow(FormatError);
    expect(() => assertNoNullListElements(batch)).toThrow('record batch row 1, column ids: element 1 of the list is null');
  });
});
