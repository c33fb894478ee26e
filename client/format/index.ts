/**
 * The columnar stripe format: Arrow types of Granary columns, the per-column stream codec, and
 * the JSON Lines row contract. Writers encode, readers decode; nothing here does I/O.
 */
export { FORMAT_INVALID, FormatError } from './format-error.js';
export { type NamedColumn, arrowSchemaOf, arrowTypeMatches, arrowTypeOf, columnTypeOf } from './arrow-types.js';
export { type EncodedStream, decodeStream, encodeStream, nullData } from './stream-codec.js';
export { decodeStoredStream } from './stored-stream.js';
export { ENCODING_PLAIN } from '../../protocol/index.js';
export {
  SECTION_ALIGNMENT_BYTES,
  STREAM_HEADER_BYTES,
  STREAM_MAGIC,
  STREAM_ROWS_MAX,
  STREAM_VERSION,
} from './stream-layout.js';
export { float32Number, recordBatchToRows, rowsToRecordBatch } from './rows.js';
