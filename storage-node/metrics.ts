/**
 * The storage node's Prometheus metrics. One registry per node (not prom-client's global one) so
 * several nodes can live in one test process. The read-size histogram is first-class: tiny reads
 * are what sinks a selective-read workload, and this is where they show.
 */
import type { HotCache } from './hot-cache.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChunkStore } from './chunk-store.js';

const SIZE_BUCKETS = [4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'granary_storage_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'granary_storage_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'granary_storage_errors_total',
    help: 'Errors answered or met, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly bytesRead = new Counter({
    name: 'granary_storage_read_bytes_total',
    help: 'Chunk bytes returned to readers',
    registers: [this.registry],
  });
  readonly hotCacheHitBytes = new Counter({
    name: 'granary_storage_hot_cache_hit_bytes_total',
    help: 'Chunk bytes returned to readers from the hot-column cache instead of disk',
    registers: [this.registry],
  });
  /** The node's hot-column cache, read when scraped. */
  hotCacheSource: HotCache | undefined;
  readonly hotCache = new Gauge({
    name: 'granary_storage_hot_cache',
    help: 'Hot-column cache: bytes held and allowed, ranges hit, missed, admitted, rejected (outside the hot set or worth less than what is held), evicted, and the version of the hot set held',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      const cache = this.hotCacheSource;
      if (cache === undefined) return;
      this.hotCache.set({ kind: 'bytes' }, cache.bytes);
      this.hotCache.set({ kind: 'bytes_max' }, cache.bytesMax);
      const { hits, hitBytes, misses, admitted, rejected, evicted } = cache.counters;
      this.hotCache.set({ kind: 'hits' }, hits);
      this.hotCache.set({ kind: 'hit_bytes' }, hitBytes);
      this.hotCache.set({ kind: 'misses' }, misses);
      this.hotCache.set({ kind: 'admitted' }, admitted);
      this.hotCache.set({ kind: 'rejected' }, rejected);
      this.hotCache.set({ kind: 'evicted' }, evicted);
      // The hot set it holds, as the metadata service numbered it (-1: none yet).
      this.hotCache.set({ kind: 'version' }, cache.version ?? -1);
    },
  });
  readonly rangesRead = new Counter({
    name: 'granary_storage_read_ranges_total',
    help: 'Chunk ranges read, by outcome',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly readSize = new Histogram({
    name: 'granary_storage_read_size_bytes',
    help: 'Size of each range read',
    buckets: SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly readMemoryBytes = new Gauge({
    name: 'granary_storage_read_memory_bytes',
    help: 'Batch-read bytes read ahead of sockets and not yet taken by them, across all requests',
    registers: [this.registry],
  });
  readonly readMemoryMaxBytes = new Gauge({
    name: 'granary_storage_read_memory_max_bytes',
    help: 'The node-wide budget of batch-read memory (--read-memory-max)',
    registers: [this.registry],
  });
  readonly readMemoryRefusals = new Counter({
    name: 'granary_storage_read_memory_refusals_total',
    help: 'Batch reads (or their remaining ranges) refused for want of read memory, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly readStalledAnswers = new Counter({
    name: 'granary_storage_read_stalled_answers_total',
    help: 'Batch-read answers cut off because their reader stopped taking bytes, freeing the read memory they held',
    registers: [this.registry],
  });
  readonly bytesWritten = new Counter({
    name: 'granary_storage_written_bytes_total',
    help: 'Chunk bytes accepted from writers',
    registers: [this.registry],
  });
  readonly chunksWritten = new Counter({
    name: 'granary_storage_written_chunks_total',
    help: 'Chunks stored',
    registers: [this.registry],
  });
  readonly scrubbedBytes = new Counter({
    name: 'granary_storage_scrubbed_bytes_total',
    help: 'Chunk bytes verified by the scrubber',
    registers: [this.registry],
  });
  readonly scrubbedChunks = new Counter({
    name: 'granary_storage_scrubbed_chunks_total',
    help: 'Chunks verified by the scrubber, by outcome',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(store: ChunkStore) {
    collectDefaultMetrics({ register: this.registry, prefix: 'granary_storage_process_' });
    const registry = this.registry;
    let statsPromise: ReturnType<ChunkStore['stats']> | undefined;
    // The gauges share one statfs per scrape.
    const stats = (): ReturnType<ChunkStore['stats']> => {
      statsPromise ??= store.stats().finally(() => {
        statsPromise = undefined;
      });
      return statsPromise;
    };
    const gauge = (name: string, help: string, pick: (s: Awaited<ReturnType<ChunkStore['stats']>>) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(pick(await stats()));
        },
      });
    };
    gauge('granary_storage_chunks', 'Chunks stored on this node', (s) => s.chunkCount);
    gauge('granary_storage_chunk_file_bytes', 'Bytes of chunk files on disk', (s) => s.chunkFileBytes);
    gauge('granary_storage_corrupt_chunks', 'Chunks known to be corrupt', (s) => s.corruptChunkCount);
    gauge('granary_storage_disk_capacity_bytes', 'Size of the data directory file system', (s) => s.capacityBytes);
    gauge('granary_storage_disk_free_bytes', 'Free bytes on the data directory file system', (s) => s.freeBytes);
  }
}
