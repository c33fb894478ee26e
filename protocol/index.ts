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
  FrameDecoder,
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
  type RepairItem,
} from './node-types.js';
export {
  COLUMN_TYPES,
  type ColumnInfo,
  type ColumnSpec,
  type ColumnType,
  NAME_PATTERN,
  type PartitionDetail,
  type PartitionInfo,
  SCALAR_NUMERIC_TYPES,
  TABLE_DEFAULTS,
  type TableAlteration,
  type TableInfo,
  type TableSpec,
  type TableSummary,
} from './catalog-types.js';
export { type PartitionValues, formatPartitionSpec, parsePartitionSpec } from './partition-spec.js';
export {
  type BlockManifest,
  type BlockPlacement,
  type ChunkPlacement,
  type CommitManifest,
  type CommitResult,
  type FileManifest,
  type OpenSessionRequest,
  type ReplaceShardRequest,
  SESSION_STATES,
  type SessionInfo,
  type SessionState,
  type StreamEntry,
  type StreamStats,
  type StripeManifest,
} from './write-types.js';
export {
  NO_BLOCK,
  type PartitionPredicate,
  type PlannedBlock,
  type PlannedChunk,
  type PlannedStripe,
  STATS_OPS,
  STREAM_ENTRY_BYTES,
  type ScanPlan,
  type ScanRequest,
  type StatsOp,
  type StatsPredicate,
  type StreamLocation,
  decodeStreamEntry,
  encodeStreamEntry,
} from './scan-types.js';
export { HTTP_DEFAULTS, type HttpOptions, HttpPools } from './http-pools.js';
export { type ReadRangesOptions, putChunk, readRanges } from './chunk-client.js';
