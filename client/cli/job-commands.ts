/** `granary jobs` and `granary jobs show JOB`: per-job read accounting (protocol/job-types.ts). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { JOBS_LIST_MAX, type JobDetail, type JobSummary, READ_SIZE_BUCKET_BOUNDS } from '../../protocol/job-types.js';
import { GranaryError, type PartitionPredicate } from '../../protocol/index.js';
import { parsePartitionSpec } from '../../protocol/partition-spec.js';
import { parseDurationMs } from './cli-values.js';
import { formatBytes, printJson, printTable, withClient } from './context.js';

/** Characters of the widest histogram bar. */
const HISTOGRAM_BAR_CHARS = 40;

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('per-job read accounting and declarations: `granary jobs` lists the recent jobs, `jobs show JOB` one, `jobs register` declares what a job reads');
  // `granary jobs` alone lists: the default subcommand, so it takes the common options too.
  const list = new Command('list')
    .description('recent reading jobs: requests, bytes needed and fetched, amplification, degraded reads')
    .addOption(new Option('--limit <n>', `jobs to list, most recently seen first (at most ${JOBS_LIST_MAX})`).argParser(parseJobsLimit))
    .action(async (flags: { limit?: number }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const list = await client.metadata.jobs(flags.limit);
        if (json) return printJson(list.jobs);
        if (list.jobs.length === 0) {
          process.stdout.write(`no job read anything in the last ${describeRetention(list.retentionMs)} (the service's --job-retention)\n`);
          return;
        }
        printTable(
          ['JOB', 'TABLES', 'SCANS', 'REQUESTS', 'NEEDED', 'FETCHED', 'AMPLIFICATION', 'DEGRADED', 'FROM CACHE', 'THROUGHPUT', 'LAST SEEN'],
          list.jobs.map((job) => [
            job.job,
            job.tables.join(','),
            job.scansFinished,
            job.requests,
            formatBytes(job.bytesNeeded),
            formatBytes(job.bytesFetched),
            amplificationText(job),
            job.degradedReads,
            formatBytes(job.cacheBytes),
            throughputText(job),
            job.lastAt,
          ]),
        );
      });
    });
  jobs.addCommand(list, { isDefault: true });
  jobs.addCommand(
    new Command('register')
      .description('declare what a job will read, so storage nodes keep those columns in memory for its later epochs')
      .requiredOption('--table <table>')
      .option('--job <id>', 'the job id its scans send (default: GRANARY_JOB)')
      .option('--columns <names>', 'comma-separated columns it reads (default: all)')
      .option('--partition <spec...>', 'partitions it reads, e.g. ds=2026-11-25 (default: all)')
      .addOption(new Option('--ttl <duration>', 'how long the declaration holds (e.g. 24h)').argParser(parseDurationMs))
      .action(async (flags: { table: string; job?: string; columns?: string; partition?: string[]; ttl?: number }, command: Command) => {
        await withClient(command, async (client, { json }) => {
          const job = flags.job ?? process.env.GRANARY_JOB;
          if (job === undefined) throw new GranaryError('GRN_BAD_REQUEST', 'name the job: --job ID, or GRANARY_JOB as its scans see it');
          const partitions = flags.partition === undefined ? undefined : partitionsOf(flags.partition, (await client.metadata.describeTable(flags.table)).partitionBy);
          const declared = await client.metadata.declareJob(flags.table, {
            job,
            ...(flags.columns === undefined ? {} : { columns: flags.columns.split(',').map((c) => c.trim()).filter((c) => c !== '') }),
            ...(partitions === undefined ? {} : { partitions }),
            ...(flags.ttl === undefined ? {} : { ttlMs: flags.ttl }),
          });
          if (json) return printJson(declared);
          process.stdout.write(`declared ${declared.job} on ${declared.table}: ${declared.columns?.join(', ') ?? 'every column'}, until ${declared.expiresAt}\n`);
        });
      }),
  );
  jobs.addCommand(
    new Command('declarations')
      .description('what jobs declared they will read (registered, or from their first training plan)')
      .action(async (_flags: unknown, command: Command) => {
        await withClient(command, async (client, { json }) => {
          const { declarations } = await client.metadata.declarations();
          if (json) return printJson(declarations);
          printTable(
            ['JOB', 'TABLE', 'COLUMNS', 'PARTITIONS', 'SOURCE', 'EXPIRES'],
            declarations.map((d) => [d.job, d.table, d.columns?.join(',') ?? '(all)', d.partitions === undefined ? '(all)' : JSON.stringify(d.partitions), d.source, d.expiresAt]),
          );
        });
      }),
  );
  jobs.addCommand(
    new Command('show')
      .description('one job: its tables, read-size histogram, amplification, degraded reads and what nodes served it')
      .argument('<job>')
      .action(async (job: string, _flags: unknown, command: Command) => {
        await withClient(command, async (client, { json }) => {
          const detail = await client.metadata.job(job);
          if (json) return printJson(detail);
          printDetail(detail);
        });
      }),
  );
  return jobs;
}

