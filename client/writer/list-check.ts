/**
 * The writer's check that no list of a record batch holds a null element, made when the batch is
 * written so the error names the batch's row and column (the stream encoder, which refuses the
 * same thing later, sees only a stripe's flattened list data).
 */
import * as arrow from 'apache-arrow';
import { FormatError, findNullListElement } from '../format/index.js';

export function assertNoNullListElements(batch: arrow.RecordBatch): void {
  batch.schema.fields.forEach((field, c) => {
    if (!arrow.DataType.isList(field.type)) return;
    const data = batch.data.children[c];
    if (data === undefined) return;
    const found = findNullListElement(data);
    if (found !== undefined) {
      throw new FormatError(
        `record batch row ${found.row}, column ${field.name}: ${found.what} ${found.element} of the list is null; Granary lists hold no null elements`,
      );
    }
  });
}
