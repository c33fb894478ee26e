/**
 * The Parquet conformance collection and what Granary must do with each file: take it exactly
 * (ingest, read back, every value equal to DuckDB's reading of the original, floats bit for bit),
 * or refuse it with one line and the reason, committing nothing. Four sources:
 *
 * - apache/parquet-testing, `data/` and `bad_data/` (test/fixtures/parquet-testing/);
 * - the corpus table (parquet-corpus-generate.ts) written by DuckDB with every compression,
 *   page version and dictionary setting, and by parquet-wasm with every compression, page
 *   version, encoding, statistics level and tiny pages: each group shares one schema, so it is
 *   one table and one ingest of all its files;
 * - hand-damaged files.
 *
 * A refusal because Granary lacks a type names the exact reason (infer-columns.ts's REASONS), so
 * that the day the type lands the expectation fails and someone updates it.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { REASONS } from '../../client/cli/formats/infer-columns.js';
import { corpusTable, writeDamageBase, writeDamagedFiles, writeDuckdbFiles, writeWasmFiles } from './parquet-corpus-generate.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/parquet-testing/', import.meta.url));

export type Category = 'parquet-testing data/' | 'parquet-testing bad_data/' | 'DuckDB-written' | 'parquet-wasm-written' | 'hand-damaged';
export const CATEGORIES: readonly Category[] = ['parquet-testing data/', 'parquet-testing bad_data/', 'DuckDB-written', 'parquet-wasm-written', 'hand-damaged'];

/** Where a refusal happens: `table create --like` (the schema), `ingest` (the data), or either. */
export type Stage = 'create' | 'ingest' | 'any';

export type Expectation =
  | { readonly kind: 'exact' }
  /** Refused with one `granary: ...` line matching `reason`, nothing created or committed. */
  | { readonly kind: 'refused'; readonly stage: Stage; readonly reason: RegExp };

/** One unit of work: a table made `--like` one file, then one ingest of `files` into it. */
export interface CorpusUnit {
  readonly id: string;
  readonly category: Category;
  /** The file the table is created like. */
  readonly like: string;
  /** Ingested together, in this order, as one partition. */
  readonly files: readonly string[];
  readonly normalizeNames?: boolean;
  readonly flatten?: boolean;
  readonly expect: Expectation;
  /** `table create --like` each of `files` is refused too (a damaged footer). */
  readonly likeRefused?: boolean;
  /** Values known to be right where DuckDB reads them wrong, by column name (canonical forms). */
  readonly knownValues?: Readonly<Record<string, readonly (string | null)[]>>;
}

const EXACT: Expectation = { kind: 'exact' };

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Refused at `stage` for lacking a type: the column and the exact reason infer-columns gives. */
function lacks(column: string, reason: string): Expectation {
  return { kind: 'refused', stage: 'create', reason: new RegExp(`column ${escape(JSON.stringify(column))} \\([^)]*\\): ${escape(reason)}`) };
}

function refused(stage: Stage, reason: RegExp): Expectation {
  return { kind: 'refused', stage, reason };
}

/** A data page whose CRC does not match: the file, the column and the row group named. */
const CRC_MISMATCH = /checksum|crc/i;
/** A file the decoder cannot read (a trap included): one line naming the file. */
const UNREADABLE = /Parquet/;

interface FileRule {
  readonly expect?: Expectation;
  readonly normalizeNames?: boolean;
  readonly flatten?: boolean;
  readonly knownValues?: CorpusUnit['knownValues'];
}

/** parquet-testing data/: every file not listed here must round-trip exactly as it is. */
const DATA_RULES: Readonly<Record<string, FileRule>> = {
  // Names with capitals, spaces or colons.
  'data_index_bloom_encoding_stats.parquet': { normalizeNames: true },
  'data_index_bloom_encoding_with_length.parquet': { normalizeNames: true },
  'delta_encoding_required_column.parquet': { normalizeNames: true },
  'delta_length_byte_array.parquet': { normalizeNames: true },
  'unknown-logical-type.parquet': { normalizeNames: true },
  // Structs, flattened.
  'nulls.snappy.parquet': { flatten: true },
  'nested_structs.rust.parquet': { flatten: true, normalizeNames: true },
  'repeated_primitive_no_list.parquet': { flatten: true, normalizeNames: true },
  // Spark's INT96, some beyond the 64-bit nanosecond range that DuckDB (and a plain INT96 ->
  // nanoseconds decoder) wraps: the values are the file's documentation's (int96_from_spark.md).
  'int96_from_spark.parquet': {
    knownValues: { a: ['1704141296123456', '1704070800000000', '253402225200000000', '1735599600000000', null, '9089380393200000000'] },
  },
  // Types Granary lacks.
  'incorrect_map_schema.parquet': { expect: lacks('my_map', REASONS.map) },
  'large_string_map.brotli.parquet': { expect: lacks('arr', REASONS.map) },
  'map_no_value.parquet': { expect: lacks('my_map', REASONS.map) },
  'nested_maps.snappy.parquet': { expect: lacks('a', REASONS.map) },
  'nested_lists.snappy.parquet': { expect: lacks('a', REASONS.nestedList) },
  'old_list_structure.parquet': { expect: lacks('a', REASONS.nestedList) },
  'nonnullable.impala.parquet': { expect: lacks('int_array_array', REASONS.nestedList) },
  'nullable.impala.parquet': { expect: lacks('int_array_Array', REASONS.nestedList) },
  'null_list.parquet': { expect: lacks('emptylist', REASONS.listItem) },
  'repeated_no_annotation.parquet': { expect: lacks('phoneNumbers.phone', REASONS.idScoreStruct), flatten: true },
  // Lists holding null elements: Granary's lists have none.
  'list_columns.parquet': { expect: refused('ingest', /column int64_list.*element \d+ .*null|null element/) },
  // Damaged: checksums that do not match their pages, a malformed dictionary.
  'datapage_v1-corrupt-checksum.parquet': { expect: refused('ingest', CRC_MISMATCH) },
  'rle-dict-uncompressed-corrupt-checksum.parquet': { expect: refused('ingest', CRC_MISMATCH) },
  'nation.dict-malformed.parquet': { expect: refused('ingest', /row group 0, column/) },
};

