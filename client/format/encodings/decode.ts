/**
 * Sections container -> Arrow: undoes each section's codec (in parallel, on the libuv pool),
 * rebuilds the plain stream in one buffer and hands it to the plain decoder, so the rebuilt
 * stream passes every check a stored plain stream does. Nothing in the container is trusted:
 * sizes are checked before anything is allocated or decompressed.
 */
import type * as arrow from 'apache-arrow';
import { type ColumnType, kindOf } from '../../../protocol/index.js';
import { FormatError } from '../format-error.js';
import { decodeStream } from '../stream-codec.js';
import { type StreamLayout, layoutOf, typeCodeOf, typeLayoutOf, writeHeader } from '../stream-layout.js';
import { Codec, type Container, Transform, readContainer, sectionKinds, type SectionKind, type StoredSection } from './container.js';
import { type ValueBytes, decodeDelta, decodeFixedDict, decodeFor, decodeSplit } from './fixed-transforms.js';
import { widen128 } from './narrow128.js';
import { decodeLengths, decodeStringDict, decodeStringDictAnySize } from './var-transforms.js';
import { zstdDecompress } from './zstd.js';

/**
 * The largest plain stream a container may rebuild (1 GiB, the largest stripe a table may
 * target): a few bytes of payload can claim billions of equal values.
 */
export const DECODED_STREAM_BYTES_MAX = 1024 * 1024 * 1024;

export async function decodeSections(type: ColumnType, bytes: Uint8Array, rows: number): Promise<arrow.Data> {
  const plain = await rebuildPlain(type, bytes, rows);
  return decodeStream(type, plain, rows);
}

/** The plain stream a container holds. */
export async function rebuildPlain(type: ColumnType, bytes: Uint8Array, rows: number): Promise<Uint8Array> {
  const container = readContainer(type, bytes, rows);
  const { nulls, childCount } = container;
  const what = `${type} stream (sections encoding)`;
  if (typeLayoutOf(type).shape === 'strings') return rebuildStringLists(type, container, rows, what);
  const layout = layoutOf(type, rows, nulls, childCount);
  if (layout.end > DECODED_STREAM_BYTES_MAX) {
    throw new FormatError(`${what}: ${rows} rows and ${childCount} child values make a ${layout.end}-byte stream, above the ${DECODED_STREAM_BYTES_MAX} a reader rebuilds`);
  }
  const kinds = sectionKinds(type, nulls);
  let claimed = 0;
  for (const section of container.sections) claimed += section.payloadBytes;
  // Every transform's payload is at most its section plus headers and a dictionary.
  if (claimed > 2 * layout.end + 1024 * 1024) throw new FormatError(`${what}: sections claim ${claimed} payload bytes for a ${layout.end}-byte stream`);
  const payloads = await Promise.all(
    container.sections.map((section, i) =>
      section.codec === Codec.ZSTD ? zstdDecompress(section.stored, section.payloadBytes, `${what} ${kinds[i]} section`) : Promise.resolve(section.stored),
    ),
  );
  const plain = new Uint8Array(layout.end);
  writeHeader(plain, typeCodeOf(type), rows, nulls);
  const at = (kind: SectionKind): { section: StoredSection; payload: Uint8Array } => {
    const i = kinds.indexOf(kind);
    return { section: container.sections[i] as StoredSection, payload: payloads[i] as Uint8Array };
  };
  if (nulls > 0) {
    const { payload } = at('validity');
    rawInto(plain, layout.validity, layout.bitmapBytes, payload, `${what} validity section`);
  }
  const { shape, width } = typeLayoutOf(type);
  const main = at('main');
  if (kindOf(type) === 'decimal') {
    decimalInto(main.section.transform, main.payload, plain, layout.main, rows, `${what} main section`);
  } else if (shape === 'fixed') {
    fixedInto(main.section.transform, main.payload, plain, layout.main, rows, width as ValueBytes, `${what} main section`);
  } else if (shape === 'bool') {
    rawInto(plain, layout.main, layout.mainBytes, main.payload, `${what} main section`);
  } else {
    const child = at('child');
    const offsets = new Int32Array(plain.buffer, layout.main, rows + 1);
    if (main.section.transform === Transform.STRING_DICT_INDICES) {
      const out = plain.subarray(layout.child, layout.child + layout.childBytes);
      decodeStringDict(main.payload, child.payload, rows, childCount, offsets, out, `${what} dictionary`);
    } else {
      if (main.section.transform === Transform.LENGTHS) decodeLengths(main.payload, rows, childCount, offsets, `${what} main section`);
      else rawInto(plain, layout.main, layout.mainBytes, main.payload, `${what} main section`);
      childInto(type, child.section.transform, child.payload, plain, layout, childCount, `${what} child section`);
    }
    if (shape === 'pairs') {
      const scores = at('scores');
      fixedInto(scores.section.transform, scores.payload, plain, layout.scores, childCount, 4, `${what} scores section`);
    }
  }
  return plain;
}

/**
 * A string_list container: the strings (offsets and bytes) are rebuilt first, since their byte
 * count is recorded nowhere else, then laid out with the lists' offsets as the plain stream.
 */
