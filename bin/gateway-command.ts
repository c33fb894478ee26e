/** `granary gateway`: the Arrow stream gateway (gateway/), a client of the cluster serving scans over HTTP. */
import { Command, Option } from 'commander';
import { readSecretFile } from '../protocol/secret-files.js';
import { parseByteSize, parseLogLevel, parseMetadataUrlList, parsePort } from './cli-values.js';

interface GatewayFlags {
  metadata: readonly string[];
  host: string;
  port: number;
  tokenFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: string;
  scanGroupBytes?: number;
}

export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('serve Arrow IPC streams of table scans over HTTP (for Python and other Arrow readers); a client of the cluster')
    .addOption(new Option('--metadata <urls>', 'the metadata service, or every replica\'s URL, comma-separated').env('GRANARY_METADATA').argParser(parseMetadataUrlList).makeOptionMandatory())
    .addOption(new Option('--host <addr>', 'address to listen on').env('GRANARY_GATEWAY_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').env('GRANARY_GATEWAY_PORT').argParser(parsePort).default(7100))
    .addOption(new Option('--token-file <file>', 'token used for callers that send no Authorization header (none: they call the cluster unauthenticated)').env('GRANARY_TOKEN_FILE'))
    .addOption(new Option('--tls-ca <file>', 'PEM CA bundle the cluster\'s HTTPS certificates are verified against').env('GRANARY_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate to serve HTTPS with (needs --tls-key): callers send their tokens to the gateway').env('GRANARY_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('GRANARY_TLS_KEY'))
    .addOption(new Option('--scan-group-bytes <size>', 'bytes each scan reads ahead per group (default 32MiB); a scan holds about 3 groups, so this bounds the gateway\'s memory per scan').env('GRANARY_GATEWAY_SCAN_GROUP_BYTES').argParser(parseByteSize))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('GRANARY_LOG_LEVEL').argParser(parseLogLevel).default('info'))
    .action(async (flags: GatewayFlags) => {
      const { startGateway } = await import('../gateway/main.js');
      const { loadServerTls, loadTlsCa } = await import('../protocol/tls.js');
      const https = loadServerTls(flags.tlsCert, flags.tlsKey);
      const { runUntilSignalled } = await import('./service-runner.js');
      const gateway = await startGateway({
        metadataUrls: flags.metadata,
        host: flags.host,
        port: flags.port,
        token: flags.tokenFile === undefined ? undefined : readSecretFile(flags.tokenFile, 'token file (--token-file)'),
        tlsCa: loadTlsCa(flags.tlsCa),
        logLevel: flags.logLevel,
        ...(https === undefined ? {} : { https }),
        ...(flags.scanGroupBytes === undefined ? {} : { scanGroupBytes: flags.scanGroupBytes }),
      });
      runUntilSignalled('gateway', gateway);
    });
}
