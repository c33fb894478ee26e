/** `granary table …` and `granary partition …`. */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import {
  COLUMN_TYPE_NAMES,
  COMPRESSION_LEVEL_RANGE,
  type ColumnSpec,
  GranaryError,
  TABLE_ENCODINGS,
  type TableEncoding,
  type TableSpec,
  readColumnType,
} from '../../protocol/index.js';
import { collect } from '../paging.js';
import { type TableLike, columnsLike } from './formats/table-like.js';
import { formatBytes, printJson, printTable, withClient } from './context.js';
import { type PageFlags, addPageOptions, onePage, printNextHint } from './page-flags.js';

function parseEncoding(text: string): TableEncoding {
  if (!(TABLE_ENCODINGS as readonly string[]).includes(text)) throw new GranaryError('GRN_BAD_REQUEST', `--encoding takes ${TABLE_ENCODINGS.join(' or ')}; got "${text}"`);
  return text as TableEncoding;
}

function parseLevel(text: string): number {
  const [min, max] = COMPRESSION_LEVEL_RANGE;
  const level = Number(text);
  if (!/^\d+$/.test(text) || level < min || level > max) throw new GranaryError('GRN_BAD_REQUEST', `--compression-level takes an integer in ${min}..${max} (zstd level); got "${text}"`);
  return level;
}

interface StreamFlags {
  readonly encoding?: TableEncoding;
  readonly compressionLevel?: number;
}

function streamSettings(flags: StreamFlags): StreamFlags {
  return {
    ...(flags.encoding === undefined ? {} : { encoding: flags.encoding }),
    ...(flags.compressionLevel === undefined ? {} : { compressionLevel: flags.compressionLevel }),
  };
}

function parseColumn(text: string, previous: ColumnSpec[] = []): ColumnSpec[] {
  const [name, typeText, featureId] = text.split(':');
  const type = typeText === undefined ? undefined : readColumnType(typeText);
  if (name === undefined || type === undefined || !type.ok) {
    const why = type !== undefined && !type.ok ? `: ${type.reason}` : '';
    throw new GranaryError('GRN_BAD_REQUEST', `--add-column takes name:type[:featureId] with a type among ${COLUMN_TYPE_NAMES}; got "${text}"${why}`);
  }
  const column: ColumnSpec = { name, type: type.type, ...(featureId === undefined ? {} : { featureId: Number(featureId) }) };
  return [...previous, column];
}

interface LikeFlags {
  readonly like?: string;
  readonly format?: string;
  readonly normalizeNames?: boolean;
  readonly flatten?: boolean;
}

/** The columns of `--like FILE`, and what ingest will still check value by value. */
async function likeColumns(path: string, flags: LikeFlags): Promise<TableLike> {
  if (flags.format !== undefined && flags.format !== 'parquet' && flags.format !== 'arrow') {
    throw new GranaryError('GRN_BAD_REQUEST', `--format takes parquet or arrow (the --like file's format); got "${flags.format}"`);
  }
  return columnsLike(path, {
    ...(flags.format === undefined ? {} : { format: flags.format }),
    normalizeNames: flags.normalizeNames === true,
    flatten: flags.flatten === true,
  });
}

function printNotes(like: TableLike | undefined): void {
  for (const { column, note } of like?.notes ?? []) process.stderr.write(`note: column ${JSON.stringify(column)}: ${note}\n`);
}

