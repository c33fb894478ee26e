export type { ErasureCodec } from './codec.js';
export { ErasureError, TooManyShardsMissingError, type ErasureErrorCode } from './errors.js';
export {
  type ErasurePolicy,
  DATA_SHARDS_MAX,
  PARITY_SHARDS_MAX,
  formatPolicy,
  parsePolicy,
  totalShards,
  validatePolicy,
} from './policy.js';
export { RsWasmCodec } from './rs-wasm-codec.js';
export { SimdRsCodec, type SimdRsCodecOptions, wasmSimdSupported } from './simd/simd-codec.js';
export { type RsKernel, type RsKernelChoice, type RsKernelHost, type RsKernelSetting, chooseRsKernel, rsKernelSetting } from './rs-kernel.js';
export { runKernelSelfTest } from './simd/self-test.js';
export { DEFAULT_CODEC_ID, SHARD_BYTES_MAX, codecById, encodeParity, encodeParityInto, reconstructShards, rsWasmKernel } from './reed-solomon.js';
export {
  type ContiguousLayout,
  type ShardPiece,
  SHARD_ALIGNMENT_BYTES,
  contiguousLayout,
  dataBytesInShard,
  joinShards,
  paddingBytes,
  shardPieces,
  splitBlock,
} from './layout.js';
export {
  type StreamingChecksum,
  DEFAULT_PAGE_BYTES,
  PAGE_BYTES_MAX,
  PAGE_BYTES_MIN,
  PageChecksummer,
  checksumFromHex,
  checksumToHex,
  createXxh64,
  pageChecksums,
  pageCount,
  validatePageBytes,
  xxh64,
  xxh64Hex,
} from './checksum.js';
export {
  CodecThreadPool,
  THREADED_MIN_BYTES,
  ThreadedCodec,
  closeCodecThreads,
  codecThreadCount,
  threadedCodecById,
} from './codec-threads.js';
export { SpareBuffers, type SpareBufferOptions } from './spare-buffers.js';
