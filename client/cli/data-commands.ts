/** `granary ingest` and `granary read`: files in, files (or stdout) out, streaming. */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { GranaryError, type PartitionPredicate, STATS_OPS, type StatsOp, type StatsPredicate, parsePartitionSpec } from '../../protocol/index.js';
import { selectedSchema } from '../format/index.js';
import { newScanStats } from '../index.js';
import { DEFAULT_BATCH_ROWS, type InputFormat, LINE_BYTES_MAX, formatFromPath, readInput } from './formats/input.js';
import { type OutputFormat, openOutput } from './formats/output.js';
import { describeAdded, featureColumnsToAdd } from './formats/shape/add-features.js';
import { FeatureTally, type UnknownFeatures } from './formats/shape/feature-tally.js';
import { parseRenames } from './formats/shape/names.js';
import type { ShapeOptions } from './formats/shape/options.js';
import { formatBytes, printJson, withClient } from './context.js';
import { Progress, addProgressOption, progressMode } from './progress.js';

const INPUT_FORMATS: readonly InputFormat[] = ['jsonl', 'csv', 'parquet', 'arrow'];
const OUTPUT_FORMATS: readonly OutputFormat[] = ['jsonl', 'csv', 'arrow', 'parquet'];

/** Sizes of the input files, for ingest's total; undefined when one cannot be read (readInput then says why). */
async function inputBytes(files: readonly string[]): Promise<number[] | undefined> {
  try {
    return await Promise.all(files.map(async (file) => (await stat(file)).size));
  } catch {
    return undefined;
  }
}

/** Progress over the input files, in bytes read of all of them. */
function inputProgress(
  progress: Progress,
  sizes: readonly number[] | undefined,
): { file(index: number): (bytesRead: number) => void; fileRead(index: number): void; rows(rows: number): void } {
  let before = 0;
  let current = 0;
  let rows = 0;
  const show = (): void => progress.update(before + current, `${rows.toLocaleString('en-US')} rows`);
  return {
    file(index) {
      before = (sizes ?? []).slice(0, index).reduce((sum, size) => sum + size, 0);
      current = 0;
      return (bytesRead) => {
        current = bytesRead;
        show();
      };
    },
    // All of it: the readers' counts of an Arrow or Parquet file are estimates.
    fileRead(index) {
      current = sizes?.[index] ?? current;
      show();
    },
    rows(count) {
      rows = count;
      show();
    },
  };
}

