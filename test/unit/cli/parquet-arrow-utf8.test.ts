/**
 * String columns of a user's Arrow IPC file (and of the batches the Parquet decoder hands over)
 * must be UTF-8: apache-arrow decodes bad bytes to U+FFFD, so the stored value would differ from
 * the file's without a word. A bad value is refused naming the file, the batch, the row and the
 * column; the fast whole-buffer check must not be fooled by two bad values that join into a
 * good character, and must not refuse garbage under a null.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInput } from '../../../client/cli/formats/input.js';
import { FormatError, recordBatchToRows } from '../../../client/format/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-arrow-utf8-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An Arrow IPC file with one Utf8 column `s` made of these exact bytes (null where `null`). */
async function arrowFile(name: string, values: readonly (Uint8Array | null)[]): Promise<string> {
  const offsets = new Int32Array(values.length + 1);
  const parts: Uint8Array[] = [];
  const validity = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  values.forEach((value, i) => {
    const bytes = value ?? Buffer.from('\xff\xfe', 'latin1');
    if (value === null) nulls++;
    else validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
    parts.push(bytes);
    offsets[i + 1] = (offsets[i] as number) + bytes.length;
  });
  const data = arrow.makeData({ type: new arrow.Utf8(), length: values.length, nullCount: nulls, nullBitmap: validity, valueOffsets: offsets, data: Buffer.concat(parts) });
  const table = new arrow.Table({ s: arrow.makeVector(data) });
  const path = join(dir, name);
  await writeFile(path, arrow.tableToIPC(table, 'file'));
  return path;
}

async function readStrings(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const batch of readInput(path, 'arrow', [{ name: 's', type: 'string' }])) out.push(...recordBatchToRows(batch).map((row) => row.s));
  return out;
}

async function failure(promise: Promise<unknown>): Promise<FormatError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(FormatError);
  return outcome as FormatError;
}

const text = (value: string): Uint8Array => Buffer.from(value, 'utf8');
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('invalid UTF-8 in an Arrow IPC string column', () => {
  it('valid text, non-ASCII included, reads as it is', async () => {
    const path = await arrowFile('valid.arrow', [text('plain'), text('é✓🙂'), text(''), null]);
    expect(await readStrings(path)).toEqual(['plain', 'é✓🙂', '', null]);
  });

  it('a bad byte is refused naming the file, batch, row and column', async () => {
    const path = await arrowFile('bad-byte.arrow', [text('fine'), text('also fine'), bytes(0x61, 0xff, 0x62), text('after')]);
    const error = await failure(readStrings(path));
    expect(error.message).toBe(
      `${path}: record batch 0 (rows from 0), column s (Utf8): row 2 (3 bytes) is not valid UTF-8; a string column holds UTF-8 text (binary data belongs in a bytes column)`,
    );
  });

  it('two bad values whose bytes join into a valid character are refused', async () => {
    // "a\xC3" + "\xA9b" is "aéb" once joined; neither value is UTF-8 alone.
    const path = await arrowFile('split.arrow', [bytes(0x61, 0xc3), bytes(0xa9, 0x62)]);
    const error = await failure(readStrings(path));
    expect(error.message).toMatch(/column s \(Utf8\): row 0 \(2 bytes\) is not valid UTF-8/);
  });

  it('bytes under a null are not a value: not refused', async () => {
    const path = await arrowFile('null-garbage.arrow', [text('x'), null, text('y')]);
    expect(await readStrings(path)).toEqual(['x', null, 'y']);
  });
});
