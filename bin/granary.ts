#!/usr/bin/env node
/**
 * The `granary` command. This file only parses and dispatches; every subcommand lives in its own
 * module, so importing one (as tests do) never starts a parse.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { cliCommands } from '../client/cli/index.js';
import { metadataCommand } from './metadata-command.js';
import { storageNodeCommand } from './storage-node-command.js';
import { upCommand } from './up-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('granary')
  .description('Granary: warehouse storage for ML training data on an erasure-coded blob store')
  .version(version)
  .showHelpAfterError()
  .addCommand(upCommand())
  .addCommand(metadataCommand())
  .addCommand(storageNodeCommand());
for (const command of cliCommands()) program.addCommand(command);

// `granary read … | head` closes stdout early: that is the reader being done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  process.stderr.write(`granary: ${typeof code === 'string' && code.startsWith('GRN_') ? `${code}: ` : ''}${message}\n`);
  process.exit(1);
}
