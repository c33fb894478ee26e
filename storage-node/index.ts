export type {
  ChunkInfo,
  ChunkListing,
  ChunkStore,
  ChunkStoreStats,
  CorruptChunk,
  ListedChunk,
  PutOptions,
  PutResult,
  VerifyResult,
} from './chunk-store.js';
export { DiskChunkStore, type DiskChunkStoreOptions } from './disk-chunk-store.js';
export { Scrubber, type ScrubReport, type ScrubStatus } from './scrubber.js';
export { buildStorageServer } from './server.js';
export {
  STORAGE_NODE_DEFAULTS,
  type RunningStorageNode,
  type StorageNodeConfig,
  runStorageNode,
  startStorageNode,
} from './main.js';
