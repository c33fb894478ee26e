/**
 * Scan planning: from a table, a partition filter, columns, a stripe range and stats predicates
 * to the exact stream locations a reader fetches, one bounded page at a time (see
 * SCAN_PAGE_ENTRIES_MAX and scan-cursor.ts). Walks the small in-memory file records and loads
 * only the manifest pieces (manifests/pieces.ts) of the stripes the page covers, through the
 * bounded cache: a file whose bounds rule a predicate out is skipped without loading any.
 *
 * Planning must take milliseconds for a million stream locations (1,000 columns x 1,000
 * stripes), so manifest pieces keep their streams as aligned 32-bit words in the wire layout, and
 * the planner copies eight words per location and patches the block reference, allocating one
 * buffer per stripe and nothing per column.
 */
import {
  type ColumnInfo,
  GranaryError,
  NO_BLOCK,
  type NodeState,
  type PlannedBlock,
  type PlannedStripe,
  SCAN_PAGE_ENTRIES_MAX,
  STREAM_ENTRY_BYTES,
  type ScanPageRequest,
  type ScanPlan,
  type ScanRequest,
  stripeWeightEntries,
} from '../protocol/index.js';
import { type DecodedPiece, pieceOf } from './manifests/pieces.js';
import { matchesPartition, validatePartitionFilter } from './partition-filter.js';
import { type ResolvedPredicate, mayMatch, resolvePredicate } from './pruning.js';
import type { BlockRecord, FileRecord, PartitionRecord, TableRecord } from './records.js';
import { type ScanPosition, decodeScanCursor, encodeScanCursor, foreignCursor, requestFingerprint, staleCursor } from './scan-cursor.js';
import { columnInfo, visibleColumns } from './schema.js';

const WORDS_PER_ENTRY = STREAM_ENTRY_BYTES / 4;

/** A committed file prepared for planning: its small record and indexes, no stripes. */
export interface LoadedFile {
  readonly record: FileRecord;
  /** Column id -> index of its stream in the file (shared by files of one column layout). */
  readonly columnIndex: ReadonlyMap<number, number>;
  /** Per file column: min, max over the file's stripes (the same bytes as record.bounds). */
  readonly bounds: Float64Array;
}

/** Column ids in stream order, and the index of each: one per distinct layout, not per file. */
interface ColumnLayout {
  readonly cids: readonly number[];
  readonly index: ReadonlyMap<number, number>;
}

/**
 * Layouts remembered for sharing. The files of a table mostly repeat a few layouts (one per
 * schema version and column order), and a 500-column index costs ~25 KB: shared, a file costs
 * its counts and bounds, not its own index. Past this many the oldest is forgotten (files that
 * use it keep it; later files make their own).
 */
const COLUMN_LAYOUTS_MAX = 4096;
const columnLayouts = new Map<string, ColumnLayout>();

function columnLayout(cids: readonly number[]): ColumnLayout {
  const key = cids.join(',');
  let layout = columnLayouts.get(key);
  if (layout === undefined) {
    layout = { cids: [...cids], index: new Map(cids.map((cid, index) => [cid, index])) };
    if (columnLayouts.size >= COLUMN_LAYOUTS_MAX) columnLayouts.delete(columnLayouts.keys().next().value as string);
  } else {
    columnLayouts.delete(key);
  }
  columnLayouts.set(key, layout);
  return layout;
}

export function loadFile(record: FileRecord): LoadedFile {
  // An aligned copy of its own, so the record's bytes as read from the store are not kept alive.
  const bounds = new Float64Array(record.bounds.length / 8);
  new Uint8Array(bounds.buffer).set(record.bounds);
  const layout = columnLayout(record.columnCids);
  return { record: { ...record, columnCids: layout.cids, bounds: new Uint8Array(bounds.buffer) }, columnIndex: layout.index, bounds };
}

export interface PlanSources {
  readonly table: TableRecord;
  /** The table's committed partitions. */
  readonly partitions: readonly PartitionRecord[];
  /** A partition's files in commit order. */
  files(partition: string): readonly LoadedFile[];
  block(blockId: string): BlockRecord | undefined;
  node(nodeId: string): { readonly url: string; readonly state: NodeState } | undefined;
  /** Piece `piece` of a file's manifest, checked; at once when cached (manifests/cache.ts). */
  piece(file: FileRecord, piece: number): DecodedPiece | Promise<DecodedPiece>;
  /**
   * Starts loading piece `piece` of a file without waiting for it: the walk will want it next.
   * Optional: sources that answer at once (tests, benchmarks) have nothing to overlap.
   */
  readAhead?(file: FileRecord, piece: number): void;
}

