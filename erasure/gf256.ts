/**
 * GF(2^8) arithmetic and the coding matrices of codec `rs-wasm-v1`, exactly as the
 * reed-solomon-erasure crate (galois_8, `ReedSolomon::build_matrix`) defines them, so a kernel
 * driven by these matrices produces the crate's parity byte for byte:
 * - the field is GF(2)[x] / (x^8 + x^4 + x^3 + x^2 + 1) (0x11d), generator 2;
 * - the encoding matrix is the (k+m) x k Vandermonde matrix V[r][c] = r^c (0^0 = 1) times the
 *   inverse of its top k x k square, so its top k rows are the identity;
 * - a lost data shard is rebuilt from the first k present shards (in shard order) through the
 *   inverse of their rows, as the crate's `reconstruct_data` does. Any k present shards give the
 *   same bytes (the code is MDS); taking the crate's rows keeps even inconsistent input identical.
 */
import { ErasureError } from './errors.js';

const POLYNOMIAL = 0x11d;

/** EXP[i] = 2^i for i in 0..509, so EXP[LOG[a] + LOG[b]] needs no modulo. */
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let value = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = value;
    EXP[i + 255] = value;
    LOG[value] = i;
    value <<= 1;
    if (value & 0x100) value ^= POLYNOMIAL;
  }
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

export function gfInverse(a: number): number {
  if (a === 0) throw new ErasureError('GRN_ERASURE_CODEC_FAILURE', 'GF(2^8): zero has no inverse');
  return EXP[255 - (LOG[a] as number)] as number;
}

/** a^n as the crate's `galois_8::exp` computes it (0^0 = 1). */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[((LOG[a] as number) * n) % 255] as number;
}

/** A row-major matrix of GF(2^8) elements. */
export interface GfMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly cells: Uint8Array;
}

function matrix(rows: number, cols: number): GfMatrix {
  return { rows, cols, cells: new Uint8Array(rows * cols) };
}

export function multiply(left: GfMatrix, right: GfMatrix): GfMatrix {
  const out = matrix(left.rows, right.cols);
  for (let r = 0; r < left.rows; r++) {
    for (let c = 0; c < right.cols; c++) {
      let sum = 0;
      for (let i = 0; i < left.cols; i++) {
        sum ^= gfMul(left.cells[r * left.cols + i] as number, right.cells[i * right.cols + c] as number);
      }
      out.cells[r * out.cols + c] = sum;
    }
  }
  return out;
}

/** The inverse of a square matrix by Gauss-Jordan elimination; a singular one is a codec bug. */
export function invert(square: GfMatrix): GfMatrix {
  const n = square.rows;
  const width = 2 * n;
  // [square | identity], reduced in place until the left half is the identity.
  const work = new Uint8Array(n * width);
  for (let r = 0; r < n; r++) {
    work.set(square.cells.subarray(r * n, r * n + n), r * width);
    work[r * width + n + r] = 1;
  }
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && work[pivot * width + col] === 0) pivot++;
    if (pivot === n) {
      throw new ErasureError('GRN_ERASURE_CODEC_FAILURE', `GF(2^8): the ${n}x${n} decoding matrix is singular`);
    }
    if (pivot !== col) {
      const a = work.slice(col * width, col * width + width);
      work.copyWithin(col * width, pivot * width, pivot * width + width);
      work.set(a, pivot * width);
    }
    const scale = gfInverse(work[col * width + col] as number);
    for (let c = 0; c < width; c++) work[col * width + c] = gfMul(work[col * width + c] as number, scale);
    for (let r = 0; r < n; r++) {
      const factor = r === col ? 0 : (work[r * width + col] as number);
      if (factor === 0) continue;
      for (let c = 0; c < width; c++) {
        work[r * width + c] = (work[r * width + c] as number) ^ gfMul(factor, work[col * width + c] as number);
      }
    }
  }
  const out = matrix(n, n);
  for (let r = 0; r < n; r++) out.cells.set(work.subarray(r * width + n, r * width + width), r * n);
  return out;
}

const encodingMatrices = new Map<string, GfMatrix>();

/** The crate's (k+m) x k encoding matrix: Vandermonde times the inverse of its top square. */
export function encodingMatrix(k: number, m: number): GfMatrix {
  const key = `${k}+${m}`;
  let cached = encodingMatrices.get(key);
  if (cached === undefined) {
    const total = k + m;
    const vandermonde = matrix(total, k);
    for (let r = 0; r < total; r++) {
      for (let c = 0; c < k; c++) vandermonde.cells[r * k + c] = gfPow(r, c);
    }
    const top: GfMatrix = { rows: k, cols: k, cells: vandermonde.cells.slice(0, k * k) };
    cached = multiply(vandermonde, invert(top));
    encodingMatrices.set(key, cached);
  }
  return cached;
}

/** Coefficients that compute `outputs` shards from `inputs` shards: row p, column i. */
export interface CodingPlan {
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /** outputs.length x inputs.length, row-major. */
  readonly coefficients: Uint8Array;
}

/** The parity rows of the encoding matrix: m outputs from the k data shards. */
export function encodePlan(k: number, m: number): CodingPlan {
  const full = encodingMatrix(k, m);
  return {
    inputs: Array.from({ length: k }, (_, i) => i),
    outputs: Array.from({ length: m }, (_, j) => k + j),
    coefficients: full.cells.slice(k * k),
  };
}

const decodePlans = new Map<string, CodingPlan>();
const DECODE_PLANS_MAX = 1024;

/**
 * How to rebuild every absent data shard of RS k+m from the first k present shards. Cached by
 * pattern: a degraded read rebuilds many ranges with the same shards missing.
 */
export function decodePlan(k: number, m: number, present: readonly boolean[]): CodingPlan {
  const key = `${k}+${m}:${present.map((p) => (p ? '1' : '0')).join('')}`;
  let plan = decodePlans.get(key);
  if (plan === undefined) {
    const inputs: number[] = [];
    for (let i = 0; i < k + m && inputs.length < k; i++) if (present[i] === true) inputs.push(i);
    if (inputs.length < k) {
      throw new ErasureError('GRN_ERASURE_CODEC_FAILURE', `RS ${k}+${m}: ${inputs.length} shards present, ${k} needed`);
    }
    const outputs: number[] = [];
    for (let i = 0; i < k; i++) if (present[i] !== true) outputs.push(i);
    const full = encodingMatrix(k, m);
    const sub = matrix(k, k);
    inputs.forEach((row, r) => sub.cells.set(full.cells.subarray(row * k, row * k + k), r * k));
    const inverse = invert(sub);
    const coefficients = new Uint8Array(outputs.length * k);
    outputs.forEach((row, p) => coefficients.set(inverse.cells.subarray(row * k, row * k + k), p * k));
    plan = { inputs, outputs, coefficients };
    if (decodePlans.size >= DECODE_PLANS_MAX) decodePlans.clear();
    decodePlans.set(key, plan);
  }
  return plan;
}

/**
 * The split-nibble tables of one coefficient c: lo[n] = c * n and hi[n] = c * (n << 4), so
 * c * x = lo[x & 15] ^ hi[x >> 4]. Written as 32 bytes (lo then hi) at `offset` of `out`.
 */
export function writeNibbleTables(c: number, out: Uint8Array, offset: number): void {
  for (let n = 0; n < 16; n++) {
    out[offset + n] = gfMul(c, n);
    out[offset + 16 + n] = gfMul(c, n << 4);
  }
}
