/**
 * Codec `rs-wasm-v1` computed by a WebAssembly SIMD kernel (gf-kernel.wat): the same code as the
 * reed-solomon-erasure library (matrices from gf256.ts), byte for byte, 10-20x faster.
 *
 * Shards are worked on in column slices of SLICE_BYTES per shard: each slice of the inputs is
 * copied into kernel memory, every output of the slice computed in one or more passes of at most
 * KERNEL_GROUP_MAX outputs, and the outputs copied back. A slice of all k+m shards (at most
 * 48 x 16 KiB) stays in L2 between the copies and the passes.
 */
import type { ErasureCodec } from '../codec.js';
import { ErasureError, invalidArgument } from '../errors.js';
import { type CodingPlan, decodePlan, encodePlan, writeNibbleTables } from '../gf256.js';
import { DATA_SHARDS_MAX, PARITY_SHARDS_MAX } from '../policy.js';
import { GF_KERNEL_WASM_BASE64 } from './gf-kernel-bytes.js';
import { KERNEL_GROUP_MAX, STEP_BYTES } from './kernel-wat.js';

/** Column bytes per shard per kernel call: 16 KiB measured best-or-equal from 4 to 64 KiB. */
const SLICE_BYTES = 16 * 1024;
const TABLE_BYTES_MAX = DATA_SHARDS_MAX * PARITY_SHARDS_MAX * 32;
const SHARDS_IN_MEMORY_MAX = DATA_SHARDS_MAX + PARITY_SHARDS_MAX;
const WASM_PAGE_BYTES = 64 * 1024;

/** The part of the WebAssembly global we use (@types/node 20 does not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
const WebAssemblyApi = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

type DotFunction = (tables: number, inputs: number, inputCount: number, outputs: number, stride: number, length: number) => void;

interface KernelExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly [name: `dot_g${number}`]: DotFunction;
}

let kernelBytes: Uint8Array | undefined;

/** The checked-in kernel binary. */
export function gfKernelBytes(): Uint8Array {
  kernelBytes ??= new Uint8Array(Buffer.from(GF_KERNEL_WASM_BASE64, 'base64'));
  return kernelBytes;
}

/** Whether this host's WebAssembly runs the kernel (it needs the SIMD proposal, in Node since 16.4). */
export function wasmSimdSupported(): boolean {
  return typeof WebAssemblyApi?.validate === 'function' && WebAssemblyApi.validate(gfKernelBytes());
}

export interface SimdRsCodecOptions {
  /** Writes the 32 nibble-table bytes of one coefficient; tests pass a wrong one to see the self-test refuse it. */
  readonly writeTables?: (coefficient: number, out: Uint8Array, offset: number) => void;
  /** The kernel binary; by default the checked-in one. */
  readonly wasm?: Uint8Array;
}

export class SimdRsCodec implements ErasureCodec {
  readonly id = 'rs-wasm-v1';
  private readonly dot: DotFunction[];
  private readonly memory: Uint8Array;
  private readonly writeTables: (coefficient: number, out: Uint8Array, offset: number) => void;
  /** Packed tables per plan (plans are cached by gf256.ts, so this hits). */
  private readonly tables = new WeakMap<CodingPlan, Uint8Array>();
  private loadedTables: Uint8Array | undefined;

  constructor(options: SimdRsCodecOptions = {}) {
    let exports: KernelExports;
    try {
      const module = new WebAssemblyApi.Module(options.wasm ?? gfKernelBytes());
      exports = new WebAssemblyApi.Instance(module, {}).exports as KernelExports;
    } catch (error) {
      throw new ErasureError('GRN_ERASURE_KERNEL_UNAVAILABLE', `the WebAssembly SIMD erasure kernel does not load on this host: ${String(error)}`, { cause: error });
    }
    this.dot = Array.from({ length: KERNEL_GROUP_MAX + 1 }, (_, g) => {
      const dot = exports[`dot_g${Math.max(1, g)}`];
      if (typeof dot !== 'function') throw new ErasureError('GRN_ERASURE_KERNEL_UNAVAILABLE', `the erasure kernel lacks export dot_g${g}`);
      return dot;
    });
    const needed = TABLE_BYTES_MAX + SHARDS_IN_MEMORY_MAX * SLICE_BYTES;
    const have = exports.memory.buffer.byteLength;
    if (needed > have) exports.memory.grow(Math.ceil((needed - have) / WASM_PAGE_BYTES));
    // Memory never grows again, so this view stays valid.
    this.memory = new Uint8Array(exports.memory.buffer);
    this.writeTables = options.writeTables ?? writeNibbleTables;
  }

