/**
 * The crash of issue 16 as a program using the client library meets it: a long-running node
 * process (not vitest's) imports the built library (dist/client, the package's `granary/client`), reads damaged Parquet files through
 * the same readInput the CLI ingests with, catches each FormatError, then reads a valid file. The
 * decoder traps on the damaged pages (nation.dict-malformed.parquet with page checks off traps
 * parquet-wasm itself); the process must survive, print one line per bad file naming the file, row
 * group and column, and exit 0.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';

const execFileAsync = promisify(execFile);
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const CORPUS = fileURLToPath(new URL('../fixtures/parquet-testing/', import.meta.url));

let temp: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  temp = await makeTempDir('granary-parquet-process-');
});
afterAll(async () => {
  await temp?.remove();
});

/** The program: read each file as `[path, verifyPageChecksums]`, one line per outcome. */
const PROGRAM = `
import { FormatError, columnTypeOf, readFileSchema, readInput } from ${JSON.stringify(pathToFileURL(join(DIST, 'client/index.js')).href)};

const files = JSON.parse(process.argv[2]);
for (const [path, verifyPageChecksums] of files) {
  try {
    const schema = await readFileSchema(path, 'parquet').catch(() => undefined);
    const columns = (schema?.fields ?? []).flatMap((field) => {
      const type = columnTypeOf(field.type);
      return type === undefined ? [] : [{ name: field.name, type }];
    });
    let rows = 0;
    for await (const batch of readInput(path, 'parquet', columns, 8192, { verifyPageChecksums })) rows += batch.numRows;
    console.log('read ' + rows + ' rows of ' + path);
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    console.log('refused: ' + error.message);
  }
}
console.log('still alive');
`;

describe('a process using the client library', () => {
  it('survives damaged Parquet files (decoder traps included), one line each, then reads a valid file and exits 0', async () => {
    const program = join(temp.path, 'ingest-program.mjs');
    await writeFile(program, PROGRAM);
    const dictHeader = join(CORPUS, 'bad_data/ARROW-RS-GH-6229-DICTHEADER.parquet');
    const malformed = join(CORPUS, 'data/nation.dict-malformed.parquet');
    const valid = join(CORPUS, 'data/datapage_v1-uncompressed-checksum.parquet');
    const files = [
      [dictHeader, true],
      [malformed, true],
      // Page checks off: parquet-wasm decodes the damaged dictionary page and traps.
      [malformed, false],
      [valid, true],
    ];
    const { stdout, stderr } = await execFileAsync(process.execPath, [program, JSON.stringify(files)], { timeout: 110_000 });
    const lines = stdout.split('\n').filter((line) => line !== '');
    expect(lines, `${stdout}\n${stderr}`).toHaveLength(5);
    expect(lines[0]).toMatch(new RegExp(`^refused: ${escape(dictHeader)}: row group 0, column \\w+: `));
    expect(lines[1]).toMatch(new RegExp(`^refused: ${escape(malformed)}: row group 0, column name, page 1 `));
    expect(lines[2]).toMatch(
      new RegExp(`^refused: ${escape(malformed)}: Parquet read failed after row 0: the Parquet decoder crashed \\(RuntimeError: unreachable\\), in row group 0 \\(rows 0-24\\), columns name, comment_col; `),
    );
    expect(lines[3]).toBe(`read 5120 rows of ${valid}`);
    expect(lines[4]).toBe('still alive');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
