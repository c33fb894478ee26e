/**
 * The sections container (encoding ENCODING_SECTIONS): a plain stream (stream-layout.ts) whose
 * sections are each stored with their own transform and, optionally, zstd. The plain stream is
 * the logical form: a reader rebuilds it exactly and decodes it as any plain stream, so every
 * check the plain decoder makes still runs.
 *
 *   header     24 bytes: magic u32 'GRSE', version u16, type code u16, rows u32, nulls u32,
 *              child count u32 (bytes or elements of the child section), sections u8, 3 zero bytes
 *   entries    12 bytes per section: transform u8, codec u8, 2 zero bytes, stored bytes u32,
 *              payload bytes u32 (after the codec is undone)
 *   sections   each stored payload, starting on an 8-byte boundary; zero padding; the container's
 *              length is a multiple of 8
 *
 * The sections are those of the plain stream, in its order: validity (only with nulls), main,
 * child (string, bytes, lists; string_list: the strings' offsets), scores (id_score_list), data
 * (string_list: the strings' bytes). A string_list's child count is its strings; the count of
 * their bytes is the data section's (raw) or what the dictionary's indices add up to.
 */
import { COLUMN_TYPES, type ColumnType, kindOf } from '../../../protocol/index.js';
import { FormatError } from '../format-error.js';
import { STREAM_CHILD_COUNT_MAX, STREAM_ROWS_MAX, alignUp, typeCodeOf, typeLayoutOf } from '../stream-layout.js';
import { checkZeros } from './payload.js';

export const CONTAINER_MAGIC = 0x47525345;
export const CONTAINER_VERSION = 1;
export const CONTAINER_HEADER_BYTES = 24;
export const SECTION_ENTRY_BYTES = 12;

/** How a section's values are stored; a closed set. */
export const Transform = {
  /** The plain section's bytes. */
  RAW: 0,
  /** Integers: frame of reference, bit-packed. */
  FOR: 1,
  /** Integers: delta, frame of reference over the deltas, bit-packed. */
  DELTA: 2,
  /** Fixed-width values: distinct values once, bit-packed indices. */
  DICT: 3,
  /** Fixed-width values: bytes split by position (floats). */
  SPLIT: 4,
  /** Offsets: lengths, frame of reference, bit-packed. */
  LENGTHS: 5,
  /** String and bytes offsets: one index per row into the dictionary in the child section. */
  STRING_DICT_INDICES: 6,
  /** String and bytes child: the dictionary's values. */
  STRING_DICT_VALUES: 7,
  /**
   * 128-bit integers (decimal) whose high 64 bits are the sign extension of the low 64: the low
   * 64 bits as a FOR, DELTA or DICT payload of 8-byte values. Prices, amounts and rates of up to
   * 18 digits are such values, and pack like int64s.
   */
  NARROW_FOR: 8,
  NARROW_DELTA: 9,
  NARROW_DICT: 10,
} as const;
export type TransformId = (typeof Transform)[keyof typeof Transform];

/** The general-purpose compression over a section's payload; a closed set. */
export const Codec = {
  NONE: 0,
  ZSTD: 1,
} as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];

export type SectionKind = 'validity' | 'main' | 'child' | 'scores' | 'data';

export interface StoredSection {
  readonly transform: TransformId;
  readonly codec: CodecId;
  /** The payload as stored (compressed when codec is not NONE). */
  readonly stored: Uint8Array;
  /** Bytes of the payload once the codec is undone. */
  readonly payloadBytes: number;
}

export interface Container {
  readonly rows: number;
  readonly nulls: number;
  readonly childCount: number;
  readonly sections: readonly StoredSection[];
}

/** The sections a stream of `type` with `nulls` nulls has, in order. */
export function sectionKinds(type: ColumnType, nulls: number): SectionKind[] {
  const { shape } = typeLayoutOf(type);
  const kinds: SectionKind[] = nulls > 0 ? ['validity', 'main'] : ['main'];
  if (shape === 'offsets' || shape === 'pairs' || shape === 'strings') kinds.push('child');
  if (shape === 'pairs') kinds.push('scores');
  if (shape === 'strings') kinds.push('data');
  return kinds;
}

