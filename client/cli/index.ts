/**
 * The `granary` commands users and operators type (docs/design.md, "Contracts"). Each takes
 * `--metadata URL[,URL...]` (default the local cluster's; calls fail over along the list) and
 * `--json`; errors print one actionable line and exit non-zero. The service entry points
 * (`metadata`, `storage-node`, `up`) live in bin/.
 */
import { type Command, Option } from 'commander';
import { FAILOVER_DEFAULTS } from '../../protocol/metadata-failover.js';
import { DEFAULT_METADATA_URL, failoverMsOption, metadataUrlsOption } from './context.js';
import { partitionCommand, tableCommand } from './catalog-commands.js';
import { jobsCommand } from './job-commands.js';
import { relayoutCommand } from './relayout-command.js';
import { fsckCommand, nodeCommand, repairCommand, statsCommand, statusCommand } from './cluster-commands.js';
import { ingestCommand, readCommand } from './data-commands.js';
import { gcCommand } from './gc-commands.js';
import { tokenCommand } from './token-commands.js';

export function cliCommands(): Command[] {
  const commands = [statusCommand(), tableCommand(), partitionCommand(), ingestCommand(), readCommand(), nodeCommand(), repairCommand(), gcCommand(), fsckCommand(), statsCommand(), jobsCommand(), relayoutCommand(), tokenCommand()];
  for (const command of commands) addCommonOptions(command);
  return commands;
}

/** Every command that does something takes --metadata and --json, after its name as users type them. */
function addCommonOptions(command: Command): void {
  if (command.commands.length > 0) {
    for (const sub of command.commands) addCommonOptions(sub);
    return;
  }
  command
    .addOption(
      new Option('--metadata <urls>', 'metadata service URL, or every replica\'s, comma-separated (calls fail over along the list)')
        .env('GRANARY_METADATA')
        .argParser(metadataUrlsOption)
        .default([DEFAULT_METADATA_URL], DEFAULT_METADATA_URL),
    )
    .addOption(
      new Option('--metadata-failover-ms <ms>', 'how long a call keeps trying metadata replicas that are down or between leaders (0: each once)')
        .env('GRANARY_METADATA_FAILOVER_MS')
        .argParser(failoverMsOption)
        .default(FAILOVER_DEFAULTS.deadlineMs),
    )
    .addOption(new Option('--token <token>', 'bearer token (granary token create); default: --token-file, else ./data/admin.token if present').env('GRANARY_TOKEN'))
    .addOption(new Option('--token-file <file>', 'file holding the bearer token').env('GRANARY_TOKEN_FILE'))
    .addOption(new Option('--tls-ca <file>', 'PEM CA bundle that https service certificates are verified against (default: the CAs node trusts)').env('GRANARY_TLS_CA'))
    .option('--json', 'machine-readable output');
}

export { DEFAULT_METADATA_URL } from './context.js';
export { parseWhere } from './data-commands.js';
