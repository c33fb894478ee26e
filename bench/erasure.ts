/**
 * Erasure codec throughput on one core, codec rs-wasm-v1 computed two ways: the
 * reed-solomon-erasure library (wasm, the reference) and the SIMD kernel (erasure/simd), each as a
 * ratio to Buffer.copy of the same data bytes measured in the same run.
 *
 * - encode: k data shards in, m parity shards out, into parity buffers reused from the previous
 *   block (encodeParityInto, as the writer does);
 * - range reconstruct: one lost data shard's range rebuilt from the same range of k survivors
 *   (reconstructShards, as a degraded read does; it allocates the rebuilt range);
 * - reconstruct m: m lost data shards rebuilt (the worst case a read meets).
 * Throughput counts data bytes: k x shard (or range) bytes, the input of the operation.
 *
 * Alone: `npx tsx bench/erasure.ts [--quick]`. Headline figures (RS 6+3 over the ~10.7 MiB shards
 * of a default 64 MiB block; the 1 MiB row, whose copy runs from cache, is printed beside it) are in the
 * returned `simd` and `library` objects: encodeGBps, encodeOverMemcpy, reconstructGBps (range
 * reconstruct of one shard), reconstructOverMemcpy, reconstructAllGBps (m lost); `speedup` is
 * SIMD over library.
 */
import { fileURLToPath } from 'node:url';
import { type ErasureCodec, RsWasmCodec, SimdRsCodec, encodeParity, encodeParityInto, reconstructShards } from '../erasure/index.js';
import { type Throughput, gbps, printTable, ratio, throughput } from './measure.js';

type Kernel = 'library' | 'simd';

/** A wall-clock measurement plus the process CPU time it took (this machine is often shared). */
export interface Measured extends Throughput {
  /** Bytes per second of process CPU time (user + system), warm-up included. */
  readonly cpuBytesPerSecond: number;
}

async function measured(name: string, once: () => Promise<number> | number, seconds: number): Promise<Measured> {
  const before = process.cpuUsage();
  const result = await throughput(name, once, seconds);
  const used = process.cpuUsage(before);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { ...result, cpuBytesPerSecond: result.bytes / cpuSeconds };
}

export interface ErasureRow {
  readonly policy: string;
  readonly shardBytes: number;
  readonly copy: Measured;
  readonly encode: Readonly<Record<Kernel, Measured>>;
  readonly rangeReconstruct: Readonly<Record<Kernel, Measured>>;
  readonly reconstruct: Readonly<Record<Kernel, Measured>>;
}

export interface KernelFigures {
  readonly encodeGBps: number;
  readonly encodeOverMemcpy: number;
  readonly reconstructGBps: number;
  readonly reconstructOverMemcpy: number;
  readonly reconstructAllGBps: number;
  readonly reconstructAllOverMemcpy: number;
  /** The same per second of process CPU time: what one core does when the machine is shared. */
  readonly encodeCpuGBps: number;
  readonly reconstructCpuGBps: number;
  readonly encodeOverMemcpyCpu: number;
  readonly reconstructOverMemcpyCpu: number;
}

export interface ErasureFigures {
  readonly rows: readonly ErasureRow[];
  /** Buffer.copy of the headline row's data bytes, GB/s. */
  readonly memcpyGBps: number;
  readonly simd: KernelFigures;
  readonly library: KernelFigures;
  readonly speedup: { readonly encode: number; readonly reconstruct: number };
}

/** The shard of a default 64 MiB block under RS 6+3 (contiguousLayout rounds it up to 8 bytes). */
const DEFAULT_BLOCK_SHARD_BYTES = Math.ceil((64 * 1024 * 1024) / 6 / 8) * 8;

/** The first row is the headline: RS 6+3 over the shards of a default 64 MiB block. */
const CASES = [
  [6, 3, DEFAULT_BLOCK_SHARD_BYTES],
  [6, 3, 1024 * 1024],
  [10, 4, 1024 * 1024],
] as const;