/**
 * Pieces asked for ahead of the walk when it meets one that is not cached: a cold page then
 * waits for one store round trip per READ_AHEAD_PIECES pieces instead of one per piece (2-3 ms
 * each on etcd). At most this many pieces (under 1 MiB) are in flight beyond the one awaited.
 */
export const READ_AHEAD_PIECES = 4;

export interface PlanResult {
  /** One page of the plan (`next` set when more remains). */
  readonly plan: ScanPlan;
  /** Column ids the scan reads (for popularity). */
  readonly columnCids: readonly number[];
}

/** Runs of stored-together columns at least this long are copied natively (a call costs more for fewer). */
const BULK_COPY_ENTRIES_MIN = 4;

/** Where a page's walk starts: indexes into the sorted partitions and a partition's files. */
interface WalkStart {
  readonly partition: number;
  readonly file: number;
  readonly stripeInFile: number;
  /** Number within the partition of the first stripe of `file`. */
  readonly fileFirstStripe: number;
}

/**
 * Plans one page: the kept stripes from the cursor on (or the start), until adding the next kept
 * stripe would pass `page.limit` entries. A page holds at least one stripe, so one stripe that
 * alone weighs more than the limit comes alone. The walk looks past the last stripe it keeps to
 * the next one pruning keeps, and that stripe is the cursor: so no page is empty, and the last
 * page has no `next` even when the stripes after it are all pruned.
 */
