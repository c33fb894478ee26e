/**
 * The checked-in kernel is what its source assembles to: gf-kernel.wat is what kernel-wat.ts
 * generates, and wabt assembles it to exactly gf-kernel.wasm and the base64 the codec loads.
 * After changing kernel-wat.ts, run `npm run build:wasm`.
 */
import { describe, expect, it } from 'vitest';
import { assembleKernel, readCheckedIn } from '../../../erasure/simd/build-kernel.js';
import { gfKernelBytes } from '../../../erasure/simd/simd-codec.js';

describe('erasure kernel build', () => {
  it('re-assembles the .wat to the checked-in .wasm and the bytes the codec loads', async () => {
    const fresh = await assembleKernel();
    const checkedIn = readCheckedIn();
    expect(checkedIn.wat).toBe(fresh.wat);
    expect(Buffer.from(checkedIn.wasm).equals(Buffer.from(fresh.wasm))).toBe(true);
    expect(checkedIn.bytesModule).toBe(fresh.bytesModule);
    expect(Buffer.from(gfKernelBytes()).equals(Buffer.from(fresh.wasm))).toBe(true);
    // Small enough to read and review: four unrolled loops.
    expect(fresh.wasm.length).toBeLessThan(8192);
  });
});
