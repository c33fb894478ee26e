#!/usr/bin/env node
/**
 * The `granary` command. This file only parses and dispatches; every subcommand lives in its own
 * module, so importing one (as tests do) never starts a parse.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { failureLine, stackWithCauses } from '../client/cli/failure-line.js';
import { cliCommands } from '../client/cli/index.js';
import { gatewayCommand } from './gateway-command.js';
import { metadataCommand } from './metadata-command.js';
import { storageNodeCommand } from './storage-node-command.js';
import { upCommand } from './up-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const cli = cliCommands();
const program = new Command('granary')
  .description('Granary: warehouse storage for ML training data on an erasure-coded blob store')
  .version(version)
  .showHelpAfterError()
  // Each command parses its own options (`granary metadata --data D restore F --data D2` gives the
  // service and its restore subcommand a --data each); the root has none but --version.
  .enablePositionalOptions()
  .addCommand(upCommand())
  .addCommand(metadataCommand())
  .addCommand(storageNodeCommand())
  .addCommand(gatewayCommand());
for (const command of cli) program.addCommand(command);

/** GRANARY_DEBUG=1: errors come with their stack and causes, for a bug report. */
const debug = process.env.GRANARY_DEBUG === '1';

function reportFailure(error: unknown): void {
  process.stderr.write(`${failureLine(error)}\n`);
  if (debug) process.stderr.write(`${stackWithCauses(error)}\n`);
}

// The user commands (not the services, whose logs say what killed them) end with one line even
// when something fails outside the awaited path: an error thrown from a stream's or a timer's
// callback would otherwise end the process with a stack trace.
program.hook('preAction', (_program, action) => {
  let top: Command = action;
  while (top.parent !== null && top.parent !== program) top = top.parent;
  if (!cli.includes(top)) return;
  const crash = (error: unknown): void => {
    reportFailure(error);
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
});

// `granary read … | head` closes stdout early: that is the reader being done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  reportFailure(error);
  process.exit(1);
}
