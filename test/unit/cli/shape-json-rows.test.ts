/**
 * JSON Lines shaped at ingest (client/cli/formats/shape/json-rows.ts, through readInput):
 * feature maps as objects with integer keys, nested objects flattened, keys renamed, and text
 * that is not UTF-8 refused with its location (utf8-check.ts), in JSON Lines and CSV alike.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InputFormat, readInput } from '../../../client/cli/formats/input.js';
import { featureColumnsToAdd } from '../../../client/cli/formats/shape/add-features.js';
import { FeatureTally } from '../../../client/cli/formats/shape/feature-tally.js';
import type { ShapeOptions, TableColumn } from '../../../client/cli/formats/shape/options.js';
import { firstInvalidUtf8Byte } from '../../../client/cli/formats/utf8-check.js';
import { recordBatchToRows } from '../../../client/format/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

const COLUMNS: readonly TableColumn[] = [
  { name: 'id', type: 'int64' },
  { name: 'f_1', type: 'float', featureId: 1 },
  { name: 'ids_10', type: 'id_list', featureId: 10 },
  { name: 'pairs_12', type: 'id_score_list', featureId: 12 },
  { name: 'user_city', type: 'string' },
];

let dir: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  dir = await makeTempDir('shape-json');
});
afterAll(async () => {
  await dir.remove();
});

let files = 0;
async function fileOf(text: string | Buffer, extension = 'jsonl'): Promise<string> {
  const path = join(dir.path, `f${files++}.${extension}`);
  await writeFile(path, text);
  return path;
}

function lines(...rows: unknown[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n');
}

async function read(path: string, shape: ShapeOptions = {}, format: InputFormat = 'jsonl', columns = COLUMNS, batchRows = 2): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of readInput(path, format, columns, batchRows, { shape })) rows.push(...recordBatchToRows(batch));
  return rows;
}

describe('JSON feature maps', () => {
  it('spreads objects with integer keys into feature columns, counting unknown ids', async () => {
    const path = await fileOf(
      lines(
        { id: 1, feats: { '1': 0.5, '10': [7, 8], '12': [[3, 0.25]], '99': 1 } },
        { id: 2, feats: {} },
        { id: 3, feats: { '1': null, '98': [1.5] } },
        { id: 4 },
      ),
    );
    const features = new FeatureTally();
    expect(await read(path, { features })).toEqual([
      { id: 1, f_1: 0.5, ids_10: [7, 8], pairs_12: [[3, 0.25]], user_city: null },
      { id: 2, f_1: null, ids_10: null, pairs_12: null, user_city: null },
      { id: 3, f_1: null, ids_10: null, pairs_12: null, user_city: null },
      { id: 4, f_1: null, ids_10: null, pairs_12: null, user_city: null },
    ]);
    expect(features.report()).toEqual({ distinct: 2, values: 2, sampleIds: [98, 99] });
  });

  it('refuses a value that does not fit, a feature twice, and a feature also given as a column', async () => {
    const misfit = await fileOf(lines({ id: 1, feats: { '1': [1, 2] } }));
    await expect(read(misfit)).rejects.toThrow(/f\d+\.jsonl:1: map "feats", feature 1: a list does not fit column f_1 \(float\)/);
    const twice = await fileOf(lines({ id: 1, feats: { '1': 0.5, '01': 0.5 } }));
    await expect(read(twice)).rejects.toThrow(/:1: map "feats", feature 01: the row gives feature 1 twice \(also in map "feats"\)/);
    const unknownTwice = await fileOf(lines({ id: 1, feats: { '7': 0.5, '007': 0.5 } }));
    await expect(read(unknownTwice)).rejects.toThrow(/:1: map "feats", feature 007: the row gives feature 7 twice/);
    const both = await fileOf(lines({ id: 1, f_1: 0.25, feats: { '1': 0.5 } }));
    await expect(read(both)).rejects.toThrow(/:1: map "feats", feature 1: the row also has column f_1 for feature 1; give each feature once/);
  });

  it('implies column types for --add-features, and refuses ids whose values disagree', async () => {
    const path = await fileOf(
      lines(
        { id: 1, feats: { '5': 0.5, '6': [1, 2], '7': [[1, 0.5]], '8': [] } },
        { id: 2, feats: { '6': [1.5], '8': [3], '9': 'x' } },
      ),
    );
    const readAll = async (shape: ShapeOptions): Promise<void> => {
      for await (const batch of readInput(path, 'jsonl', COLUMNS, 10, { shape })) void batch;
    };
    expect(await featureColumnsToAdd(COLUMNS, {}, readAll)).toEqual([
      { name: 'f_5', type: 'float', featureId: 5 },
      { name: 'f_6', type: 'float_list', featureId: 6 },
      { name: 'f_7', type: 'id_score_list', featureId: 7 },
      { name: 'f_8', type: 'id_list', featureId: 8 },
      { name: 'f_9', type: 'string', featureId: 9 },
    ]);
    const mixed = await fileOf(lines({ id: 1, feats: { '5': 0.5 } }, { id: 2, feats: { '5': [1] } }, { id: 3, feats: { '4': [] } }));
    const readMixed = async (shape: ShapeOptions): Promise<void> => {
      for await (const batch of readInput(mixed, 'jsonl', COLUMNS, 10, { shape })) void batch;
    };
    await expect(featureColumnsToAdd(COLUMNS, {}, readMixed)).rejects.toThrow(
      /--add-features cannot add columns: feature 4 \(map feats\): no value that tells its type .*; feature 5 \(map feats\): values that imply different types \(float, id_list\)/,
    );
    const taken = [...COLUMNS, { name: 'f_5', type: 'float' as const }];
    await expect(featureColumnsToAdd(taken, {}, async (shape) => readAll(shape))).rejects.toThrow(/the table already has column f_5 without the feature id/);
  });
});

describe('JSON objects and names', () => {
  it('flattens nested objects with --flatten, refuses them without', async () => {
    const path = await fileOf(lines({ id: 1, user: { city: 'Lyon', geo: { zip: '69001' } } }));
    await expect(read(path)).rejects.toThrow(/:1: key "user" holds a JSON object and the table has no column "user"; --flatten spreads it into user_<key> columns/);
    await expect(read(path, { flatten: true })).rejects.toThrow(/:1: the table has no column "user_geo_zip"/);
    const columns = [...COLUMNS, { name: 'user_geo_zip', type: 'string' as const }];
    expect(await read(path, { flatten: true }, 'jsonl', columns)).toEqual([
      { id: 1, f_1: null, ids_10: null, pairs_12: null, user_city: 'Lyon', user_geo_zip: '69001' },
    ]);
  });

  it('renames and normalizes keys, naming the original of an unknown one', async () => {
    const path = await fileOf(lines({ ID: 1, 'User City': 'Nantes' }));
    expect(await read(path, { normalizeNames: true })).toEqual([{ id: 1, f_1: null, ids_10: null, pairs_12: null, user_city: 'Nantes' }]);
    expect(await read(path, { renames: new Map([['ID', 'id'], ['User City', 'user_city']]) })).toHaveLength(1);
    await expect(read(path, { renames: new Map([['ID', 'id']]) })).rejects.toThrow(/:1: the table has no column "User City"/);
    const clash = await fileOf(lines({ id: 1, ID: 2 }));
    await expect(read(clash, { normalizeNames: true })).rejects.toThrow(/file columns "id" and "ID" both become column "id" \(by --normalize-names\)/);
  });
});

describe('invalid UTF-8', () => {
  const bad = Buffer.from([0x61, 0xc3, 0xa9, 0x62, 0xff, 0x63]); // "aéb", 0xff, "c"

  it('finds the first byte that is not UTF-8', () => {
    expect(firstInvalidUtf8Byte(bad)).toBe(4);
    expect(firstInvalidUtf8Byte(Buffer.from('héllo'))).toBe(6);
    expect(firstInvalidUtf8Byte(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1); // a character cut by the end
    expect(firstInvalidUtf8Byte(Buffer.from([0x61, 0xe2, 0x82, 0x61]))).toBe(1); // a character cut by the next
  });

  it('refuses a JSON Lines line with its line, byte and column', async () => {
    const path = await fileOf(Buffer.concat([Buffer.from('{"id": 1}\n{"user_city": "'), bad, Buffer.from('"}\n')]));
    await expect(read(path)).rejects.toThrow(/f\d+\.jsonl:2: invalid UTF-8 at byte 20 of the line \(column 19: bytes ff 63 22 7d\); the file must be UTF-8 text/);
  });

  it('refuses a CSV record with its line and byte, also across read chunks', async () => {
    const header = Buffer.from('id,user_city\n1,ok\n');
    const path = await fileOf(Buffer.concat([header, Buffer.from('2,'), bad, Buffer.from('\n')]), 'csv');
    await expect(read(path, {}, 'csv')).rejects.toThrow(/f\d+\.csv:3: invalid UTF-8 at byte 7 of the line \(bytes ff 63 0a\); the file must be UTF-8 text/);
    // A long file whose only bad byte comes after the first 64 KiB read chunk, and a character cut by that chunk.
    const filler = `${'1,é\n'.repeat(20_000)}`;
    const far = await fileOf(Buffer.concat([header, Buffer.from(filler), Buffer.from('3,x'), Buffer.from([0xc3]), Buffer.from('\n')]), 'csv');
    await expect(read(far, {}, 'csv', COLUMNS, 8192)).rejects.toThrow(/:20003: invalid UTF-8 at byte 4 of the line \(bytes c3 0a\)/);
    const fine = await fileOf(Buffer.concat([header, Buffer.from(filler)]), 'csv');
    expect(await read(fine, {}, 'csv', COLUMNS, 8192)).toHaveLength(20_001);
  });

  it('refuses a truncated character at the very end of a CSV file', async () => {
    const path = await fileOf(Buffer.concat([Buffer.from('id,user_city\n1,x'), Buffer.from([0xe2, 0x82])]), 'csv');
    await expect(read(path, {}, 'csv')).rejects.toThrow(/:2: invalid UTF-8 at byte 4 of the line \(bytes e2 82\)/);
  });
});
