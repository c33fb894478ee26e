/** `granary metadata`: flags and environment variables of the metadata service. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { LEADER_TTL_SECONDS_DEFAULT } from '../metadata/leadership.js';
import { METADATA_DEFAULTS } from '../metadata/main.js';
import { MANIFEST_CACHE_BYTES_DEFAULT } from '../metadata/manifests/cache.js';
import { POPULARITY_HALF_LIFE_MS_DEFAULT } from '../metadata/popularity.js';
import { JOB_RETENTION_MS_DEFAULT } from '../metadata/job-accounts.js';
import { RELAYOUT_GRACE_MS_DEFAULT } from '../metadata/relayout.js';
import { QUOTA_DEFAULTS, type Quotas } from '../metadata/tables.js';
import { metadataBackupCommand, metadataRestoreCommand } from './metadata-backup-commands.js';
import { etcdTlsFiles, refuseEtcdTlsFlags } from './etcd-tls-flags.js';
import { parseByteSize, parseDurationMs, parseEtcdEndpoints, parseHttpUrl, parseLogLevel, parsePort, parsePositiveInteger } from './cli-values.js';

interface MetadataFlags {
  data: string;
  host: string;
  port: number;
  suspectAfterMs: number;
  deadAfterMs: number;
  leaseCheckIntervalMs: number;
  gcIntervalMs: number;
  repairRate: number;
  repairTasksMax: number;
  inventoryIntervalMs: number;
  orphanGraceMs: number;
  logLevel: string;
  tablesMax: number;
  columnsPerTableMax: number;
  openSessionsMax: number;
  openSessionsPerTableMax: number;
  blocksPerSessionMax: number;
  stripesPerCommitMax: number;
  manifestCacheBytes: number;
  popularityHalfLife: number;
  jobRetention: number;
  relayoutGrace: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  auth: 'on' | 'off';
  adminTokenFile?: string;
  capabilityTtl: number;
  store: 'level' | 'etcd';
  etcd?: readonly string[];
  etcdPrefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  advertiseUrl?: string;
  leaderTtl: number;
}

export function metadataCommand(): Command {
  const d = METADATA_DEFAULTS;
  const q = QUOTA_DEFAULTS;
  return new Command('metadata')
    .description('run the metadata service: catalog, placement, write sessions, scan planning, node liveness; or back up and restore its catalog')
    // Options before `backup` / `restore` are the service's, those after belong to the subcommand
    // (which gives --data and --tls-ca meanings of its own).
    .enablePositionalOptions()
    .addOption(new Option('--data <dir>', 'data directory (created if missing)').env('GRANARY_DATA').makeOptionMandatory())
    .addOption(new Option('--host <addr>', 'address to listen on').env('GRANARY_HOST').default(d.host))
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').env('GRANARY_PORT').argParser(parsePort).default(d.port))
    .addOption(new Option('--suspect-after-ms <ms>', 'a node silent this long is suspect').env('GRANARY_SUSPECT_AFTER_MS').argParser(parsePositiveInteger).default(d.suspectAfterMs))
    .addOption(new Option('--dead-after-ms <ms>', 'a node silent this long is dead: its chunks are rebuilt elsewhere').env('GRANARY_DEAD_AFTER_MS').argParser(parsePositiveInteger).default(d.deadAfterMs))
    .addOption(new Option('--lease-check-interval-ms <ms>', 'how often expired write leases are closed').env('GRANARY_LEASE_CHECK_INTERVAL_MS').argParser(parsePositiveInteger).default(d.leaseCheckIntervalMs))
    .addOption(new Option('--gc-interval-ms <ms>', 'how often garbage chunks are deleted from storage nodes').env('GRANARY_GC_INTERVAL_MS').argParser(parsePositiveInteger).default(d.gcIntervalMs))
    .addOption(new Option('--repair-rate <size>', 'bytes per second all repair tasks together may read').env('GRANARY_REPAIR_RATE').argParser(parseByteSize).default(d.repairRateBytesPerSecond, '16MiB'))
    .addOption(new Option('--repair-tasks-max <n>', 'repair tasks in flight in the whole cluster').env('GRANARY_REPAIR_TASKS_MAX').argParser(parsePositiveInteger).default(d.repairTasksMax))
    .addOption(new Option('--inventory-interval-ms <ms>', 'time between two full chunk inventories of a node').env('GRANARY_INVENTORY_INTERVAL_MS').argParser(parsePositiveInteger).default(d.inventoryIntervalMs))
    .addOption(new Option('--orphan-grace-ms <ms>', 'a chunk referenced by nothing is deleted after this long').env('GRANARY_ORPHAN_GRACE_MS').argParser(parsePositiveInteger).default(d.orphanGraceMs))
    .addOption(new Option('--tables-max <n>', 'quota: tables in the cluster').env('GRANARY_TABLES_MAX').argParser(parsePositiveInteger).default(q.tablesMax))
    .addOption(new Option('--columns-per-table-max <n>', 'quota: visible columns of one table').env('GRANARY_COLUMNS_PER_TABLE_MAX').argParser(parsePositiveInteger).default(q.columnsPerTableMax))
    .addOption(new Option('--open-sessions-max <n>', 'quota: open write sessions, all tables').env('GRANARY_OPEN_SESSIONS_MAX').argParser(parsePositiveInteger).default(q.openSessionsMax))
    .addOption(new Option('--open-sessions-per-table-max <n>', 'quota: open write sessions of one table').env('GRANARY_OPEN_SESSIONS_PER_TABLE_MAX').argParser(parsePositiveInteger).default(q.openSessionsPerTableMax))
    .addOption(new Option('--blocks-per-session-max <n>', 'quota: blocks one write session may allocate').env('GRANARY_BLOCKS_PER_SESSION_MAX').argParser(parsePositiveInteger).default(q.blocksPerSessionMax))
    .addOption(new Option('--stripes-per-commit-max <n>', 'quota: stripes one commit may add').env('GRANARY_STRIPES_PER_COMMIT_MAX').argParser(parsePositiveInteger).default(q.stripesPerCommitMax))
    .addOption(new Option('--manifest-cache-bytes <size>', 'memory for manifest pieces (stream locations) of recently planned stripes, e.g. 256MiB').env('GRANARY_MANIFEST_CACHE_BYTES').argParser(parseByteSize).default(MANIFEST_CACHE_BYTES_DEFAULT, '256MiB'))
    .addOption(new Option('--popularity-half-life <duration>', 'how fast column popularity fades: bytes read this long ago weigh half (e.g. 7d, 12h)').env('GRANARY_POPULARITY_HALF_LIFE').argParser(parseDurationMs).default(POPULARITY_HALF_LIFE_MS_DEFAULT, '7d'))
    .addOption(new Option('--relayout-grace <duration>', 'how long the old blocks of a re-laid-out file stay readable for scans planned before the swap (e.g. 10m)').env('GRANARY_RELAYOUT_GRACE').argParser(parseDurationMs).default(RELAYOUT_GRACE_MS_DEFAULT, '10m'))
    .addOption(new Option('--job-retention <duration>', 'how long granary jobs keeps a job\'s read accounting after its last read (e.g. 7d, 12h)').env('GRANARY_JOB_RETENTION').argParser(parseDurationMs).default(JOB_RETENTION_MS_DEFAULT, '7d'))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('GRANARY_LOG_LEVEL').argParser(parseLogLevel).default(d.logLevel))
    .addOption(new Option('--auth <on|off>', 'check bearer tokens and chunk capabilities (off: anyone who reaches a port can do anything)').env('GRANARY_AUTH').choices(['on', 'off']).default(d.auth))
    .addOption(new Option('--admin-token-file <file>', 'where the bootstrap admin token is kept (created, mode 0600, if missing)', ).env('GRANARY_ADMIN_TOKEN_FILE').default(undefined, 'DATA/admin.token'))
    .addOption(new Option('--capability-ttl <duration>', 'lifetime of read and write capabilities (e.g. 10h, 30m)').env('GRANARY_CAPABILITY_TTL').argParser(parseDurationMs).default(d.capabilityTtlMs, '10h'))
    .addOption(new Option('--store <kind>', 'where the catalog lives: level (embedded LevelDB in DATA/catalog, one process) or etcd (replicated: run several replicas, one leads)').env('GRANARY_STORE').choices(['level', 'etcd']).default('level'))
    .addOption(new Option('--etcd <urls>', 'with --store etcd: client URLs of the etcd members, comma-separated').env('GRANARY_ETCD').argParser(parseEtcdEndpoints))
    .addOption(new Option('--etcd-prefix <text>', 'with --store etcd: key prefix of this catalog in etcd (one etcd can hold several catalogs)').env('GRANARY_ETCD_PREFIX').default('granary'))
    .addOption(new Option('--etcd-ca <file>', 'with --store etcd: PEM CA bundle that etcd\'s certificate is verified against (needs https:// URLs in --etcd; default: the CAs node trusts)').env('GRANARY_ETCD_CA'))
    .addOption(new Option('--etcd-cert <file>', 'with --store etcd: PEM client certificate shown to an etcd that requires one (--client-cert-auth); needs --etcd-key').env('GRANARY_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'with --store etcd: PEM private key of --etcd-cert').env('GRANARY_ETCD_KEY'))
    .addOption(new Option('--advertise-url <url>', 'with --store etcd: the URL other replicas forward requests to (default: the URL this replica listens on)').env('GRANARY_ADVERTISE_URL').argParser(parseHttpUrl))
    .addOption(new Option('--leader-ttl <seconds>', 'with --store etcd: lease of the leader key; a dead leader is replaced within about this long').env('GRANARY_LEADER_TTL').argParser(parsePositiveInteger).default(LEADER_TTL_SECONDS_DEFAULT))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate to serve HTTPS with (needs --tls-key)').env('GRANARY_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('GRANARY_TLS_KEY'))
    .addOption(new Option('--tls-ca <file>', 'PEM CA bundle that storage node certificates are verified against (default: the CAs node trusts)').env('GRANARY_TLS_CA'))
    .addCommand(metadataBackupCommand())
    .addCommand(metadataRestoreCommand())
    // commander checks a parent's mandatory options for its subcommands too: --data is the
    // service's, and the subcommands say for themselves what they need.
    .hook('preSubcommand', (command) => {
      if (command.getOptionValue('data') === undefined) command.setOptionValueWithSource('data', '', 'default');
    })
    .action(async (flags: MetadataFlags) => {
      if (flags.store === 'etcd' && flags.etcd === undefined) throw new InvalidArgumentError('--store etcd needs --etcd URL1,URL2,... (the etcd members\' client URLs)');
      if (flags.store === 'level' && flags.etcd !== undefined) throw new InvalidArgumentError('--etcd is only read with --store etcd');
      if (flags.store === 'level') refuseEtcdTlsFlags(flags);
      const { startMetadata } = await import('../metadata/main.js');
      const { runUntilSignalled } = await import('./service-runner.js');
      const service = await startMetadata({
        dataDir: flags.data,
        host: flags.host,
        port: flags.port,
        suspectAfterMs: flags.suspectAfterMs,
        deadAfterMs: flags.deadAfterMs,
        leaseCheckIntervalMs: flags.leaseCheckIntervalMs,
        gcIntervalMs: flags.gcIntervalMs,
        repairRateBytesPerSecond: flags.repairRate,
        repairTasksMax: flags.repairTasksMax,
        inventoryIntervalMs: flags.inventoryIntervalMs,
        orphanGraceMs: flags.orphanGraceMs,
        logLevel: flags.logLevel,
        auth: flags.auth,
        ...(flags.adminTokenFile === undefined ? {} : { adminTokenFile: flags.adminTokenFile }),
        capabilityTtlMs: flags.capabilityTtl,
        manifestCacheBytes: flags.manifestCacheBytes,
        popularityHalfLifeMs: flags.popularityHalfLife,
        jobRetentionMs: flags.jobRetention,
        relayoutGraceMs: flags.relayoutGrace,
        quotas: {
          tablesMax: flags.tablesMax,
          columnsPerTableMax: flags.columnsPerTableMax,
          openSessionsMax: flags.openSessionsMax,
          openSessionsPerTableMax: flags.openSessionsPerTableMax,
          blocksPerSessionMax: flags.blocksPerSessionMax,
          stripesPerCommitMax: flags.stripesPerCommitMax,
        } satisfies Quotas,
        ...(flags.tlsCert === undefined ? {} : { tlsCertFile: flags.tlsCert }),
        ...(flags.tlsKey === undefined ? {} : { tlsKeyFile: flags.tlsKey }),
        ...(flags.tlsCa === undefined ? {} : { tlsCaFile: flags.tlsCa }),
        ...(flags.store === 'etcd' && flags.etcd !== undefined
          ? {
              store: {
                kind: 'etcd' as const,
                endpoints: flags.etcd,
                prefix: flags.etcdPrefix,
                ...etcdTlsFiles(flags),
                leaderTtlSeconds: flags.leaderTtl,
                ...(flags.advertiseUrl === undefined ? {} : { advertiseUrl: flags.advertiseUrl }),
              },
            }
          : {}),
      });
      runUntilSignalled('metadata', service);
    });
}
