/**
 * The Parquet conformance suite: every file of the collection (test/helpers/parquet-corpus.ts:
 * apache/parquet-testing's data/ and bad_data/, the corpus table written by DuckDB and by
 * parquet-wasm with every compression, page version, encoding, statistics level and dictionary
 * setting they offer, hand-damaged files) goes through the `granary` commands against one local
 * `granary up` cluster: `table create --like`, `ingest`, `read --format arrow` and `--format
 * parquet`. The commands run in this process (test/helpers/in-process-cli.ts), which keeps the
 * whole collection within a few minutes; the binary's own process behaviour is tested elsewhere.
 * What comes back must equal DuckDB's reading of the original, every value (floats bit for bit);
 * what must be refused is refused with exactly one `granary: ...` line naming the reason, a
 * non-zero exit and nothing committed. A file expected to be refused for a type Granary lacks
 * names that reason exactly, so the test fails the day the type lands.
 *
 * Also `table create --like` itself: --dry-run prints the schema file it would create, the JSON
 * answer carries the notes, names that are not column names are refused with the
 * --normalize-names hint, and an Arrow IPC file works as a Parquet one does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASONS, UINT64_NOTE } from '../../client/cli/formats/infer-columns.js';
import { FIXTURES, generatedUnits, parquetTestingUnits } from '../helpers/parquet-corpus.js';
import type { InProcessCli } from '../helpers/in-process-cli.js';
import { CORPUS_NODES, CORPUS_READY_DEADLINE_MS, CORPUS_STOP_DEADLINE_MS, corpusCli, corpusUpArgs } from '../helpers/parquet-corpus-cluster.js';
import { type Outcome, runCorpus, tally } from '../helpers/parquet-corpus-run.js';
import { useUpCluster } from '../helpers/up-process.js';

/** The whole collection on a loaded 2-core machine: about 140 command runs, three at a time. */
const CORPUS_DEADLINE_MS = 900_000;

const cluster = useUpCluster({
  name: 'parquet-conformance',
  nodes: CORPUS_NODES,
  args: corpusUpArgs,
  readyDeadlineMs: CORPUS_READY_DEADLINE_MS,
  stopDeadlineMs: CORPUS_STOP_DEADLINE_MS,
});

let cli: InProcessCli | undefined;
beforeAll(async () => {
  cli = await corpusCli(cluster.root, cluster.port);
});
afterAll(() => cli?.close());

function commands(): InProcessCli {
  if (cli === undefined) throw new Error('the cluster is not ready (read in a test?)');
  return cli;
}

function describeOutcome(outcome: Outcome): string {
  return `${outcome.file}: ${outcome.status}: ${outcome.detail}`;
}

