/**
 * What the metadata service keeps in LevelDB, one sublevel per kind. Records are packed with
 * msgpackr. Files are immutable once committed; their stripes keep stream locations packed in
 * the wire layout of protocol/scan-types.ts (with file-local block refs), so planning copies
 * bytes instead of building objects. Those stripes live in manifest pieces, not in the file
 * record, and are loaded on demand through a bounded cache (metadata/manifests/).
 */
import type { ColumnType, CommitResult, PartitionValues, SessionState, TableEncoding } from '../protocol/index.js';
import type { Role } from '../protocol/auth-types.js';

export interface ColumnRecord {
  /** Internal id: a dropped and re-added name gets a new one, so old data never resurfaces. */
  readonly cid: number;
  readonly name: string;
  readonly type: ColumnType;
  readonly featureId?: number;
  readonly addedInVersion: number;
  readonly droppedInVersion?: number;
}

export interface TableRecord {
  readonly id: string;
  readonly name: string;
  readonly columns: readonly ColumnRecord[];
  readonly nextCid: number;
  readonly partitionBy: readonly string[];
  readonly dataShards: number;
  readonly parityShards: number;
  readonly blockBytes: number;
  readonly stripeRows: number;
  readonly stripeBytes: number;
  readonly retentionDays: number | null;
  /** Stream settings; absent in tables created before they existed (auto, level 1). */
  readonly encoding?: TableEncoding;
  readonly compressionLevel?: number;
  readonly schemaVersion: number;
  readonly createdAt: number;
}

export interface PartitionRecord {
  readonly tableId: string;
  readonly spec: string;
  readonly values: PartitionValues;
  readonly createdAt: number;
  readonly files: number;
  readonly stripes: number;
  readonly rows: number;
  readonly bytes: number;
  /** Plain-layout bytes of its files' streams; absent: equal to `bytes` (every stream plain). */
  readonly rawBytes?: number;
}

export interface StripeRecord {
  readonly rows: number;
  /** STREAM_ENTRY_BYTES per file column; blockRef indexes FileRecord.blockIds. */
  readonly streams: Uint8Array;
  /** Per file column: min f64, max f64 (NaN when the column has no numeric stats). */
  readonly stats: Uint8Array;
}

/** What every shape of a file record has: who wrote it, where, and what it holds in total. */
export interface FileHeader {
  readonly fileId: string;
  readonly tableId: string;
  readonly partition: string;
  readonly sessionId: string;
  readonly committedAt: number;
  /** Position among the partition's files, in commit order: stripe numbers derive from it. */
  readonly sequence: number;
  readonly rows: number;
  readonly bytes: number;
  /** Its streams' plain-layout bytes, when the writer said (FileManifest.rawBytes). */
  readonly rawBytes?: number;
  /** Column ids in stream order. */
  readonly columnCids: readonly number[];
  readonly blockIds: readonly string[];
  /**
   * Files this one took the place of when it was re-laid out (metadata/relayout.ts), latest first,
   * at most RELAYOUT_REPLACED_MAX: a scan cursor naming one of them resumes here.
   */
  readonly replaces?: readonly string[];
}

/**
 * A file with its stripes inline: what a commit checks (metadata/manifest.ts) before it is split
 * into a FileRecord and its manifest pieces, and the shape of every file record written before
 * manifests left the record (state.ts rewrites those at load).
 */
export interface FileWithStripes extends FileHeader {
  readonly stripes: readonly StripeRecord[];
}

/**
 * Where a file's stripes are: ManifestPieceRecords `${fileId}/${piece}` (manifests/pieces.ts),
 * each a consecutive run of stripes. The lengths and checksums are of each piece's body, so a
 * piece read back is checked before the planner trusts a byte of it.
 */
export interface ManifestDescriptor {
  /** Stripes in every piece but the last: as many as fit the piece byte target, at least one. */
  readonly stripesPerPiece: number;
  /** Byte length of each piece's body, in piece order. */
  readonly pieceBytes: readonly number[];
  /** xxh64 of each piece's body, 16 hex digits, in piece order. */
  readonly pieceChecksums: readonly string[];
}

/**
 * A committed file as the catalog keeps it in the store and in memory: small (no per-stripe data),
 * so the service's heap grows with files, not with stripes x columns. Immutable.
 */
export interface FileRecord extends FileHeader {
  readonly stripeCount: number;
  readonly manifest: ManifestDescriptor;
  /**
   * Per file column: min f64, max f64 over all its stripes (NaN when some stripe has no stats),
   * so a predicate can skip the whole file without loading a piece.
   */
  readonly bounds: Uint8Array;
}

