/** Header names and media types of the storage-node HTTP API. */

/** The xxh64 (16 hex digits) of a chunk's bytes, sent with a put and returned with reads. */
export const CHECKSUM_HEADER = 'x-granary-checksum';
export const OCTET_STREAM = 'application/octet-stream';
export const MSGPACK = 'application/msgpack';
/** Set by repair on a chunk upload: replace an existing copy that differs from the body. */
export const REPLACE_HEADER = 'x-granary-replace';
