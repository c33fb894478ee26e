/** Tells the metadata service of chunks a reader found damaged, so repair restores them. */
import type { MetadataClient } from '../metadata-client.js';
import type { CorruptReporter } from './fetcher.js';

/**
 * A reporter that sends each damaged chunk once, however many of its ranges the reader reads,
 * with `who` naming the reader in the reason (`client read`, `re-layout read`).
 */
export function corruptReporter(metadata: MetadataClient, who: string): CorruptReporter {
  const reported = new Set<string>();
  return (chunk, reason, missing) => {
    if (reported.has(chunk.chunkId)) return;
    reported.add(chunk.chunkId);
    const report = { chunkId: chunk.chunkId, reason: `${who}: ${reason}`, ...(missing ? { missing: true } : {}) };
    metadata.reportCorrupt(chunk.nodeId, { chunks: [report] }).catch(() => {
      // The node's scrubber reports its own corrupt chunks too; a lost reader's report costs nothing.
    });
  };
}
