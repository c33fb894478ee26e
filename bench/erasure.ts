/**
 * Erasure codec throughput for RS 6+3 and 10+4 over 1 MiB and 8 MiB shards, as a ratio to
 * Buffer.copy of the same data bytes measured in the same run.
 *
 * encode: k data shards in, m parity shards out; reconstruct: m lost data shards rebuilt from
 * the survivors (the worst case a read meets). Throughput counts data bytes (k x shard).
 */
import { encodeParity, reconstructShards } from '../erasure/index.js';
import { type Throughput, gbps, printTable, ratio, throughput } from './measure.js';

export interface ErasureFigures {
  readonly rows: readonly { policy: string; shardBytes: number; copy: Throughput; encode: Throughput; reconstruct: Throughput }[];
}

export async function benchErasure(seconds = 2): Promise<ErasureFigures> {
  const rows: ErasureFigures['rows'][number][] = [];
  for (const [k, m] of [[6, 3], [10, 4]] as const) {
    for (const shardBytes of [1024 * 1024, 8 * 1024 * 1024]) {
      const policy = { dataShards: k, parityShards: m };
      const data = Array.from({ length: k }, (_, i) => new Uint8Array(shardBytes).map((_, j) => (i * 31 + j * 7) & 255));
      const dataBytes = k * shardBytes;
      const source = Buffer.concat(data);
      const target = Buffer.allocUnsafe(dataBytes);
      const copy = await throughput('copy', () => source.copy(target), seconds);
      const encode = await throughput('encode', async () => {
        await encodeParity(policy, data);
        return dataBytes;
      }, seconds);
      const parity = await encodeParity(policy, data);
      const lost = Array.from({ length: m }, (_, i) => i);
      const damaged = [...data, ...parity].map((shard, i) => (lost.includes(i) ? null : shard));
      const reconstruct = await throughput('reconstruct', async () => {
        await reconstructShards(policy, damaged, lost);
        return dataBytes;
      }, seconds);
      rows.push({ policy: `${k}+${m}`, shardBytes, copy, encode, reconstruct });
    }
  }
  printTable('Erasure codec (rs-wasm-v1, one core) vs Buffer.copy of the same data bytes', [
    ['policy', 'shard', 'Buffer.copy', 'encode', 'ratio', `reconstruct m`, 'ratio'],
    ...rows.map((r) => [
      r.policy,
      `${r.shardBytes / 1024 / 1024} MiB`,
      gbps(r.copy.bytesPerSecond),
      gbps(r.encode.bytesPerSecond),
      ratio(r.encode.bytesPerSecond, r.copy.bytesPerSecond),
      gbps(r.reconstruct.bytesPerSecond),
      ratio(r.reconstruct.bytesPerSecond, r.copy.bytesPerSecond),
    ]),
  ]);
  return { rows };
}
