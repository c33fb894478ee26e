/**
 * Encoding ids a stream entry may carry (the `encoding` field of a stripe manifest's streams).
 * Writers record how they stored each stream, readers decode by it, and the metadata service
 * refuses a commit naming an id no reader knows, so an unreadable stream can never be committed.
 * How each encoding lays out its bytes: docs/design.md, "Column streams: types, encodings and compression".
 */

/** The stream layout of client/format/stream-layout.ts, values as they are. */
export const ENCODING_PLAIN = 1;

/**
 * The plain stream's sections, each stored with its own transform (bit-packed frame of
 * reference or delta, dictionary, byte split, bit-packed lengths) and optionally zstd:
 * client/format/encodings/container.ts.
 */
export const ENCODING_SECTIONS = 2;

/** Every encoding id this version can read, for commit validation. */
export const STREAM_ENCODINGS: ReadonlySet<number> = new Set([ENCODING_PLAIN, ENCODING_SECTIONS]);

export function isKnownEncoding(encoding: number): boolean {
  return STREAM_ENCODINGS.has(encoding);
}
