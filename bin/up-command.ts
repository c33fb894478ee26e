/** `granary up`: the one-command local cluster (deploy/local-cluster.ts), in the foreground. */
import { Command, Option } from 'commander';
import { parseDurationMs, parsePort, parsePositiveInteger } from './cli-values.js';

interface UpFlags {
  data: string;
  nodes: number;
  ec: string;
  port: number;
  sample: boolean;
  deadAfter: number;
  tls?: boolean;
  ha?: boolean;
}

export function upCommand(): Command {
  return new Command('up')
    .description('start a local cluster (1 metadata service + N storage nodes) with a sample table, in the foreground')
    .addOption(new Option('--data <dir>', 'root data directory').env('GRANARY_DATA').default('./data'))
    .addOption(new Option('--nodes <n>', 'storage nodes').env('GRANARY_NODES').argParser(parsePositiveInteger).default(9))
    .addOption(new Option('--ec <k+m>', 'erasure policy of the sample table').env('GRANARY_EC').default('6+3'))
    .addOption(new Option('--port <port>', 'metadata port; the gateway uses port+30, storage nodes port+31 and up').env('GRANARY_PORT').argParser(parsePort).default(7070))
    .addOption(new Option('--dead-after <duration>', 'silence after which a node is dead and its chunks are rebuilt elsewhere, e.g. 15s or 10m').env('GRANARY_DEAD_AFTER').argParser(parseDurationMs).default(60_000, '60s'))
    .addOption(new Option('--no-sample', 'do not create the sample table on a fresh data directory'))
    .addOption(new Option('--tls', 'serve everything over HTTPS, with a private CA and certificates made in DATA/tls (clients pass DATA/tls/ca.pem as --tls-ca); with --ha etcd too, requiring client certificates'))
    .addOption(new Option('--ha', 'replicated metadata: a local 3-member etcd in DATA/etcd (ports port+10.., port+20..) and 3 metadata replicas on port..port+2, one elected leader (needs etcd on the PATH: apt-get install etcd-server)'))
    .action(async (flags: UpFlags) => {
      const { startLocalCluster } = await import('../deploy/local-cluster.js');
      const { consoleUrl } = await import('../protocol/metadata-endpoints.js');
      const say = (line: string): void => {
        process.stdout.write(`granary up: ${line}\n`);
      };
      // A child that died, its restart, or giving up on it.
      const warn = (line: string): void => {
        process.stderr.write(`granary up: ${line}\n`);
      };
      const cluster = await startLocalCluster({ dataDir: flags.data, nodes: flags.nodes, ec: flags.ec, port: flags.port, sample: flags.sample, deadAfterMs: flags.deadAfter, tls: flags.tls === true, ha: flags.ha === true, say, warn });
      if (cluster.sampleCreated.length > 0) say(`sample table "samples" written: ${cluster.sampleCreated.join(', ')}`);
      if (cluster.etcdEndpoints !== undefined) {
        say(`HA: ${cluster.metadataUrls.length} metadata replicas (one leads; the others forward to it) over etcd ${cluster.etcdEndpoints} (${cluster.etcdEndpoints.startsWith('https:') ? 'TLS with client certificates, CA in DATA/tls/etcd' : 'plain http, loopback only'}); clients name every replica:`);
        say(`  export GRANARY_METADATA=${cluster.metadataUrl}   (or --metadata ${cluster.metadataUrl})`);
      }
      if (cluster.caFile !== undefined) {
        say(`TLS: every service serves HTTPS with a certificate signed by the CA in ${cluster.caFile}; clients verify with it:`);
        say(`  export GRANARY_METADATA=${cluster.metadataUrl} GRANARY_TLS_CA=${cluster.caFile}`);
        say(`  (or --metadata ${cluster.metadataUrl} --tls-ca ${cluster.caFile}; in code: new GranaryClient({ metadataUrl, token, http: { ca: readFileSync(caFile) } }))`);
      }
      // With --ha the CLI must name every replica: its default URL is only the first.
      const metadataFlag = cluster.etcdEndpoints === undefined ? '' : ` --metadata ${cluster.metadataUrl}`;
      say(`admin token in ${cluster.adminTokenFile} (mode 0600): the CLI uses it when run from this directory; elsewhere pass --token-file ${cluster.adminTokenFile} or GRANARY_TOKEN_FILE`);
      say(`  more tokens: node dist/bin/granary.js token create --role reader --tables samples${metadataFlag}`);
      // Any replica serves it (followers forward to the leader); the first is the one to click.
      say(`web console: ${consoleUrl(cluster.metadataUrls[0] ?? cluster.metadataUrl)}   (paste the admin token into its token field)`);
      say(`gateway: ${cluster.gatewayUrl}   (Arrow streams over HTTP for Python: granary.scan("${cluster.gatewayUrl}", "samples", token=...), see python/)`);
      say(`logs in ${cluster.logDir}; try: node dist/bin/granary.js status${metadataFlag}   (Ctrl-C stops the cluster)`);
      // Last: scripts and tests wait for this line and then read the ones above.
      say(`cluster ready: metadata ${cluster.metadataUrl}, ${cluster.nodeUrls.length} storage nodes (${cluster.nodeUrls[0]} ...)`);
      let stopping = false;
      const stop = (why: string, code: number): void => {
        if (stopping) return;
        stopping = true;
        say(`${why}; stopping`);
        cluster.stop().then(
          () => {
            say('stopped');
            process.exit(code);
          },
          (error: unknown) => {
            process.stderr.write(`granary up: stopping failed: ${(error as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT', 0));
      process.on('SIGTERM', () => stop('SIGTERM', 0));
      // Children that die are restarted with back-off; this is the metadata service given up on.
      void cluster.childExited.then((message) => stop(message, 1));
    });
}
