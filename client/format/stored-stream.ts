/**
 * Column streams as they are stored. The writer encodes a column into the plain stream (the
 * logical form) and then, unless the table asks for plain, into the sections container when
 * that is smaller; the reader turns stored bytes (whose checksum it has already verified) back
 * into a column, honouring the encoding its stream entry records. This is the one place a
 * reader does so. An encoding this reader does not know is a FormatError, never a guess.
 */
import type * as arrow from 'apache-arrow';
import { xxh64 } from '../../erasure/index.js';
import { type ColumnType, ENCODING_PLAIN, ENCODING_SECTIONS } from '../../protocol/index.js';
import { decodeSections } from './encodings/decode.js';
import { encodeSections } from './encodings/encode.js';
import { ZSTD_LEVEL_DEFAULT } from './encodings/zstd.js';
import { FormatError } from './format-error.js';
import { type EncodedStream, decodeStream, encodeStream } from './stream-codec.js';

export interface StoreOptions {
  /** `auto`: the writer chooses per stream; `plain`: every stream as the plain layout. */
  readonly encoding?: 'auto' | 'plain';
  /** zstd level of the sections that compress (1..19). */
  readonly compressionLevel?: number;
}

/** A stream as stored, with the size of its plain layout (the raw bytes `granary stats` reports). */
export interface StoredStream extends EncodedStream {
  readonly rawBytes: number;
}

/**
 * Encodes one column of one stripe as it will be stored. The plain stream is built in memory from
 * `alloc`; when the sections container wins, the returned bytes are a new buffer and the plain
 * stream's memory may be reused at once.
 */
export async function encodeStoredStream(
  type: ColumnType,
  data: arrow.Data | arrow.Vector,
  options: StoreOptions = {},
  alloc?: (bytes: number) => Uint8Array,
): Promise<StoredStream> {
  const plain = encodeStream(type, data, alloc);
  return storePlain(type, plain, options);
}

/** Chooses how to store an already encoded plain stream. */
export async function storePlain(type: ColumnType, plain: EncodedStream, options: StoreOptions = {}): Promise<StoredStream> {
  const rawBytes = plain.bytes.length;
  if (options.encoding === 'plain') return { ...plain, rawBytes };
  const container = await encodeSections(type, plain.bytes, { level: options.compressionLevel ?? ZSTD_LEVEL_DEFAULT });
  if (container === undefined) return { ...plain, rawBytes };
  return { ...plain, bytes: container, encoding: ENCODING_SECTIONS, checksum: xxh64(container), rawBytes };
}

export async function decodeStoredStream(type: ColumnType, encoding: number, bytes: Uint8Array, rows: number): Promise<arrow.Data> {
  if (encoding === ENCODING_PLAIN) return decodeStream(type, bytes, rows);
  if (encoding === ENCODING_SECTIONS) return decodeSections(type, bytes, rows);
  throw new FormatError(`${type} stream: encoding ${encoding} is not one this reader knows (it knows ${ENCODING_PLAIN}, plain, and ${ENCODING_SECTIONS}, sections)`);
}