export async function benchErasure(seconds = 2): Promise<ErasureFigures> {
  const codecs: Record<Kernel, ErasureCodec> = { library: new RsWasmCodec(), simd: new SimdRsCodec() };
  const rows: ErasureRow[] = [];
  for (const [k, m, shardBytes] of CASES) {
    const policy = { dataShards: k, parityShards: m };
    const data = Array.from({ length: k }, (_, i) => new Uint8Array(shardBytes).map((_, j) => (i * 31 + j * 7) & 255));
    const dataBytes = k * shardBytes;
    const source = Buffer.concat(data);
    const target = Buffer.allocUnsafe(dataBytes);
    const copy = await measured('copy', () => source.copy(target), seconds);
    const parity = await encodeParity(policy, data, codecs.simd);
    const all = [...data, ...parity];
    const lostOne = all.map((shard, i) => (i === 0 ? null : shard));
    const lostM = all.map((shard, i) => (i < m ? null : shard));
    const wantedM = Array.from({ length: m }, (_, i) => i);
    const spareParity = Array.from({ length: m }, () => new Uint8Array(shardBytes));
    const measure = async (kernel: Kernel) => {
      const codec = codecs[kernel];
      const encode = await measured(`${kernel} encode`, async () => {
        await encodeParityInto(policy, data, spareParity, codec);
        return dataBytes;
      }, seconds);
      const rangeReconstruct = await measured(`${kernel} range reconstruct`, async () => {
        await reconstructShards(policy, lostOne, [0], codec);
        return dataBytes;
      }, seconds);
      const reconstruct = await measured(`${kernel} reconstruct m`, async () => {
        await reconstructShards(policy, lostM, wantedM, codec);
        return dataBytes;
      }, seconds);
      return { encode, rangeReconstruct, reconstruct };
    };
    const library = await measure('library');
    const simd = await measure('simd');
    rows.push({
      policy: `${k}+${m}`,
      shardBytes,
      copy,
      encode: { library: library.encode, simd: simd.encode },
      rangeReconstruct: { library: library.rangeReconstruct, simd: simd.rangeReconstruct },
      reconstruct: { library: library.reconstruct, simd: simd.reconstruct },
    });
  }
  const cell = (value: Throughput, copy: Throughput): string => `${gbps(value.bytesPerSecond)} ${ratio(value.bytesPerSecond, copy.bytesPerSecond)}`;
  const cpuCell = (value: Measured, copy: Measured): string => `${gbps(value.cpuBytesPerSecond)} ${ratio(value.cpuBytesPerSecond, copy.cpuBytesPerSecond)}`;
  printTable('Erasure codec rs-wasm-v1 on one core: library vs SIMD kernel (GB/s of data bytes, ratio to Buffer.copy)', [
    ['policy', 'shard', 'Buffer.copy', 'encode lib', 'encode SIMD', 'range rebuild 1 lib', 'range rebuild 1 SIMD', 'rebuild m lib', 'rebuild m SIMD'],
    ...rows.map((r) => [
      r.policy,
      `${(r.shardBytes / 1024 / 1024).toFixed(1)} MiB`,
      gbps(r.copy.bytesPerSecond),
      cell(r.encode.library, r.copy),
      cell(r.encode.simd, r.copy),
      cell(r.rangeReconstruct.library, r.copy),
      cell(r.rangeReconstruct.simd, r.copy),
      cell(r.reconstruct.library, r.copy),
      cell(r.reconstruct.simd, r.copy),
    ]),
  ]);
  printTable('The same per second of process CPU time (less sensitive to other processes on the machine)', [
    ['policy', 'shard', 'Buffer.copy', 'encode lib', 'encode SIMD', 'range rebuild 1 lib', 'range rebuild 1 SIMD', 'rebuild m lib', 'rebuild m SIMD'],
    ...rows.map((r) => [
      r.policy,
      `${(r.shardBytes / 1024 / 1024).toFixed(1)} MiB`,
      gbps(r.copy.cpuBytesPerSecond),
      cpuCell(r.encode.library, r.copy),
      cpuCell(r.encode.simd, r.copy),
      cpuCell(r.rangeReconstruct.library, r.copy),
      cpuCell(r.rangeReconstruct.simd, r.copy),
      cpuCell(r.reconstruct.library, r.copy),
      cpuCell(r.reconstruct.simd, r.copy),
    ]),
  ]);
  const headline = rows[0] as ErasureRow;
  const memcpy = headline.copy.bytesPerSecond;
  const figures = (kernel: Kernel): KernelFigures => ({
    encodeGBps: headline.encode[kernel].bytesPerSecond / 1e9,
    encodeOverMemcpy: headline.encode[kernel].bytesPerSecond / memcpy,
    reconstructGBps: headline.rangeReconstruct[kernel].bytesPerSecond / 1e9,
    reconstructOverMemcpy: headline.rangeReconstruct[kernel].bytesPerSecond / memcpy,
    reconstructAllGBps: headline.reconstruct[kernel].bytesPerSecond / 1e9,
    reconstructAllOverMemcpy: headline.reconstruct[kernel].bytesPerSecond / memcpy,
    encodeCpuGBps: headline.encode[kernel].cpuBytesPerSecond / 1e9,
    reconstructCpuGBps: headline.rangeReconstruct[kernel].cpuBytesPerSecond / 1e9,
    encodeOverMemcpyCpu: headline.encode[kernel].cpuBytesPerSecond / headline.copy.cpuBytesPerSecond,
    reconstructOverMemcpyCpu: headline.rangeReconstruct[kernel].cpuBytesPerSecond / headline.copy.cpuBytesPerSecond,
  });
  const simd = figures('simd');
  const library = figures('library');
  return {
    rows,
    memcpyGBps: memcpy / 1e9,
    simd,
    library,
    speedup: { encode: simd.encodeGBps / library.encodeGBps, reconstruct: simd.reconstructGBps / library.reconstructGBps },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await benchErasure(process.argv.includes('--quick') ? 0.5 : 2);
  const { rows: _rows, ...headline } = result;
  console.log(JSON.stringify(headline, null, 2));
}
