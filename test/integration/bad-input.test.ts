/**
 * `granary ingest` of lying and broken files against a real cluster (issue 11): each ends in one
 * line on stderr, never a stack trace, a non-zero exit, and nothing committed. The readers' own
 * checks are in test/unit/client/bad-input-files.test.ts; this is what a user sees.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINE_BYTES_MAX } from '../../client/cli/formats/input.js';
import { type NamedColumn, rowsToRecordBatch } from '../../client/format/index.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { patchIpc } from '../unit/client/arrow-ipc-patch.js';

const execFileAsync = promisify(execFile);

let cluster: Cluster;
let files: { path: string; remove: () => Promise<void> };

const TABLE = 'bad_input';
const COLUMNS: readonly NamedColumn[] = [
  { name: 'x', type: 'int32' },
  { name: 's', type: 'string' },
];
const ROWS = Array.from({ length: 5000 }, (_, i) => ({ x: i, s: `row ${i}` }));

/** The CLI's environment: the cluster, its admin token (when it runs with auth), GRANARY_DEBUG. */
function cliEnv(debug: '' | '1'): NodeJS.ProcessEnv {
  const token = (cluster as { adminToken?: string }).adminToken;
  return { ...process.env, GRANARY_METADATA: cluster.metadata.url, GRANARY_DEBUG: debug, ...(token === undefined ? {} : { GRANARY_TOKEN: token }) };
}

async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [GRANARY_BIN, ...args], {
      maxBuffer: 16 * 1024 * 1024,
      env: cliEnv(''),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function tableTotals(): Promise<{ partitions: number; rows: number }> {
  const listed = await granary(['table', 'list', '--json']);
  expect(listed.code, listed.stderr).toBe(0);
  const table = (JSON.parse(listed.stdout) as { name: string; partitions: number; rows: number }[]).find((t) => t.name === TABLE);
  if (table === undefined) throw new Error(`table ${TABLE} is not listed: ${listed.stdout}`);
  return { partitions: table.partitions, rows: table.rows };
}

function file(name: string): string {
  return join(files.path, name);
}

beforeAll(async () => {
  files = await makeTempDir('bad-input');
  cluster = await startCluster({ nodes: 3 });
  await writeFile(file('schema.json'), JSON.stringify({ columns: COLUMNS, partitionBy: ['ds'] }));
  const created = await granary(['table', 'create', TABLE, '--schema', file('schema.json'), '--ec', '2+1']);
  expect(created.code, created.stderr).toBe(0);

  const good = new arrow.Table([rowsToRecordBatch(COLUMNS, ROWS)]);
  await writeFile(file('good.arrow'), arrow.tableToIPC(good, 'file'));
  await writeFile(file('good.jsonl'), `${ROWS.map((row) => JSON.stringify(row)).join('\n')}\n`);
  // The audit's file: a batch claiming 7,700 rows with buffers for 77.
  const small = new arrow.Table([rowsToRecordBatch(COLUMNS, ROWS.slice(0, 77))]);
  await writeFile(
    file('lying.arrow'),
    patchIpc(arrow.tableToIPC(small, 'file'), (batch) => {
      batch.length = 7700n;
      for (const node of batch.nodes) node.length = 7700n;
    }),
  );
  // One JSON line just over the default limit (the audit's was 560 MB).
  await writeFile(file('huge-line.jsonl'), Buffer.concat([Buffer.from('{"s":"'), Buffer.alloc(LINE_BYTES_MAX, 0x61), Buffer.from('"}\n')]));
  // Flipped data bytes that make parquet-wasm trap.
  const properties = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.UNCOMPRESSED).build();
  const flipped = new Uint8Array(parquet.writeParquet(parquet.Table.fromIPCStream(arrow.tableToIPC(good, 'stream')), properties));
  for (let k = 0; k < 20; k++) {
    const at = 4 + ((7919 + k * 104729) % (flipped.length - 2000));
    flipped[at] = (flipped[at] as number) ^ 0xff;
  }
  await writeFile(file('flipped.parquet'), flipped);
  await writeFile(file('unclosed.csv'), 'x,s\n1,"one\n2,two\n');
  await writeFile(file('bad-cell.csv'), 'x,s\n1,one\nnot-a-number,two\n');
  await writeFile(file('bad.jsonl'), '{"x": 1, "s": "a"}\n{"x": 2, "s": }\n');
});

afterAll(async () => {
  await cluster?.stop();
  await files?.remove();
});

describe('granary ingest of bad files', () => {
  const CASES: readonly { name: string; files: readonly string[]; says: RegExp }[] = [
    { name: 'an Arrow batch claiming 7,700 rows with buffers for 77', files: ['lying.arrow'], says: /lying\.arrow: record batch 0 \(rows from 0\), column x \(Int32\): / },
    { name: 'a JSON line over 64 MiB', files: ['huge-line.jsonl'], says: /huge-line\.jsonl:1: the line is longer than 64 MiB/ },
    { name: 'a Parquet file with flipped data bytes', files: ['flipped.parquet'], says: /flipped\.parquet: Parquet read failed after row \d+: the Parquet decoder crashed/ },
    { name: 'a CSV quote never closed', files: ['unclosed.csv'], says: /unclosed\.csv: / },
    { name: 'a CSV cell of the wrong type', files: ['bad-cell.csv'], says: /bad-cell\.csv:3: column x \(int32\): / },
    // A good file first: its rows went to the writer, and still nothing is committed.
    { name: 'bad JSON after a good file', files: ['good.arrow', 'bad.jsonl'], says: /bad\.jsonl:2: not valid JSON/ },
  ];

  it('each: one line on stderr naming the file, no stack, a non-zero exit, nothing committed', async () => {
    // Each into a partition of its own: a commit by any of them shows in the totals at the end.
    for (const [i, bad] of CASES.entries()) {
      const result = await granary(['ingest', TABLE, ...bad.files.map(file), '--partition', `ds=bad-${i}`]);
      expect(result.code, bad.name).not.toBe(0);
      expect(result.stdout, bad.name).toBe('');
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      expect(lines, `${bad.name}: ${result.stderr}`).toHaveLength(1);
      expect(result.stderr, bad.name).not.toMatch(/^\s+at /m);
      expect(lines[0], bad.name).toMatch(/^granary: GRN_FORMAT_INVALID: /);
      expect(lines[0], bad.name).toMatch(bad.says);
    }
    expect(await tableTotals()).toEqual({ partitions: 0, rows: 0 });
  });

  it('GRANARY_DEBUG=1 adds the stack for a bug report', async () => {
    const { stderr } = await execFileAsync(process.execPath, [GRANARY_BIN, 'ingest', TABLE, file('bad.jsonl'), '--partition', 'ds=debug'], {
      env: cliEnv('1'),
    }).then(
      () => ({ stderr: '' }),
      (error: { stderr: string }) => error,
    );
    expect(stderr).toMatch(/^granary: GRN_FORMAT_INVALID: .*bad\.jsonl:2: not valid JSON/);
    expect(stderr).toMatch(/^\s+at /m);
  });

  it('the good files still ingest (the cluster and table were fine all along)', async () => {
    const result = await granary(['ingest', TABLE, file('good.arrow'), file('good.jsonl'), '--partition', 'ds=good']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ingested 10000 rows/);
    expect(await tableTotals()).toEqual({ partitions: 1, rows: 10_000 });
  });
});
