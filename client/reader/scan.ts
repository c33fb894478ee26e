/**
 * `scan()`: the reader preprocessing workers use. It plans with the metadata service (a bounded
 * page of the plan at a time, the next fetched while this one is read), reads the
 * requested columns of the selected stripes in groups (coalesced, batched, degraded when needed,
 * prefetching a bounded number of groups ahead of the consumer), verifies every stream's
 * checksum, decodes stripes into Arrow record batches, and filters rows.
 */
import * as arrow from 'apache-arrow';
import { xxh64 } from '../../erasure/index.js';
import {
  type ColumnInfo,
  decodeStreamEntry,
  GranaryError,
  type HttpPools,
  NO_BLOCK,
  type PartitionPredicate,
  type PlannedChunk,
  type PlannedStripe,
  type ScanPlan,
  type ScanRequest,
  type StatsPredicate,
} from '../../protocol/index.js';
import { arrowSchemaOf, decodeStoredStream, nullData } from '../format/index.js';
import type { MetadataClient } from '../metadata-client.js';
import { type FetchStats, Fetcher, newFetchStats } from './fetcher.js';
import { COALESCING_DEFAULTS, type CoalescingOptions, type ShardRead, type StreamNeed, groupByNode, planReads } from './read-plan.js';
import { filterRows } from './row-filter.js';

export interface ScanOptions {
  readonly partitions?: Readonly<Record<string, PartitionPredicate>>;
  /** Columns to read, in output order; default all. */
  readonly columns?: readonly string[];
  /** Stats pruning, then row filtering: only rows matching every predicate are yielded. */
  readonly where?: readonly StatsPredicate[];
  /** Stripe range within each partition. */
  readonly stripes?: { readonly from?: number; readonly to?: number };
  readonly coalescing?: Partial<CoalescingOptions>;
  /** Batched requests in flight at once (default 16). */
  readonly concurrency?: number;
  /** Bytes of streams read per group (default 32 MiB); groups are the unit of prefetch. */
  readonly groupBytes?: number;
  /** Groups read ahead of the consumer (default 2). */
  readonly prefetchGroups?: number;
  /** Rebuild from parity what a node has not answered after this long (off by default). */
  readonly hedgeAfterMs?: number;
  /**
   * Weight of a plan page, in stream entries (default and most SCAN_PAGE_ENTRIES_MAX): smaller
   * pages hold less plan in memory and cost more plan requests.
   */
  readonly planPageEntries?: number;
  /** Filled in as the scan runs. */
  readonly stats?: ScanStats;
}

export interface ScanStats extends FetchStats {
  stripes: number;
  rows: number;
  /** Stream bytes the scan needed. */
  bytesNeeded: number;
}

export function newScanStats(): ScanStats {
  return { ...newFetchStats(), stripes: 0, rows: 0, bytesNeeded: 0 };
}

/** Stripes read together, with the plan page they come from (their block refs index its blocks). */
interface Group {
  readonly page: ScanPlan;
  readonly fetcher: Fetcher;
  readonly stripes: readonly PlannedStripe[];
}