export async function planScan(sources: PlanSources, request: ScanRequest, page: ScanPageRequest = {}): Promise<PlanResult> {
  const { table } = sources;
  const visible = visibleColumns(table);
  const byName = new Map(visible.map((column) => [column.name, column]));
  const columns = (request.columns ?? visible.map((column) => column.name)).map((name) => {
    const column = byName.get(name);
    if (column === undefined) {
      throw new GranaryError('GRN_BAD_REQUEST', `table ${table.name} has no column ${name}; \`granary table describe ${table.name}\` lists them`);
    }
    return column;
  });
  if (new Set(columns.map((c) => c.cid)).size !== columns.length) {
    throw new GranaryError('GRN_BAD_REQUEST', 'a column is named twice in the scan');
  }
  const filter = request.partitions ?? {};
  validatePartitionFilter(filter, table.partitionBy);
  const predicates: ResolvedPredicate[] = (request.where ?? []).map((predicate) => resolvePredicate(predicate, byName));
  const from = request.stripes?.from ?? 0;
  const to = request.stripes?.to ?? Number.POSITIVE_INFINITY;
  if (!(from >= 0) || !(to >= from)) {
    throw new GranaryError('GRN_BAD_REQUEST', `stripe range [${from}, ${to}) must have 0 <= from <= to`);
  }
  const limit = page.limit ?? SCAN_PAGE_ENTRIES_MAX;
  if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_PAGE_ENTRIES_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `page limit must be 1..${SCAN_PAGE_ENTRIES_MAX} entries, got ${limit}`);
  }
  const stripeWeight = stripeWeightEntries(columns.length);
  const fingerprint = requestFingerprint(request);

  const blocks: PlannedBlock[] = [];
  const blockIndex = new Map<string, number>();
  const stripes: PlannedStripe[] = [];
  let weight = 0;
  let next: ScanPosition | undefined;
  let considered = 0;
  let pruned = 0;
  const partitions = sources.partitions
    .filter((partition) => matchesPartition(partition.values, filter))
    .sort((a, b) => (a.spec < b.spec ? -1 : a.spec > b.spec ? 1 : 0));
  const start = page.after === undefined ? { partition: 0, file: 0, stripeInFile: 0, fileFirstStripe: 0 } : resume(sources, partitions, page.after, fingerprint);

  walk: for (let pi = start.partition; pi < partitions.length; pi++) {
    const partition = partitions[pi] as PartitionRecord;
    const files = sources.files(partition.spec);
    const resuming = pi === start.partition && page.after !== undefined;
    let stripeNumber = resuming ? start.fileFirstStripe : 0;
    for (let f = resuming ? start.file : 0; f < files.length; f++) {
      if (stripeNumber >= to) break;
      const file = files[f] as LoadedFile;
      const fileStripes = file.record.stripeCount;
      const firstInFile = resuming && f === start.file ? start.stripeInFile : 0;
      if (stripeNumber + fileStripes <= from) {
        stripeNumber += fileStripes;
        continue;
      }
      const columnCount = file.record.columnCids.length;
      const sourceIndex = columns.map((column) => file.columnIndex.get(column.cid) ?? -1);
      const predicateIndex = predicates.map((predicate) => file.columnIndex.get(predicate.cid) ?? -1);
      stripeNumber += firstInFile;
      let s = firstInFile;
      // Stripes before the range are stepped over without their pieces.
      if (stripeNumber < from) {
        s += from - stripeNumber;
        stripeNumber = from;
      }
      if (!fileMayMatch(file, predicateIndex, predicates)) {
        // Every stripe of the file would be pruned: counted as such, no piece loaded.
        const skipped = Math.max(0, Math.min(fileStripes - s, to - stripeNumber));
        considered += skipped;
        pruned += skipped;
        stripeNumber += fileStripes - s;
        continue;
      }
      const localToGlobal = new Int32Array(file.record.blockIds.length).fill(-1);
      let piece: DecodedPiece | undefined;
      for (; s < fileStripes; s++, stripeNumber++) {
        if (stripeNumber >= to) break;
        if (piece === undefined || s >= piece.firstStripe + piece.stripes) {
          const wanted = pieceOf(file.record.manifest, s);
          const loading = sources.piece(file.record, wanted);
          if (loading instanceof Promise && sources.readAhead !== undefined) {
            const pieces = file.record.manifest.pieceBytes.length;
            for (let ahead = wanted + 1; ahead <= wanted + READ_AHEAD_PIECES && ahead < pieces; ahead++) sources.readAhead(file.record, ahead);
          }
          piece = loading instanceof Promise ? await loading : loading;
          assert(s >= piece.firstStripe && s < piece.firstStripe + piece.stripes && piece.columns === columnCount, `piece holds stripe ${s} of file ${file.record.fileId}`);
        }
        const local = s - piece.firstStripe;
        const { words, stats } = piece;
        const wordBase = local * columnCount * WORDS_PER_ENTRY;
        const statsBase = local * columnCount * 2;
        const rows = piece.rows[local] as number;
        let keep = true;
        for (let p = 0; p < predicates.length && keep; p++) {
          const index = predicateIndex[p] as number;
          const allNull = index >= 0 && (words[wordBase + index * WORDS_PER_ENTRY + 7] as number) === rows;
          keep = mayMatch(index >= 0 && !allNull, stats[statsBase + 2 * index] as number, stats[statsBase + 2 * index + 1] as number, predicates[p] as ResolvedPredicate);
        }
        if (!keep) {
          considered++;
          pruned++;
          continue;
        }
        // Full: this kept stripe opens the next page (and is counted there).
        if (stripes.length > 0 && weight + stripeWeight > limit) {
          next = { partition: partition.spec, fileId: file.record.fileId, stripeInFile: s, stripe: stripeNumber };
          break walk;
        }
        considered++;
        weight += stripeWeight;
        const out = new Uint32Array(columns.length * WORDS_PER_ENTRY);
        for (let c = 0; c < columns.length; ) {
          const index = sourceIndex[c] as number;
          if (index < 0) {
            out[c * WORDS_PER_ENTRY] = NO_BLOCK;
            out[c * WORDS_PER_ENTRY + 7] = rows;
            c++;
            continue;
          }
          // Columns stored side by side are copied in one native call, not word by word: a
          // plan of a million locations must be quick on its first call too, before the JIT.
          let end = c + 1;
          while (end < columns.length && sourceIndex[end] === index + (end - c)) end++;
          const source = wordBase + index * WORDS_PER_ENTRY;
          if (end - c >= BULK_COPY_ENTRIES_MIN) {
            out.set(words.subarray(source, source + (end - c) * WORDS_PER_ENTRY), c * WORDS_PER_ENTRY);
          } else {
            for (let w = 0; w < (end - c) * WORDS_PER_ENTRY; w++) out[c * WORDS_PER_ENTRY + w] = words[source + w] as number;
          }
          for (; c < end; c++) {
            const at = c * WORDS_PER_ENTRY;
            const local = out[at] as number;
            let global = localToGlobal[local] as number;
            if (global < 0) {
              global = globalBlock(sources, file.record.blockIds[local] as string, blocks, blockIndex);
              localToGlobal[local] = global;
            }
            out[at] = global;
          }
        }
        stripes.push({
          partition: partition.spec,
          fileId: file.record.fileId,
          stripe: stripeNumber,
          rows,
          streams: new Uint8Array(out.buffer),
        });
      }
    }
  }

  const columnInfos: ColumnInfo[] = columns.map(columnInfo);
  return {
    plan: {
      table: table.name,
      schemaVersion: table.schemaVersion,
      columns: columnInfos,
      blocks,
      stripes,
      stripesConsidered: considered,
      stripesPruned: pruned,
      ...(next === undefined
        ? {}
        : { next: encodeScanCursor({ tableId: table.id, schemaVersion: table.schemaVersion, request: fingerprint, ...next }) }),
    },
    columnCids: columns.map((column) => column.cid),
  };
}