export function ingestCommand(): Command {
  return addProgressOption(new Command('ingest'))
    .description('write files (JSON Lines, CSV, Parquet, Arrow IPC) into one partition, committed at once')
    .argument('<table>')
    .argument('<files...>')
    .requiredOption('--partition <spec>', 'e.g. ds=2026-11-25')
    .addOption(new Option('--format <format>', 'input format (default: by file extension)').choices(INPUT_FORMATS))
    .option(
      '--column-order <order>',
      'how streams are laid out in blocks: popularity (columns scans read most first), schema, or column names separated by commas (first; others follow)',
      'popularity',
    )
    .option('--max-line-bytes <bytes>', 'longest JSON Lines line or CSV record accepted', parseLineBytes, LINE_BYTES_MAX)
    .option('--no-page-checksums', 'read Parquet pages without checking their CRCs (a page whose CRC does not match is refused by default)')
    .option('--rename <pairs>', "file column names to table column names: 'File Name=file_name' (repeatable, or pairs separated by commas)", collectRenames, [] as string[])
    .option('--normalize-names', 'lower-case file column names, other characters to _ (Customer ID: customer_id, 2nd: _2nd)')
    .option('--flatten', 'spread struct columns and JSON objects into parent_child columns')
    .option('--add-features', 'add a column f_<id> for each feature of a map column the table has none for (the files are read twice)')
    .action(
      async (
        table: string,
        files: string[],
        flags: { partition: string; format?: InputFormat; columnOrder: string; maxLineBytes: number; pageChecksums: boolean; progress?: boolean } & ShapeFlags,
        command: Command,
      ) => {
        await withClient(command, async (client, { json }) => {
          let info = await client.metadata.describeTable(table);
          const formats = files.map((file) => flags.format ?? formatFromPath(file));
          const mode = progressMode({ json, progress: flags.progress });
          const sizes = mode === 'off' ? undefined : await inputBytes(files);
          const total = sizes?.reduce((sum, size) => sum + size, 0);
          const newProgress = (label: string): Progress => new Progress({ label, unit: 'bytes', mode, ...(total === undefined ? {} : { total }) });
          const features = new FeatureTally();
          const shape: ShapeOptions = { renames: parseRenames(flags.rename), normalizeNames: flags.normalizeNames === true, flatten: flags.flatten === true, features };
          let added = '';
          if (flags.addFeatures === true) {
            const columns = info.columns;
            const addColumns = await featureColumnsToAdd(columns, shape, async (firstPass) => {
              const bar = newProgress(`ingest ${table} ${flags.partition}: finding map features`);
              const track = inputProgress(bar, sizes);
              try {
                for (const [i, file] of files.entries()) {
                  for await (const batch of readInput(file, formats[i] as InputFormat, columns, DEFAULT_BATCH_ROWS, { lineBytesMax: flags.maxLineBytes, shape: firstPass, verifyPageChecksums: flags.pageChecksums, onBytesRead: track.file(i) })) void batch;
                  track.fileRead(i);
                }
                bar.finish();
              } catch (error) {
                bar.interrupt();
                throw error;
              }
            });
            if (addColumns.length > 0) {
              info = await client.metadata.alterTable(table, { addColumns });
              added = `; added ${addColumns.length} feature column${addColumns.length === 1 ? '' : 's'}: ${describeAdded(addColumns)}`;
            }
          }
          const columnOrder = flags.columnOrder === 'popularity' || flags.columnOrder === 'schema' ? flags.columnOrder : flags.columnOrder.split(',').map((name) => name.trim());
          const writer = await client.openWriter(table, flags.partition, { columnOrder });
          const bar = newProgress(`ingest ${table} ${flags.partition}`);
          const track = inputProgress(bar, sizes);
          let failed = false;
          try {
            let rows = 0;
            for (const [i, file] of files.entries()) {
              for await (const batch of readInput(file, formats[i] as InputFormat, info.columns, DEFAULT_BATCH_ROWS, { lineBytesMax: flags.maxLineBytes, shape, verifyPageChecksums: flags.pageChecksums, onBytesRead: track.file(i) })) {
                await writer.write(batch);
                rows += batch.numRows;
                track.rows(rows);
              }
              track.fileRead(i);
            }
            const result = await writer.commit();
            bar.finish();
            const unknownFeatures = features.report();
            if (json) printJson({ ...result, unknownFeatures });
            else process.stdout.write(`ingested ${result.rows} rows (${result.bytes} bytes) into ${table} ${result.partition}${added}${describeUnknown(unknownFeatures)}\n`);
          } catch (error) {
            failed = true;
            // The error line starts on a line of its own, not after the progress bar.
            bar.interrupt();
            throw error;
          } finally {
            // Nothing of a failed ingest is committed: the session is aborted. The reason it failed
            // is what the user needs to see, not a failure to abort on top of it.
            await writer.close().catch((closeError: unknown) => {
              if (!failed) throw closeError;
            });
          }
        });
      },
    );
}

interface ShapeFlags {
  readonly rename: readonly string[];
  readonly normalizeNames?: boolean;
  readonly flatten?: boolean;
  readonly addFeatures?: boolean;
}