/** Transforms a section of `type` may use. */
export function allowedTransforms(type: ColumnType, kind: SectionKind): readonly TransformId[] {
  const { shape } = typeLayoutOf(type);
  const floating = type === 'float' || type === 'double';
  if (kind === 'validity') return [Transform.RAW];
  if (kindOf(type) === 'decimal') return [Transform.RAW, Transform.SPLIT, Transform.NARROW_FOR, Transform.NARROW_DELTA, Transform.NARROW_DICT];
  if (shape === 'strings') {
    if (kind === 'main') return [Transform.RAW, Transform.LENGTHS];
    if (kind === 'child') return [Transform.RAW, Transform.LENGTHS, Transform.STRING_DICT_INDICES];
    return [Transform.RAW, Transform.STRING_DICT_VALUES];
  }
  if (kind === 'main') {
    if (shape === 'bool') return [Transform.RAW];
    if (shape === 'fixed') return floating ? [Transform.RAW, Transform.SPLIT, Transform.DICT] : [Transform.RAW, Transform.FOR, Transform.DELTA, Transform.DICT];
    if (type === 'string' || type === 'bytes') return [Transform.RAW, Transform.LENGTHS, Transform.STRING_DICT_INDICES];
    return [Transform.RAW, Transform.LENGTHS];
  }
  if (kind === 'child') {
    if (type === 'string' || type === 'bytes') return [Transform.RAW, Transform.STRING_DICT_VALUES];
    if (type === 'float_list') return [Transform.RAW, Transform.SPLIT, Transform.DICT];
    return [Transform.RAW, Transform.FOR, Transform.DELTA, Transform.DICT];
  }
  return [Transform.RAW, Transform.SPLIT, Transform.DICT];
}

export function containerBytes(sections: readonly StoredSection[]): number {
  let at = alignUp(CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * sections.length);
  for (const section of sections) at = alignUp(at + section.stored.length);
  return at;
}

export function writeContainer(type: ColumnType, container: Container): Uint8Array {
  const { sections } = container;
  const out = new Uint8Array(containerBytes(sections));
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTAINER_MAGIC, true);
  view.setUint16(4, CONTAINER_VERSION, true);
  view.setUint16(6, typeCodeOf(type), true);
  view.setUint32(8, container.rows, true);
  view.setUint32(12, container.nulls, true);
  view.setUint32(16, container.childCount, true);
  out[20] = sections.length;
  let at = alignUp(CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * sections.length);
  sections.forEach((section, i) => {
    const entry = CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * i;
    out[entry] = section.transform;
    out[entry + 1] = section.codec;
    view.setUint32(entry + 4, section.stored.length, true);
    view.setUint32(entry + 8, section.payloadBytes, true);
    out.set(section.stored, at);
    at = alignUp(at + section.stored.length);
  });
  return out;
}

