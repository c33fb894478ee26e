/**
 * Ingest shaping as a user meets it through the `granary` binary: a table of 200 float feature
 * columns and two id-list feature columns fed from a Parquet file DuckDB wrote with one
 * MAP(BIGINT, FLOAT) column and one MAP(BIGINT, BIGINT[]) column, and from JSON Lines with the
 * same maps as objects; what is read back equals the maps' values by feature id; features the
 * table lacks are counted in the ingest's line and --json result, and --add-features adds them;
 * a struct file is refused without --flatten and spread with it; files from other engines with
 * names like `c_customer_sk:` and `String` ingested with --normalize-names and --rename.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { normalizeName } from '../../client/cli/formats/shape/names.js';
import { jsonLines, useCliCluster } from '../helpers/cli-cluster.js';

const ROWS = 1000;
const FLOAT_FEATURES = 200;
const FIRST_FEATURE = 1000;
const LIST_FEATURES = [5000, 5001];
const UNKNOWN_FEATURES = [9001, 9002];
/** Eleven CLI runs over 1,000 rows of 203 columns: 85 s on a loaded 2-core host, more when busier. */
const FEATURES_TEST_TIMEOUT_MS = 400_000;
/** Real-world files with names other engines allow (apache/parquet-testing, Apache-2.0). */
const CORPUS = new URL('../fixtures/parquet-testing-names/', import.meta.url).pathname;

// Its own `ok`: ingest reports unknown features on stderr, which is not an error here.
const { cluster, granary } = useCliCluster('ingest-shaping', { maxBuffer: 256 * 1024 * 1024 });

