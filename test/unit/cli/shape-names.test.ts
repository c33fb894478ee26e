/**
 * Column names of other engines' files mapped to a table's (client/cli/formats/shape/names.ts),
 * and the same mapping applied to Arrow schemas (planConform) and CSV headers.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformBatch, planConform } from '../../../client/cli/formats/conform.js';
import { readInput } from '../../../client/cli/formats/input.js';
import { NameMapper, normalizeName, parseRenames } from '../../../client/cli/formats/shape/names.js';
import { FormatError, recordBatchToRows } from '../../../client/format/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { batchOf } from './shape-batches.js';

describe('normalizeName', () => {
  it.each([
    ['Customer ID', 'customer_id'],
    ['c_customer_sk:', 'c_customer_sk_'],
    ['String', 'string'],
    ['2nd place', '_2nd_place'],
    ['a--b__c', 'a_b_c'],
    ['Unnamed: 0', 'unnamed_0'],
    ['Größe', 'gr_e'],
    ['', '_'],
    ['already_fine', 'already_fine'],
  ])('%j -> %j', (name, expected) => {
    expect(normalizeName(name)).toBe(expected);
    // Normalizing is idempotent: a normalized name stays as it is.
    expect(normalizeName(expected)).toBe(expected);
  });
});

describe('parseRenames', () => {
  it('reads repeated flags and comma-separated pairs, the first = splitting each', () => {
    const renames = parseRenames(['Name=name', 'Customer ID = customer_id, x=y=z']);
    expect([...renames]).toEqual([
      ['Name', 'name'],
      ['Customer ID', 'customer_id'],
      ['x', 'y=z'],
    ]);
  });

  it('refuses a pair without both names, and one file column renamed two ways', () => {
    expect(() => parseRenames(['Name'])).toThrow(/--rename takes 'file column=table column' pairs/);
    expect(() => parseRenames(['=name'])).toThrow(/got "=name"/);
    expect(() => parseRenames(['A=a', 'A=b'])).toThrow(/names file column "A" twice \(to "a" and "b"\)/);
    expect(parseRenames(['A=a', 'A=a']).size).toBe(1);
  });
});

describe('NameMapper', () => {
  it('renames first, normalizes the rest, and is the identity without options', () => {
    const mapper = new NameMapper({ renames: new Map([['Weird Name', 'plain']]), normalizeNames: true }, 'f.parquet');
    expect(mapper.map('Weird Name')).toBe('plain');
    expect(mapper.map('Other Col')).toBe('other_col');
    expect(mapper.describe('other_col')).toBe('other_col (file column "Other Col")');
    const identity = new NameMapper({}, 'f.parquet');
    expect(identity.active).toBe(false);
    expect(identity.map('Other Col')).toBe('Other Col');
  });

  it('refuses two file columns that become one name, naming both and why', () => {
    const normalizing = new NameMapper({ normalizeNames: true }, 'f.parquet');
    normalizing.map('User Id');
    expect(() => normalizing.map('user_id')).toThrow(/f\.parquet: file columns "User Id" and "user_id" both become column "user_id" \(by --normalize-names\)/);
    const renaming = new NameMapper({ renames: new Map([['A', 'b']]) }, 'f.parquet');
    renaming.map('b');
    expect(() => renaming.map('A')).toThrow(/file columns "b" and "A" both become column "b" \("A" by --rename\)/);
  });
});

describe('names in Arrow files and CSV headers', () => {
  const columns = [
    { name: 'c_customer_sk_', type: 'int64' as const },
    { name: 'string', type: 'string' as const },
    { name: 'label', type: 'float' as const },
  ];
  const batch = batchOf({
    'c_customer_sk:': arrow.vectorFromArray([1n, 2n], new arrow.Int64()),
    String: arrow.vectorFromArray(['a', 'b'], new arrow.Utf8()),
    Label: arrow.vectorFromArray([0.5, 1], new arrow.Float32()),
  });

  it('refuses file names the table does not have, with a hint at the flags', () => {
    expect(() => planConform(batch.schema, columns, 'f.parquet')).toThrow(FormatError);
    expect(() => planConform(batch.schema, columns, 'f.parquet')).toThrow(/the table has no column "c_customer_sk:", "String", "Label".*--rename 'file name=table name' or --normalize-names/);
  });

  it('maps them with --normalize-names and --rename, zero copy', () => {
    const plan = planConform(batch.schema, columns, 'f.parquet', { normalizeNames: true, renames: new Map([['Label', 'label']]) });
    const out = conformBatch(plan, batch);
    expect(recordBatchToRows(out)).toEqual([
      { c_customer_sk_: 1, string: 'a', label: 0.5 },
      { c_customer_sk_: 2, string: 'b', label: 1 },
    ]);
    expect(out.data.children[0]?.values).toBe(batch.data.children[0]?.values);
  });

  it('names the original and the mapped name of a column the table lacks', () => {
    expect(() => planConform(batch.schema, columns.slice(0, 2), 'f.parquet', { normalizeNames: true })).toThrow(
      /the table has no column "label" \(file column "Label"\)/,
    );
  });

  describe('CSV', () => {
    let dir: { path: string; remove: () => Promise<void> };
    beforeAll(async () => {
      dir = await makeTempDir('shape-names');
    });
    afterAll(async () => {
      await dir.remove();
    });

    it('maps header names, and names the original of an unknown one', async () => {
      const file = join(dir.path, 'spark.csv');
      await writeFile(file, 'c_customer_sk:,String,Label\n1,a,0.5\n');
      const rows: Record<string, unknown>[] = [];
      for await (const out of readInput(file, 'csv', columns, 10, { shape: { normalizeNames: true } })) rows.push(...recordBatchToRows(out));
      expect(rows).toEqual([{ c_customer_sk_: 1, string: 'a', label: 0.5 }]);
      const read = async (): Promise<void> => {
        for await (const out of readInput(file, 'csv', columns.slice(0, 2), 10, { shape: { normalizeNames: true } })) void out;
      };
      await expect(read()).rejects.toThrow(/spark\.csv:1: the header names column "label" \(file column "Label"\), which the table does not have/);
    });
  });
});