export function tableCommand(): Command {
  const table = new Command('table').description('create, list, describe, alter and drop tables');
  table
    .command('create <name>')
    .description('create a table from a schema file ({"columns":[{"name","type","featureId"?}], "partitionBy"?, "ec"?}), or like a Parquet or Arrow IPC file (--like)')
    .option('--schema <file>', 'JSON schema file')
    .option('--like <file>', 'take the columns of a Parquet or Arrow IPC file, widened as ingest widens them (int16 -> int32, uint32 -> int64, ...); a column Granary cannot hold is refused with the reason')
    .option('--format <parquet|arrow>', 'the --like file\'s format, when its extension does not say')
    .option('--normalize-names', 'with --like: lower-case the file\'s names and replace other characters with _, as ingest --normalize-names does')
    .option('--flatten', 'with --like: a column per struct field, named parent_child, as ingest --flatten does')
    .option('--dry-run', 'print the schema file the table would be created from, and create nothing')
    .option('--partition-by <keys>', 'comma-separated partition keys (default ds)')
    .option('--ec <k+m>', 'erasure policy (default 6+3)')
    .option('--retention <days>', 'e.g. 90d')
    .option('--encoding <auto|plain>', 'how writers store column streams: auto (bit-packing, dictionaries, zstd, per stream) or plain (default auto)', parseEncoding)
    .option('--compression-level <n>', 'zstd level of compressed streams, 1..19 (default 1)', parseLevel)
    .action(async (name: string, flags: { schema?: string; partitionBy?: string; ec?: string; retention?: string; dryRun?: boolean } & LikeFlags & StreamFlags, command: Command) => {
      if ((flags.schema === undefined) === (flags.like === undefined)) {
        throw new GranaryError('GRN_BAD_REQUEST', 'table create takes one of --schema FILE.json and --like FILE (a Parquet or Arrow IPC file)');
      }
      let schema: Partial<TableSpec>;
      const like = flags.like === undefined ? undefined : await likeColumns(flags.like, flags);
      if (like !== undefined) {
        schema = { columns: [...like.columns] };
      } else {
        try {
          schema = JSON.parse(await readFile(flags.schema as string, 'utf8')) as Partial<TableSpec>;
        } catch (error) {
          throw new GranaryError('GRN_BAD_REQUEST', `cannot read schema file ${flags.schema}: ${(error as Error).message}`);
        }
      }
      if (typeof schema !== 'object' || schema === null || !Array.isArray(schema.columns)) {
        throw new GranaryError('GRN_BAD_REQUEST', `schema file ${flags.schema} must be an object with a "columns" array`);
      }
      const spec: TableSpec = {
        ...schema,
        name,
        columns: schema.columns,
        ...(flags.partitionBy === undefined ? {} : { partitionBy: flags.partitionBy.split(',').map((k) => k.trim()) }),
        ...(flags.ec === undefined ? {} : { ec: flags.ec }),
        ...(flags.retention === undefined ? {} : { retention: flags.retention }),
        ...streamSettings(flags),
      };
      if (flags.dryRun === true) {
        const { name: _name, ...schemaFile } = spec;
        printNotes(like);
        return printJson(schemaFile);
      }
      await withClient(command, async (client, { json }) => {
        const info = await client.metadata.createTable(spec);
        // With --like, the JSON answer carries the notes too (`[]` when there are none).
        if (json) return printJson(like === undefined ? info : { ...info, notes: like.notes });
        process.stdout.write(`created table ${info.name}: ${info.columns.length} columns, partitioned by ${info.partitionBy.join(', ')}, RS ${info.ec}\n`);
        printNotes(like);
      });
    });
  addPageOptions(table.command('list').description('list tables'), 'tables').action(async (flags: PageFlags, command: Command) => {
    await withClient(command, async (client, { json }) => {
      // All of them page by page, or the one page asked for (JSON then keeps its `next`).
      const page = onePage(flags) ? await client.metadata.tablesPage(flags) : undefined;
      const tables = page?.tables ?? (await client.metadata.listTables());
      if (json) return printJson(page ?? tables);
      printTable(['NAME', 'COLUMNS', 'PARTITIONS', 'ROWS', 'BYTES', 'EC', 'CREATED'], tables.map((t) => [t.name, t.columns, t.partitions, t.rows, formatBytes(t.bytes), t.ec, t.createdAt]));
      printNextHint(page?.next ?? null);
    });
  });
  table
    .command('describe <name>')
    .description('show a table\'s schema and settings')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const info = await client.metadata.describeTable(name);
        if (json) return printJson(info);
        process.stdout.write(
          `table ${info.name}  (schema v${info.schemaVersion}, RS ${info.ec}, partitioned by ${info.partitionBy.join(', ')}, ` +
            `blocks ${formatBytes(info.blockBytes)}, stripes ${info.stripeRows} rows, retention ${info.retentionDays === null ? 'forever' : `${info.retentionDays}d`}, ` +
            `encoding ${info.encoding ?? 'auto'}${info.encoding === 'plain' ? '' : ` (zstd level ${info.compressionLevel ?? 1})`})\n`,
        );
        printTable(['COLUMN', 'TYPE', 'FEATURE', 'SINCE'], info.columns.map((c) => [c.name, c.type, c.featureId ?? '', `v${c.addedInVersion}`]));
      });
    });
  table
    .command('alter <name>')
    .description('add or drop columns, or change how new files store their streams')
    .option('--add-column <name:type[:featureId]>', 'add a column (repeatable)', parseColumn, [] as ColumnSpec[])
    .option('--drop-column <name>', 'drop a column (repeatable)', (value: string, previous: string[] = []) => [...previous, value], [] as string[])
    .option('--encoding <auto|plain>', 'how files written from now on store column streams', parseEncoding)
    .option('--compression-level <n>', 'zstd level for files written from now on, 1..19', parseLevel)
    .action(async (name: string, flags: { addColumn: ColumnSpec[]; dropColumn: string[] } & StreamFlags, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const info = await client.metadata.alterTable(name, { addColumns: flags.addColumn, dropColumns: flags.dropColumn, ...streamSettings(flags) });
        if (json) printJson(info);
        else process.stdout.write(`table ${info.name} is now schema v${info.schemaVersion} with ${info.columns.length} columns\n`);
      });
    });
  table
    .command('drop <name>')
    .description('drop a table; its data is garbage collected')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const result = await client.metadata.dropTable(name);
        if (json) printJson(result);
        else process.stdout.write(`dropped table ${result.table}: ${result.partitions} partitions, ${result.blocksQueued} blocks queued for deletion\n`);
      });
    });
  return table;
}

