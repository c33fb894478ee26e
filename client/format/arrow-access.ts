/**
 * Reading Arrow `Data` the way apache-arrow itself reads it. A sliced `Data` keeps its parent's
 * validity bitmap and bool bits (indexed from `data.offset`), but its fixed-width values and its
 * value offsets are already cut to the slice (indexed from 0), and a list's child is not cut at
 * all (the offsets point into it). Encoders and row converters go through these helpers so that
 * sliced and chunked input is handled in one place.
 */
import * as arrow from 'apache-arrow';

/** Which slots of a `Data` hold a value; `null` stands for "all of them". */
export interface Validity {
  readonly bits: Uint8Array;
  /** Bit index of slot 0. */
  readonly offset: number;
}

export function validityOf(data: arrow.Data): Validity | null {
  const bits = data.nullBitmap as Uint8Array | undefined;
  if (bits === undefined || bits.length === 0 || data.nullCount === 0) return null;
  return { bits, offset: data.offset };
}

export function isValid(validity: Validity | null, index: number): boolean {
  if (validity === null) return true;
  const bit = validity.offset + index;
  return ((validity.bits[bit >> 3] as number) & (1 << (bit & 7))) !== 0;
}

export function nullCountOf(data: arrow.Data): number {
  const validity = validityOf(data);
  if (validity === null) return 0;
  let nulls = 0;
  for (let i = 0; i < data.length; i++) {
    if (!isValid(validity, i)) nulls++;
  }
  return nulls;
}

/** The chunks of a vector (a lone `Data` is one chunk). */
export function chunksOf(input: arrow.Data | arrow.Vector): readonly arrow.Data[] {
  return input instanceof arrow.Data ? [input] : input.data;
}

/** Bit `index` of an Arrow bit-packed buffer (bool values, validity). */
export function getBit(bits: Uint8Array, index: number): boolean {
  return ((bits[index >> 3] as number) & (1 << (index & 7))) !== 0;
}

export function setBit(bits: Uint8Array, index: number): void {
  bits[index >> 3] = (bits[index >> 3] as number) | (1 << (index & 7));
}

/** The single child of a list `Data`. */
export function listChild(data: arrow.Data): arrow.Data {
  const child = data.children[0];
  if (child === undefined) throw new Error(`list data of type ${String(data.type)} has no child`);
  return child;
}