export async function* scanTable(
  http: HttpPools,
  metadata: MetadataClient,
  table: string,
  options: ScanOptions = {},
): AsyncGenerator<arrow.RecordBatch> {
  const output = options.columns;
  const whereColumns = (options.where ?? []).map((p) => p.column);
  const fetchColumns = output === undefined ? undefined : [...new Set([...output, ...whereColumns])];
  const request: ScanRequest = {
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    ...(fetchColumns === undefined ? {} : { columns: fetchColumns }),
    ...(options.stripes === undefined ? {} : { stripes: options.stripes }),
    ...(options.where === undefined ? {} : { where: options.where }),
  };
  // The plan comes a page at a time, the next asked for while this one is read: the scan holds
  // about two pages of plan, whatever the size of the table.
  const pages = metadata.planPages(table, request, { prefetch: true, ...(options.planPageEntries === undefined ? {} : { limit: options.planPageEntries }) });
  const firstStep = await pages.next();
  if (firstStep.done === true) throw new GranaryError('GRN_INTERNAL', `planning ${table} answered no page`);
  const first = firstStep.value;
  const stats = options.stats ?? newScanStats();
  const coalescing = { ...COALESCING_DEFAULTS, ...options.coalescing };
  // Each damaged chunk is reported once per scan, however many of its ranges the scan reads.
  const reported = new Set<string>();
  const reportCorrupt = (chunk: PlannedChunk, reason: string, missing: boolean): void => {
    if (reported.has(chunk.chunkId)) return;
    reported.add(chunk.chunkId);
    const report = { chunkId: chunk.chunkId, reason: `client read: ${reason}`, ...(missing ? { missing: true } : {}) };
    metadata.reportCorrupt(chunk.nodeId, { chunks: [report] }).catch(() => {
      // The node reports its own corrupt chunks too; a lost client report costs nothing.
    });
  };
  const fetchOptions = { concurrency: options.concurrency ?? 16, ...(options.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: options.hedgeAfterMs }) };
  const groupBytes = options.groupBytes ?? 32 * 1024 * 1024;
  async function* groupsOfEveryPage(): AsyncGenerator<Group> {
    let page: ScanPlan | undefined = first;
    while (page !== undefined) {
      // Every page is of the schema version the scan began with: the service refuses a cursor otherwise.
      if (page.schemaVersion !== first.schemaVersion || page.columns.length !== first.columns.length) {
        throw new GranaryError('GRN_INTERNAL', `plan pages of ${table} changed schema mid-scan (version ${first.schemaVersion} -> ${page.schemaVersion})`);
      }
      // A fetcher per page, over that page's blocks. It forgets the nodes that failed on the
      // previous page, but each page brings node states fresh from the catalog instead.
      const fetcher = new Fetcher(http, page.blocks, fetchOptions, stats, reportCorrupt);
      for (const stripes of groupStripes(page, groupBytes)) yield { page, fetcher, stripes };
      const step: IteratorResult<ScanPlan> = await pages.next();
      page = step.done === true ? undefined : step.value;
    }
  }
  const schema = arrowSchemaOf(first.columns);
  const outputNames = output ?? first.columns.map((c) => c.name);
  const prefetch = Math.max(1, options.prefetchGroups ?? 2);
  const groups = groupsOfEveryPage();
  const inFlight: Promise<arrow.RecordBatch[]>[] = [];
  let exhausted = false;
  const launch = async (): Promise<void> => {
    while (!exhausted && inFlight.length < prefetch) {
      const step = await groups.next();
      if (step.done === true) {
        exhausted = true;
        return;
      }
      const pending = readGroup(step.value, coalescing, schema, stats);
      // Awaited in order below; a rejection is surfaced there, not left unhandled meanwhile.
      pending.catch(() => undefined);
      inFlight.push(pending);
    }
  };
  let launching = launch();
  for (;;) {
    await launching;
    const pending = inFlight.shift();
    if (pending === undefined) return;
    const batches = await pending;
    // Groups (and at a page's end, the next page) are launched while the consumer takes these.
    launching = launch();
    launching.catch(() => undefined);
    for (const batch of batches) {
      for (const slice of filterRows(batch, options.where ?? [])) {
        const selected = outputNames.length === first.columns.length ? slice : slice.select([...outputNames]);
        stats.rows += selected.numRows;
        yield selected;
      }
    }
  }
}

function groupStripes(plan: ScanPlan, groupBytes: number): PlannedStripe[][] {
  const groups: PlannedStripe[][] = [];
  let current: PlannedStripe[] = [];
  let bytes = 0;
  for (const stripe of plan.stripes) {
    let stripeBytes = 0;
    for (let c = 0; c < plan.columns.length; c++) stripeBytes += decodeStreamEntry(stripe.streams, c).length;
    if (current.length > 0 && bytes + stripeBytes > groupBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(stripe);
    bytes += stripeBytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

async function readGroup(group: Group, coalescing: CoalescingOptions, schema: arrow.Schema, stats: ScanStats): Promise<arrow.RecordBatch[]> {
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
  const reads = planReads(plan.blocks, needs, coalescing);
  const data = await fetcher.fetch(groupByNode(plan.blocks, reads, coalescing));
  const streams = assemble(needs, reads, data);
  // Every stream is hashed once, here; the decode below only asks which ones stayed bad.
  const stillBad = await repairMismatches(needs, checksums, reads, data, streams, fetcher);
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
