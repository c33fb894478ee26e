/** The field and matrices of codec rs-wasm-v1 (the reed-solomon-erasure crate's). */
import { describe, expect, it } from 'vitest';
import { decodePlan, encodingMatrix, gfInverse, gfMul, gfPow, invert, multiply } from '../../../erasure/gf256.js';

describe('GF(2^8) for rs-wasm-v1', () => {
  it('is the field of x^8 + x^4 + x^3 + x^2 + 1 with generator 2', () => {
    expect(gfMul(0x80, 2)).toBe(0x1d);
    expect(gfPow(2, 8)).toBe(0x1d);
    expect(gfPow(2, 255)).toBe(1);
    expect(gfPow(0, 0)).toBe(1);
    expect(gfPow(0, 3)).toBe(0);
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfInverse(a))).toBe(1);
    // Multiplication distributes over xor (spot check against the shift-and-add definition).
    const slow = (a: number, b: number): number => {
      let product = 0;
      for (let x = a, y = b; y > 0; y >>= 1) {
        if (y & 1) product ^= x;
        x = (x << 1) ^ (x & 0x80 ? 0x11d : 0);
      }
      return product;
    };
    for (let a = 0; a < 256; a += 7) for (let b = 0; b < 256; b += 5) expect(gfMul(a, b)).toBe(slow(a, b));
  });

  it('makes a systematic encoding matrix whose every k rows are invertible', () => {
    const k = 6;
    const m = 3;
    const matrix = encodingMatrix(k, m);
    for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) expect(matrix.cells[r * k + c]).toBe(r === c ? 1 : 0);
    // Its parity rows are the Vandermonde rows times the inverse of the top square (computed apart here).
    expect(Array.from(matrix.cells.subarray(k * k, k * k + k))).toEqual(
      Array.from(multiply({ rows: 1, cols: k, cells: Uint8Array.from({ length: k }, (_, c) => gfPow(k, c)) }, invert({ rows: k, cols: k, cells: Uint8Array.from({ length: k * k }, (_, i) => gfPow(Math.floor(i / k), i % k)) })).cells),
    );
    const present = [false, true, true, false, true, true, true, false, true];
    const plan = decodePlan(k, m, present);
    expect(plan.inputs).toEqual([1, 2, 4, 5, 6, 8]);
    expect(plan.outputs).toEqual([0, 3]);
  });
});
