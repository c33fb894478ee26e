/** Validity of converted column data: a sliced `Data` indexes its parent's bitmap, a new one starts at bit 0. */
import type * as arrow from 'apache-arrow';
import { isValid, validityOf } from '../../format/arrow-access.js';

/** The validity bits of `data` re-based to bit 0, and its null count. */
export function rebasedValidity(data: arrow.Data): { nullBitmap: Uint8Array; nullCount: number } {
  const validity = validityOf(data);
  if (validity === null) return { nullBitmap: new Uint8Array(0), nullCount: 0 };
  const nullBitmap = new Uint8Array(Math.ceil(data.length / 8));
  let nullCount = 0;
  for (let i = 0; i < data.length; i++) {
    if (isValid(validity, i)) nullBitmap[i >> 3] = (nullBitmap[i >> 3] as number) | (1 << (i & 7));
    else nullCount++;
  }
  return { nullBitmap, nullCount };
}