/** Parses and checks a container's structure; section payloads are views into `bytes`. */
export function readContainer(type: ColumnType, bytes: Uint8Array, rows: number): Container {
  if (!Number.isInteger(rows) || rows < 0 || rows > STREAM_ROWS_MAX) throw new FormatError(`rows must be an integer in 0..${STREAM_ROWS_MAX}, got ${rows}`);
  const what = `${type} stream (sections encoding)`;
  if (bytes.length < CONTAINER_HEADER_BYTES) throw new FormatError(`${what}: it starts with a ${CONTAINER_HEADER_BYTES}-byte header, got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== CONTAINER_MAGIC) throw new FormatError(`${what}: magic is 0x${magic.toString(16)}, expected 0x${CONTAINER_MAGIC.toString(16)} ('GRSE')`);
  const version = view.getUint16(4, true);
  if (version !== CONTAINER_VERSION) throw new FormatError(`${what}: version ${version} is not supported (this reader knows ${CONTAINER_VERSION})`);
  const typeCode = view.getUint16(6, true);
  if (typeCode !== typeCodeOf(type)) {
    throw new FormatError(`${what}: it holds ${COLUMN_TYPES[typeCode] ?? 'an unknown type'} (type code ${typeCode}), expected type code ${typeCodeOf(type)}`);
  }
  const storedRows = view.getUint32(8, true);
  if (storedRows !== rows) throw new FormatError(`${what}: it holds ${storedRows} rows, expected ${rows}`);
  const nulls = view.getUint32(12, true);
  if (nulls > rows) throw new FormatError(`${what}: it claims ${nulls} nulls in ${rows} rows`);
  const childCount = view.getUint32(16, true);
  const { shape } = typeLayoutOf(type);
  if (shape !== 'offsets' && shape !== 'pairs' && shape !== 'strings' && childCount !== 0) throw new FormatError(`${what}: a ${type} stream has no child values, it claims ${childCount}`);
  if (childCount > STREAM_CHILD_COUNT_MAX) throw new FormatError(`${what}: at most ${STREAM_CHILD_COUNT_MAX} child values fit, it claims ${childCount}`);
  const kinds = sectionKinds(type, nulls);
  const count = bytes[20] as number;
  if (count !== kinds.length) throw new FormatError(`${what}: ${kinds.length} sections expected (${kinds.join(', ')}), it has ${count}`);
  checkZeros(bytes, 21, CONTAINER_HEADER_BYTES, what);
  let at = alignUp(CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * count);
  if (bytes.length < at) throw new FormatError(`${what}: ${count} section entries need ${at} bytes, got ${bytes.length} (truncated)`);
  checkZeros(bytes, CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * count, at, what);
  const sections: StoredSection[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kinds[i] as SectionKind;
    const entry = CONTAINER_HEADER_BYTES + SECTION_ENTRY_BYTES * i;
    const transform = bytes[entry] as number;
    const codec = bytes[entry + 1] as number;
    checkZeros(bytes, entry + 2, entry + 4, what);
    const storedBytes = view.getUint32(entry + 4, true);
    const payloadBytes = view.getUint32(entry + 8, true);
    if (!(allowedTransforms(type, kind) as readonly number[]).includes(transform)) {
      throw new FormatError(`${what}: transform ${transform} is not one a ${kind} section of ${type} may use`);
    }
    if (codec !== Codec.NONE && codec !== Codec.ZSTD) throw new FormatError(`${what}: ${kind} section: codec ${codec} is not known`);
    if (codec === Codec.NONE && storedBytes !== payloadBytes) throw new FormatError(`${what}: ${kind} section: uncompressed, yet ${storedBytes} bytes stored for ${payloadBytes}`);
    if (at + storedBytes > bytes.length) throw new FormatError(`${what}: ${kind} section of ${storedBytes} bytes at ${at} runs past the stream's ${bytes.length} bytes (truncated)`);
    sections.push({ transform: transform as TransformId, codec: codec as CodecId, stored: bytes.subarray(at, at + storedBytes), payloadBytes });
    const end = alignUp(at + storedBytes);
    if (end > bytes.length) throw new FormatError(`${what}: stream ends inside the padding after its ${kind} section (truncated)`);
    checkZeros(bytes, at + storedBytes, end, what);
    at = end;
  }
  if (at !== bytes.length) throw new FormatError(`${what}: ${bytes.length - at} bytes after its last section`);
  // Indices and values of a string dictionary: main and child (string, bytes), child and data (string_list).
  const [indicesKind, valuesKind]: readonly [SectionKind, SectionKind] = shape === 'strings' ? ['child', 'data'] : ['main', 'child'];
  const dictMain = sections[kinds.indexOf(indicesKind)]?.transform === Transform.STRING_DICT_INDICES;
  const dictChild = kinds.includes(valuesKind) && sections[kinds.indexOf(valuesKind)]?.transform === Transform.STRING_DICT_VALUES;
  if (dictMain !== dictChild) throw new FormatError(`${what}: dictionary indices and dictionary values come together, it has only one`);
  return { rows, nulls, childCount, sections };
}