/**
 * One immutable piece of a file's manifest (key `${fileId}/${piece zero-padded}`); its body
 * layout is manifests/pieces.ts's, versioned by `format`.
 */
export interface ManifestPieceRecord {
  readonly format: number;
  readonly body: Uint8Array;
}

/**
 * A dropped file whose pieces are still being deleted (key: the file id): written in the batch
 * that drops the file, deleted with its last piece, so a crash between the two finishes at load.
 */
export interface ManifestDropRecord {
  readonly pieces: number;
  readonly droppedAt: number;
}

/** A block's life; a closed set. */
export type BlockState =
  /** Placed for an open session; its chunks may or may not exist yet. */
  | 'allocated'
  /** Part of a committed file. */
  | 'committed';

export interface BlockRecord {
  readonly blockId: string;
  readonly tableId: string;
  readonly sessionId: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly codec: string;
  /** nodeId per shard index. */
  readonly nodes: readonly string[];
  /** Nodes a shard was placed on before a replacement: a chunk may have landed there anyway. */
  readonly formerNodes?: readonly { readonly shard: number; readonly nodeId: string }[];
  readonly state: BlockState;
  readonly blockBytes: number;
  readonly shardBytes: number;
  readonly createdAt: number;
  /** xxh64 hex per shard, from the commit; absent on blocks committed before it was recorded. */
  readonly shardChecksums?: readonly string[];
}

export interface SessionRecord {
  readonly sessionId: string;
  readonly tableId: string;
  readonly tableName: string;
  readonly partition: string;
  readonly values: PartitionValues;
  readonly state: SessionState;
  readonly leaseMs: number;
  readonly leaseExpiresAt: number;
  readonly createdAt: number;
  readonly schemaVersion: number;
  /** The token that opened it: only that token (or an admin) may use it. */
  readonly ownerTokenId?: string;
  /**
   * Blocks it held when it closed. An open session's blocks are not listed here: every block
   * record names its session, and MetadataState indexes them, so an allocation writes one block
   * record instead of rewriting a list that grows with the session.
   */
  readonly blocksAtClose?: number;
  readonly result?: CommitResult;
  /** When it left `open`; closed sessions are forgotten a retention period later. */
  readonly closedAt?: number;
}

export interface NodeRecord {
  readonly nodeId: string;
  readonly url: string;
  readonly domain: string;
  readonly capacityBytes: number;
  readonly freeBytes: number;
  readonly usedBytes: number;
  readonly chunkCount: number;
  readonly draining: boolean;
  readonly registeredAt: number;
  readonly lastHeartbeatAt: number;
  /** Checks the node's put receipts (protocol/receipt.ts); base64 SPKI DER. */
  readonly receiptKey?: string;
}

/**
 * Chunks to delete from their nodes. Keyed by the block id for a dropped or abandoned block, or by
 * `<kind>:<chunk>@<node>` for a single copy (an old location after repair, an orphan).
 */
export interface GcRecord {
  readonly blockId: string;
  readonly chunks: readonly { readonly chunkId: string; readonly nodeId: string }[];
  readonly reason: string;
  readonly queuedAt: number;
  /** Passes that could not finish it; drives the back-off. */
  readonly attempts?: number;
  /** Not tried again before this instant (ms). */
  readonly nextAttemptAt?: number;
}

/** A chunk that cannot be read where the catalog places it: rotten, or not there at all. */
export interface CorruptRecord {
  readonly chunkId: string;
  readonly nodeId: string;
  readonly reason: string;
  readonly reportedAt: number;
  /** The node does not hold it (a read answered `missing`, or its inventory lacks it). */
  readonly missing?: boolean;
}

/** A shard being restored by a task. */
export interface RepairShardRecord {
  readonly shard: number;
  readonly mode: 'copy' | 'rebuild';
  /** Where the shard was when the task started: the switch applies only if it is still there. */
  readonly fromNode: string;
  readonly targetNode: string;
}

/** A repair task handed to a storage node; persisted so a restart neither loses nor repeats a switch. */
export interface RepairTaskRecord {
  readonly taskId: string;
  readonly blockId: string;
  readonly executorNode: string;
  readonly shards: readonly RepairShardRecord[];
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Shard bytes read to restore it, for the rate share and the lease length. */
  readonly bytesToRead: number;
}

/** A bearer token: only the SHA-256 of its secret is kept, never the secret. */
export interface TokenRecord {
  readonly id: string;
  readonly role: Role;
  readonly tables?: readonly string[];
  readonly nodeId?: string;
  readonly description?: string;
  /** Hex SHA-256 of the secret part. */
  readonly secretHash: string;
  readonly createdAt: number;
  readonly expiresAt?: number;
}
