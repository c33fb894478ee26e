/**
 * string_list streams: list offsets, string offsets and bytes in place (Arrow List<Utf8>), slices
 * and chunks normalised, empty lists and empty strings kept, null elements refused; encoded as a
 * string column's strings (dictionary for categorical tokens) and rebuilt byte for byte.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { ENCODING_SECTIONS } from '../../../../protocol/index.js';
import { decodeStoredStream, decodeStream, encodeStream, nullData, recordBatchToRows, rowsToRecordBatch, storePlain } from '../../../../client/format/index.js';
import { Transform, readContainer } from '../../../../client/format/encodings/container.js';
import { rebuildPlain } from '../../../../client/format/encodings/decode.js';
import { seededRandom } from '../../../helpers/seeded-random.js';
import { expectFormatError } from './expect-format-error.js';

function vector(values: readonly (readonly string[] | null)[]): arrow.Vector {
  return rowsToRecordBatch([{ name: 'l', type: 'string_list' }], values.map((l) => ({ l }))).getChildAt(0) as arrow.Vector;
}

function rowsOf(data: arrow.Data): unknown[] {
  return recordBatchToRows(new arrow.RecordBatch({ l: data } as never)).map((r) => r.l);
}

const VALUES = [['a', 'bc'], null, [], ['', 'héllo', '🧪'], ['x']];

describe('string_list streams', () => {
  it('round-trip with nulls, empty lists and empty strings, as Arrow List<Utf8> viewing the stream', () => {
    const encoded = encodeStream('string_list', vector(VALUES));
    expect(encoded.nulls).toBe(1);
    expect(encoded.min).toBeUndefined();
    const decoded = decodeStream('string_list', encoded.bytes, VALUES.length);
    expect(String(decoded.type)).toBe('List<Utf8>');
    expect(rowsOf(decoded)).toEqual(VALUES);
    const strings = decoded.children[0] as arrow.Data;
    expect((strings.values as Uint8Array).buffer).toBe(encoded.bytes.buffer);
  });

  it('encode a slice and a chunked vector like the rows they hold', () => {
    const whole = vector(VALUES);
    const expected = encodeStream('string_list', vector(VALUES.slice(1, 4))).bytes;
    expect(encodeStream('string_list', (whole.data[0] as arrow.Data).slice(1, 3)).bytes).toEqual(expected);
    const chunked = new arrow.Vector([...vector(VALUES.slice(0, 2)).data, ...vector(VALUES.slice(2)).data]);
    expect(encodeStream('string_list', chunked).bytes).toEqual(encodeStream('string_list', whole).bytes);
  });

  it('refuse a null string inside a list, and a stream whose string offsets lie', () => {
    const utf8 = arrow.vectorFromArray(['a', null, 'b'], new arrow.Utf8()).data[0] as arrow.Data;
    const listType: arrow.List = new arrow.List(new arrow.Field('item', new arrow.Utf8(), true));
    const list = arrow.makeData({ type: listType, length: 1, nullCount: 0, valueOffsets: new Int32Array([0, 3]), child: utf8 });
    expectFormatError(() => encodeStream('string_list', list), /string_list string element 1 is null/);
    const bytes = Uint8Array.from(encodeStream('string_list', vector([['ab', 'c']])).bytes);
    // The string offsets start right after the list offsets (16-byte header, 2 offsets, aligned).
    const view = new DataView(bytes.buffer);
    view.setInt32(24 + 8, 99, true);
    expectFormatError(() => decodeStream('string_list', bytes, 1), /string_list stream: 1 rows with 0 nulls take 144 bytes, got 48 \(truncated\)/);
    view.setInt32(24 + 8, 3, true);
    view.setInt32(24 + 4, 4, true);
    expectFormatError(() => decodeStream('string_list', bytes, 1), /string_list stream: offsets decrease at row 1 \(4 then 3\)/);
  });

  it('all-null data of a string_list column is an empty List<Utf8>', () => {
    expect(rowsOf(nullData('string_list', 3))).toEqual([null, null, null]);
  });

  it('store categorical tokens as a dictionary, rebuilt byte for byte', async () => {
    const random = seededRandom(7);
    const tokens = ['sports', 'news', 'music', 'games', 'travel', 'food', 'cars', 'kids'];
    const values = Array.from({ length: 20_000 }, (_, i) => (i % 50 === 0 ? null : Array.from({ length: Math.floor(random() * 5) }, () => tokens[Math.floor(random() * tokens.length)] as string)));
    const plain = encodeStream('string_list', vector(values));
    const stored = await storePlain('string_list', plain, { compressionLevel: 1 });
    expect(stored.encoding).toBe(ENCODING_SECTIONS);
    const kinds = readContainer('string_list', stored.bytes, values.length).sections.map((s) => s.transform);
    expect(kinds).toEqual([Transform.RAW, Transform.LENGTHS, Transform.STRING_DICT_INDICES, Transform.STRING_DICT_VALUES]);
    expect(stored.bytes.length).toBeLessThan(plain.bytes.length / 4);
    expect(Buffer.from(await rebuildPlain('string_list', stored.bytes, values.length)).equals(plain.bytes)).toBe(true);
    expect(rowsOf(await decodeStoredStream('string_list', stored.encoding, stored.bytes, values.length))).toEqual(values);
  });

  it('store distinct strings as lengths and bytes', async () => {
    const random = seededRandom(9);
    const values = Array.from({ length: 5000 }, (_, i) => Array.from({ length: 3 }, (_, j) => `user-${i}-${j}-${Math.floor(random() * 1e9)}`));
    const plain = encodeStream('string_list', vector(values));
    const stored = await storePlain('string_list', plain, { compressionLevel: 1 });
    const decoded = await decodeStoredStream('string_list', stored.encoding, stored.bytes, values.length);
    expect(rowsOf(decoded)).toEqual(values);
    if (stored.encoding === ENCODING_SECTIONS) {
      const kinds = readContainer('string_list', stored.bytes, values.length).sections.map((s) => s.transform);
      expect(kinds[1]).not.toBe(Transform.STRING_DICT_INDICES);
    }
  });

  it('refuse a dictionary container whose values do not match the data section pairing', async () => {
    const values = Array.from({ length: 3000 }, (_, i) => [`t${i % 3}`]);
    const stored = await storePlain('string_list', encodeStream('string_list', vector(values)), { compressionLevel: 1 });
    expect(stored.encoding).toBe(ENCODING_SECTIONS);
    const bytes = Uint8Array.from(stored.bytes);
    // Make the data section raw while the child section stays dictionary indices.
    bytes[24 + 12 * 2] = Transform.RAW;
    await expect(decodeStoredStream('string_list', stored.encoding, bytes, values.length)).rejects.toThrow(/dictionary indices and dictionary values come together/);
  });
});
