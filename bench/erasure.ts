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
 * Alone: `npx tsx bench/erasure.ts [--quick]`. Headline figures (see CASES) are in the returned
 * `simd` and `library` objects: encodeGBps, encodeOverMemcpy, reconstructGBps (range reconstruct
 * of one shard), reconstructOverMemcpy, reconstructAllGBps (m lost), and the same per CPU-second;
 * `speedup` is SIMD over library. Rows with 1 MiB shards, whose copy runs from cache, are printed
 * beside them.
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
  /** Buffer.copy of the data bytes of the encode headline row (a default block), GB/s. */
  readonly memcpyGBps: number;
  /** The same for the range reconstruct headline row (4 MiB ranges), GB/s. */
  readonly rangeMemcpyGBps: number;
  readonly simd: KernelFigures;
  readonly library: KernelFigures;
  readonly speedup: { readonly encode: number; readonly reconstruct: number };
}

/** The shard of a default 64 MiB block under RS 6+3 (contiguousLayout rounds it up to 8 bytes). */
const DEFAULT_BLOCK_SHARD_BYTES = Math.ceil((64 * 1024 * 1024) / 6 / 8) * 8;

/** A degraded read rebuilds at most this much per range (client/reader/read-plan.ts maxReadBytes), as does a repair window. */
const READ_RANGE_BYTES = 4 * 1024 * 1024;

/**
 * Headlines: encode from the first row (RS 6+3 over the shards of a default 64 MiB block, what
 * the writer codes), range reconstruct from the second (RS 6+3 over 4 MiB ranges, the most a
 * degraded read or a repair window rebuilds at once), each over the Buffer.copy of its own row.
 */
const CASES = [
  [6, 3, DEFAULT_BLOCK_SHARD_BYTES],
  [6, 3, READ_RANGE_BYTES],
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
  // One table per clock: wall time, then process CPU time (less sensitive to other processes).
  const table = (title: string, rate: (value: Measured) => number): void => {
    const cell = (value: Measured, copy: Measured): string => `${gbps(rate(value))} ${ratio(rate(value), rate(copy))}`;
    printTable(title, [
      ['policy', 'shard', 'Buffer.copy', 'encode lib', 'encode SIMD', 'range rebuild 1 lib', 'range rebuild 1 SIMD', 'rebuild m lib', 'rebuild m SIMD'],
      ...rows.map((r) => [
        r.policy,
        `${(r.shardBytes / 1024 / 1024).toFixed(1)} MiB`,
        gbps(rate(r.copy)),
        cell(r.encode.library, r.copy),
        cell(r.encode.simd, r.copy),
        cell(r.rangeReconstruct.library, r.copy),
        cell(r.rangeReconstruct.simd, r.copy),
        cell(r.reconstruct.library, r.copy),
        cell(r.reconstruct.simd, r.copy),
      ]),
    ]);
  };
  table('Erasure codec rs-wasm-v1 on one core: library vs SIMD kernel (GB/s of data bytes, ratio to Buffer.copy)', (value) => value.bytesPerSecond);
  table('The same per second of process CPU time (less sensitive to other processes on the machine)', (value) => value.cpuBytesPerSecond);
  const block = rows[0] as ErasureRow;
  const range = rows[1] as ErasureRow;
  const figures = (kernel: Kernel): KernelFigures => ({
    encodeGBps: block.encode[kernel].bytesPerSecond / 1e9,
    encodeOverMemcpy: block.encode[kernel].bytesPerSecond / block.copy.bytesPerSecond,
    reconstructGBps: range.rangeReconstruct[kernel].bytesPerSecond / 1e9,
    reconstructOverMemcpy: range.rangeReconstruct[kernel].bytesPerSecond / range.copy.bytesPerSecond,
    reconstructAllGBps: range.reconstruct[kernel].bytesPerSecond / 1e9,
    reconstructAllOverMemcpy: range.reconstruct[kernel].bytesPerSecond / range.copy.bytesPerSecond,
    encodeCpuGBps: block.encode[kernel].cpuBytesPerSecond / 1e9,
    reconstructCpuGBps: range.rangeReconstruct[kernel].cpuBytesPerSecond / 1e9,
    encodeOverMemcpyCpu: block.encode[kernel].cpuBytesPerSecond / block.copy.cpuBytesPerSecond,
    reconstructOverMemcpyCpu: range.rangeReconstruct[kernel].cpuBytesPerSecond / range.copy.cpuBytesPerSecond,
  });
  const simd = figures('simd');
  const library = figures('library');
  return {
    rows,
    memcpyGBps: block.copy.bytesPerSecond / 1e9,
    rangeMemcpyGBps: range.copy.bytesPerSecond / 1e9,
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
