/**
 * `granary metadata backup` and `granary metadata restore`: subcommands of `granary metadata`
 * (bin/metadata-command.ts), whose own action starts the service. The work is in
 * metadata-backup-file.ts (download, check, rename) and metadata-restore-target.ts (into LevelDB
 * or etcd, with the signing key).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_METADATA_URL, formatBytes, printJson, resolveToken } from '../client/cli/context.js';
import { loadTlsCa } from '../protocol/tls.js';
import { parseEtcdEndpoints, parseMetadataUrlList } from './cli-values.js';
import { type EtcdTlsFlags, etcdTlsFiles, refuseEtcdTlsFlags } from './etcd-tls-flags.js';

interface BackupFlags {
  out: string;
  metadata: readonly string[];
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
  json?: boolean;
}

interface RestoreFlags extends EtcdTlsFlags {
  data?: string;
  store: 'level' | 'etcd';
  etcd?: readonly string[];
  etcdPrefix: string;
  json?: boolean;
}

/** What a restored service needs besides the catalog, said after every backup and restore. */
const SECRET_NOTE =
  'the file is secret (mode 0600): it holds the capability signing key and every token\'s hash; keep it where you keep the data directory';

export function metadataBackupCommand(): Command {
  return new Command('backup')
    .description('download a consistent backup of the catalog from a running metadata service (admin token), checked before it is kept')
    .requiredOption('--out <file>', 'where to write the backup (written to FILE.partial, checked, then renamed)')
    .addOption(new Option('--metadata <urls>', 'metadata service URL(s), comma-separated; the first that answers serves the backup').env('GRANARY_METADATA').argParser(parseMetadataUrlList).default([DEFAULT_METADATA_URL], DEFAULT_METADATA_URL))
    .addOption(new Option('--token <token>', 'admin token; default: --token-file, else ./data/admin.token if present').env('GRANARY_TOKEN'))
    .addOption(new Option('--token-file <file>', 'file holding the admin token').env('GRANARY_TOKEN_FILE'))
    .addOption(new Option('--tls-ca <file>', 'PEM CA bundle that an https service\'s certificate is verified against').env('GRANARY_TLS_CA'))
    .option('--json', 'machine-readable output')
    .action(async (flags: BackupFlags) => {
      const { downloadBackup } = await import('./metadata-backup-file.js');
      const backup = await downloadBackup({
        urls: flags.metadata,
        token: resolveToken(flags.token, flags.tokenFile),
        ca: loadTlsCa(flags.tlsCa),
        out: flags.out,
      });
      const carriesKey = backup.serviceFiles.size > 0;
      if (flags.json === true) {
        printJson({
          file: flags.out,
          metadata: backup.url,
          entries: backup.storeEntries,
          bytes: backup.bytes,
          checksum: backup.checksum,
          createdAt: backup.header.createdAt,
          storeKind: backup.header.storeKind,
          serviceVersion: backup.header.serviceVersion ?? null,
          signingKey: carriesKey,
        });
        return;
      }
      process.stdout.write(
        `backup of ${backup.storeEntries} catalog entries${carriesKey ? ' and the capability signing key' : ''} (${formatBytes(backup.bytes)}, ${backup.header.storeKind} store, ` +
          `taken ${backup.header.createdAt} from ${backup.url}) written to ${flags.out} and checked (xxh64 ${backup.checksum})\n` +
          `${SECRET_NOTE}\nrestore it with: granary metadata restore ${flags.out} --data DIR\n`,
      );
    });
}

export function metadataRestoreCommand(): Command {
  return new Command('restore')
    .description('restore a backup into an empty metadata store (no service may run on it); the file is checked whole before anything is written')
    .argument('<file>', 'a backup written by `granary metadata backup`')
    .option('--data <dir>', 'with --store level: the data directory to restore into (its catalog must be absent or empty)')
    .addOption(new Option('--store <kind>', 'the store to restore into: level (DATA/catalog) or etcd').choices(['level', 'etcd']).default('level'))
    .addOption(new Option('--etcd <urls>', 'with --store etcd: client URLs of the etcd members, comma-separated').argParser(parseEtcdEndpoints))
    .addOption(new Option('--etcd-prefix <text>', 'with --store etcd: key prefix of the catalog (must hold no keys)').default('granary'))
    .addOption(new Option('--etcd-ca <file>', 'with --store etcd: PEM CA bundle that etcd\'s certificate is verified against (needs https:// URLs in --etcd)'))
    .addOption(new Option('--etcd-cert <file>', 'with --store etcd: PEM client certificate shown to an etcd that requires one (needs --etcd-key)'))
    .addOption(new Option('--etcd-key <file>', 'with --store etcd: PEM private key of --etcd-cert'))
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: RestoreFlags) => {
      if (flags.store === 'level' && flags.data === undefined) throw new InvalidArgumentError('restore into LevelDB needs --data DIR (the metadata service\'s data directory)');
      if (flags.store === 'etcd' && flags.etcd === undefined) throw new InvalidArgumentError('--store etcd needs --etcd URL1,URL2,... (the etcd members\' client URLs)');
      if (flags.store === 'level' && flags.etcd !== undefined) throw new InvalidArgumentError('--etcd is only read with --store etcd');
      if (flags.store === 'level') refuseEtcdTlsFlags(flags);
      const { restoreInto } = await import('./metadata-restore-target.js');
      const restored = await restoreInto(
        file,
        flags.store === 'level'
          ? { kind: 'level', dataDir: flags.data as string }
          : { kind: 'etcd', endpoints: flags.etcd as readonly string[], prefix: flags.etcdPrefix, ...etcdTlsFiles(flags) },
      );
      if (flags.json === true) {
        printJson({
          file,
          store: restored.storeName,
          entries: restored.storeEntries,
          batches: restored.batches,
          checksum: restored.checksum,
          createdAt: restored.header.createdAt,
          signingKey: restored.keyWrittenTo ?? null,
        });
        return;
      }
      const tlsFlags = [['--etcd-ca', flags.etcdCa], ['--etcd-cert', flags.etcdCert], ['--etcd-key', flags.etcdKey]].flatMap(([flag, file]) => (file === undefined ? [] : [` ${flag} ${file}`])).join('');
      const start =
        flags.store === 'level'
          ? `granary metadata --data ${flags.data as string}`
          : `granary metadata --store etcd --etcd ${(flags.etcd as readonly string[]).join(',')} --etcd-prefix ${flags.etcdPrefix}${tlsFlags} --data DIR`;
      process.stdout.write(
        `restored ${restored.storeEntries} catalog entries from ${file} (taken ${restored.header.createdAt}) into ${restored.storeName} in ${restored.batches} batches\n` +
          (restored.keyWrittenTo === undefined
            ? `WARNING: the backup carries no capability signing key: copy capability-signing.key from the old data directory before starting the service, or storage nodes refuse its capabilities\n`
            : `capability signing key restored to ${restored.keyWrittenTo}: storage nodes keep accepting the catalog's capabilities\n`) +
          `start the service with: ${start}\n` +
          `tokens of the backup keep working; the service writes a new admin token to DATA/admin.token if none is there\n`,
      );
    });
}
