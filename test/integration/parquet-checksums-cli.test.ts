/**
 * `granary ingest` of a Parquet file whose page CRC does not match (apache/parquet-testing's
 * datapage_v1-corrupt-checksum.parquet) against a real cluster: refused in one line naming the
 * file, row group, column and page, nothing committed; `--no-page-checksums` ingests it, and its
 * intact twin ingests either way.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const execFileAsync = promisify(execFile);
const CORPUS = fileURLToPath(new URL('../fixtures/parquet-testing/data/', import.meta.url));
const CORRUPT = join(CORPUS, 'datapage_v1-corrupt-checksum.parquet');
const INTACT = join(CORPUS, 'datapage_v1-uncompressed-checksum.parquet');
const TABLE = 'page_crcs';

let cluster: Cluster;
let files: { path: string; remove: () => Promise<void> };

async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const token = (cluster as { adminToken?: string }).adminToken;
  const env = { ...process.env, GRANARY_METADATA: cluster.metadata.url, GRANARY_DEBUG: '', ...(token === undefined ? {} : { GRANARY_TOKEN: token }) };
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [GRANARY_BIN, ...args], { maxBuffer: 16 * 1024 * 1024, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function tableRows(): Promise<number> {
  const listed = await granary(['table', 'list', '--json']);
  expect(listed.code, listed.stderr).toBe(0);
  const table = (JSON.parse(listed.stdout) as { name: string; rows: number }[]).find((t) => t.name === TABLE);
  return table?.rows ?? -1;
}

beforeAll(async () => {
  files = await makeTempDir('parquet-crc-cli');
  cluster = await startCluster({ nodes: 3 });
  const schema = join(files.path, 'schema.json');
  await writeFile(schema, JSON.stringify({ columns: [{ name: 'a', type: 'int32' }, { name: 'b', type: 'int32' }], partitionBy: ['ds'] }));
  const created = await granary(['table', 'create', TABLE, '--schema', schema, '--ec', '2+1']);
  expect(created.code, created.stderr).toBe(0);
});

afterAll(async () => {
  await cluster?.stop();
  await files?.remove();
});

describe('granary ingest and page CRCs', () => {
  it('a page whose CRC does not match: one line naming file, row group, column and page; nothing committed', async () => {
    const result = await granary(['ingest', TABLE, CORRUPT, '--partition', 'ds=corrupt']);
    expect(result.code).not.toBe(0);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^granary: GRN_FORMAT_INVALID: .*datapage_v1-corrupt-checksum\.parquet: row group 0, column a, page 0 \(at byte 4\), a data page: the page's CRC-32 is /);
    expect(await tableRows()).toBe(0);
  });

  it('--no-page-checksums ingests it; the intact twin ingests with the checks on', async () => {
    const unchecked = await granary(['ingest', TABLE, CORRUPT, '--partition', 'ds=unchecked', '--no-page-checksums']);
    expect(unchecked.code, unchecked.stderr).toBe(0);
    const intact = await granary(['ingest', TABLE, INTACT, '--partition', 'ds=intact']);
    expect(intact.code, intact.stderr).toBe(0);
    expect(await tableRows()).toBe(2 * 5120);
  });
});
