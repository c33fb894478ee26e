/**
 * decimal(p,s) streams: Arrow Decimal128 in place, the writer's precision check, outward stats,
 * and the narrowed encodings (the low 64 bits of values whose high half is the sign) chosen for
 * prices and decoded back bit for bit, while values past 64 bits keep their 16 bytes.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { ENCODING_SECTIONS } from '../../../../protocol/index.js';
import { decodeStoredStream, decodeStream, encodeStream, nullData, recordBatchToRows, rowsToRecordBatch, storePlain } from '../../../../client/format/index.js';
import { Transform, readContainer } from '../../../../client/format/encodings/container.js';
import { rebuildPlain } from '../../../../client/format/encodings/decode.js';
import { seededRandom } from '../../../helpers/seeded-random.js';
import { decimalAtOracle, decimalText } from './format-arbitraries.js';
import { expectFormatError } from './expect-format-error.js';

function column(type: 'decimal(12,2)' | 'decimal(38,0)' | 'decimal(38,10)', texts: readonly (string | null)[]): arrow.Vector {
  return rowsToRecordBatch([{ name: 'd', type }], texts.map((d) => ({ d }))).getChildAt(0) as arrow.Vector;
}

describe('decimal streams', () => {
  it('are Arrow Decimal128 in place, 16 bytes a row, p and s from the column', () => {
    const vector = column('decimal(12,2)', ['123.45', null, '-0.01', '9999999999.99']);
    expect(String(vector.type)).toBe(String(new arrow.Decimal(2, 12, 128)));
    const encoded = encodeStream('decimal(12,2)', vector);
    const decoded = decodeStream('decimal(12,2)', encoded.bytes, 4);
    // Zero copy: the values are a view into the stream's bytes.
    expect((decoded.values as Uint32Array).buffer).toBe(encoded.bytes.buffer);
    expect([0, 1, 2, 3].map((i) => decimalAtOracle(new arrow.Vector([decoded]), i))).toEqual([12345n, null, -1n, 999_999_999_999n]);
    // Stats bound the values outward as doubles.
    expect(encoded.min as number).toBeLessThan(-0.01);
    expect(encoded.min as number).toBeGreaterThan(-0.0100001);
    expect(encoded.max as number).toBeGreaterThan(9999999999.99);
    // Another precision or scale is another Arrow type: the encoder refuses it.
    expectFormatError(() => encodeStream('decimal(12,3)', vector), /column type decimal\(12,3\) is Arrow/);
  });

  it('refuses a value past the column precision handed to the writer as Arrow data', () => {
    const wide = column('decimal(38,0)', ['1000000000000']);
    const retyped = wide.data[0]?.clone(new arrow.Decimal(0, 12, 128)) as arrow.Data;
    expectFormatError(() => encodeStream('decimal(12,0)', retyped), /decimal\(12,0\) value at row 0 has 13 digits .* more than the column's precision 12/);
  });

  it('reads as exact text in JSON Lines, negative, zero and 38-digit values included', () => {
    const texts = ['-99999999999999999999999999999999999999', '0', null, '12345678901234567890123456789012345678'];
    const batch = rowsToRecordBatch([{ name: 'd', type: 'decimal(38,0)' }], texts.map((d) => ({ d })));
    expect(recordBatchToRows(batch).map((r) => r.d)).toEqual(texts);
    const scaled = rowsToRecordBatch([{ name: 'd', type: 'decimal(38,10)' }], [{ d: '-0.5' }, { d: 3 }, { d: '1e-10' }]);
    expect(recordBatchToRows(scaled).map((r) => r.d)).toEqual(['-0.5000000000', '3.0000000000', '0.0000000001']);
    expectFormatError(() => rowsToRecordBatch([{ name: 'd', type: 'decimal(12,2)' }], [{ d: '1.005' }]), /row 0, column d \(decimal\(12,2\)\): "1.005" has more than 2 fraction digits and would be rounded/);
    expectFormatError(() => rowsToRecordBatch([{ name: 'd', type: 'decimal(12,2)' }], [{ d: 12345678901234567 }]), /more than 15 significant digits/);
    expectFormatError(() => rowsToRecordBatch([{ name: 'd', type: 'decimal(12,2)' }], [{ d: true }]), /row 0, column d: expected an exact decimal/);
  });

  it('all-null data of a decimal column is Decimal128 of zeros', () => {
    const data = nullData('decimal(9,3)', 5);
    expect(String(data.type)).toBe(String(new arrow.Decimal(3, 9, 128)));
    expect((data.values as Uint32Array).length).toBe(20);
    expect(data.nullCount).toBe(5);
  });

  it('store prices narrowed to 64 bits, a few bits a row, and decode them bit for bit', async () => {
    const random = seededRandom(16);
    const rows = 65_536;
    // Realistic prices: 0.01 .. 9,999.99, mostly under 100, some nulls.
    const texts = Array.from({ length: rows }, (_, i) => (i % 97 === 0 ? null : decimalText(BigInt(Math.floor(random() ** 3 * 999_999) + 1), 2)));
    const vector = column('decimal(12,2)', texts);
    const plain = encodeStream('decimal(12,2)', vector);
    const stored = await storePlain('decimal(12,2)', plain, { compressionLevel: 1 });
    expect(stored.encoding).toBe(ENCODING_SECTIONS);
    const container = readContainer('decimal(12,2)', stored.bytes, rows);
    const main = container.sections[container.sections.length - 1];
    expect([Transform.NARROW_FOR, Transform.NARROW_DELTA, Transform.NARROW_DICT]).toContain(main?.transform);
    // 16 bytes a row plain; at most 20 bits a row (6 digits) stored.
    expect(stored.bytes.length).toBeLessThan((rows * 20) / 8 + 16_384);
    // Buffer.equals, not toEqual: a deep compare of a megabyte takes seconds.
    expect(Buffer.from(await rebuildPlain('decimal(12,2)', stored.bytes, rows)).equals(plain.bytes)).toBe(true);
    const decoded = new arrow.Vector([await decodeStoredStream('decimal(12,2)', stored.encoding, stored.bytes, rows)]);
    for (let i = 0; i < rows; i += 997) expect(decimalAtOracle(decoded, i)).toBe(texts[i] === null ? null : BigInt((texts[i] as string).replace('.', '')));
  });

  it('keep values past 64 bits whole (raw or byte split), exact', async () => {
    const random = seededRandom(38);
    const rows = 4096;
    const texts = Array.from({ length: rows }, () => {
      const digits = Array.from({ length: 26 }, () => Math.floor(random() * 10)).join('');
      return `${random() < 0.5 ? '-' : ''}${digits}.${String(Math.floor(random() * 100)).padStart(2, '0')}00000000`;
    });
    const plain = encodeStream('decimal(38,10)', column('decimal(38,10)', texts));
    const stored = await storePlain('decimal(38,10)', plain, { compressionLevel: 3 });
    if (stored.encoding === ENCODING_SECTIONS) {
      const main = readContainer('decimal(38,10)', stored.bytes, rows).sections[0];
      expect([Transform.RAW, Transform.SPLIT]).toContain(main?.transform);
      expect(Buffer.from(await rebuildPlain('decimal(38,10)', stored.bytes, rows)).equals(plain.bytes)).toBe(true);
    }
    const decoded = await decodeStoredStream('decimal(38,10)', stored.encoding, stored.bytes, rows);
    expect(recordBatchToRows(new arrow.RecordBatch({ d: decoded } as never)).map((r) => r.d)).toEqual(texts.map((t) => t.replace(/^-?/, (s) => s).replace(/^(-?)0+(?=\d)/, '$1')));
  });

  it('refuse a narrowed section handed to a column of another kind, and a transform a decimal cannot use', async () => {
    const texts = Array.from({ length: 3000 }, (_, i) => decimalText(BigInt(i % 7), 2));
    const stored = await storePlain('decimal(12,2)', encodeStream('decimal(12,2)', column('decimal(12,2)', texts)), { compressionLevel: 1 });
    expect(stored.encoding).toBe(ENCODING_SECTIONS);
    await expect(decodeStoredStream('int64', stored.encoding, stored.bytes, 3000)).rejects.toThrow(/holds decimal \(type code 12\)/);
    const bytes = Uint8Array.from(stored.bytes);
    bytes[24] = Transform.LENGTHS;
    await expect(decodeStoredStream('decimal(12,2)', stored.encoding, bytes, 3000)).rejects.toThrow(/transform 5 is not one a main section of decimal\(12,2\) may use/);
  });
});
