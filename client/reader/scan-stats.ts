/** What a scan counts as it runs, and how counts made on read workers are added to the scan's. */
import { type FetchStats, newFetchStats } from './fetcher.js';

export interface ScanStats extends FetchStats {
  stripes: number;
  rows: number;
  /** Stream bytes the scan needed. */
  bytesNeeded: number;
}

export function newScanStats(): ScanStats {
  return { ...newFetchStats(), stripes: 0, rows: 0, bytesNeeded: 0 };
}

/** Adds `delta`'s counts to `into`. */
export function addScanStats(into: ScanStats, delta: ScanStats): void {
  into.requests += delta.requests;
  into.bytesFetched += delta.bytesFetched;
  into.degradedReads += delta.degradedReads;
  into.hedgedRequests += delta.hedgedRequests;
  into.rebuildBytes += delta.rebuildBytes;
  for (const size of delta.readSizes) into.readSizes.push(size);
  for (const [node, bytes] of Object.entries(delta.bytesByNode)) into.bytesByNode[node] = (into.bytesByNode[node] ?? 0) + bytes;
  into.stripes += delta.stripes;
  into.rows += delta.rows;
  into.bytesNeeded += delta.bytesNeeded;
}

/** The counts since the last call, and zero in `stats` (a read worker sends them with each result). */
export function takeScanStats(stats: ScanStats): ScanStats {
  const taken: ScanStats = { ...stats, readSizes: stats.readSizes.splice(0), bytesByNode: { ...stats.bytesByNode } };
  stats.requests = 0;
  stats.bytesFetched = 0;
  stats.degradedReads = 0;
  stats.hedgedRequests = 0;
  stats.rebuildBytes = 0;
  stats.stripes = 0;
  stats.rows = 0;
  stats.bytesNeeded = 0;
  for (const node of Object.keys(stats.bytesByNode)) delete stats.bytesByNode[node];
  return taken;
}
