/** `granary token create|list|revoke`: bearer tokens for people, pipelines and storage nodes. */
import { Command, Option } from 'commander';
import { ROLES, type Role } from '../../protocol/auth-types.js';
import { GranaryError } from '../../protocol/index.js';
import { printJson, printTable, withClient } from './context.js';

const TTL_UNITS_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30d", "12h", "90m", "45s". */
function parseTtl(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  const ms = match === null ? Number.NaN : Number(match[1]) * (TTL_UNITS_MS[match[2] as string] as number);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new GranaryError('GRN_BAD_REQUEST', `--ttl "${text}" is not a lifetime; write e.g. 30d, 12h or 90m`);
  return ms;
}

export function tokenCommand(): Command {
  const token = new Command('token').description('create, list and revoke bearer tokens (admin only)');
  token
    .command('create')
    .description('create a token and print it once (it cannot be shown again)')
    .addOption(new Option('--role <role>', 'what the token may do').choices([...ROLES]).makeOptionMandatory())
    .option('--tables <names>', 'comma-separated tables a reader or writer token is limited to (default: all)')
    .option('--node-id <id>', 'for a node token: the storage node it speaks for')
    .option('--ttl <lifetime>', 'expire after e.g. 30d, 12h (default: never)')
    .option('--description <text>', 'who or what holds it, shown by token list')
    .action(async (flags: { role: Role; tables?: string; nodeId?: string; ttl?: string; description?: string }, command: Command) => {
      const tables = flags.tables?.split(',').map((name) => name.trim()).filter((name) => name !== '');
      await withClient(command, async (client, { json }) => {
        const created = await client.metadata.createToken({
          role: flags.role,
          ...(tables === undefined ? {} : { tables }),
          ...(flags.nodeId === undefined ? {} : { nodeId: flags.nodeId }),
          ...(flags.ttl === undefined ? {} : { ttlMs: parseTtl(flags.ttl) }),
          ...(flags.description === undefined ? {} : { description: flags.description }),
        });
        if (json) {
          printJson(created);
          return;
        }
        process.stdout.write(`${created.token}\n`);
        process.stderr.write(
          `token ${created.id} (role ${created.role}${created.tables === undefined ? '' : `, tables ${created.tables.join(',')}`}${created.expiresAt === undefined ? '' : `, expires ${created.expiresAt}`}): shown once; use it with --token, GRANARY_TOKEN or --token-file\n`,
        );
      });
    });
  token
    .command('list')
    .description('list tokens (ids and roles; secrets are never shown again)')
    .action(async (_flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const tokens = await client.metadata.listTokens();
        if (json) printJson({ tokens });
        else {
          printTable(
            ['ID', 'ROLE', 'SCOPE', 'EXPIRES', 'DESCRIPTION'],
            tokens.map((t) => [t.id, t.role, t.nodeId ?? t.tables?.join(',') ?? '*', t.expiresAt ?? 'never', t.description ?? '']),
          );
        }
      });
    });
  token
    .command('revoke <id>')
    .description('revoke a token at once')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const revoked = await client.metadata.revokeToken(id);
        if (json) printJson(revoked);
        else process.stdout.write(`revoked token ${revoked.id} (role ${revoked.role})\n`);
      });
    });
  return token;
}