  async encodeParity(data: readonly Uint8Array[], parity: readonly Uint8Array[]): Promise<void> {
    this.encodeParitySync(data, parity);
  }

  async reconstructData(shards: readonly Uint8Array[], present: readonly boolean[], dataShardCount: number): Promise<void> {
    this.reconstructDataSync(shards, present, dataShardCount);
  }

  encodeParitySync(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    if (parity.length === 0) return;
    this.run(encodePlan(data.length, parity.length), data, parity);
  }

  reconstructDataSync(shards: readonly Uint8Array[], present: readonly boolean[], dataShardCount: number): void {
    const plan = decodePlan(dataShardCount, shards.length - dataShardCount, present);
    if (plan.outputs.length === 0) return;
    const pick = (index: number): Uint8Array => shards[index] as Uint8Array;
    this.run(plan, plan.inputs.map(pick), plan.outputs.map(pick));
  }

  private run(plan: CodingPlan, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void {
    const shardBytes = inputs[0]?.length ?? 0;
    if (shardBytes === 0) return;
    const memory = this.memory;
    const inCount = inputs.length;
    const outCount = outputs.length;
    // Kernel memory is laid out for the policy bounds; past them, regions would overlap.
    if (inCount > DATA_SHARDS_MAX || outCount > PARITY_SHARDS_MAX) {
      throw invalidArgument(`the SIMD erasure kernel codes at most ${DATA_SHARDS_MAX} inputs into ${PARITY_SHARDS_MAX} outputs, got ${inCount} into ${outCount}`);
    }
    const tables = this.tablesOf(plan);
    if (this.loadedTables !== tables) {
      memory.set(tables, 0);
      this.loadedTables = tables;
    }
    const stride = Math.min(SLICE_BYTES, roundUp(shardBytes, STEP_BYTES));
    const inBase = TABLE_BYTES_MAX;
    const outBase = inBase + inCount * stride;
    for (let start = 0; start < shardBytes; start += SLICE_BYTES) {
      const end = Math.min(start + SLICE_BYTES, shardBytes);
      const whole = start === 0 && end === shardBytes;
      for (let i = 0; i < inCount; i++) {
        const input = inputs[i] as Uint8Array;
        memory.set(whole ? input : input.subarray(start, end), inBase + i * stride);
      }
      let tableOffset = 0;
      for (let first = 0; first < outCount; first += KERNEL_GROUP_MAX) {
        const group = Math.min(KERNEL_GROUP_MAX, outCount - first);
        (this.dot[group] as DotFunction)(tableOffset, inBase, inCount, outBase + first * stride, stride, end - start);
        tableOffset += inCount * group * 32;
      }
      for (let p = 0; p < outCount; p++) {
        const from = outBase + p * stride;
        (outputs[p] as Uint8Array).set(memory.subarray(from, from + end - start), start);
      }
    }
  }

  /**
   * Tables in kernel order: for each group of at most KERNEL_GROUP_MAX outputs, for each input i,
   * for each output p of the group, the 32 bytes of coefficient (p, i).
   */
  private tablesOf(plan: CodingPlan): Uint8Array {
    let packed = this.tables.get(plan);
    if (packed === undefined) {
      const inCount = plan.inputs.length;
      const outCount = plan.outputs.length;
      packed = new Uint8Array(inCount * outCount * 32);
      let offset = 0;
      for (let first = 0; first < outCount; first += KERNEL_GROUP_MAX) {
        const group = Math.min(KERNEL_GROUP_MAX, outCount - first);
        for (let i = 0; i < inCount; i++) {
          for (let p = first; p < first + group; p++) {
            this.writeTables(plan.coefficients[p * inCount + i] as number, packed, offset);
            offset += 32;
          }
        }
      }
      this.tables.set(plan, packed);
    }
    return packed;
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
