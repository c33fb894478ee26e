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
  options: Pick<ScanOptions, 'partitions' | 'where' | 'stripes'>,
  stripesPerSplit: number,
): Promise<ScanSplit[]> {
  if (!Number.isInteger(stripesPerSplit) || stripesPerSplit < 1) {
    throw new GranaryError('GRN_BAD_REQUEST', `stripesPerSplit must be a positive integer, got ${stripesPerSplit}`);
  }
  // A plan with no columns lists the selected stripes and nothing else: cheap.
  const plan = await metadata.plan(table, { ...options, columns: [] });
  const byPartition = new Map<string, number[]>();
  for (const stripe of plan.stripes) {
    let list = byPartition.get(stripe.partition);
    if (list === undefined) {
      list = [];
      byPartition.set(stripe.partition, list);
    }
    list.push(stripe.stripe);
  }
  const splits: ScanSplit[] = [];
  for (const [partition, stripes] of byPartition) {
    const partitions = Object.fromEntries(
      partition.split('/').map((part) => {
        const eq = part.indexOf('=');
        return [part.slice(0, eq), { eq: part.slice(eq + 1) }];
      }),
    );
    for (let i = 0; i < stripes.length; i += stripesPerSplit) {
      const chunk = stripes.slice(i, i + stripesPerSplit);
      splits.push({ partitions, stripes: { from: chunk[0] as number, to: (chunk[chunk.length - 1] as number) + 1 } });
    }
  }
  return splits;
}
