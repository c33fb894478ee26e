/**
 * `--limit` and `--after` of the listing commands: without them a command follows every page of
 * its listing, so output for a small catalog is what it always was; with them it shows one page
 * and says how to ask for the next one (protocol/page-types.ts).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { PAGE_LIMIT_MAX } from '../../protocol/page-types.js';

export interface PageFlags {
  readonly limit?: number;
  readonly after?: string;
}

export function addPageOptions(command: Command, what: string): Command {
  return command
    .option('--limit <n>', `show one page of at most n ${what} (1..${PAGE_LIMIT_MAX}) instead of all of them`, pageLimitOption)
    .option('--after <cursor>', 'show the page after this cursor (the `next` a page before printed)');
}

/** True when the flags ask for one page rather than all of them. */
export function onePage(flags: PageFlags): boolean {
  return flags.limit !== undefined || flags.after !== undefined;
}

/** Under a page shown to people: how to get the next one (on stderr, so stdout stays the table). */
export function printNextHint(next: string | null): void {
  if (next !== null) process.stderr.write(`more: run again with --after ${next}\n`);
}

function pageLimitOption(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > PAGE_LIMIT_MAX) throw new InvalidArgumentError(`"${text}" is not a whole number 1..${PAGE_LIMIT_MAX}`);
  return value;
}
