/**
 * Splits for N workers: the client's splits cut one stripe each, then merged within each
 * partition into runs of about stripes/N, so there are about N (more when partitions do not
 * divide evenly, fewer when the table has fewer stripes than workers).
 */
import type { GranaryClient, ScanOptions, ScanSplit } from '../client/index.js';

export async function splitsForWorkers(client: GranaryClient, table: string, selection: Pick<ScanOptions, 'partitions' | 'where' | 'stripes'>, workers: number): Promise<ScanSplit[]> {
  const single = await client.splits(table, selection, 1);
  const perSplit = Math.max(1, Math.floor(single.length / workers));
  return perSplit === 1 ? single : mergeRuns(single, perSplit);
}

/** Consecutive one-stripe splits of a partition merged `perSplit` at a time (stripe gaps pruned by `where` stay inside: the scan prunes them again). */
export function mergeRuns(single: readonly ScanSplit[], perSplit: number): ScanSplit[] {
  const merged: ScanSplit[] = [];
  let open: { key: string; split: ScanSplit; count: number } | undefined;
  for (const split of single) {
    const key = JSON.stringify(split.partitions);
    if (open !== undefined && open.key === key && open.count < perSplit) {
      open = { key, count: open.count + 1, split: { partitions: open.split.partitions, stripes: { from: open.split.stripes.from, to: split.stripes.to } } };
      continue;
    }
    if (open !== undefined) merged.push(open.split);
    open = { key, split, count: 1 };
  }
  if (open !== undefined) merged.push(open.split);
  return merged;
}
