/**
 * Reed-Solomon over GF(2^8) from the reed-solomon-erasure Rust crate compiled to wasm
 * (`@digitaldefiance/reed-solomon-erasure.wasm`, the same binary as `@subspace/...`).
 *
 * We bind the module's exports directly instead of using the package's JS wrapper because:
 * - the wrapper frees the `shardsAvailable` vector after `reconstruct`, but the Rust side takes
 *   ownership of it and frees it too; the double free corrupts the wasm heap within a few hundred
 *   calls (wrong bytes, then out-of-bounds traps);
 * - the wrapper needs one contiguous (k+m) x shard copy per call. We instead work in column
 *   slices of `SLICE_BYTES_MAX` per shard (Reed-Solomon is computed byte position by byte
 *   position), which bounds wasm memory to (k+m) x slice however large the shards are, keeps the
 *   working set in cache, and copies each input byte once.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ErasureCodec } from './codec.js';
import { ErasureError } from './errors.js';

/** The part of the WebAssembly global we use (@types/node 20 does not declare it). */
interface WasmGlobal {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: unknown };
}
type WasmModule = { readonly __wasmModule: never };
const WebAssemblyApi = (globalThis as unknown as { readonly WebAssembly: WasmGlobal }).WebAssembly;

interface RsWasmExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  encode(shardsPtr: number, shardsLen: number, dataShards: number, parityShards: number): number;
  reconstruct(
    shardsPtr: number,
    shardsLen: number,
    dataShards: number,
    parityShards: number,
    availablePtr: number,
    availableLen: number,
  ): number;
  __wbindgen_malloc(size: number): number;
  __wbindgen_free(ptr: number, size: number): void;
}

/** Bytes of each shard handed to wasm per call; 48 shards x 64 KiB = 3 MiB of wasm memory at most. */
const SLICE_BYTES_MAX = 64 * 1024;
const RESULT_OK = 0;

let compiledModule: WasmModule | undefined;

function wasmModule(): WasmModule {
  if (compiledModule === undefined) {
    const require = createRequire(import.meta.url);
    const path = require.resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm');
    compiledModule = new WebAssemblyApi.Module(readFileSync(path));
  }
  return compiledModule;
}

function instantiate(): RsWasmExports {
  const instance = new WebAssemblyApi.Instance(wasmModule(), {});
  return instance.exports as unknown as RsWasmExports;
}

export class RsWasmCodec implements ErasureCodec {
  readonly id = 'rs-wasm-v1';
  private wasm: RsWasmExports = instantiate();
  private regionPtr = 0;
  private regionBytes = 0;

  async encodeParity(data: readonly Uint8Array[], parity: readonly Uint8Array[]): Promise<void> {
    const k = data.length;
    const m = parity.length;
    const shardBytes = data[0]?.length ?? 0;
    for (let start = 0; start < shardBytes; start += SLICE_BYTES_MAX) {
      const sliceBytes = Math.min(SLICE_BYTES_MAX, shardBytes - start);
      const ptr = this.reserve((k + m) * sliceBytes);
      let memory = new Uint8Array(this.wasm.memory.buffer);
      for (let i = 0; i < k; i++) {
        memory.set((data[i] as Uint8Array).subarray(start, start + sliceBytes), ptr + i * sliceBytes);
      }
      const result = this.call(() => this.wasm.encode(ptr, (k + m) * sliceBytes, k, m));
      this.check(result, 'encode', k, m, sliceBytes);
      memory = new Uint8Array(this.wasm.memory.buffer);
      for (let j = 0; j < m; j++) {
        const from = ptr + (k + j) * sliceBytes;
        (parity[j] as Uint8Array).set(memory.subarray(from, from + sliceBytes), start);
      }
    }
  }

  async reconstructData(
    shards: readonly Uint8Array[],
    present: readonly boolean[],
    dataShardCount: number,
  ): Promise<void> {
    const total = shards.length;
    const k = dataShardCount;
    const m = total - k;
    const shardBytes = shards[0]?.length ?? 0;
    for (let start = 0; start < shardBytes; start += SLICE_BYTES_MAX) {
      const sliceBytes = Math.min(SLICE_BYTES_MAX, shardBytes - start);
      const ptr = this.reserve(total * sliceBytes);
      // The Rust side takes ownership of this vector and frees it: we must not.
      const availablePtr = this.wasm.__wbindgen_malloc(total);
      let memory = new Uint8Array(this.wasm.memory.buffer);
      for (let i = 0; i < total; i++) {
        memory[availablePtr + i] = present[i] === true ? 1 : 0;
        if (present[i] === true) {
          memory.set((shards[i] as Uint8Array).subarray(start, start + sliceBytes), ptr + i * sliceBytes);
        }
      }
      const result = this.call(() =>
        this.wasm.reconstruct(ptr, total * sliceBytes, k, m, availablePtr, total),
      );
      this.check(result, 'reconstruct', k, m, sliceBytes);
      memory = new Uint8Array(this.wasm.memory.buffer);
      for (let i = 0; i < k; i++) {
        if (present[i] !== true) {
          const from = ptr + i * sliceBytes;
          (shards[i] as Uint8Array).set(memory.subarray(from, from + sliceBytes), start);
        }
      }
    }
  }

  /** Keeps one wasm allocation for all calls, grown when a call needs more. */
  private reserve(bytes: number): number {
    if (bytes > this.regionBytes) {
      if (this.regionBytes > 0) this.wasm.__wbindgen_free(this.regionPtr, this.regionBytes);
      this.regionPtr = this.wasm.__wbindgen_malloc(bytes);
      this.regionBytes = bytes;
    }
    return this.regionPtr;
  }

  /** A wasm trap leaves the instance's heap in an unknown state: start a fresh one. */
  private call(fn: () => number): number {
    try {
      return fn();
    } catch (error) {
      this.wasm = instantiate();
      this.regionPtr = 0;
      this.regionBytes = 0;
      throw new ErasureError('GRN_ERASURE_CODEC_FAILURE', `wasm Reed-Solomon codec trapped: ${String(error)}`, {
        cause: error,
      });
    }
  }

  private check(result: number, operation: string, k: number, m: number, sliceBytes: number): void {
    if (result !== RESULT_OK) {
      throw new ErasureError(
        'GRN_ERASURE_CODEC_FAILURE',
        `wasm Reed-Solomon ${operation} failed with result ${result} (RS ${k}+${m}, ${sliceBytes}-byte slice)`,
      );
    }
  }
}
