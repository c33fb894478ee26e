/**
 * A column stream as it is stored, back to Arrow data: the one place a reader turns stored bytes
 * (whose checksum it has already verified) into a column, honouring the encoding its stream
 * entry records. An encoding this reader does not know is a FormatError, never a guess.
 */
import type * as arrow from 'apache-arrow';
import { type ColumnType, ENCODING_PLAIN } from '../../protocol/index.js';
import { FormatError } from './format-error.js';
import { decodeStream } from './stream-codec.js';

export async function decodeStoredStream(type: ColumnType, encoding: number, bytes: Uint8Array, rows: number): Promise<arrow.Data> {
  if (encoding === ENCODING_PLAIN) return decodeStream(type, bytes, rows);
  throw new FormatError(`${type} stream: encoding ${encoding} is not one this reader knows (it knows ${ENCODING_PLAIN}, plain)`);
}