/** `--partition` specs as a scan's partition filter: each key's values, any of them. */
function partitionsOf(specs: readonly string[], partitionBy: readonly string[]): Record<string, PartitionPredicate> {
  const values = new Map<string, Set<string>>();
  for (const spec of specs) {
    for (const [key, value] of Object.entries(parsePartitionSpec(spec, partitionBy).values)) {
      let set = values.get(key);
      if (set === undefined) {
        set = new Set();
        values.set(key, set);
      }
      set.add(value);
    }
  }
  if (partitionBy.length > 1 && specs.length > 1) {
    throw new GranaryError('GRN_BAD_REQUEST', `a table partitioned by ${partitionBy.join(', ')} takes one --partition per declaration (values of several keys would mix)`);
  }
  return Object.fromEntries([...values].map(([key, set]) => [key, { in: [...set] }]));
}

function parseJobsLimit(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > JOBS_LIST_MAX) throw new InvalidArgumentError(`"${text}" is not a whole number from 1 to ${JOBS_LIST_MAX}`);
  return value;
}

function amplificationText(job: JobSummary): string {
  return job.bytesNeeded === 0 ? '-' : `${job.amplification.toFixed(2)}x`;
}

/** Bytes needed per second of reading, summed over the job's scans. */
function throughputText(job: JobSummary): string {
  return job.readMs === 0 ? '-' : `${formatBytes((job.bytesNeeded * 1000) / job.readMs)}/s`;
}

function describeRetention(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 1000)} s`;
}

function printDetail(job: JobDetail): void {
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`job            ${job.job}`);
  out(`seen           ${job.firstAt} .. ${job.lastAt} (${(job.durationMs / 1000).toFixed(1)} s)`);
  out(`scans          ${job.scansFinished} finished, ${job.stripes} stripes, ${job.rows} rows`);
  out(`requests       ${job.requests}`);
  out(`bytes needed   ${formatBytes(job.bytesNeeded)}`);
  out(`bytes fetched  ${formatBytes(job.bytesFetched)} (amplification ${amplificationText(job)})`);
  out(`degraded       ${job.degradedReads} reads, ${formatBytes(job.rebuildBytes)} fetched to rebuild`);
  out(`read time      ${(job.readMs / 1000).toFixed(1)} s, ${throughputText(job)} needed bytes`);
  out(`nodes served   ${formatBytes(job.nodeBytesServed)}, ${job.cacheHits} cache hits (${formatBytes(job.cacheBytes)})`);
  out('');
  printTable(
    ['TABLE', 'SCANS', 'REQUESTS', 'NEEDED', 'FETCHED', 'DEGRADED'],
    job.byTable.map((t) => [t.table, t.scansFinished, t.requests, formatBytes(t.bytesNeeded), formatBytes(t.bytesFetched), t.degradedReads]),
  );
  out('');
  out('read sizes');
  const most = Math.max(1, ...job.readSizes);
  printTable(
    ['SIZE', 'READS', ''],
    job.readSizes.map((count, bucket) => [bucketLabel(bucket), count, '#'.repeat(Math.round((count / most) * HISTOGRAM_BAR_CHARS))]),
  );
}

function bucketLabel(bucket: number): string {
  const bound = READ_SIZE_BUCKET_BOUNDS[bucket];
  return bound === undefined ? `> ${formatBytes(READ_SIZE_BUCKET_BOUNDS[READ_SIZE_BUCKET_BOUNDS.length - 1] as number)}` : `<= ${formatBytes(bound)}`;
}
