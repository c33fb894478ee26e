/**
 * One group of stripes read to Arrow batches: its streams fetched (coalesced, batched, degraded
 * when needed), every stream checked against its writer's checksum and repaired from parity when
 * it does not match, then decoded. The same code runs on the scan's thread (threads <= 1) and on
 * read workers (read-worker.ts).
 */
import * as arrow from 'apache-arrow';
import { xxh64 } from '../../erasure/index.js';
import { type ColumnInfo, decodeStreamEntry, GranaryError, NO_BLOCK, type PlannedBlock, type PlannedStripe, type ScanPlan, type StatsPredicate } from '../../protocol/index.js';
import { decodeStoredStream, nullData } from '../format/index.js';
import type { Fetcher } from './fetcher.js';
import { type CoalescingOptions, type ShardRead, type StreamNeed, groupByNode, planReads } from './read-plan.js';
import { filterRows } from './row-filter.js';
import type { ScanStats } from './scan-stats.js';

/** Stripes read together, with the plan page they come from (their block refs index its blocks). */
export interface Group {
  readonly page: ScanPlan;
  readonly fetcher: Fetcher;
  readonly stripes: readonly PlannedStripe[];
}

/**
 * The columns of `schema` a scan yields, by index in the order asked, or undefined when that is
 * all of them as decoded (the columns a `where` needs are read too, and dropped here).
 */
export function outputColumns(schema: arrow.Schema, outputNames: readonly string[]): number[] | undefined {
  if (outputNames.length === schema.fields.length) return undefined;
  return outputNames.map((name) => schema.fields.findIndex((field) => field.name === name));
}

/** The batches a consumer sees of one decoded batch: matching rows only, the output columns only. */
export function outputBatches(batch: arrow.RecordBatch, where: readonly StatsPredicate[], columns: readonly number[] | undefined): arrow.RecordBatch[] {
  const out: arrow.RecordBatch[] = [];
  for (const slice of filterRows(batch, where)) out.push(columns === undefined ? slice : slice.selectAt([...columns]));
  return out;
}

/** Bytes of the streams a page's stripes hold. */
export function streamBytesOf(plan: ScanPlan): number {
  let bytes = 0;
  for (const stripe of plan.stripes) for (let c = 0; c < plan.columns.length; c++) bytes += decodeStreamEntry(stripe.streams, c).length;
  return bytes;
}

/** The page's stripes cut into groups of about `groupBytes` of streams: [from, to) index ranges. */
export function groupStripes(plan: ScanPlan, groupBytes: number): [number, number][] {
  const groups: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  plan.stripes.forEach((stripe, s) => {
    let stripeBytes = 0;
    for (let c = 0; c < plan.columns.length; c++) stripeBytes += decodeStreamEntry(stripe.streams, c).length;
    if (s > from && bytes + stripeBytes > groupBytes) {
      groups.push([from, s]);
      from = s;
      bytes = 0;
    }
    bytes += stripeBytes;
  });
  if (plan.stripes.length > from) groups.push([from, plan.stripes.length]);
  return groups;
}

export async function readGroup(group: Group, coalescing: CoalescingOptions, schema: arrow.Schema, stats: ScanStats): Promise<arrow.RecordBatch[]> {
  const { page: plan, fetcher } = group;
  const columns = plan.columns;
  const needs: StreamNeed[] = [];
  const checksums: bigint[] = [];
  const entries = group.stripes.map((stripe) =>
    columns.map((_, c) => {
      const entry = decodeStreamEntry(stripe.streams, c);
      if (entry.blockRef === NO_BLOCK) return { entry, need: -1 };
      needs.push({ blockRef: entry.blockRef, offset: entry.offset, length: entry.length });
      checksums.push(entry.checksum);
      stats.bytesNeeded += entry.length;
      return { entry, need: needs.length - 1 };
    }),
  );
  const { streams, stillBad } = await fetchStreams(plan.blocks, needs, checksums, coalescing, fetcher);
  return Promise.all(group.stripes.map(async (stripe, s) => {
    stats.stripes++;
    const children = await Promise.all(columns.map(async (column: ColumnInfo, c) => {
      const { entry, need } = (entries[s] as { entry: ReturnType<typeof decodeStreamEntry>; need: number }[])[c] as {
        entry: ReturnType<typeof decodeStreamEntry>;
        need: number;
      };
      if (need < 0) return nullData(column.type, stripe.rows);
      const bytes = streams[need] as Uint8Array;
      if (stillBad.has(need)) {
        throw new GranaryError(
          'GRN_DATA_CORRUPT',
          `stream of column ${column.name} in stripe ${stripe.stripe} of ${stripe.partition} does not match its checksum, read directly or rebuilt from parity`,
          { details: { block: plan.blocks[entry.blockRef]?.blockId, column: column.name } },
        );
      }
      return decodeStoredStream(column.type, entry.encoding, bytes, stripe.rows);
    }));
    const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: stripe.rows, nullCount: 0, children });
    return new arrow.RecordBatch(schema, struct);
  }));
}

