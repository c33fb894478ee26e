/**
 * Re-layout of existing partitions (docs/design.md, "Re-layout"): blocks written before their
 * table's readers settled on a few columns are laid out again in the current popularity order,
 * their stream bytes copied as stored, so the columns jobs read sit side by side in every block.
 * A worker (a client of the cluster, like an ingest) asks which files pay, reads a file's blocks,
 * writes new ones through a write session, and commits them in place of the old ones in one step.
 *
 *   GET  /v1/tables/:name/relayout[?partition=SPEC]                  -> RelayoutPlan (admin)
 *   GET  /v1/tables/:name/partitions/:partition/files/:fileId/layout -> FileLayout (admin, msgpack)
 *   POST /v1/sessions/:id/relayout                  RelayoutCommit   -> RelayoutResult
 */
import type { PlannedBlock } from './scan-types.js';
import type { BlockManifest } from './write-types.js';

/** What re-laying one file would cost and save, as the service's cost model sees it. */
export interface RelayoutCandidate {
  readonly partition: string;
  readonly fileId: string;
  readonly blocks: number;
  /** Stream bytes of its blocks: read once and written again (with parity) by a rewrite. */
  readonly bytes: number;
  /** Disk reads (coalesced ranges) one scan of the hot columns makes of the file now, and after. */
  readonly readsNow: number;
  readonly readsAfter: number;
  /** Bytes a rewrite moves: the data shards read, and every shard written. */
  readonly bytesToRewrite: number;
  /** Bytes-equivalent of the reads saved over the model's horizon (RelayoutPlan.scansExpected scans). */
  readonly bytesSaved: number;
  /** True when the reads saved repay the bytes moved. */
  readonly pays: boolean;
  /** Why it pays or not, for a person. */
  readonly reason: string;
}

export interface RelayoutPlan {
  readonly table: string;
  /** The table's columns in the order a rewrite lays them out (most read first). */
  readonly order: readonly string[];
  /** The columns a typical scan reads (read by at least half the scans, decayed): what the model counts reads of. */
  readonly hotColumns: readonly string[];
  /** Scans of the table the model expects over its horizon: the decayed scan count. */
  readonly scansExpected: number;
  /** What one disk read costs, in bytes moved (the model's exchange rate). */
  readonly readCostBytes: number;
  readonly files: readonly RelayoutCandidate[];
}

/** One stream of a block: which stripe (of the file) and column (file column index), where, and its checksum. */
export interface LayoutStream {
  readonly stripe: number;
  readonly column: number;
  readonly offset: number;
  readonly length: number;
  /** xxh64 of the stream's bytes, 16 hex digits: the copy is checked against it. */
  readonly checksum: string;
}

export interface LayoutBlock {
  /** The block with its chunk locations and read capability, as a scan plan gives it. */
  readonly block: PlannedBlock;
  /** Every stream of the file in the block, in block offset order. */
  readonly streams: readonly LayoutStream[];
}

export interface FileLayout {
  readonly table: string;
  readonly partition: string;
  readonly fileId: string;
  /** The file's column count (stream entries per stripe). */
  readonly columns: number;
  /** File column indexes in the order to lay them out (most read first; every column once). */
  readonly order: readonly number[];
  readonly blocks: readonly LayoutBlock[];
}

/** One old block and the block written in its place. */
export interface RelayoutBlock {
  /** The old block's id. */
  readonly replaces: string;
  /** The new block, allocated by this session, as a commit names it (checksums and receipts). */
  readonly block: BlockManifest;
  /** New offset of each stream of the old block, in the order FileLayout listed them. */
  readonly offsets: readonly number[];
}

export interface RelayoutCommit {
  /** The file re-laid; refused if it is no longer in the partition. */
  readonly fileId: string;
  /** Every block of the file, each once. */
  readonly blocks: readonly RelayoutBlock[];
}

export interface RelayoutResult {
  readonly table: string;
  readonly partition: string;
  /** The file replaced, and the file that took its place (same stripes, same position). */
  readonly replacedFileId: string;
  readonly fileId: string;
  readonly blocks: number;
  readonly bytes: number;
  readonly alreadyCommitted: boolean;
}
