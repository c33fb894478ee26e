/**
 * `granary gc status`: the garbage-collection backlog and the records waiting in it. The queue
 * can hold millions of records after a table drop, so by default it shows the totals and one
 * page; `--all` follows every page.
 */
import { Command, InvalidArgumentError } from 'commander';
import { PAGE_LIMIT_MAX, type GcEntry } from '../../protocol/page-types.js';
import { collect } from '../paging.js';
import { printJson, printTable, withClient } from './context.js';
import { printNextHint } from './page-flags.js';

/** Records `gc status` lists without `--limit` or `--all`. */
const GC_RECORDS_SHOWN_DEFAULT = 20;

export function gcCommand(): Command {
  const gc = new Command('gc').description('the garbage-collection queue: chunks of dropped data still to delete');
  gc.command('status')
    .description('GC backlog (records, chunks, records waiting to retry or out a grace time) and the queued records by key')
    .option('--limit <n>', `records to list (0..${PAGE_LIMIT_MAX})`, gcLimitOption, GC_RECORDS_SHOWN_DEFAULT)
    .option('--after <cursor>', 'list the records after this key (the `next` a page before printed)')
    .option('--all', 'list every queued record, page by page')
    .action(async (flags: { limit: number; after?: string; all?: boolean }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        // The backlog comes with every page; a limit of 0 asks for it alone.
        const first = await client.metadata.gc({ limit: Math.max(1, flags.limit), ...(flags.after === undefined ? {} : { after: flags.after }) });
        const records: readonly GcEntry[] =
          flags.all === true
            ? [...first.blocks, ...(first.next === null ? [] : await collect(client.metadata.gcRecords(PAGE_LIMIT_MAX, first.next)))]
            : first.blocks.slice(0, flags.limit);
        const next = flags.all === true || flags.limit === 0 ? null : first.next;
        const shown = { records: first.records, chunks: first.chunks, backingOff: first.backingOff, blocks: records, next };
        if (json) return printJson(shown);
        process.stdout.write(`gc        ${shown.records} records queued, ${shown.chunks} chunks to delete, ${shown.backingOff} waiting (to retry where nodes did not answer, or out a re-layout's grace for readers still on the old blocks)\n`);
        if (records.length > 0) {
          printTable(
            ['RECORD', 'CHUNKS', 'NODES', 'REASON', 'QUEUED', 'ATTEMPTS', 'NEXT TRY'],
            records.map((r) => [r.blockId, r.chunks.length, [...new Set(r.chunks.map((c) => c.nodeId))].join(','), r.reason, r.queuedAt, r.attempts ?? 0, r.nextAttemptAt ?? '']),
          );
        }
        printNextHint(next);
      });
    });
  return gc;
}

function gcLimitOption(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > PAGE_LIMIT_MAX) throw new InvalidArgumentError(`"${text}" is not a whole number 0..${PAGE_LIMIT_MAX}`);
  return value;
}