/** Checks a cursor against this table, request and catalog, and finds where its page starts. */
function resume(sources: PlanSources, partitions: readonly PartitionRecord[], after: string, fingerprint: string): WalkStart {
  const { table } = sources;
  const cursor = decodeScanCursor(after);
  if (cursor.tableId !== table.id) throw foreignCursor(`another table (or table ${table.name} was dropped and created again)`);
  if (cursor.request !== fingerprint) throw foreignCursor('a scan with other partitions, columns, stripes or where');
  if (cursor.schemaVersion !== table.schemaVersion) {
    throw staleCursor(`table ${table.name} changed schema (version ${cursor.schemaVersion} -> ${table.schemaVersion})`);
  }
  const partition = partitions.findIndex((candidate) => candidate.spec === cursor.partition);
  if (partition < 0) throw staleCursor(`partition ${cursor.partition} of ${table.name} was dropped`);
  const files = sources.files(cursor.partition);
  let fileFirstStripe = 0;
  for (let file = 0; file < files.length; file++) {
    const record = (files[file] as LoadedFile).record;
    // A file re-laid out since the page was planned holds the same stripes in the same place.
    if (record.fileId === cursor.fileId || record.replaces?.includes(cursor.fileId) === true) {
      // A file removed before this one renumbers every stripe after it, and with them the
      // `stripes` ranges splits were cut by.
      if (fileFirstStripe + cursor.stripeInFile !== cursor.stripe || cursor.stripeInFile >= record.stripeCount) {
        throw staleCursor(`the files of partition ${cursor.partition} changed (stripe ${cursor.stripe} moved)`);
      }
      return { partition, file, stripeInFile: cursor.stripeInFile, fileFirstStripe };
    }
    fileFirstStripe += record.stripeCount;
  }
  throw staleCursor(`file ${cursor.fileId} of partition ${cursor.partition} was removed`);
}

/**
 * False when a predicate rules the whole file out by its bounds (or names a column the file does
 * not have): then every stripe of it would be pruned, since a stripe's stats lie within the
 * file's bounds (NaN bounds, some stripe without stats, keep the file).
 */
function fileMayMatch(file: LoadedFile, predicateIndex: readonly number[], predicates: readonly ResolvedPredicate[]): boolean {
  for (let p = 0; p < predicates.length; p++) {
    const index = predicateIndex[p] as number;
    if (!mayMatch(index >= 0, file.bounds[2 * index] as number, file.bounds[2 * index + 1] as number, predicates[p] as ResolvedPredicate)) return false;
  }
  return true;
}

/** An invariant of the walk; a failure is a bug, not a bad request. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}

function globalBlock(sources: PlanSources, blockId: string, blocks: PlannedBlock[], blockIndex: Map<string, number>): number {
  const known = blockIndex.get(blockId);
  if (known !== undefined) return known;
  const record = sources.block(blockId);
  if (record === undefined) throw new GranaryError('GRN_INTERNAL', `catalog names block ${blockId}, which has no record`);
  blocks.push({
    blockId,
    dataShards: record.dataShards,
    parityShards: record.parityShards,
    codec: record.codec,
    blockBytes: record.blockBytes,
    shardBytes: record.shardBytes,
    chunks: record.nodes.map((nodeId, shard) => {
      const node = sources.node(nodeId);
      return { shard, chunkId: `${blockId}.${shard}`, nodeId, url: node?.url ?? '', nodeState: node?.state ?? 'dead' };
    }),
  });
  blockIndex.set(blockId, blocks.length - 1);
  return blocks.length - 1;
}
