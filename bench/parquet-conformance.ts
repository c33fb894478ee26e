/**
 * The Parquet conformance collection's numbers: every file of test/helpers/parquet-corpus.ts
 * (apache/parquet-testing's data/ and bad_data/, the corpus table written by DuckDB and by
 * parquet-wasm, hand-damaged files) through `granary table create --like`, `ingest` and `read`
 * against a local cluster, compared with DuckDB's reading of the original. Prints, by category,
 * how many files round-trip exactly, how many are refused as they must be (damaged, or a type
 * Granary lacks, with the reason, nothing committed), how many come back different (must be 0)
 * and how many did something else, and then every file that was not as expected.
 *
 *   npm run build && npx tsx bench/parquet-conformance.ts [--concurrency 3] [--only REGEX-of-unit-ids]
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CATEGORIES, generatedUnits, parquetTestingUnits } from '../test/helpers/parquet-corpus.js';
import { startCorpusCluster } from '../test/helpers/parquet-corpus-cluster.js';
import { runCorpus, tally } from '../test/helpers/parquet-corpus-run.js';
import { printTable } from './measure.js';

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '3' }, only: { type: 'string' } } });
const only = values.only === undefined ? undefined : new RegExp(values.only);
const started = process.hrtime.bigint();
const cluster = await startCorpusCluster();
try {
  const work = join(cluster.dir, 'corpus');
  await mkdir(work, { recursive: true });
  const units = [...(await generatedUnits(work)), ...(await parquetTestingUnits()).reverse()].filter((unit) => only === undefined || only.test(unit.id));
  const outcomes = await runCorpus(cluster.cli, units, work, {
    concurrency: Number(values.concurrency),
    onOutcome: (outcome) => process.stderr.write(`${outcome.status} ${outcome.file}: ${outcome.detail}\n`),
  });
  const counts = tally(outcomes);
  const rows = CATEGORIES.map((category) => {
    const row = counts.get(category) ?? { exact: 0, refused: 0, different: 0, unexpected: 0 };
    return [category, row.exact + row.refused + row.different + row.unexpected, row.exact, row.refused, row.different, row.unexpected].map(String);
  });
  printTable('Parquet conformance: files by category', [['category', 'files', 'round-trip exactly', 'refused correctly', 'different', 'other'], ...rows]);
  for (const outcome of outcomes) {
    const wanted = outcome.unit.expect.kind === 'exact' ? 'exact' : 'refused';
    if (outcome.status !== wanted) console.log(`${outcome.status.padEnd(10)} ${outcome.file}: ${outcome.detail}`);
  }
  for (const outcome of outcomes) if (outcome.status === 'refused') console.log(`refused    ${outcome.file}: ${outcome.detail}`);
  console.log(`${((Number(process.hrtime.bigint() - started) / 1e9)).toFixed(0)} s`);
} finally {
  await cluster.stop();
}