async function rebuildStringLists(type: ColumnType, container: Container, rows: number, what: string): Promise<Uint8Array> {
  const { nulls, childCount } = container;
  const kinds = sectionKinds(type, nulls);
  let claimed = 0;
  for (const section of container.sections) claimed += section.payloadBytes;
  if (claimed > DECODED_STREAM_BYTES_MAX) throw new FormatError(`${what}: sections claim ${claimed} payload bytes, above the ${DECODED_STREAM_BYTES_MAX} a reader rebuilds`);
  const payloads = await Promise.all(
    container.sections.map((section, i) =>
      section.codec === Codec.ZSTD ? zstdDecompress(section.stored, section.payloadBytes, `${what} ${kinds[i]} section`) : Promise.resolve(section.stored),
    ),
  );
  const at = (kind: SectionKind): { section: StoredSection; payload: Uint8Array } => {
    const i = kinds.indexOf(kind);
    return { section: container.sections[i] as StoredSection, payload: payloads[i] as Uint8Array };
  };
  const main = at('main');
  const strings = at('child');
  const data = at('data');
  const stringOffsets = new Int32Array(childCount + 1);
  let bytes: Uint8Array;
  if (strings.section.transform === Transform.STRING_DICT_INDICES) {
    bytes = decodeStringDictAnySize(strings.payload, data.payload, childCount, DECODED_STREAM_BYTES_MAX, stringOffsets, `${what} dictionary`);
  } else {
    bytes = data.payload;
    if (strings.section.transform === Transform.LENGTHS) decodeLengths(strings.payload, childCount, bytes.length, stringOffsets, `${what} child section`);
    else rawInto(new Uint8Array(stringOffsets.buffer), 0, stringOffsets.byteLength, strings.payload, `${what} child section`);
  }
  const layout = layoutOf(type, rows, nulls, childCount, bytes.length);
  if (layout.end > DECODED_STREAM_BYTES_MAX) {
    throw new FormatError(`${what}: ${rows} rows, ${childCount} strings and ${bytes.length} bytes make a ${layout.end}-byte stream, above the ${DECODED_STREAM_BYTES_MAX} a reader rebuilds`);
  }
  const plain = new Uint8Array(layout.end);
  writeHeader(plain, typeCodeOf(type), rows, nulls);
  if (nulls > 0) rawInto(plain, layout.validity, layout.bitmapBytes, at('validity').payload, `${what} validity section`);
  const offsets = new Int32Array(plain.buffer, layout.main, rows + 1);
  if (main.section.transform === Transform.LENGTHS) decodeLengths(main.payload, rows, childCount, offsets, `${what} main section`);
  else rawInto(plain, layout.main, layout.mainBytes, main.payload, `${what} main section`);
  plain.set(new Uint8Array(stringOffsets.buffer), layout.child);
  // A raw offsets section may claim other bytes than the data section holds: the plain decoder
  // would then read a wrong length; say which section is wrong instead.
  if (stringOffsets[childCount] !== bytes.length) throw new FormatError(`${what}: the strings' offsets end at ${stringOffsets[childCount]}, the data section holds ${bytes.length} bytes`);
  plain.set(bytes, layout.data);
  return plain;
}

/** Decimal values: raw, split, or narrowed to 64 bits and widened back. */
function decimalInto(transform: number, payload: Uint8Array, plain: Uint8Array, offset: number, count: number, what: string): void {
  const bytes = count * 16;
  if (transform === Transform.RAW) return rawInto(plain, offset, bytes, payload, what);
  if (transform === Transform.SPLIT) return decodeSplit(payload, count, 16, plain.subarray(offset, offset + bytes), what);
  const base = transform === Transform.NARROW_FOR ? Transform.FOR : transform === Transform.NARROW_DELTA ? Transform.DELTA : transform === Transform.NARROW_DICT ? Transform.DICT : undefined;
  if (base === undefined) throw new FormatError(`${what}: transform ${transform} does not apply here`);
  const narrow = new Uint8Array(count * 8);
  fixedInto(base, payload, narrow, 0, count, 8, what);
  widen128(new Uint32Array(narrow.buffer), count, new Uint32Array(plain.buffer, plain.byteOffset + offset, count * 4));
}

function rawInto(plain: Uint8Array, offset: number, bytes: number, payload: Uint8Array, what: string): void {
  if (payload.length !== bytes) throw new FormatError(`${what}: ${bytes} bytes expected, got ${payload.length}`);
  plain.set(payload, offset);
}

function childInto(type: ColumnType, transform: number, payload: Uint8Array, plain: Uint8Array, layout: StreamLayout, childCount: number, what: string): void {
  if (type === 'string' || type === 'bytes') {
    rawInto(plain, layout.child, layout.childBytes, payload, what);
    return;
  }
  fixedInto(transform, payload, plain, layout.child, childCount, typeLayoutOf(type).width as ValueBytes, what);
}

/** Decodes `count` fixed-width values into the plain stream at `offset` (8-byte aligned). */
function fixedInto(transform: number, payload: Uint8Array, plain: Uint8Array, offset: number, count: number, bytes: ValueBytes, what: string): void {
  const words = (): Uint32Array => new Uint32Array(plain.buffer, offset, (count * bytes) / 4);
  switch (transform) {
    case Transform.RAW:
      rawInto(plain, offset, count * bytes, payload, what);
      return;
    case Transform.FOR:
      decodeFor(payload, count, bytes, words(), what);
      return;
    case Transform.DELTA:
      decodeDelta(payload, count, bytes, words(), what);
      return;
    case Transform.DICT:
      decodeFixedDict(payload, count, bytes, words(), what);
      return;
    case Transform.SPLIT:
      decodeSplit(payload, count, bytes, plain.subarray(offset, offset + count * bytes), what);
      return;
    default:
      throw new FormatError(`${what}: transform ${transform} does not apply here`);
  }
}
