/**
 * Finding a null element inside a list column. Granary lists hold no null elements (an id, a
 * score or an embedding value is there or the whole list is null), and the stream encoder refuses
 * one; but it sees the flattened child of a whole stripe, so its position means nothing to the
 * user. Writers and ingest look first, with this, and name the row and the element within it.
 */
import type * as arrow from 'apache-arrow';
import { isValid, listChild, validityOf } from './arrow-access.js';

export interface NullListElement {
  /** Row of `data` (0 = its first slot) whose list holds the null. */
  readonly row: number;
  /** Index of the null element within that row's list. */
  readonly element: number;
  /** What is null: the element, or a field of a struct element (`id`, `score`). */
  readonly what: string;
}

/**
 * The first null element of a list `Data` (a null struct element, or a null field of one), in
 * row order; undefined when there is none. Only rows that are not null themselves are looked at:
 * a null row's slots are not data. Cost: nothing unless the child has nulls, then one pass over
 * the offsets.
 */
export function findNullListElement(data: arrow.Data): NullListElement | undefined {
  const child = listChild(data);
  const layers: { readonly data: arrow.Data; readonly what: string }[] = [{ data: child, what: 'element' }];
  for (const [i, field] of (child.type.children ?? []).entries()) {
    const grandchild = child.children[i];
    if (grandchild !== undefined) layers.push({ data: grandchild, what: `${field.name} of element` });
  }
  const withNulls = layers.flatMap((layer) => {
    const validity = validityOf(layer.data);
    return validity === null ? [] : [{ validity, what: layer.what }];
  });
  if (withNulls.length === 0) return undefined;
  const offsets = data.valueOffsets as Int32Array;
  const rows = validityOf(data);
  for (let r = 0; r < data.length; r++) {
    if (!isValid(rows, r)) continue;
    const start = offsets[r] as number;
    const end = offsets[r + 1] as number;
    for (let e = start; e < end; e++) {
      for (const layer of withNulls) {
        if (!isValid(layer.validity, e)) return { row: r, element: e - start, what: layer.what };
      }
    }
  }
  return undefined;
}