/** parquet-testing bad_data/: every file is refused, at whichever stage first sees the damage. */
const BAD_DATA_RULES: Readonly<Record<string, FileRule>> = {
  'ARROW-GH-41317.parquet': { expect: refused('any', UNREADABLE) },
  'ARROW-GH-41321.parquet': { expect: lacks('null', REASONS.null) },
  // A dictionary index page of bit width 0 (every index 0): DuckDB and arrow-rs both read it.
  'ARROW-GH-43605.parquet': { expect: EXACT },
  'ARROW-GH-45185.parquet': { expect: refused('ingest', UNREADABLE) },
  'ARROW-GH-47662.parquet': { expect: refused('ingest', UNREADABLE) },
  // Its column chunk's byte range is checked against the file when the footer is read.
  'ARROW-RS-GH-6229-DICTHEADER.parquet': { expect: refused('any', /row group 0, column name/) },
  'ARROW-RS-GH-6229-LEVELS.parquet': { expect: lacks('outer', REASONS.idScoreStruct) },
  'PARQUET-1481.parquet': { expect: refused('create', UNREADABLE) },
};

function testingUnits(folder: 'data' | 'bad_data', names: readonly string[]): CorpusUnit[] {
  const rules = folder === 'data' ? DATA_RULES : BAD_DATA_RULES;
  return names.map((name) => {
    const rule = rules[name] ?? {};
    const path = join(FIXTURES, folder, name);
    return {
      id: `${folder}/${name}`,
      category: folder === 'data' ? 'parquet-testing data/' : 'parquet-testing bad_data/',
      like: path,
      files: [path],
      expect: rule.expect ?? (folder === 'data' ? EXACT : refused('any', UNREADABLE)),
      ...(rule.normalizeNames === true ? { normalizeNames: true } : {}),
      ...(rule.flatten === true ? { flatten: true } : {}),
      ...(rule.knownValues === undefined ? {} : { knownValues: rule.knownValues }),
    };
  });
}

/** Every parquet-testing file of the fixtures, in name order. */
export async function parquetTestingUnits(): Promise<CorpusUnit[]> {
  const { readdir } = await import('node:fs/promises');
  const list = async (folder: string): Promise<string[]> => (await readdir(join(FIXTURES, folder))).filter((name) => name.endsWith('.parquet')).sort();
  return [...testingUnits('data', await list('data')), ...testingUnits('bad_data', await list('bad_data'))];
}

/** Damage a reader of the footer alone sees. */
const FOOTER_DAMAGE = new Set(['truncated-half', 'truncated-tail', 'footer-length-huge', 'footer-length-short', 'magic-end', 'empty', 'not-parquet']);

/** Damaged-file reasons: one line naming the damaged file. */
function damagedReason(name: string, path: string): RegExp {
  const file = escape(path);
  if (name === 'crc-bit-flip') return new RegExp(`${file}.*(checksum|crc)`, 'i');
  return new RegExp(file);
}

/**
 * The generated groups (written into `dir`): DuckDB-written and parquet-wasm-written files of the
 * corpus table, one unit each (one schema), and the hand-damaged files, one unit each.
 */
export async function generatedUnits(dir: string): Promise<CorpusUnit[]> {
  const table = corpusTable();
  const duckdb = await writeDuckdbFiles(dir, table);
  const wasm = await writeWasmFiles(dir, table);
  const base = join(dir, 'damage-base.parquet');
  await writeDamageBase(base);
  const checksummed = join(FIXTURES, 'data', 'datapage_v1-uncompressed-checksum.parquet');
  const damaged = await writeDamagedFiles(dir, base, checksummed);
  return [
    { id: 'duckdb-written', category: 'DuckDB-written', like: duckdb[0] as string, files: duckdb, expect: EXACT },
    { id: 'parquet-wasm-written', category: 'parquet-wasm-written', like: wasm[0] as string, files: wasm, expect: EXACT },
    // The intact file the damaged ones are made from.
    { id: 'damage-base', category: 'parquet-wasm-written', like: base, files: [base], expect: EXACT },
    ...damaged.map(
      (file): CorpusUnit => ({
        id: `damaged-${file.name}`,
        category: 'hand-damaged',
        like: file.name === 'crc-bit-flip' ? checksummed : base,
        files: [file.path],
        expect: refused('ingest', damagedReason(file.name, file.path)),
        // `--like` reads only the footer: what breaks the footer must fail it too.
        ...(FOOTER_DAMAGE.has(file.name) ? { likeRefused: true } : {}),
      }),
    ),
  ];
}
