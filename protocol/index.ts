export {
  ERROR_STATUS,
  type ErrorBody,
  type ErrorCode,
  GranaryError,
  errorFromAnswer,
  isErrorCode,
  toGranaryError,
} from './errors.js';
export { CHUNK_ID_BYTES_MAX, chunkIdOf, chunkIdProblem, validateChunkId } from './chunk-id.js';
export {
  BATCH_RANGES_MAX,
  BATCH_RANGE_BYTES_MAX,
  BATCH_TOTAL_BYTES_MAX,
  type BatchReadRequest,
  FRAMES_CONTENT_TYPE,
  FRAME_HEADER_BYTES,
  FRAME_STATUS,
  type Frame,
  type FrameStatus,
  type RangeRequest,
  encodeFrameHeader,
  readFrames,
  validateBatchRequest,
} from './batch-read.js';
export { CHECKSUM_HEADER, MSGPACK, OCTET_STREAM } from './http.js';
export {
  DOMAIN_PATTERN,
  NODE_ID_PATTERN,
  NODE_STATES,
  type CorruptChunkReport,
  type NodeHeartbeat,
  type NodeInfo,
  type NodeLoad,
  type NodeRegistration,
  type NodeState,
} from './node-types.js';
