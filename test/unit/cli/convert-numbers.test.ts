/**
 * File numbers into table columns, bit for bit: Float16 into float and double and Float32 into
 * double by moving bits (NaN sign and payload, -0, subnormals, infinities), checked against an
 * arithmetic oracle over all 65,536 half values; integers of every width into int32/int64 where
 * they fit, refused naming file, row and column where they do not (uint64 above int64's maximum);
 * and the corpus files whose float16 NaNs lost their sign.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { conformBatch, planConform } from '../../../client/cli/formats/conform.js';
import { readInput } from '../../../client/cli/formats/input.js';
import { floatToDoubleBits, halfToFloatBits } from '../../../client/cli/formats/number-convert.js';
import { FormatError, type NamedColumn } from '../../../client/format/index.js';

const CORPUS = 'test/fixtures/parquet-testing-types';

/** float32 bits of a half by arithmetic (not by moving bits); NaNs by the IEEE rule. */
function halfOracle(half: number): number {
  const sign = half >> 15 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0x1f && mantissa !== 0) return ((half & 0x8000) << 16) | 0x7f80_0000 | (mantissa << 13);
  const value = exponent === 0x1f ? sign * Infinity : exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  return new Uint32Array(new Float32Array([value]).buffer)[0] as number;
}

function batchOf(vector: arrow.Vector, name = 'x'): arrow.RecordBatch {
  return new arrow.Table({ [name]: vector }).batches[0] as arrow.RecordBatch;
}

function convert(type: NamedColumn['type'], vector: arrow.Vector, firstRow = 0): arrow.Data {
  const columns: NamedColumn[] = [{ name: 'x', type }];
  const batch = batchOf(vector);
  const plan = planConform(batch.schema, columns, 'f.parquet');
  return conformBatch(plan, batch, firstRow).data.children[0] as arrow.Data;
}

function halves(bits: readonly number[], nulls: readonly number[] = []): arrow.Vector {
  const nullBitmap = new Uint8Array(Math.ceil(bits.length / 8)).fill(0xff);
  for (const i of nulls) nullBitmap[i >> 3] = (nullBitmap[i >> 3] as number) & ~(1 << (i & 7));
  return new arrow.Vector([arrow.makeData({ type: new arrow.Float16(), length: bits.length, nullCount: nulls.length, nullBitmap, data: Uint16Array.from(bits) })]);
}

function bits32(data: arrow.Data): number[] {
  const values = data.values as Float32Array;
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, data.length));
}

function bits64(data: arrow.Data): string[] {
  const values = data.values as Float64Array;
  return Array.from(new BigUint64Array(values.buffer, values.byteOffset, data.length), (b) => b.toString(16));
}

describe('Float16 and Float32 widened bit for bit', () => {
  it('maps every one of the 65,536 half values as arithmetic (and IEEE for NaN) says', () => {
    for (let half = 0; half < 0x10000; half++) expect(halfToFloatBits(half)).toBe(halfOracle(half) >>> 0);
  });

  it('widens float32 to float64 exactly, NaN payloads and subnormals included', () => {
    const samples = [0, 0x8000_0000, 1, 0x807f_ffff, 0x3f80_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0001, 0xfff0_0001, 0x7fff_ffff, 0x0080_0000, 0x7f7f_ffff];
    for (const bits of samples) {
      const [high, low] = floatToDoubleBits(bits);
      const exponent = (bits >>> 23) & 0xff;
      if (exponent === 0xff && (bits & 0x7f_ffff) !== 0) {
        // NaN: sign kept, exponent all ones, payload in the top mantissa bits.
        expect(high >>> 31).toBe(bits >>> 31);
        expect((high >>> 20) & 0x7ff).toBe(0x7ff);
        expect(((BigInt(high) << 32n) | BigInt(low)) & ((1n << 52n) - 1n)).toBe(BigInt(bits & 0x7f_ffff) << 29n);
      } else {
        const value = new Float32Array(new Uint32Array([bits]).buffer)[0] as number;
        const expected = new Uint32Array(new Float64Array([value]).buffer);
        expect([high, low]).toEqual([expected[1], expected[0]]);
      }
    }
  });

  it('keeps -NaN, NaN payloads, -0 and subnormals of Float16 file columns in float and double columns', () => {
    const input = [0xffff, 0xfc01, 0x7c01, 0x7e00, 0xfe00, 0x8000, 0x0001, 0x83ff, 0x7c00, 0xfc00, 0x3c00];
    const asFloat = convert('float', halves(input, [3]));
    expect(bits32(asFloat).filter((_, i) => i !== 3)).toEqual(input.filter((_, i) => i !== 3).map((h) => halfOracle(h) >>> 0));
    expect(asFloat.getValid(3)).toBe(false);
    expect(bits32(asFloat)[4]).toBe(0xffc0_0000);
    const asDouble = convert('double', halves(input));
    expect(bits64(asDouble)[0]).toBe('fffffc0000000000');
    expect(bits64(asDouble)[4]).toBe('fff8000000000000');
    expect(bits64(asDouble)[5]).toBe('8000000000000000');
    expect(new Float64Array(asDouble.values.buffer, asDouble.values.byteOffset, input.length)[6]).toBe(2 ** -24);
  });

  it('converts a slice of a Float16 column from its own first row', () => {
    const data = (halves([0x3c00, 0xfe00, 0x4000]).data[0] as arrow.Data).slice(1, 2);
    expect(bits32(convert('float', new arrow.Vector([data])))).toEqual([0xffc0_0000, 0x4000_0000]);
  });

  it('takes float and double columns of their own type with their bits (zero copy)', () => {
    const bits = Uint32Array.from([0xffff_ffff, 0xfff0_0001, 0x7fc0_0001, 0x8000_0000, 1]);
    const vector = new arrow.Vector([arrow.makeData({ type: new arrow.Float32(), length: 5, nullCount: 0, data: new Float32Array(bits.buffer) })]);
    const out = convert('float', vector);
    expect(bits32(out)).toEqual(Array.from(bits));
    expect((out.values as Float32Array).buffer).toBe(bits.buffer);
    const asDouble = convert('double', vector);
    expect(bits64(asDouble)[1]).toBe('fffe000020000000');
  });

  it('reads the corpus float16 NaNs with their sign (floating_orders_nan_count.parquet)', async () => {
    const columns: NamedColumn[] = [
      { name: 'float_ieee754', type: 'float' },
      { name: 'float_typedef', type: 'float' },
      { name: 'double_ieee754', type: 'double' },
      { name: 'double_typedef', type: 'double' },
      { name: 'float16_ieee754', type: 'float' },
      { name: 'float16_typedef', type: 'double' },
    ];
    const seen: { f16: number[]; f64: string[]; f32: number[] } = { f16: [], f64: [], f32: [] };
    for await (const batch of readInput(`${CORPUS}/floating_orders_nan_count.parquet`, 'parquet', columns, 1000)) {
      seen.f16.push(...bits32(batch.getChild('float16_ieee754')?.data[0] as arrow.Data));
      seen.f32.push(...bits32(batch.getChild('float_ieee754')?.data[0] as arrow.Data));
      seen.f64.push(...bits64(batch.getChild('float16_typedef')?.data[0] as arrow.Data));
    }
    // -NaN with payload 0x3ff, -sNaN payload 1, +sNaN payload 1, as the file holds them.
    expect(seen.f16).toContain(0xffff_e000);
    expect(seen.f16).toContain(0xff80_2000);
    expect(seen.f16).toContain(0x7f80_2000);
    expect(seen.f64).toContain('fffffc0000000000');
    expect(seen.f32).toContain(0xfff0_0001);
    expect(seen.f32).toContain(0xffff_ffff);
  });
});

