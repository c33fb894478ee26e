/**
 * Cutting one scan into independent work units, so many preprocessing workers (separate
 * processes, separate machines) share a scan without reading a byte twice: each split is one
 * partition and a stripe range of it, expressed as scan options any worker can run.
 */
import { GranaryError, type PartitionPredicate } from '../../protocol/index.js';
import type { MetadataClient } from '../metadata-client.js';
import type { ScanOptions } from './scan.js';

/** A work unit: merge it into the scan's options (`{ ...options, ...split }`). */
export interface ScanSplit {
  readonly partitions: Readonly<Record<string, PartitionPredicate>>;
  readonly stripes: { readonly from: number; readonly to: number };
}

/** What a scan's selection is: the options that choose stripes, not columns. */
export type SplitSelection = Pick<ScanOptions, 'partitions' | 'where' | 'stripes' | 'planPageEntries'>;

/** One selected stripe: its partition (`ds=2026-11-25/region=eu`) and number. */
export interface SelectedStripe {
  readonly partition: string;
  readonly stripe: number;
}

/**
 * The stripes a selection reads, partition by partition in stripe order. A plan with no columns
 * lists the selected stripes and nothing else: cheap, and consumed page by page.
 */
async function* selectedStripes(metadata: MetadataClient, table: string, options: SplitSelection): AsyncGenerator<SelectedStripe> {
  const { planPageEntries, ...selection } = options;
  const pages = metadata.planPages(table, { ...selection, columns: [] }, planPageEntries === undefined ? {} : { limit: planPageEntries });
  for await (const page of pages) yield* page.stripes;
}

/**
 * Cuts stripes, in plan order, into splits of at most `stripesPerSplit` stripes of one partition
 * each. Stripes pruned between two selected ones stay inside a split (`to` is the last + 1): the
 * worker's scan prunes them again. Memory goes with the splits, not the stripes.
 */
export function cutSplits(stripes: Iterable<SelectedStripe>, stripesPerSplit: number): ScanSplit[] {
  const cutter = new SplitCutter(stripesPerSplit);
  for (const stripe of stripes) cutter.add(stripe);
  return cutter.finish();
}

class SplitCutter {
  private readonly splits: ScanSplit[] = [];
  private open: { partition: string; from: number; last: number; count: number } | undefined;

  constructor(private readonly stripesPerSplit: number) {
    if (!Number.isInteger(stripesPerSplit) || stripesPerSplit < 1) {
      throw new GranaryError('GRN_BAD_REQUEST', `stripesPerSplit must be a positive integer, got ${stripesPerSplit}`);
    }
  }

  add({ partition, stripe }: SelectedStripe): void {
    // Stripes come in partition order, then number order: a new partition closes the split.
    if (this.open !== undefined && (this.open.partition !== partition || this.open.count === this.stripesPerSplit)) this.close();
    if (this.open === undefined) this.open = { partition, from: stripe, last: stripe, count: 0 };
    this.open.last = stripe;
    this.open.count++;
  }

  finish(): ScanSplit[] {
    this.close();
    return this.splits;
  }

  private close(): void {
    if (this.open === undefined) return;
    this.splits.push({ partitions: predicatesOf(this.open.partition), stripes: { from: this.open.from, to: this.open.last + 1 } });
    this.open = undefined;
  }
}

/** The selection cut into splits of `stripesPerSplit` stripes, read from the plan as it comes. */
export async function planSplits(metadata: MetadataClient, table: string, options: SplitSelection, stripesPerSplit: number): Promise<ScanSplit[]> {
  const cutter = new SplitCutter(stripesPerSplit);
  for await (const stripe of selectedStripes(metadata, table, options)) cutter.add(stripe);
  return cutter.finish();
}

/**
 * The selection cut for `workers` readers: runs of about stripes/workers stripes within each
 * partition, so about `workers` splits (more where partitions do not divide evenly, fewer when
 * there are fewer stripes than workers). The stripes are counted first, so they are held once.
 */
export async function planWorkerSplits(metadata: MetadataClient, table: string, options: SplitSelection, workers: number): Promise<ScanSplit[]> {
  if (!Number.isInteger(workers) || workers < 1) throw new GranaryError('GRN_BAD_REQUEST', `workers must be a positive integer, got ${workers}`);
  const stripes: SelectedStripe[] = [];
  for await (const stripe of selectedStripes(metadata, table, options)) stripes.push(stripe);
  return cutSplits(stripes, Math.max(1, Math.floor(stripes.length / workers)));
}

/** How many stripes the selection reads (a plan of no columns; for progress totals). */
export async function countStripes(metadata: MetadataClient, table: string, options: SplitSelection): Promise<number> {
  let count = 0;
  for await (const _stripe of selectedStripes(metadata, table, options)) count++;
  return count;
}

/** `ds=2026-11-25/region=eu` -> `{ ds: { eq: '2026-11-25' }, region: { eq: 'eu' } }`. */
function predicatesOf(partition: string): Record<string, PartitionPredicate> {
  return Object.fromEntries(
    partition.split('/').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq), { eq: part.slice(eq + 1) }];
    }),
  );
}