describe('Parquet conformance', () => {
  it(
    'takes every file exactly or refuses it with one line and the reason, committing nothing',
    async () => {
      const work = join(cluster.dir, 'corpus');
      await mkdir(work, { recursive: true });
      const units = [...(await parquetTestingUnits()), ...(await generatedUnits(work))];
      const outcomes = await runCorpus(commands(), units, work);
      const wrong = outcomes.filter((outcome) => outcome.status !== (outcome.unit.expect.kind === 'exact' ? 'exact' : 'refused'));
      expect(wrong.map(describeOutcome)).toEqual([]);
      // Every category holds files, and nothing came back different.
      const counts = tally(outcomes);
      expect([...counts.keys()].sort()).toEqual(['DuckDB-written', 'hand-damaged', 'parquet-testing bad_data/', 'parquet-testing data/', 'parquet-wasm-written']);
      for (const row of counts.values()) expect(row.different).toBe(0);
    },
    CORPUS_DEADLINE_MS,
  );

  it('table create --like: dry run, notes, names, Arrow IPC input', async () => {
    const cli = commands();
    const ok = async (args: readonly string[]): Promise<{ stdout: string; stderr: string }> => {
      const result = await cli(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result;
    };

    // --dry-run prints the schema file --schema takes, with the flags folded in, and creates nothing.
    const dry = await ok(['table', 'create', 'like_dry', '--like', join(FIXTURES, 'data', 'concatenated_gzip_members.parquet'), '--dry-run', '--partition-by', 'day']);
    expect(JSON.parse(dry.stdout)).toEqual({ columns: [{ name: 'long_col', type: 'int64' }], partitionBy: ['day'] });
    expect(dry.stderr).toBe(`note: column "long_col": ${UINT64_NOTE}\n`);
    const described = await cli(['table', 'describe', 'like_dry']);
    expect(described.code).not.toBe(0);

    // The JSON answer of a real create carries the notes.
    const created = await ok(['table', 'create', 'like_notes', '--like', join(FIXTURES, 'data', 'concatenated_gzip_members.parquet'), '--ec', '2+1', '--json']);
    const info = JSON.parse(created.stdout) as { name: string; columns: { name: string; type: string }[]; notes: unknown[] };
    expect(info.columns.map((c) => [c.name, c.type])).toEqual([['long_col', 'int64']]);
    expect(info.notes).toEqual([{ column: 'long_col', note: UINT64_NOTE }]);

    // A name with capitals: refused naming it and the flag; taken with --normalize-names.
    const fruit = join(FIXTURES, 'data', 'delta_length_byte_array.parquet');
    const refused = await cli(['table', 'create', 'like_fruit', '--like', fruit, '--ec', '2+1']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toBe(
      `granary: GRN_FORMAT_INVALID: ${fruit}: cannot make a table like it: column "FRUIT" (Utf8): "FRUIT" is not a column name (lower-case letters, digits and _, starting with a letter or _, at most 128): --normalize-names makes it "fruit"\n`,
    );
    expect(await ok(['table', 'create', 'like_fruit', '--like', fruit, '--ec', '2+1', '--normalize-names'])).toMatchObject({ stdout: 'created table like_fruit: 1 columns, partitioned by ds, RS 2+1\n' });

    // Every column Granary cannot take, in one line.
    const impala = join(FIXTURES, 'data', 'nullable.impala.parquet');
    const lacking = await cli(['table', 'create', 'like_impala', '--like', impala, '--ec', '2+1', '--flatten']);
    expect(lacking.stderr.split('\n').filter((line) => line !== '')).toHaveLength(1);
    expect(lacking.stderr).toContain(`column "int_map" (Map<{key:Utf8, value:Int32}>): ${REASONS.map}`);
    expect(lacking.stderr).toContain(`column "int_array_Array" (List<List<Int32>>): ${REASONS.nestedList}`);

    // An Arrow IPC file: created like it, ingested, read back.
    const ipc = join(cluster.dir, 'like.arrow');
    const table = new arrow.Table({
      user_id: arrow.vectorFromArray([1n, 2n, 3n], new arrow.Int64()),
      score: arrow.vectorFromArray([0.5, 0.75, 1.25], new arrow.Float32()),
      tags: arrow.vectorFromArray([['a'], [], ['b', 'c']], new arrow.List(new arrow.Field('item', new arrow.Utf8(), true))),
      // apache-arrow builds DateDay values from Dates (a number would be taken as milliseconds).
      day: arrow.vectorFromArray([new Date('2024-10-04T00:00:00Z'), new Date('2024-10-05T00:00:00Z'), null], new arrow.DateDay()),
    });
    await writeFile(ipc, arrow.tableToIPC(table, 'file'));
    await ok(['table', 'create', 'like_ipc', '--like', ipc, '--ec', '2+1']);
    const columns = JSON.parse((await ok(['table', 'describe', 'like_ipc', '--json'])).stdout) as { columns: { name: string; type: string }[] };
    expect(columns.columns.map((c) => `${c.name}:${c.type}`)).toEqual(['user_id:int64', 'score:float', 'tags:string_list', 'day:date']);
    expect((await ok(['ingest', 'like_ipc', '--partition', 'ds=2026-12-01', ipc])).stdout).toMatch(/ingested 3 rows/);
    const rows = (await ok(['read', 'like_ipc'])).stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toEqual([
      { user_id: 1, score: 0.5, tags: ['a'], day: '2024-10-04' },
      { user_id: 2, score: 0.75, tags: [], day: '2024-10-05' },
      { user_id: 3, score: 1.25, tags: ['b', 'c'], day: null },
    ]);

    // A JSON Lines file has no types to take.
    const jsonl = join(cluster.dir, 'rows.jsonl');
    await writeFile(jsonl, '{"a": 1}\n');
    const untyped = await cli(['table', 'create', 'like_jsonl', '--like', jsonl]);
    expect(untyped.stderr).toMatch(/^granary: GRN_FORMAT_INVALID: .*rows\.jsonl: --like takes the column types of a Parquet or Arrow IPC file; a JSON Lines file has none/);
  }, 180_000);
});
