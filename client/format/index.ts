/**
 * The columnar stripe format: Arrow types of Granary columns, the per-column stream codec, and
 * the JSON Lines row contract. Writers encode, readers decode; nothing here does I/O.
 */
export { FORMAT_INVALID, FormatError } from './format-error.js';
export { type NamedColumn, arrowSchemaOf, arrowTypeMatches, arrowTypeOf, columnTypeOf, idScorePairsData, selectedSchema } from './arrow-types.js';
export { type EncodedStream, decodeStream, encodeStream, nullData } from './stream-codec.js';
export { type StoreOptions, type StoredStream, decodeStoredStream, encodeStoredStream, storePlain } from './stored-stream.js';
export { ZSTD_LEVEL_DEFAULT, ZSTD_LEVEL_MAX, ZSTD_LEVEL_MIN } from './encodings/zstd.js';
export { ENCODING_PLAIN, ENCODING_SECTIONS } from '../../protocol/index.js';
export {
  SECTION_ALIGNMENT_BYTES,
  STREAM_HEADER_BYTES,
  STREAM_MAGIC,
  STREAM_ROWS_MAX,
  STREAM_VERSION,
} from './stream-layout.js';
export { float32Number, recordBatchToRows, rowsToRecordBatch } from './rows.js';
export { type NullListElement, findNullListElement } from './list-elements.js';
