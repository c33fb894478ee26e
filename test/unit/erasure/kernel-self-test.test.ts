/**
 * The start-up self-test and the choice of kernel: a kernel that disagrees with the known answers
 * is refused with a typed error (the process does not start), a host without wasm SIMD falls back
 * to the library and says so, and GRANARY_ERASURE_KERNEL selects either.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ErasureError,
  RsWasmCodec,
  SimdRsCodec,
  chooseRsKernel,
  codecById,
  rsKernelSetting,
  rsWasmKernel,
  runKernelSelfTest,
  wasmSimdSupported,
} from '../../../erasure/index.js';
import { gfMul } from '../../../erasure/gf256.js';

/** Correct tables except for coefficient `wrong`, whose high-nibble product of 0xf0 is off by one bit. */
function badTables(wrong: number) {
  return (coefficient: number, out: Uint8Array, offset: number): void => {
    for (let n = 0; n < 16; n++) {
      out[offset + n] = gfMul(coefficient, n);
      out[offset + 16 + n] = gfMul(coefficient, n << 4);
    }
    if (coefficient === wrong) out[offset + 31] = (out[offset + 31] as number) ^ 1;
  };
}

const quietHost = (makeSimd: () => SimdRsCodec, simdSupported = true) => {
  const warnings: string[] = [];
  return { warnings, host: { simdSupported: () => simdSupported, warn: (message: string) => warnings.push(message), makeSimd } };
};

describe('erasure kernel self-test', () => {
  it('passes for the shipped kernel, which is what rs-wasm-v1 runs on this host', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(() => runKernelSelfTest(new SimdRsCodec(), 'simd')).not.toThrow();
    expect(rsWasmKernel()).toBe(process.env.GRANARY_ERASURE_KERNEL === 'library' ? 'library' : 'simd');
    expect(codecById('rs-wasm-v1').id).toBe('rs-wasm-v1');
  });

  it('refuses a kernel with one wrong table entry, with a typed error a user can act on', () => {
    // Coefficient 2 occurs in the parity rows of the self-test's vectors; one bit of one entry is enough.
    const broken = new SimdRsCodec({ writeTables: badTables(2) });
    let error: unknown;
    try {
      runKernelSelfTest(broken, 'simd');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ErasureError);
    expect(error).toMatchObject({ code: 'GRN_ERASURE_SELF_TEST_FAILED' });
    expect(String((error as Error).message)).toMatch(/refuses to run.*GRANARY_ERASURE_KERNEL=library/s);
  });

  it('refuses a kernel that only rebuilds wrong (a table used by decoding alone)', () => {
    // Inverse coefficients appear only in decode plans: pick one no parity row of 1+1 .. 6+3 uses.
    const broken = new SimdRsCodec({ writeTables: badTables(0x8e) });
    expect(() => runKernelSelfTest(broken, 'simd')).toThrow(ErasureError);
  });

  it('stops the choice of kernel (so start-up) when the kernel disagrees, in auto and simd modes', () => {
    for (const setting of ['auto', 'simd'] as const) {
      const { host, warnings } = quietHost(() => new SimdRsCodec({ writeTables: badTables(2) }));
      expect(() => chooseRsKernel(setting, host)).toThrow(expect.objectContaining({ code: 'GRN_ERASURE_SELF_TEST_FAILED' }));
      expect(warnings).toEqual([]);
    }
  });

  it('falls back to the library on a host without wasm SIMD and says so, unless simd is required', () => {
    const { host, warnings } = quietHost(() => {
      throw new Error('not built without SIMD');
    }, false);
    const choice = chooseRsKernel('auto', host);
    expect(choice.kernel).toBe('library');
    expect(choice.codec).toBeInstanceOf(RsWasmCodec);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/WebAssembly SIMD is not available.*reed-solomon-erasure library/);
    expect(() => chooseRsKernel('simd', host)).toThrow(expect.objectContaining({ code: 'GRN_ERASURE_KERNEL_UNAVAILABLE' }));
  });

  it('reads GRANARY_ERASURE_KERNEL', () => {
    expect(rsKernelSetting({})).toBe('auto');
    expect(rsKernelSetting({ GRANARY_ERASURE_KERNEL: 'library' })).toBe('library');
    expect(rsKernelSetting({ GRANARY_ERASURE_KERNEL: 'simd' })).toBe('simd');
    expect(() => rsKernelSetting({ GRANARY_ERASURE_KERNEL: 'avx' })).toThrow(/must be auto, simd or library/);
    expect(chooseRsKernel('library').codec).toBeInstanceOf(RsWasmCodec);
    expect(chooseRsKernel('simd').codec).toBeInstanceOf(SimdRsCodec);
  });

  it('makes a process that loads the erasure layer with an unusable kernel setting fail at start-up', async () => {
    const entry = new URL('../../../erasure/index.ts', import.meta.url).href;
    const script = `await import(${JSON.stringify(entry)}); console.log('started');`;
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      timeout: 60_000,
      env: { ...process.env, GRANARY_ERASURE_KERNEL: 'avx512' },
    });
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/GRN_ERASURE_KERNEL_UNAVAILABLE|must be auto, simd or library/) });
  });
});
