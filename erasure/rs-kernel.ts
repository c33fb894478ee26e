/**
 * Chooses what computes codec `rs-wasm-v1`: the WebAssembly SIMD kernel (simd/simd-codec.ts)
 * when the host runs wasm SIMD and the kernel passes its self-test, else the reed-solomon-erasure
 * library (rs-wasm-codec.ts). Both give the same bytes, so blocks keep their codec id whichever
 * wrote them.
 *
 * `GRANARY_ERASURE_KERNEL`: `auto` (default), `simd` (refuse to start without it) or `library`.
 * A kernel that fails its self-test stops the process in every mode but `library`: silently
 * falling back would hide a host where the fast path computes wrong parity.
 */
import type { ErasureCodec } from './codec.js';
import { ErasureError } from './errors.js';
import { RsWasmCodec } from './rs-wasm-codec.js';
import { runKernelSelfTest } from './simd/self-test.js';
import { SimdRsCodec, wasmSimdSupported } from './simd/simd-codec.js';

export type RsKernel = 'simd' | 'library';
export type RsKernelSetting = 'auto' | RsKernel;

export interface RsKernelChoice {
  readonly codec: ErasureCodec;
  readonly kernel: RsKernel;
}

export function rsKernelSetting(env: NodeJS.ProcessEnv = process.env): RsKernelSetting {
  const value = env.GRANARY_ERASURE_KERNEL;
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'simd' || value === 'library') return value;
  throw new ErasureError('GRN_ERASURE_KERNEL_UNAVAILABLE', `GRANARY_ERASURE_KERNEL must be auto, simd or library, got "${value}"`);
}

export interface RsKernelHost {
  readonly simdSupported: () => boolean;
  readonly warn: (message: string) => void;
  readonly makeSimd: () => SimdRsCodec;
}

const realHost: RsKernelHost = {
  simdSupported: wasmSimdSupported,
  warn: (message) => process.emitWarning(message, { code: 'GRN_ERASURE_NO_SIMD' }),
  makeSimd: () => new SimdRsCodec(),
};

/** Builds the `rs-wasm-v1` implementation for this process; throws if the setting cannot be met. */
export function chooseRsKernel(setting: RsKernelSetting = rsKernelSetting(), host: RsKernelHost = realHost): RsKernelChoice {
  if (setting === 'library') return { codec: new RsWasmCodec(), kernel: 'library' };
  if (!host.simdSupported()) {
    const message = `WebAssembly SIMD is not available in this runtime (Node ${process.versions.node})`;
    if (setting === 'simd') {
      throw new ErasureError('GRN_ERASURE_KERNEL_UNAVAILABLE', `${message}, and GRANARY_ERASURE_KERNEL=simd requires it; unset it to use the reed-solomon-erasure library`);
    }
    host.warn(`${message}: erasure coding (codec rs-wasm-v1) uses the reed-solomon-erasure library, about 10x slower than the SIMD kernel`);
    return { codec: new RsWasmCodec(), kernel: 'library' };
  }
  const codec = host.makeSimd();
  runKernelSelfTest(codec, 'simd');
  return { codec, kernel: 'simd' };
}
