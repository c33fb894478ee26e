/**
 * The bounded cache of decoded manifest pieces: what keeps the metadata service's memory set by
 * `--manifest-cache-bytes` instead of by the size of the catalog. Least recently used pieces go
 * first, counted by the bytes of their typed arrays (what the planner reads), so a cache of wide
 * files holds fewer pieces than one of narrow files, never more bytes.
 *
 * Concurrent loads of one piece share one read and one checksum. A piece that alone weighs more
 * than the whole cache is handed back without being kept. A plan page holds the piece it is
 * reading even after the cache dropped it, so memory is the cache plus one piece per plan in flight.
 */
import type { Records } from '../db.js';
import type { FileRecord, ManifestPieceRecord } from '../records.js';
import { type DecodedPiece, decodePiece, pieceKey } from './pieces.js';

export const MANIFEST_CACHE_BYTES_DEFAULT = 256 * 1024 * 1024;

/** Counters for /metrics and the benches. */
export interface ManifestCacheCounters {
  hits: number;
  misses: number;
  /** Misses that joined a read already under way. */
  sharedLoads: number;
  evictions: number;
}

export class ManifestCache {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, DecodedPiece>();
  private readonly loading = new Map<string, Promise<DecodedPiece>>();
  private heldBytes = 0;
  readonly counters: ManifestCacheCounters = { hits: 0, misses: 0, sharedLoads: 0, evictions: 0 };

  constructor(
    private readonly manifests: Records<ManifestPieceRecord>,
    readonly bytesMax: number = MANIFEST_CACHE_BYTES_DEFAULT,
  ) {
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 0) throw new Error(`manifest cache size must be a whole number of bytes, got ${bytesMax}`);
  }

  /** Bytes of decoded pieces the cache holds now (at most bytesMax). */
  get bytes(): number {
    return this.heldBytes;
  }

  get pieces(): number {
    return this.entries.size;
  }

  /** Whether the piece is cached or loading; counts nothing and changes no recency (read-ahead asks this). */
  holds(file: FileRecord, piece: number): boolean {
    const key = pieceKey(file.fileId, piece);
    return this.entries.has(key) || this.loading.has(key);
  }

  /** The piece when it is cached (a hit, made most recent), without waiting a turn; else undefined. */
  peek(file: FileRecord, piece: number): DecodedPiece | undefined {
    const key = pieceKey(file.fileId, piece);
    const cached = this.entries.get(key);
    if (cached === undefined) return undefined;
    this.counters.hits++;
    this.entries.delete(key);
    this.entries.set(key, cached);
    return cached;
  }

  /** Piece `piece` of `file`, checked against the file's descriptor (GRN_INTERNAL when it does not match). */
  get(file: FileRecord, piece: number): Promise<DecodedPiece> {
    const cached = this.peek(file, piece);
    if (cached !== undefined) return Promise.resolve(cached);
    const key = pieceKey(file.fileId, piece);
    this.counters.misses++;
    const pending = this.loading.get(key);
    if (pending !== undefined) {
      this.counters.sharedLoads++;
      return pending;
    }
    const load = this.manifests
      .get(key)
      .then((stored) => {
        const decoded = decodePiece(file, piece, stored);
        this.keep(key, decoded);
        return decoded;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, load);
    return load;
  }

  private keep(key: string, piece: DecodedPiece): void {
    if (piece.bytes > this.bytesMax) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) this.heldBytes -= previous.bytes;
    this.entries.set(key, piece);
    this.heldBytes += piece.bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.heldBytes <= this.bytesMax) break;
      this.entries.delete(oldest);
      this.heldBytes -= entry.bytes;
      this.counters.evictions++;
    }
    assert(this.heldBytes >= 0 && this.heldBytes <= this.bytesMax, `manifest cache holds ${this.heldBytes} of at most ${this.bytesMax} bytes`);
  }
}

/** An invariant of the cache's running total; a failure is a bug. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}
