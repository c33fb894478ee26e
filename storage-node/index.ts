export type {
  ChunkInfo,
  ChunkListing,
  ChunkStore,
  ChunkStoreStats,
  CorruptChunk,
  ListedChunk,
  PutOptions,
  PutResult,
  ReadRangeOptions,
  VerifyResult,
} from './chunk-store.js';
export { DiskChunkStore, type DiskChunkStoreOptions } from './disk-chunk-store.js';
export {
  type ChunkFaults,
  type CorruptFault,
  MEMORY_STORE_DEFAULTS,
  MemoryChunkStore,
  type MemoryChunkStoreOptions,
} from './memory-chunk-store.js';
export {
  CORRUPT_REPORT_CHUNKS_MAX,
  type LinkLogger,
  MetadataLink,
  type MetadataLinkOptions,
  type MetadataLinkStatus,
} from './metadata-link.js';
export { Scrubber, type ScrubReport, type ScrubStatus } from './scrubber.js';
export { type NodeRefusal, type ServerFaults, type StorageServerDeps, buildStorageServer } from './server.js';
export {
  STORAGE_NODE_DEFAULTS,
  type RunningStorageNode,
  type StorageNodeConfig,
  startStorageNode,
} from './main.js';
