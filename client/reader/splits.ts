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

export async function planSplits(
  metadata: MetadataClient,
  table: string,
  options: Pick<ScanOptions, 'partitions' | 'where' | 'stripes' | 'planPageEntries'>,
  stripesPerSplit: number,
): Promise<ScanSplit[]> {
  if (!Number.isInteger(stripesPerSplit) || stripesPerSplit < 1) {
    throw new GranaryError('GRN_BAD_REQUEST', `stripesPerSplit must be a positive integer, got ${stripesPerSplit}`);
  }
  // A plan with no columns lists the selected stripes and nothing else: cheap. Its pages are
  // consumed as they come, keeping only the split being cut in each partition, so memory goes
  // with the number of splits, not of stripes.
  const splits: ScanSplit[] = [];
  let open: { partition: string; from: number; last: number; count: number } | undefined;
  const close = (): void => {
    if (open === undefined) return;
    splits.push({ partitions: predicatesOf(open.partition), stripes: { from: open.from, to: open.last + 1 } });
    open = undefined;
  };
  const { planPageEntries, ...selection } = options;
  const pages = metadata.planPages(table, { ...selection, columns: [] }, planPageEntries === undefined ? {} : { limit: planPageEntries });
  for await (const page of pages) {
    for (const stripe of page.stripes) {
      // Pages come in partition order, stripes in number order: a new partition closes the split.
      if (open !== undefined && (open.partition !== stripe.partition || open.count === stripesPerSplit)) close();
      if (open === undefined) open = { partition: stripe.partition, from: stripe.stripe, last: stripe.stripe, count: 0 };
      open.last = stripe.stripe;
      open.count++;
    }
  }
  close();
  return splits;
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