/** `--rename`'s values, each checked as it is given. */
function collectRenames(text: string, previous: readonly string[]): string[] {
  try {
    parseRenames([text]);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
  return [...previous, text];
}

/** The ingest line's account of map features the table has no column for (none: nothing). */
function describeUnknown(unknown: UnknownFeatures): string {
  if (unknown.distinct === 0) return '';
  const more = unknown.distinct > unknown.sampleIds.length ? ', ...' : '';
  return `; ${unknown.values} values of ${unknown.distinct} feature${unknown.distinct === 1 ? '' : 's'} the table has no column for were not stored (ids ${unknown.sampleIds.join(', ')}${more}; --add-features adds them)`;
}

function parseLineBytes(text: string): number {
  const bytes = Number(text);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new InvalidArgumentError(`expected a positive whole number of bytes, got "${text}"`);
  return bytes;
}

/**
 * Parses `label = 1 and age between 18 and 30 and score >= 0.5`. A value in single quotes is
 * text, for timestamp and date columns (`ts >= '2026-11-20T00:00:00Z'`, `day = '2026-11-20'`);
 * an unquoted value that starts like a date (`2026-11-20...`) is taken as such text too. The
 * service reads text against the column's type.
 */
export function parseWhere(text: string): StatsPredicate[] {
  const predicates: StatsPredicate[] = [];
  const value = (raw: string): number | string => {
    if (raw.startsWith("'")) return raw.slice(1, -1);
    if (/^[+-]?\d{4,7}-\d{2}-\d{2}(?:[Tt]\S*)?$/.test(raw)) return raw;
    if (/^-?\d{16,20}$/.test(raw)) return raw;
    const number = Number(raw);
    if (raw === '' || !Number.isFinite(number)) throw new GranaryError('GRN_BAD_REQUEST', `--where: "${raw}" is not a number`);
    return number;
  };
  const literal = "('[^']*'|[^\\s']+)";
  const pattern = new RegExp(`^\\s*([a-z_][a-z0-9_]*)\\s*(?:(between)\\s+${literal}\\s+and\\s+${literal}|(<=|>=|=|<|>)\\s*${literal})\\s*(?:\\s+and\\s+|$)`, 'i');
  let rest = text;
  while (rest.trim().length > 0) {
    const match = pattern.exec(rest);
    if (match === null) {
      throw new GranaryError(
        'GRN_BAD_REQUEST',
        `--where: cannot read "${rest.trim()}"; write e.g. 'label = 1 and age between 18 and 30' or "ts >= '2026-11-20T00:00:00Z'" (operators ${STATS_OPS.join(' ')})`,
      );
    }
    const column = match[1] as string;
    if (match[2] !== undefined) predicates.push({ column, op: 'between', value: [value(match[3] as string), value(match[4] as string)] });
    else predicates.push({ column, op: match[5] as StatsOp, value: value(match[6] as string) });
    rest = rest.slice(match[0].length);
  }
  return predicates;
}

export function readCommand(): Command {
  return addProgressOption(new Command('read'))
    .description('read columns of a table as JSON Lines, CSV, Arrow IPC or Parquet')
    .argument('<table>')
    .option('--partition <spec>', 'one partition, e.g. ds=2026-11-25 (default: all)')
    .option('--columns <names>', 'comma-separated columns (default: all)')
    .option('--where <condition>', "e.g. 'label = 1 and age between 18 and 30', \"ts >= '2026-11-20T00:00:00Z'\"")
    .addOption(new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('jsonl'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (table: string, flags: { partition?: string; columns?: string; where?: string; format: OutputFormat; out?: string; progress?: boolean }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const info = await client.metadata.describeTable(table);
        let partitions: Record<string, PartitionPredicate> | undefined;
        if (flags.partition !== undefined) {
          const { values } = parsePartitionSpec(flags.partition, info.partitionBy);
          partitions = Object.fromEntries(Object.entries(values).map(([key, v]) => [key, { eq: v }]));
        }
        // Checked before --out is created: a bad column leaves no empty file behind.
        const { names, schema } = selectedSchema(table, info.columns, flags.columns?.split(',').map((c) => c.trim()).filter((c) => c.length > 0));
        const where = flags.where === undefined ? undefined : parseWhere(flags.where);
        const target = flags.out === undefined ? process.stdout : createWriteStream(flags.out);
        const output = openOutput(flags.format, target, schema);
        const stats = newScanStats();
        const selection = { ...(partitions === undefined ? {} : { partitions }), ...(where === undefined ? {} : { where }) };
        // Rows printed to the terminal the bar is drawn on would tear it: no bar unless asked for.
        const toTerminal = flags.out === undefined && process.stdout.isTTY === true && flags.progress !== true;
        const mode = toTerminal ? 'off' : progressMode({ json, progress: flags.progress });
        // The stripes the scan will read: a plan of no columns, asked only when progress is shown.
        const stripes = mode === 'off' ? undefined : await client.stripeCount(table, selection);
        const bar = new Progress({ label: `read ${table}`, unit: { noun: 'stripes' }, mode, ...(stripes === undefined ? {} : { total: stripes }) });
        let failed = true;
        try {
          for await (const batch of client.scan(table, { purpose: 'export', columns: names, ...selection, stats })) {
            await output.write(batch);
            bar.update(stats.stripes, `${stats.rows.toLocaleString('en-US')} rows, ${formatBytes(stats.bytesNeeded)}`, stats.bytesNeeded);
          }
          failed = false;
        } finally {
          if (failed) bar.interrupt();
          else bar.finish();
          await output.close();
          if (target !== process.stdout) await new Promise<void>((resolve, reject) => target.end((error?: Error | null) => (error ? reject(error) : resolve())));
        }
        if (flags.out !== undefined) process.stderr.write(`wrote ${stats.rows} rows to ${flags.out}\n`);
      });
    });
}
