/**
 * Runs the Parquet conformance collection (parquet-corpus.ts) through the `granary` CLI against a
 * running cluster, as a user would: `table create --like`, `ingest`, `read --format arrow` and
 * `read --format parquet`; then compares every value with DuckDB's reading of the original files
 * (parquet-corpus-values.ts), and checks that refused files left nothing behind. Shared by the
 * integration test and bench/parquet-conformance.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import { builtInferColumns, builtTableLike } from './built-modules.js';
import type { Category, CorpusUnit } from './parquet-corpus.js';
import { type CanonicalColumn, type CanonicalKind, arrowColumns, canonicalKindOf, duckdbColumns, firstDifference } from './parquet-corpus-values.js';
import type { CliResult } from './up-process.js';

/** Runs `granary ARGS` against the cluster. */
export type Cli = (args: readonly string[]) => Promise<CliResult>;

/**
 * exact: every value equal; refused: refused as expected, nothing committed; different: values
 * came back other than DuckDB reads them; unexpected: anything else (refused when it should have
 * been taken, taken when it should have been refused, the wrong reason, more than one line).
 */
export type Status = 'exact' | 'refused' | 'different' | 'unexpected';

export interface Outcome {
  readonly unit: CorpusUnit;
  /** The file this outcome is about (a group's outcome covers `files` files). */
  readonly file: string;
  readonly files: number;
  readonly status: Status;
  readonly detail: string;
}

export const PARTITION = 'ds=2026-12-01';
/** CLI processes at once: each is a Node process; more than three only queue on 2 cores. */
const CONCURRENCY_DEFAULT = 3;

interface RunContext {
  readonly cli: Cli;
  readonly workDir: string;
  readonly duckdb: DuckDBInstance;
  /** Tables of refused units: the unit and the stage it was refused at (for the nothing-committed check). */
  readonly refusals: Map<string, { readonly unitId: string; readonly refusedAt: 'create' | 'ingest' }>;
}

/** A refusal as the CLI must make it: non-zero, exactly one `granary: ` line, no stack. */
function refusalProblem(result: CliResult, reason: RegExp): string | undefined {
  if (result.code === 0) return 'it exited 0';
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1) return `stderr has ${lines.length} lines: ${result.stderr.slice(0, 600)}`;
  const line = lines[0] as string;
  if (!line.startsWith('granary: ')) return `stderr does not start with "granary: ": ${line.slice(0, 300)}`;
  if (!reason.test(line)) return `the reason does not match ${reason}: ${line.slice(0, 600)}`;
  return undefined;
}

