/**
 * Scan planning: from a table, a partition filter, columns, a stripe range and stats predicates
 * to the exact stream locations a reader fetches. Pure over the in-memory catalog.
 *
 * Planning must take milliseconds for a million stream locations (1,000 columns x 1,000
 * stripes), so committed files keep their streams as aligned 32-bit words in the wire layout, and
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
  STREAM_ENTRY_BYTES,
  type ScanPlan,
  type ScanRequest,
} from '../protocol/index.js';
import { matchesPartition, validatePartitionFilter } from './partition-filter.js';
import { type ResolvedPredicate, mayMatch, resolvePredicate } from './pruning.js';
import type { BlockRecord, FileRecord, PartitionRecord, TableRecord } from './records.js';
import { columnInfo, visibleColumns } from './schema.js';

const WORDS_PER_ENTRY = STREAM_ENTRY_BYTES / 4;

/** A committed file prepared for planning. */
export interface LoadedFile {
  readonly record: FileRecord;
  /** Column id -> index of its stream in the file. */
  readonly columnIndex: ReadonlyMap<number, number>;
  /** Per stripe: WORDS_PER_ENTRY words per file column (aligned copy of record streams). */
  readonly streamWords: readonly Uint32Array[];
  /** Per stripe: min, max per file column. */
  readonly stats: readonly Float64Array[];
}

export function loadFile(record: FileRecord): LoadedFile {
  return {
    record,
    columnIndex: new Map(record.columnCids.map((cid, index) => [cid, index])),
    streamWords: record.stripes.map((stripe) => {
      const words = new Uint32Array(stripe.streams.length / 4);
      new Uint8Array(words.buffer).set(stripe.streams);
      return words;
    }),
    stats: record.stripes.map((stripe) => {
      const floats = new Float64Array(stripe.stats.length / 8);
      new Uint8Array(floats.buffer).set(stripe.stats);
      return floats;
    }),
  };
}

export interface PlanSources {
  readonly table: TableRecord;
  /** The table's committed partitions. */
  readonly partitions: readonly PartitionRecord[];
  /** A partition's files in commit order. */
  files(partition: string): readonly LoadedFile[];
  block(blockId: string): BlockRecord | undefined;
  node(nodeId: string): { readonly url: string; readonly state: NodeState } | undefined;
}

export interface PlanResult {
  readonly plan: ScanPlan;
  /** Column ids the scan reads (for popularity). */
  readonly columnCids: readonly number[];
}

/** Runs of stored-together columns at least this long are copied natively (a call costs more for fewer). */
const BULK_COPY_ENTRIES_MIN = 4;

export function planScan(sources: PlanSources, request: ScanRequest): PlanResult {
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

  const blocks: PlannedBlock[] = [];
  const blockIndex = new Map<string, number>();
  const stripes: PlannedStripe[] = [];
  let considered = 0;
  let pruned = 0;
  const partitions = sources.partitions
    .filter((partition) => matchesPartition(partition.values, filter))
    .sort((a, b) => (a.spec < b.spec ? -1 : a.spec > b.spec ? 1 : 0));

  for (const partition of partitions) {
    let stripeNumber = 0;
    for (const file of sources.files(partition.spec)) {
      const fileStripes = file.record.stripes.length;
      if (stripeNumber + fileStripes <= from || stripeNumber >= to) {
        stripeNumber += fileStripes;
        continue;
      }
      const localToGlobal = new Int32Array(file.record.blockIds.length).fill(-1);
      const sourceIndex = columns.map((column) => file.columnIndex.get(column.cid) ?? -1);
      const predicateIndex = predicates.map((predicate) => file.columnIndex.get(predicate.cid) ?? -1);
      for (let s = 0; s < fileStripes; s++, stripeNumber++) {
        if (stripeNumber < from || stripeNumber >= to) continue;
        considered++;
        const stats = file.stats[s] as Float64Array;
        const words = file.streamWords[s] as Uint32Array;
        const rows = (file.record.stripes[s] as { rows: number }).rows;
        let keep = true;
        for (let p = 0; p < predicates.length && keep; p++) {
          const index = predicateIndex[p] as number;
          const allNull = index >= 0 && (words[index * WORDS_PER_ENTRY + 7] as number) === rows;
          keep = mayMatch(index >= 0 && !allNull, stats[2 * index] as number, stats[2 * index + 1] as number, predicates[p] as ResolvedPredicate);
        }
        if (!keep) {
          pruned++;
          continue;
        }
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
          if (end - c >= BULK_COPY_ENTRIES_MIN) {
            out.set(words.subarray(index * WORDS_PER_ENTRY, (index + end - c) * WORDS_PER_ENTRY), c * WORDS_PER_ENTRY);
          } else {
            for (let w = 0; w < (end - c) * WORDS_PER_ENTRY; w++) out[c * WORDS_PER_ENTRY + w] = words[index * WORDS_PER_ENTRY + w] as number;
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
    },
    columnCids: columns.map((column) => column.cid),
  };
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
