/** `granary storage-node`: flags and environment variables of the chunk server. */
import { HOT_CACHE_POLICIES, type HotCachePolicy } from '../storage-node/hot-cache.js';
import { Command, Option } from 'commander';
import { readSecretFile } from '../protocol/secret-files.js';
import bytes from 'bytes';
import { STORAGE_NODE_DEFAULTS } from '../storage-node/main.js';
import {
  parseByteSize,
  parseDomain,
  parseHttpUrl,
  parseLogLevel,
  parseMetadataUrlList,
  parseNonNegativeNumber,
  parsePort,
  parsePositiveInteger,
} from './cli-values.js';

interface StorageNodeFlags {
  data: string;
  host: string;
  port: number;
  nodeId?: string;
  pageSize: number;
  maxChunkSize: number;
  reserve: number;
  openFiles: number;
  scrubRate: number;
  scrubIntervalHours: number;
  logLevel: string;
  metadata?: readonly string[];
  domain: string;
  advertiseUrl?: string;
  heartbeatIntervalMs: number;
  repairSlots: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  readMemoryMax: number;
  hotCacheBytes: number;
  hotCachePolicy: HotCachePolicy;
  token?: string;
  tokenFile?: string;
  capabilityKey?: string;
}

const size = (value: number): string => bytes.format(value, { unitSeparator: '' }) ?? String(value);