describe('integers into int32 and int64', () => {
  it('widens int8, int16, uint8, uint16 and uint32 exactly', () => {
    expect(Array.from(convert('int32', arrow.vectorFromArray([-128, 127, 0], new arrow.Int8())).values as Int32Array)).toEqual([-128, 127, 0]);
    expect(Array.from(convert('int32', arrow.vectorFromArray([65535, 0], new arrow.Uint16())).values as Int32Array)).toEqual([65535, 0]);
    expect(Array.from(convert('int64', arrow.vectorFromArray([4294967295, 0], new arrow.Uint32())).values as BigInt64Array)).toEqual([4294967295n, 0n]);
    expect(Array.from(convert('int64', arrow.vectorFromArray([-32768, 5], new arrow.Int16())).values as BigInt64Array)).toEqual([-32768n, 5n]);
  });

  it('takes uint64 into int64 where each value fits, and refuses the first that does not, naming file, row and column', () => {
    const fits = new arrow.Vector([arrow.makeData({ type: new arrow.Uint64(), length: 2, nullCount: 0, data: BigUint64Array.from([0n, 2n ** 63n - 1n]) })]);
    expect(Array.from(convert('int64', fits).values as BigInt64Array)).toEqual([0n, 2n ** 63n - 1n]);
    const over = new arrow.Vector([arrow.makeData({ type: new arrow.Uint64(), length: 3, nullCount: 0, data: BigUint64Array.from([1n, 2n, 2n ** 63n]) })]);
    let caught: unknown;
    try {
      convert('int64', over, 1000);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FormatError);
    expect((caught as Error).message).toBe(
      `f.parquet: row 1002, column x: uint64 ${2n ** 63n} is above int64's maximum ${2n ** 63n - 1n}; the column is int64 and Granary does not wrap values (store it as decimal(20,0) or string)`,
    );
  });

  it('refuses an int64 beyond int32 in an int32 column', () => {
    expect(() => convert('int32', arrow.vectorFromArray([1n, 2n ** 31n], new arrow.Int64()))).toThrow(/row 1, column x: int64 2147483648 is outside int32's range/);
  });

  it('reads the corpus uint64 column (concatenated_gzip_members.parquet) into int64', async () => {
    let rows = 0;
    let last = 0n;
    for await (const batch of readInput(`${CORPUS}/concatenated_gzip_members.parquet`, 'parquet', [{ name: 'long_col', type: 'int64' }], 1000)) {
      const values = batch.getChild('long_col')?.data[0]?.values as BigInt64Array;
      rows += batch.numRows;
      last = values[values.length - 1] as bigint;
    }
    expect(rows).toBe(513);
    expect(last).toBe(513n);
  });
});