/**
 * The bytes of `needs` (streams of `blocks`), coalesced into reads, fetched (around dead, slow and
 * lying nodes) and checked against `checksums`: a stream that does not match is read again from
 * parity; the ones that never matched are in `stillBad`. Every stream is hashed once, here.
 */
export async function fetchStreams(
  blocks: readonly PlannedBlock[],
  needs: readonly StreamNeed[],
  checksums: readonly bigint[],
  coalescing: CoalescingOptions,
  fetcher: Fetcher,
): Promise<{ readonly streams: Uint8Array[]; readonly stillBad: Set<number> }> {
  const reads = planReads(blocks, needs, coalescing);
  const data = await fetcher.fetch(groupByNode(blocks, reads, coalescing));
  const streams = assemble(needs, reads, data);
  const stillBad = await repairMismatches(needs, checksums, reads, data, streams, fetcher);
  return { streams, stillBad };
}

/** Combinations of served and rebuilt reads tried for one stream (2^sources, for up to this many sources). */
const MISMATCH_SOURCES_MAX = 4;

/**
 * A stream whose bytes do not match the checksum its writer recorded (damaged in transit, in a
 * node's memory, or on a disk whose page checksums were computed over the damage) is read again
 * from parity. Which of the reads it came from is wrong is not known, and up to m of the block's
 * shards may be bad at once (so the rebuild of a good read may itself fail, or use a bad input):
 * every source read is rebuilt once where it can be, and the combinations of served and rebuilt
 * bytes are tried until one matches the writer's checksum. The reads whose rebuilt bytes were
 * used are reported. Returns the streams that never matched.
 */
async function repairMismatches(
  needs: readonly StreamNeed[],
  checksums: readonly bigint[],
  reads: readonly ShardRead[],
  data: Map<ShardRead, Uint8Array>,
  streams: Uint8Array[],
  fetcher: Fetcher,
): Promise<Set<number>> {
  const stillBad = new Set<number>();
  const rebuilt = new Map<ShardRead, Uint8Array | undefined>();
  for (let i = 0; i < needs.length; i++) {
    if (xxh64(streams[i] as Uint8Array) === checksums[i]) continue;
    const sources = reads.filter((read) => read.pieces.some((piece) => piece.stream === i));
    // A read this stream shares with one mended for an earlier stream may already be right.
    const current = assemble(needs, sources, data)[i] as Uint8Array;
    if (xxh64(current) === checksums[i]) {
      streams[i] = current;
      continue;
    }
    stillBad.add(i);
    for (const source of sources) {
      if (rebuilt.has(source)) continue;
      // A rebuild that cannot find k good inputs (another bad shard among them) is not the answer.
      rebuilt.set(source, await fetcher.rebuildRead(source, 'stream checksum mismatch').catch(() => undefined));
    }
    // Rebuilt reads that differ from what was served: the only ones worth swapping in.
    const swappable = sources.filter((source) => {
      const bytes = rebuilt.get(source);
      return bytes !== undefined && Buffer.compare(bytes, data.get(source) as Uint8Array) !== 0;
    });
    const choices = swappable.length <= MISMATCH_SOURCES_MAX ? 2 ** swappable.length : 2;
    for (let mask = 1; mask < choices; mask++) {
      // Past the bound, only "every one swapped" is tried.
      const swapped = swappable.length <= MISMATCH_SOURCES_MAX ? swappable.filter((_, bit) => (mask & (1 << bit)) !== 0) : swappable;
      const trial = new Map(data);
      for (const source of swapped) trial.set(source, rebuilt.get(source) as Uint8Array);
      const candidate = assemble(needs, sources, trial)[i] as Uint8Array;
      if (xxh64(candidate) !== checksums[i]) continue;
      for (const source of swapped) {
        data.set(source, rebuilt.get(source) as Uint8Array);
        fetcher.reportBadRead(source, 'served bytes that fail the writer\'s stream checksum');
      }
      streams[i] = candidate;
      stillBad.delete(i);
      break;
    }
  }
  return stillBad;
}

/** Cuts each stream out of the reads that hold it: a view when one read holds it all. */
function assemble(needs: readonly StreamNeed[], reads: readonly ShardRead[], data: Map<ShardRead, Uint8Array>): Uint8Array[] {
  const streams: (Uint8Array | undefined)[] = needs.map((need) => (need.length === 0 ? new Uint8Array(0) : undefined));
  for (const read of reads) {
    const bytes = data.get(read) as Uint8Array;
    for (const piece of read.pieces) {
      const need = needs[piece.stream] as StreamNeed;
      if (piece.length === need.length) {
        streams[piece.stream] = bytes.subarray(piece.readOffset, piece.readOffset + piece.length);
        continue;
      }
      let stream = streams[piece.stream];
      if (stream === undefined) {
        stream = new Uint8Array(need.length);
        streams[piece.stream] = stream;
      }
      stream.set(bytes.subarray(piece.readOffset, piece.readOffset + piece.length), piece.streamOffset);
    }
  }
  return streams as Uint8Array[];
}