export function storageNodeCommand(): Command {
  const d = STORAGE_NODE_DEFAULTS;
  return new Command('storage-node')
    .description('run a storage node: a chunk server on local disk')
    .addOption(new Option('--data <dir>', 'data directory (created if missing)').env('GRANARY_DATA').makeOptionMandatory())
    .addOption(new Option('--host <addr>', 'address to listen on').env('GRANARY_HOST').default(d.host))
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').env('GRANARY_PORT').argParser(parsePort).default(d.port))
    .addOption(new Option('--node-id <id>', 'node id on first start (kept in the data directory)').env('GRANARY_NODE_ID'))
    .addOption(new Option('--page-size <size>', 'checksum page size of new chunks').env('GRANARY_PAGE_SIZE').argParser(parseByteSize).default(d.pageBytes, size(d.pageBytes)))
    .addOption(new Option('--max-chunk-size <size>', 'largest chunk accepted').env('GRANARY_MAX_CHUNK_SIZE').argParser(parseByteSize).default(d.chunkBytesMax, size(d.chunkBytesMax)))
    .addOption(new Option('--reserve <size>', 'free space kept on the disk; uploads beyond it get 507').env('GRANARY_RESERVE').argParser(parseByteSize).default(d.reserveBytes, size(d.reserveBytes)))
    .addOption(new Option('--open-files <n>', 'chunk files kept open for reads').env('GRANARY_OPEN_FILES').argParser(parseNonNegativeNumber).default(d.openFilesMax))
    .addOption(new Option('--scrub-rate <size>', 'scrubber read rate per second').env('GRANARY_SCRUB_RATE').argParser(parseByteSize).default(d.scrubRateBytesPerSecond, size(d.scrubRateBytesPerSecond)))
    .addOption(new Option('--scrub-interval-hours <h>', 'hours between scrub passes (0: only on request)').env('GRANARY_SCRUB_INTERVAL_HOURS').argParser(parseNonNegativeNumber).default(d.scrubIntervalMs / 3_600_000))
    .addOption(
      new Option('--metadata <urls>', 'metadata service to register with and send heartbeats to, or every replica\'s URL, comma-separated (none: run alone)')
        .env('GRANARY_METADATA')
        .argParser(parseMetadataUrlList),
    )
    .addOption(new Option('--domain <name>', 'failure domain (rack, zone) of this node').env('GRANARY_DOMAIN').argParser(parseDomain).default(d.domain))
    .addOption(new Option('--advertise-url <url>', 'URL clients reach this node at (default: http://host:port, https:// with --tls-cert)').env('GRANARY_ADVERTISE_URL').argParser(parseHttpUrl))
    .addOption(new Option('--heartbeat-interval-ms <ms>', 'milliseconds between heartbeats').env('GRANARY_HEARTBEAT_INTERVAL_MS').argParser(parsePositiveInteger).default(d.heartbeatIntervalMs))
    .addOption(new Option('--repair-slots <n>', 'repair tasks this node runs at once for the metadata service (0: none)').env('GRANARY_REPAIR_SLOTS').argParser(parseNonNegativeNumber).default(d.repairSlots))
    .addOption(new Option('--token <token>', 'node token (granary token create --role node --node-id ID) sent to the metadata service').env('GRANARY_TOKEN'))
    .addOption(new Option('--token-file <file>', 'file holding the node token').env('GRANARY_TOKEN_FILE'))
    .addOption(new Option('--capability-key <file>', 'pin the metadata service\'s capability public key (base64 SPKI, as the registration answer carries it) instead of learning it at registration').env('GRANARY_CAPABILITY_KEY'))
    .addOption(new Option('--read-memory-max <size>', 'batch-read bytes held ahead of sockets across all requests; beyond it reads wait, then get 503').env('GRANARY_READ_MEMORY_MAX').argParser(parseByteSize).default(d.readMemoryBytesMax, size(d.readMemoryBytesMax)))
    .addOption(new Option('--hot-cache-bytes <size>', 'memory for the hot-column cache: ranges of the columns training jobs declared, served from memory in later epochs (0: none)').env('GRANARY_HOT_CACHE_BYTES').argParser(parseByteSize).default(d.hotCacheBytes, size(d.hotCacheBytes)))
    .addOption(new Option('--hot-cache-policy <policy>', 'what the hot-column cache admits: declared (ranges of declared jobs, kept by column popularity) or lru (every read, for comparison)').env('GRANARY_HOT_CACHE_POLICY').choices(HOT_CACHE_POLICIES).default(d.hotCachePolicy))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('GRANARY_LOG_LEVEL').argParser(parseLogLevel).default(d.logLevel))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate to serve HTTPS with (needs --tls-key; the node then advertises https://)').env('GRANARY_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('GRANARY_TLS_KEY'))
    .addOption(new Option('--tls-ca <file>', 'PEM CA bundle that metadata service and peer node certificates are verified against (default: the CAs node trusts)').env('GRANARY_TLS_CA'))
    .action(async (flags: StorageNodeFlags) => {
      const { startStorageNode } = await import('../storage-node/main.js');
      const { runUntilSignalled } = await import('./service-runner.js');
      const node = await startStorageNode({
        dataDir: flags.data,
        host: flags.host,
        port: flags.port,
        ...(flags.nodeId === undefined ? {} : { nodeId: flags.nodeId }),
        pageBytes: flags.pageSize,
        chunkBytesMax: flags.maxChunkSize,
        reserveBytes: flags.reserve,
        openFilesMax: Math.max(1, Math.floor(flags.openFiles)),
        scrubRateBytesPerSecond: Math.max(1, flags.scrubRate),
        scrubIntervalMs: flags.scrubIntervalHours * 3_600_000,
        logLevel: flags.logLevel,
        ...(flags.metadata === undefined ? {} : { metadataUrl: flags.metadata }),
        domain: flags.domain,
        ...(flags.advertiseUrl === undefined ? {} : { advertiseUrl: flags.advertiseUrl }),
        heartbeatIntervalMs: flags.heartbeatIntervalMs,
        repairSlots: Math.floor(flags.repairSlots),
        ...(flags.tlsCert === undefined ? {} : { tlsCertFile: flags.tlsCert }),
        ...(flags.tlsKey === undefined ? {} : { tlsKeyFile: flags.tlsKey }),
        ...(flags.tlsCa === undefined ? {} : { tlsCaFile: flags.tlsCa }),
        readMemoryBytesMax: Math.max(1, Math.floor(flags.readMemoryMax)),
        hotCacheBytes: Math.floor(flags.hotCacheBytes),
        hotCachePolicy: flags.hotCachePolicy,
        ...nodeCredentials(flags),
      });
      runUntilSignalled('storage node', node);
    });
}

/** The node token and pinned key the flags name; a file that cannot be read stops the node with its name. */
function nodeCredentials(flags: StorageNodeFlags): { token?: string; capabilityKey?: string } {
  const token = flags.token ?? (flags.tokenFile === undefined ? undefined : readSecretFile(flags.tokenFile, 'token file'));
  const capabilityKey = flags.capabilityKey === undefined ? undefined : readSecretFile(flags.capabilityKey, 'capability key file');
  return { ...(token === undefined ? {} : { token }), ...(capabilityKey === undefined ? {} : { capabilityKey }) };
}