async function ok(args: readonly string[]): Promise<string> {
  const result = await granary(args);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function refused(args: readonly string[]): Promise<string> {
  const result = await granary(args);
  expect(result.code, `${args.join(' ')} succeeded: ${result.stdout}`).not.toBe(0);
  return result.stderr;
}

/** Runs SQL in a fresh in-memory DuckDB; returns the rows of the last statement as JSON values. */
async function duck(...statements: string[]): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    let rows: Record<string, unknown>[] = [];
    for (const sql of statements) rows = (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
    return rows;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

type Entries = { key: string; value: unknown }[];

/** The table row a map row should become: every feature column, null where the map lacks it. */
function expectedRow(id: number, feats: Entries | null, lists: Entries | null, extra: readonly number[] = []): Record<string, unknown> {
  const row: Record<string, unknown> = { id };
  const byId = new Map([...(feats ?? []), ...(lists ?? [])].map((entry) => [Number(entry.key), entry.value]));
  for (let k = 0; k < FLOAT_FEATURES; k++) row[`f_${FIRST_FEATURE + k}`] = byId.get(FIRST_FEATURE + k) ?? null;
  for (const feature of LIST_FEATURES) row[`ids_${feature}`] = ((byId.get(feature) as string[] | undefined) ?? null)?.map(Number) ?? null;
  for (const feature of extra) row[`f_${feature}`] = byId.get(feature) ?? null;
  return row;
}

function byId(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return [...rows].sort((a, b) => Number(a['id']) - Number(b['id']));
}

describe('ingest shaping through the CLI', () => {
  it('spreads a Parquet map column and JSON objects into 200 feature columns by featureId, counting and adding unknown features', async () => {
    const files = cluster.dir;
    const schema = join(files, 'features.json');
    const columns = [
      { name: 'id', type: 'int64' },
      ...Array.from({ length: FLOAT_FEATURES }, (_, k) => ({ name: `f_${FIRST_FEATURE + k}`, type: 'float', featureId: FIRST_FEATURE + k })),
      ...LIST_FEATURES.map((feature) => ({ name: `ids_${feature}`, type: 'id_list', featureId: feature })),
    ];
    await writeFile(schema, JSON.stringify({ columns, partitionBy: ['ds'] }));
    expect(await ok(['table', 'create', 'features', '--schema', schema, '--ec', '2+1'])).toMatch(/created table features: 203 columns/);

    // Values are multiples of 1/8, exact in float; each feature is in about 7 rows of 10; every
    // tenth row also has two features the table lacks.
    const parquet = join(files, 'maps.parquet');
    const entry = (key: string, value: string): string => `{'key': ${key}, 'value': ${value}}`;
    await duck(`COPY (
      SELECT i::BIGINT AS id,
        map_from_entries(list_concat(
          list_filter(list_transform(range(${FLOAT_FEATURES}), k -> ${entry(`(${FIRST_FEATURE} + k)::BIGINT`, '(((hash(i, k) % 2001)::INTEGER - 1000) / 8)::FLOAT')}), e -> hash(i, e.key) % 10 < 7),
          CASE WHEN i % 10 = 0 THEN [${UNKNOWN_FEATURES.map((feature) => entry(`${feature}::BIGINT`, `${feature % 7}::FLOAT`)).join(', ')}] ELSE [] END
        )) AS feats,
        CASE WHEN i % 13 = 0 THEN NULL ELSE map_from_entries(list_filter([${LIST_FEATURES.map((feature) => entry(`${feature}::BIGINT`, `CASE WHEN hash(i, ${feature}) % 4 = 0 THEN NULL ELSE list_transform(range((hash(i, ${feature}) % 5)::BIGINT), x -> (hash(i, x) % 1000000000000)::BIGINT) END`)).join(', ')}], e -> e.value IS NOT NULL)) END AS lists
      FROM range(${ROWS}) t(i)
    ) TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
    const source = await duck(`SELECT id, map_entries(feats) AS feats, map_entries(lists) AS lists FROM '${parquet}' ORDER BY id`);
    expect(source).toHaveLength(ROWS);

    const ingested = await ok(['ingest', 'features', parquet, '--partition', 'ds=2026-12-01']);
    expect(ingested).toMatch(/ingested 1000 rows .* into features ds=2026-12-01; 200 values of 2 features the table has no column for were not stored \(ids 9001, 9002; --add-features adds them\)/);
    const expected = source.map((row) => expectedRow(Number(row['id']), row['feats'] as Entries, row['lists'] as Entries | null));
    expect(byId(jsonLines(await ok(['read', 'features', '--partition', 'ds=2026-12-01'])))).toEqual(expected);

    // The same maps as JSON objects with integer keys.
    const jsonl = join(files, 'maps.jsonl');
    const objectOf = (entries: Entries | null): Record<string, unknown> | null =>
      entries === null ? null : Object.fromEntries(entries.map((e) => [e.key, Array.isArray(e.value) ? e.value.map(Number) : e.value]));
    await writeFile(jsonl, source.map((row) => JSON.stringify({ id: Number(row['id']), feats: objectOf(row['feats'] as Entries), lists: objectOf(row['lists'] as Entries | null) })).join('\n'));
    const asJson = JSON.parse(await ok(['ingest', 'features', jsonl, '--partition', 'ds=2026-12-02', '--json'])) as Record<string, unknown>;
    expect(asJson['rows']).toBe(ROWS);
    expect(asJson['unknownFeatures']).toEqual({ distinct: 2, values: 200, sampleIds: UNKNOWN_FEATURES });
    expect(byId(jsonLines(await ok(['read', 'features', '--partition', 'ds=2026-12-02'])))).toEqual(expected);

    // A value that does not fit its column: refused, naming file, line, map and feature; nothing stored.
    const misfit = join(files, 'misfit.jsonl');
    await writeFile(misfit, `{"id": 1, "feats": {"1000": 0.5}}\n{"id": 2, "feats": {"1001": [1, 2]}}\n`);
    expect(await refused(['ingest', 'features', misfit, '--partition', 'ds=2026-12-03'])).toMatch(
      /misfit\.jsonl:2: map "feats", feature 1001: a list does not fit column f_1001 \(float\)/,
    );
    expect(await ok(['read', 'features', '--partition', 'ds=2026-12-03'])).toBe('');

    // --add-features: the unknown ids become float columns before the write.
    expect(await ok(['ingest', 'features', parquet, '--partition', 'ds=2026-12-04', '--add-features'])).toMatch(
      /ingested 1000 rows .*; added 2 feature columns: f_9001 \(float\), f_9002 \(float\)\n$/,
    );
    expect(await ok(['table', 'describe', 'features'])).toMatch(/f_9001\s+float\s+9001\s+v2[\s\S]*f_9002\s+float\s+9002\s+v2/);
    const added = byId(jsonLines(await ok(['read', 'features', '--partition', 'ds=2026-12-04'])));
    expect(added).toEqual(source.map((row) => expectedRow(Number(row['id']), row['feats'] as Entries, row['lists'] as Entries | null, UNKNOWN_FEATURES)));
    expect(added.filter((row) => row['f_9001'] !== null)).toHaveLength(ROWS / 10);
  }, FEATURES_TEST_TIMEOUT_MS);

  it('refuses a struct column without --flatten and spreads it into parent_child columns with it', async () => {
    const files = cluster.dir;
    const schema = join(files, 'nested.json');
    await writeFile(schema, JSON.stringify({ columns: [{ name: 'id', type: 'int64' }, { name: 's_a', type: 'int64' }, { name: 's_b_c', type: 'string' }] }));
    await ok(['table', 'create', 'nested', '--schema', schema, '--ec', '2+1']);
    const parquet = join(files, 'nested.parquet');
    await duck(`COPY (
      SELECT i::BIGINT AS id, CASE WHEN i = 1 THEN NULL ELSE {'a': CASE WHEN i = 2 THEN NULL ELSE i * 10 END, 'b': CASE WHEN i = 3 THEN NULL ELSE {'c': 'v' || i} END} END AS s
      FROM range(5) t(i)
    ) TO '${parquet}' (FORMAT parquet)`);
    expect(await refused(['ingest', 'nested', parquet, '--partition', 'ds=2026-12-01'])).toMatch(
      /nested\.parquet: column "s" is a struct .*; Granary has no struct type: --flatten spreads it into columns s_a, s_b/,
    );
    expect(await ok(['ingest', 'nested', parquet, '--partition', 'ds=2026-12-01', '--flatten'])).toMatch(/ingested 5 rows/);
    expect(byId(jsonLines(await ok(['read', 'nested'])))).toEqual([
      { id: 0, s_a: 0, s_b_c: 'v0' },
      { id: 1, s_a: null, s_b_c: null },
      { id: 2, s_a: null, s_b_c: 'v2' },
      { id: 3, s_a: 30, s_b_c: null },
      { id: 4, s_a: 40, s_b_c: 'v4' },
    ]);
  });

  it('ingests files whose names have capitals and punctuation with --normalize-names and --rename', async () => {
    const files = cluster.dir;
    const customers = join(CORPUS, 'delta_encoding_required_column.parquet');
    const described = await duck(`DESCRIBE SELECT * FROM '${customers}'`);
    const types: Record<string, string> = { INTEGER: 'int32', VARCHAR: 'string' };
    const columns = described.map((row) => ({ name: normalizeName(String(row['column_name'])), type: types[String(row['column_type'])] }));
    expect(columns[0]).toEqual({ name: 'c_customer_sk_', type: 'int32' });
    const schema = join(files, 'customers.json');
    await writeFile(schema, JSON.stringify({ columns }));
    await ok(['table', 'create', 'customers', '--schema', schema, '--ec', '2+1']);
    expect(await refused(['ingest', 'customers', customers, '--partition', 'ds=2026-12-01'])).toMatch(
      /the table has no column "c_customer_sk:", .*--rename 'file name=table name' or --normalize-names maps them/,
    );
    expect(await ok(['ingest', 'customers', customers, '--partition', 'ds=2026-12-01', '--normalize-names'])).toMatch(/ingested 100 rows/);
    const read = byId(jsonLines(await ok(['read', 'customers', '--columns', 'c_customer_sk_,c_email_address_'])).map((row) => ({ ...row, id: row['c_customer_sk_'] })));
    const original = await duck(`SELECT "c_customer_sk:" AS id, "c_email_address:" AS email FROM '${customers}' ORDER BY 1`);
    expect(read.map((row) => [row['c_customer_sk_'], row['c_email_address_']])).toEqual(original.map((row) => [row['id'], row['email']]));

    const strings = join(CORPUS, 'data_index_bloom_encoding_stats.parquet');
    const stringsSchema = join(files, 'strings.json');
    await writeFile(stringsSchema, JSON.stringify({ columns: [{ name: 'word', type: 'string' }] }));
    await ok(['table', 'create', 'strings', '--schema', stringsSchema, '--ec', '2+1']);
    expect(await refused(['ingest', 'strings', strings, '--partition', 'ds=2026-12-01', '--normalize-names'])).toMatch(
      /the table has no column "string" \(file column "String"\)/,
    );
    expect(await ok(['ingest', 'strings', strings, '--partition', 'ds=2026-12-01', '--rename', 'String=word'])).toMatch(/ingested 14 rows/);
    const words = await duck(`SELECT "String" AS word FROM '${strings}'`);
    expect(jsonLines(await ok(['read', 'strings'])).map((row) => row['word'])).toEqual(words.map((row) => row['word']));
  });
});
