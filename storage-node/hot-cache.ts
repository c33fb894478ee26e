/**
 * The node's hot-column cache (docs/design.md, "Hot-column cache"): chunk ranges kept in memory,
 * within a byte budget, so reads of the columns training jobs declared come from memory in their
 * later epochs. Under the `declared` policy only a read inside one of the hot extents the
 * metadata service sent is admitted, and a full cache makes room by evicting the lowest priority
 * (then least recently used) ranges, never one worth more than the newcomer: a one-off scan of
 * other columns passes through without touching it. The `lru` policy (for comparison) admits
 * every read and evicts the least recently used. Chunks are immutable; a chunk deleted or
 * replaced leaves the cache (evictChunk). Only reads the node did not page-check are cached
 * and served from here, which the reader checks end to end.
 */
import type { HotExtent } from '../protocol/hot-cache-types.js';

export const HOT_CACHE_POLICIES = ['declared', 'lru'] as const;
export type HotCachePolicy = (typeof HOT_CACHE_POLICIES)[number];

interface Segment {
  readonly offset: number;
  readonly bytes: Buffer;
  readonly priority: number;
  lastUsed: number;
}

interface Span {
  readonly offset: number;
  readonly end: number;
  readonly priority: number;
}

export interface HotCacheCounters {
  hits: number;
  hitBytes: number;
  misses: number;
  admitted: number;
  /** Reads not admitted: outside every hot extent, or worth less than everything cached. */
  rejected: number;
  evicted: number;
}

export class HotCache {
  /** Hot extents per chunk (declared policy). */
  private hot = new Map<string, Span[]>();
  private readonly segments = new Map<string, Segment[]>();
  private held = 0;
  private tick = 0;
  version: number | undefined;
  readonly counters: HotCacheCounters = { hits: 0, hitBytes: 0, misses: 0, admitted: 0, rejected: 0, evicted: 0 };

  constructor(
    readonly bytesMax: number,
    readonly policy: HotCachePolicy = 'declared',
  ) {
    if (!(Number.isSafeInteger(bytesMax) && bytesMax >= 0)) throw new RangeError(`hot cache bytes must be a whole number >= 0, got ${bytesMax}`);
  }

  get bytes(): number {
    return this.held;
  }

  /** The hot extents now (replacing the last set): cached ranges no longer hot leave at once. */
  setHot(version: number, extents: readonly HotExtent[]): void {
    const hot = new Map<string, Span[]>();
    for (const extent of extents) {
      let spans = hot.get(extent.chunkId);
      if (spans === undefined) {
        spans = [];
        hot.set(extent.chunkId, spans);
      }
      spans.push({ offset: extent.offset, end: extent.offset + extent.length, priority: extent.priority });
    }
    this.hot = hot;
    this.version = version;
    if (this.policy !== 'declared') return;
    for (const [chunkId, segments] of [...this.segments]) {
      for (const segment of [...segments]) if (this.priorityOf(chunkId, segment.offset, segment.bytes.length) === undefined) this.remove(chunkId, segment);
    }
  }

  /** The cached bytes of `[offset, offset + length)` of a chunk (a view: do not change them), if held. */
  lookup(chunkId: string, offset: number, length: number): Buffer | undefined {
    if (this.bytesMax === 0) return undefined;
    for (const segment of this.segments.get(chunkId) ?? []) {
      if (segment.offset <= offset && offset + length <= segment.offset + segment.bytes.length) {
        segment.lastUsed = ++this.tick;
        this.counters.hits++;
        this.counters.hitBytes += length;
        return segment.bytes.subarray(offset - segment.offset, offset - segment.offset + length);
      }
    }
    this.counters.misses++;
    return undefined;
  }

  /** A range just read from disk: kept (a copy) if the policy admits it. */
  offer(chunkId: string, offset: number, data: Uint8Array): void {
    const length = data.length;
    if (length === 0 || length > this.bytesMax) return;
    const priority = this.policy === 'lru' ? 0 : this.priorityOf(chunkId, offset, length);
    if (priority === undefined || !this.makeRoom(length, priority)) {
      this.counters.rejected++;
      return;
    }
    let segments = this.segments.get(chunkId);
    if (segments === undefined) {
      segments = [];
      this.segments.set(chunkId, segments);
    }
    segments.push({ offset, bytes: Buffer.from(data), priority, lastUsed: ++this.tick });
    this.held += length;
    this.counters.admitted++;
  }

  /** A chunk deleted or replaced: its cached ranges are no longer its bytes. */
  evictChunk(chunkId: string): void {
    for (const segment of [...(this.segments.get(chunkId) ?? [])]) this.remove(chunkId, segment);
  }

  /** The priority of the hot extent holding the range, if one does. */
  private priorityOf(chunkId: string, offset: number, length: number): number | undefined {
    let best: number | undefined;
    for (const span of this.hot.get(chunkId) ?? []) {
      if (span.offset <= offset && offset + length <= span.end && (best === undefined || span.priority > best)) best = span.priority;
    }
    return best;
  }

  /** Evicts until `length` more bytes fit, lowest priority and least recent first; false if only better ranges are left. */
  private makeRoom(length: number, priority: number): boolean {
    while (this.held + length > this.bytesMax) {
      let victim: { chunkId: string; segment: Segment } | undefined;
      for (const [chunkId, segments] of this.segments) {
        for (const segment of segments) {
          if (victim === undefined || segment.priority < victim.segment.priority || (segment.priority === victim.segment.priority && segment.lastUsed < victim.segment.lastUsed)) {
            victim = { chunkId, segment };
          }
        }
      }
      if (victim === undefined || victim.segment.priority > priority) return false;
      this.remove(victim.chunkId, victim.segment);
      this.counters.evicted++;
    }
    return true;
  }

  private remove(chunkId: string, segment: Segment): void {
    const segments = this.segments.get(chunkId);
    if (segments === undefined) return;
    const at = segments.indexOf(segment);
    if (at < 0) return;
    segments.splice(at, 1);
    if (segments.length === 0) this.segments.delete(chunkId);
    this.held -= segment.bytes.length;
  }
}
