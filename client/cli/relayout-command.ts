/** `granary relayout TABLE`: re-lay out existing partitions in the table's popularity order. */
import { Command, Option } from 'commander';
import type { RelayoutPlan } from '../../protocol/relayout-types.js';
import { chosenFiles } from '../relayout/relayout-table.js';
import { GranaryError } from '../../protocol/index.js';
import { watchRelayout } from '../relayout/relayout-watch.js';
import { parseByteSize, parseDurationMs } from './cli-values.js';
import { formatBytes, printJson, printTable, withClient } from './context.js';

interface RelayoutFlags {
  readonly watch?: boolean;
  readonly interval: number;
  readonly partition?: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly rate?: number;
}

export function relayoutCommand(): Command {
  return new Command('relayout')
    .description('rewrite the blocks of existing partitions in the order columns are read now, where it pays (admin)')
    .argument('[table]', 'the table (with --watch: default every table)')
    .option('--watch', 'keep going: every --interval, re-lay out what pays, until stopped (what granary up runs)')
    .addOption(new Option('--interval <duration>', 'with --watch: time between rounds (e.g. 10m)').argParser(parseDurationMs).default(DEFAULT_INTERVAL_MS, '10m'))
    .option('--partition <spec>', 'only this partition (ds=2026-11-25)')
    .option('--dry-run', 'show what each file would cost and save, change nothing')
    .option('--force', 'also rewrite files whose rewrite saves reads but does not pay for itself yet')
    .addOption(new Option('--rate <size>', 'bytes per second the rewrite may move (read and write), e.g. 64MiB').argParser(parseByteSize))
    .action(async (table: string | undefined, flags: RelayoutFlags, command: Command) => {
      await withClient(command, async (client, { json }) => {
        if (flags.watch === true) {
          const stop = new AbortController();
          const onSignal = (): void => stop.abort();
          process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
          const say = (line: string): boolean => process.stdout.write(`${line}\n`);
          say(`relayout worker ready: ${table ?? 'every table'}, every ${flags.interval / 1000} s${flags.rate === undefined ? '' : `, at most ${formatBytes(flags.rate)}/s`}`);
          try {
            await watchRelayout({
              tables: async () => (table === undefined ? (await client.metadata.listTables()).map((t) => t.name) : [table]),
              relayout: (name, options) => client.relayout(name, { ...options, ...(flags.force === undefined ? {} : { force: flags.force }) }),
              intervalMs: flags.interval,
              ...(flags.rate === undefined ? {} : { rateBytesPerSecond: flags.rate }),
              say,
              signal: stop.signal,
            });
          } finally {
            process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
          }
          return;
        }
        if (table === undefined) throw new GranaryError('GRN_BAD_REQUEST', 'name the table to re-lay out (only --watch goes over every table)');
        if (flags.dryRun === true) {
          const plan = await client.metadata.relayoutPlan(table, flags.partition);
          if (json) return printJson(plan);
          printPlan(plan, chosenFiles(plan, flags.force === true).length);
          return;
        }
        const run = await client.relayout(table, {
          ...(flags.partition === undefined ? {} : { partition: flags.partition }),
          ...(flags.force === undefined ? {} : { force: flags.force }),
          ...(flags.rate === undefined ? {} : { rateBytesPerSecond: flags.rate }),
          onFile: (candidate, result) => {
            if (!json) process.stdout.write(`re-laid ${result.partition} ${candidate.fileId} as ${result.fileId}: ${result.blocks} blocks, ${formatBytes(result.bytes)}; reads a scan ${candidate.readsNow} -> ${candidate.readsAfter}\n`);
          },
        });
        if (json) return printJson({ table, order: run.plan.order, hotColumns: run.plan.hotColumns, relaid: run.results });
        const bytes = run.results.reduce((sum, result) => sum + result.bytes, 0);
        process.stdout.write(`${table}: ${run.results.length} of ${run.plan.files.length} files re-laid out (${formatBytes(bytes)})${run.results.length === 0 ? `; ${nothingReason(run.plan)}` : ''}\n`);
      });
    });
}

const DEFAULT_INTERVAL_MS = 10 * 60_000;

function nothingReason(plan: RelayoutPlan): string {
  if (plan.files.length === 0) return 'the table has no files';
  if (plan.hotColumns.length === 0) return 'no training scan of it is recorded yet';
  return 'no file pays for a rewrite (--dry-run shows why; --force rewrites those that save reads)';
}

function printPlan(plan: RelayoutPlan, chosen: number): void {
  process.stdout.write(`order       ${plan.order.join(', ')}\n`);
  process.stdout.write(`hot columns ${plan.hotColumns.length === 0 ? '(none: no training scans recorded)' : plan.hotColumns.join(', ')}\n`);
  process.stdout.write(`scans       ${plan.scansExpected} expected (decayed), a disk read priced at ${formatBytes(plan.readCostBytes)}\n\n`);
  printTable(
    ['PARTITION', 'FILE', 'BLOCKS', 'BYTES', 'READS NOW', 'AFTER', 'MOVES', 'PAYS', 'WHY'],
    plan.files.map((file) => [file.partition, file.fileId, file.blocks, formatBytes(file.bytes), file.readsNow, file.readsAfter, formatBytes(file.bytesToRewrite), file.pays ? 'yes' : 'no', file.reason]),
  );
  process.stdout.write(`\n${chosen} files would be re-laid out\n`);
}