export function partitionCommand(): Command {
  const partition = new Command('partition').description('list, describe and drop partitions, or one file of a partition');
  addPageOptions(partition.command('list <table>'), 'partitions').action(async (table: string, flags: PageFlags, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const page = onePage(flags) ? await client.metadata.partitionsPage(table, flags) : undefined;
      const partitions = page?.partitions ?? (await client.metadata.listPartitions(table));
      if (json) return printJson(page ?? partitions);
      printTable(['PARTITION', 'ROWS', 'BYTES', 'FILES', 'STRIPES', 'CREATED'], partitions.map((p) => [p.partition, p.rows, formatBytes(p.bytes), p.files, p.stripes, p.createdAt]));
      printNextHint(page?.next ?? null);
    });
  });
  addPageOptions(partition.command('describe <table> <partition>'), 'files').action(async (table: string, spec: string, flags: PageFlags, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const detail = await client.metadata.describePartition(table, spec);
      // The answer embeds the first files; the rest (or the one page asked for) come from the files listing.
      const page = onePage(flags) ? await client.metadata.filesPage(table, spec, flags) : undefined;
      const rest = page === undefined && detail.filesNext !== null ? await collect(client.metadata.files(table, spec, { after: detail.filesNext })) : [];
      const shown = { ...detail, fileList: page?.files ?? [...detail.fileList, ...rest], filesNext: page?.next ?? null };
      if (json) return printJson(shown);
      process.stdout.write(`${table} ${detail.partition}: ${detail.rows} rows, ${formatBytes(detail.bytes)}, ${detail.files} files, ${detail.stripes} stripes\n`);
      printTable(['FILE', 'ROWS', 'BYTES', 'STRIPES', 'COMMITTED'], shown.fileList.map((f) => [f.fileId, f.rows, formatBytes(f.bytes), f.stripes, f.committedAt]));
      printNextHint(shown.filesNext);
    });
  });
  partition
    .command('drop <table> <partition>')
    .action(async (table: string, spec: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const result = await client.metadata.dropPartition(table, spec);
        if (json) printJson(result);
        else process.stdout.write(`dropped ${table} ${result.partition}: ${result.blocksQueued} blocks queued for deletion\n`);
      });
    });
  partition
    .command('drop-file <table> <partition> <fileId>')
    .description('remove one bad file of a partition (ids from `granary partition describe`); its blocks are garbage collected')
    .action(async (table: string, spec: string, fileId: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const result = await client.metadata.dropFile(table, spec, fileId);
        if (json) return printJson(result);
        process.stdout.write(
          `dropped file ${result.fileId} of ${table} ${result.partition}: ${result.rows} rows in ${result.stripes} stripes, ` +
            `${result.blocksQueued} blocks queued for deletion${result.partitionDropped ? '; it was the last file, so the partition is gone' : ''}\n`,
        );
      });
    });
  return partition;
}
