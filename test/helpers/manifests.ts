/** Commit manifests for metadata tests: one block of a 6+3 table, `stripes` stripes of 1000-byte streams. */
import { contiguousLayout } from '../../erasure/index.js';
import type { BlockPlacement, CommitManifest } from '../../protocol/index.js';

/** Min and max of a stream's values, or undefined for a stream without them. */
export type StatsOf = (stripe: number, column: string) => { min: number | string; max: number | string } | undefined;

export function manifestFor(block: BlockPlacement, columns: readonly string[], stripes: number, rows = 100, stats: StatsOf = () => undefined): CommitManifest {
  const streamBytes = 1000;
  const blockBytes = streamBytes * columns.length * stripes;
  return {
    files: [
      {
        columns,
        stripes: Array.from({ length: stripes }, (_, s) => ({
          rows,
          streams: columns.map((column, c) => ({
            block: block.blockId,
            offset: (s * columns.length + c) * streamBytes,
            length: streamBytes,
            checksum: (s * 100 + c).toString(16).padStart(16, '0'),
            encoding: 1,
            stats: { nulls: 0, ...stats(s, column) },
          })),
        })),
      },
    ],
    blocks: [
      {
        blockId: block.blockId,
        blockBytes,
        shardBytes: contiguousLayout({ dataShards: 6, parityShards: 3 }, blockBytes).shardBytes,
        codec: block.codec,
        shardChecksums: Array.from({ length: 9 }, (_, shard) => shard.toString(16).padStart(16, '0')),
      },
    ],
  };
}