function oneLine(result: CliResult): string {
  return (result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 3).join(' | ').slice(0, 600);
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function sqlName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** DuckDB's expression for a file column or struct field at `path`. */
function sourceExpression(path: readonly string[]): string {
  let expression = sqlName(path[0] as string);
  for (const child of path.slice(1)) expression = `struct_extract(${expression}, ${sqlString(child)})`;
  return expression;
}

async function withConnection<T>(instance: DuckDBInstance, use: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await instance.connect();
  try {
    return await use(connection);
  } finally {
    connection.closeSync();
  }
}

function likeFlags(unit: CorpusUnit): string[] {
  return [...(unit.normalizeNames === true ? ['--normalize-names'] : []), ...(unit.flatten === true ? ['--flatten'] : [])];
}

/** One unit end to end; `table` is its table's name. */
async function runUnit(context: RunContext, unit: CorpusUnit, table: string): Promise<Outcome> {
  const { cli } = context;
  const outcome = (status: Status, detail: string): Outcome => ({ unit, file: unit.files.length === 1 ? (unit.files[0] as string) : unit.id, files: unit.files.length, status, detail });
  const expect = unit.expect;

  if (unit.likeRefused === true) {
    for (const file of unit.files) {
      const name = `${table}_like`;
      const result = await cli(['table', 'create', name, '--like', file, '--ec', '2+1']);
      const problem = refusalProblem(result, /./);
      if (problem !== undefined) return outcome('unexpected', `table create --like ${file}: ${problem}`);
      context.refusals.set(name, { unitId: unit.id, refusedAt: 'create' });
    }
  }

  const created = await cli(['table', 'create', table, '--like', unit.like, '--ec', '2+1', '--json', ...likeFlags(unit)]);
  if (created.code !== 0) {
    if (expect.kind === 'refused' && expect.stage !== 'ingest') {
      const problem = refusalProblem(created, expect.reason);
      const result = problem === undefined ? outcome('refused', `table create: ${oneLine(created)}`) : outcome('unexpected', `table create: ${problem}`);
      context.refusals.set(table, { unitId: unit.id, refusedAt: 'create' });
      return result;
    }
    return outcome('unexpected', `table create refused it: ${oneLine(created)}`);
  }
  if (expect.kind === 'refused' && expect.stage === 'create') return outcome('unexpected', 'table create took it; expected a refusal');
  const info = JSON.parse(created.stdout) as { columns: { name: string; type: string }[] };

  const ingested = await cli(['ingest', table, '--partition', PARTITION, ...unit.files, ...likeFlags(unit)]);
  if (ingested.code !== 0) {
    if (expect.kind === 'refused') {
      const problem = refusalProblem(ingested, expect.reason);
      const result = problem === undefined ? outcome('refused', `ingest: ${oneLine(ingested)}`) : outcome('unexpected', `ingest: ${problem}`);
      context.refusals.set(table, { unitId: unit.id, refusedAt: 'ingest' });
      return result;
    }
    return outcome('unexpected', `ingest refused it: ${oneLine(ingested)}`);
  }
  if (expect.kind === 'refused') return outcome('unexpected', `ingest took it (${ingested.stdout.trim()}); expected a refusal`);

  const names = info.columns.map((column) => column.name);
  const kinds = info.columns.map((column) => canonicalKindOf(column.type));
  const arrowOut = join(context.workDir, `${table}.arrow`);
  const parquetOut = join(context.workDir, `${table}.parquet`);
  for (const [format, out] of [['arrow', arrowOut], ['parquet', parquetOut]] as const) {
    const read = await cli(['read', table, '--format', format, '--out', out]);
    if (read.code !== 0) return outcome('unexpected', `read --format ${format}: ${oneLine(read)}`);
  }

  let reference: (CanonicalColumn | undefined)[];
  try {
    reference = await referenceColumns(context, unit, names, kinds);
  } catch (error) {
    return outcome('unexpected', `the reference reading failed: ${(error as Error).message}`);
  }
  const fromArrow = arrowColumns(arrow.tableFromIPC(await readFile(arrowOut)), kinds);
  // A column DuckDB cannot read is held to Granary's own two outputs agreeing, and said so.
  const unread = names.filter((_, c) => reference[c] === undefined);
  const expected = reference.map((column, c) => column ?? (fromArrow[c] as CanonicalColumn));
  const arrowDifference = firstDifference(names, expected, fromArrow);
  if (arrowDifference !== undefined) return outcome('different', `read --format arrow: ${arrowDifference}`);
  const fromParquet = await withConnection(context.duckdb, (connection) => duckdbColumns(connection, `SELECT * FROM read_parquet(${sqlString(parquetOut)})`, kinds, parquetOut));
  const parquetDifference = firstDifference(names, expected, fromParquet);
  if (parquetDifference !== undefined) return outcome('different', `read --format parquet: ${parquetDifference}`);
  const unreadNote = unread.length === 0 ? '' : `; DuckDB cannot read ${unread.join(', ')}: those checked arrow against parquet output only`;
  return outcome('exact', `${expected[0]?.length ?? 0} rows x ${names.length} columns${unreadNote}`);
}

/**
 * What the table must hold: DuckDB's reading of each original file, in ingest order, of the
 * columns `--like` made (a flattened struct field read by its path); known values replace a
 * column DuckDB is known to read wrong.
 */
async function referenceColumns(
  context: RunContext,
  unit: CorpusUnit,
  names: readonly string[],
  kinds: readonly CanonicalKind[],
): Promise<(CanonicalColumn | undefined)[]> {
  const [{ inferColumns }, { readFileSchema }] = await Promise.all([builtInferColumns(), builtTableLike()]);
  const inferred = inferColumns(await readFileSchema(unit.like), { normalizeNames: unit.normalizeNames === true, flatten: unit.flatten === true });
  if (inferred.columns.map((column) => column.name).join(',') !== names.join(',')) {
    throw new Error(`the table's columns ${names.join(',')} are not the file's ${inferred.columns.map((c) => c.name).join(',')}`);
  }
  const select = inferred.sources.map((path, c) => `${sourceExpression(path)} AS c${c}`).join(', ');
  const columns: (CanonicalColumn | undefined)[] = names.map(() => []);
  for (const file of unit.files) {
    const read = (sql: string, columnKinds: readonly CanonicalKind[]): Promise<CanonicalColumn[]> =>
      withConnection(context.duckdb, (connection) => duckdbColumns(connection, sql, columnKinds, file));
    let part: (CanonicalColumn | undefined)[];
    try {
      part = await read(`SELECT ${select} FROM read_parquet(${sqlString(file)})`, kinds);
    } catch {
      // DuckDB cannot read some column (it refuses BYTE_STREAM_SPLIT on integers, say): read the
      // others one by one; a column it cannot read has no independent reading.
      part = [];
      for (let c = 0; c < names.length; c++) {
        try {
          part.push((await read(`SELECT ${sourceExpression(inferred.sources[c] as readonly string[])} FROM read_parquet(${sqlString(file)})`, [kinds[c] as CanonicalKind]))[0]);
        } catch {
          part.push(undefined);
        }
      }
    }
    part.forEach((column, c) => {
      const into = columns[c];
      columns[c] = column === undefined || into === undefined ? undefined : [...into, ...column];
    });
  }
  for (const [name, values] of Object.entries(unit.knownValues ?? {})) {
    const c = names.indexOf(name);
    if (c < 0) throw new Error(`known values for ${name}, which the table does not have`);
    columns[c] = [...values];
  }
  return columns;
}

/** Runs `work` over `items`, at most `limit` at a time, results in the items' order. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Every unit, then the nothing-committed check. A group whose outcome is not what it expected is
 * run again file by file, so that the outcome names the file.
 */
export async function runCorpus(
  cli: Cli,
  units: readonly CorpusUnit[],
  workDir: string,
  options: { readonly concurrency?: number; readonly onOutcome?: (outcome: Outcome) => void } = {},
): Promise<Outcome[]> {
  const duckdb = await DuckDBInstance.create(':memory:');
  const context: RunContext = { cli, workDir, duckdb, refusals: new Map() };
  try {
    const expected = (outcome: Outcome): boolean => outcome.status === (outcome.unit.expect.kind === 'exact' ? 'exact' : 'refused');
    const run = async (unit: CorpusUnit, table: string): Promise<Outcome> => {
      const outcome = await runUnit(context, unit, table);
      options.onOutcome?.(outcome);
      return outcome;
    };
    const nested = await pool(units, options.concurrency ?? CONCURRENCY_DEFAULT, async (unit, u) => {
      const first = await run(unit, `c${u}`);
      if (expected(first) || unit.files.length === 1) return [first];
      return pool(unit.files, 1, (file, f) => run({ ...unit, id: `${unit.id}/${f}`, like: file, files: [file] }, `c${u}_${f}`));
    });
    const outcomes = nested.flat();
    return checkNothingCommitted(cli, context, outcomes);
  } finally {
    duckdb.closeSync();
  }
}

/** Refused units left no table (refused at create) or no rows (refused at ingest). */
async function checkNothingCommitted(cli: Cli, context: RunContext, outcomes: Outcome[]): Promise<Outcome[]> {
  const listed = await cli(['table', 'list', '--json']);
  if (listed.code !== 0) throw new Error(`table list: ${oneLine(listed)}`);
  const tables = new Map((JSON.parse(listed.stdout) as { name: string; rows: number; partitions: number }[]).map((t) => [t.name, t]));
  const broken = new Map<string, string>();
  for (const [name, { unitId, refusedAt }] of context.refusals) {
    const table = tables.get(name);
    if (refusedAt === 'create' && table !== undefined) broken.set(unitId, `table ${name} exists after its create was refused`);
    if (refusedAt === 'ingest' && (table === undefined || table.rows !== 0 || table.partitions !== 0)) {
      broken.set(unitId, `after the refused ingest table ${name} has ${table?.rows ?? '?'} rows in ${table?.partitions ?? '?'} partitions`);
    }
  }
  return outcomes.map((outcome) => {
    const problem = outcome.status === 'refused' ? broken.get(outcome.unit.id) : undefined;
    return problem === undefined ? outcome : { ...outcome, status: 'unexpected', detail: `${problem}; ${outcome.detail}` };
  });
}

/** Files by category and status, for the bench's table and the test's summary. */
export function tally(outcomes: readonly Outcome[]): Map<Category, Record<Status, number>> {
  const counts = new Map<Category, Record<Status, number>>();
  for (const outcome of outcomes) {
    const row = counts.get(outcome.unit.category) ?? { exact: 0, refused: 0, different: 0, unexpected: 0 };
    row[outcome.status] += outcome.files;
    counts.set(outcome.unit.category, row);
  }
  return counts;
}
