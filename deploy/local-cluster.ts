/**
 * `granary up`: a whole cluster on one machine, as child processes on loopback: one metadata
 * service and N storage nodes, each with its own data directory under one root, spread over
 * three failure domains. It waits until every node is registered and alive, creates a sample
 * table on first start, and stops every child cleanly. Running it again on the same directory
 * brings back every table and partition.
 *
 * With `ha`, the catalog lives in a local three-member etcd (deploy/local-ha.ts) and three
 * metadata replicas serve it, one elected leader; storage nodes and clients get all three URLs.
 */
import { ensureNodeTokenFile } from './node-tokens.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GranaryClient } from '../client/index.js';
import { parsePolicy } from '../erasure/index.js';
import { GranaryError } from '../protocol/index.js';
import { HA_ETCD_PREFIX, HA_REPLICAS, type SupervisedEtcd, haReplicaPorts, requireEtcd, startSupervisedEtcd, waitForLeader } from './local-ha.js';
import { ensureLocalTls } from './local-tls.js';
import { HEALTHY_AFTER_MS, RAPID_FAILURES_MAX, RestartBackoff, describeExit } from './restart-backoff.js';
import { SAMPLE_TABLE, createSampleTable } from './sample-table.js';

export interface LocalClusterOptions {
  readonly dataDir: string;
  readonly nodes: number;
  readonly ec: string;
  /** Metadata port; storage nodes take the ports from port + 31 up (7101.. for 7070). */
  readonly port: number;
  readonly sample: boolean;
  /** Silence after which a node is dead and its chunks are rebuilt elsewhere. */
  readonly deadAfterMs: number;
  /** Serve everything over HTTPS with a private CA made under DATA/tls/ (kept across runs). */
  readonly tls?: boolean;
  /**
   * Three metadata replicas (ports port..port+2) over a local three-member etcd under DATA/etcd
   * (client ports port+10.., peer ports port+20..), instead of one metadata service on LevelDB.
   */
  readonly ha?: boolean;
  readonly say: (line: string) => void;
  /** Trouble: a child died and is restarted, or is given up on. Default: `say`. */
  readonly warn?: (line: string) => void;
}

export interface LocalCluster {
  /** What --metadata takes: the metadata service's URL, or with `ha` every replica's, comma-separated. */
  readonly metadataUrl: string;
  /** The metadata service's URL, or every replica's. */
  readonly metadataUrls: readonly string[];
  /** With `ha`: the etcd members' client URLs, comma-separated (--etcd of the replicas). */
  readonly etcdEndpoints: string | undefined;
  readonly nodeUrls: readonly string[];
  /** The Arrow stream gateway (gateway/) Python and other Arrow readers scan through, at port + 30. */
  readonly gatewayUrl: string;
  /** The CA every client passes as --tls-ca, with `tls`. */
  readonly caFile: string | undefined;
  /** The admin token (mode 0600) the CLI uses from the directory `granary up` ran in. */
  readonly adminTokenFile: string;
  readonly logDir: string;
  readonly sampleCreated: readonly string[];
  /**
   * Resolves when the metadata service died and was given up on (restart-backoff.ts), or with
   * `ha` every replica, or a majority of etcd members: the cluster is down. Storage nodes (and
   * single replicas and etcd members) that die are restarted, or given up on while the rest serve.
   */
  readonly childExited: Promise<string>;
  stop(): Promise<void>;
}

const GRANARY_BIN = fileURLToPath(new URL('../bin/granary.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const HOST = '127.0.0.1';
const NODE_PORT_OFFSET = 31;
/** Each storage node's token, in its data directory (deploy/node-tokens.ts). */
const NODE_TOKEN_FILE = 'node.token';
const DOMAINS = 3;
/** Late heartbeats make a node suspect after this long at most (less when dead-after is short). */
const SUSPECT_AFTER_MS_MAX = 10_000;

/** The re-layout worker `up` runs (client/relayout/relayout-watch.ts): its name, rounds and pace. */
const RELAYOUT_WORKER = 'relayout';
const RELAYOUT_INTERVAL = '10m';
const RELAYOUT_RATE = '32MiB';
/**
 * The gateway's port is metadata + 30 (7100), between etcd's peers (port+20..) and the nodes
 * (port+31..). It holds no token: each caller sends its own, as to the metadata service.
 */
const GATEWAY = 'gateway';
const GATEWAY_PORT_OFFSET = 30;

interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<number | string>;
  readonly log: WriteStream;
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const policy = parsePolicy(options.ec);
  const needed = policy.dataShards + policy.parityShards;
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 64) {
    throw new GranaryError('GRN_BAD_REQUEST', `--nodes must be 1..64, got ${options.nodes}`);
  }
  if (options.nodes < needed) {
    throw new GranaryError('GRN_BAD_REQUEST', `--ec ${options.ec} needs ${needed} storage nodes, --nodes is ${options.nodes}; raise --nodes or narrow --ec`);
  }
  const root = resolve(options.dataDir);
  const logDir = join(root, 'logs');
  await mkdir(logDir, { recursive: true });
  const ha = options.ha === true;
  const entries = await readdir(root);
  refuseOtherCatalog(root, entries, ha);
  if (ha) await requireEtcd();
  // The catalog's directory: LevelDB's, or etcd's with --ha.
  const fresh = !entries.includes(ha ? 'etcd' : 'metadata');
  const children: Child[] = [];
  let etcd: SupervisedEtcd | undefined;
  /** Replicas given up on (with `ha`): the cluster is down when all are. */
  const replicasGivenUp = new Set<string>();
  /** Restarts waiting out their back-off; cancelled by stop. */
  const restartTimers = new Set<NodeJS.Timeout>();
  const backoffs = new Map<string, RestartBackoff>();
  const stop = async (): Promise<void> => {
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await Promise.all(children.map((child) => child.exited));
    clearTimeout(deadline);
    await Promise.all(children.map((child) => new Promise<void>((done) => child.log.end(done))));
    // Last: the replicas resign their leadership through it as they stop.
    await etcd?.stop();
  };
  let stopping = false;
  let reportExit: (message: string) => void = () => undefined;
  const childExited = new Promise<string>((resolveExit) => {
    reportExit = resolveExit;
  });
  const warn = options.warn ?? options.say;
  const launch = async (name: string, args: readonly string[], readyMessage: string, replacing?: Child): Promise<Child> => {
    const log = replacing?.log ?? createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
    // The children get their settings from flags only: a GRANARY_* variable meant for `up`
    // (say GRANARY_ADVERTISE_URL) must not reach all of them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GRANARY_')));
    const child = spawn(process.execPath, [GRANARY_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const exited = new Promise<number | string>((done) => child.on('exit', (code, signal) => done(code ?? signal ?? 'unknown')));
    const entry: Child = { name, process: child, exited, log };
    // A restarted child takes its predecessor's place (and log), so stop sees each service once.
    if (replacing === undefined) children.push(entry);
    else children[children.indexOf(replacing)] = entry;
    const backoff = backoffs.get(name);
    if (backoff === undefined) backoffs.set(name, new RestartBackoff(Date.now()));
    else backoff.started(Date.now());
    let tail = '';
    let ready = false;
    const readyOrExit = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(() => rejectReady(new GranaryError('GRN_UNAVAILABLE', `${name} was not ready in ${READY_TIMEOUT_MS / 1000} s; see ${join(logDir, `${name}.log`)}`)), READY_TIMEOUT_MS);
      child.stdout.on('data', (chunk: Buffer) => {
        log.write(chunk);
        if (ready) return;
        tail = (tail + chunk.toString('utf8')).slice(-65_536);
        if (tail.includes(readyMessage)) {
          ready = true;
          clearTimeout(timer);
          resolveReady();
        }
      });
      child.stderr.on('data', (chunk: Buffer) => {
        log.write(chunk);
        tail = (tail + chunk.toString('utf8')).slice(-65_536);
      });
      void exited.then((result) => {
        clearTimeout(timer);
        if (!ready) {
          const last = tail.trim().split('\n').slice(-3).join('\n');
          rejectReady(new GranaryError('GRN_UNAVAILABLE', `${name} exited (${result}) while starting:\n${last}`));
        } else if (!stopping) {
          restartLater(entry, args, readyMessage, `exited with ${describeExit(child.exitCode, child.signalCode)}`);
        }
      });
    });
    await readyOrExit;
    return entry;
  };
  const describe = (name: string): string =>
    name === 'metadata'
      ? 'metadata service'
      : name.startsWith('metadata-')
        ? `metadata replica ${name}`
        : name === RELAYOUT_WORKER
          ? 'the re-layout worker'
          : name === GATEWAY
            ? 'the Arrow stream gateway'
            : `storage node ${name}`;
  /** A child that was serving died (or its restart failed): start it again after its back-off, or give up on it. */
  const restartLater = (dead: Child, args: readonly string[], readyMessage: string, what: string): void => {
    const logFile = join(logDir, `${dead.name}.log`);
    const decision = (backoffs.get(dead.name) as RestartBackoff).exited(Date.now());
    if (decision.action === 'give-up') {
      const failed = `${describe(dead.name)} ${what}: ${decision.failures} failures in a row, each within ${HEALTHY_AFTER_MS / 1000} s of starting; giving up on it (see ${logFile})`;
      if (dead.name === 'metadata') {
        warn(`${failed}; the cluster cannot run without it`);
        reportExit(`the metadata service failed ${decision.failures} times in a row`);
      } else if (dead.name.startsWith('metadata-')) {
        replicasGivenUp.add(dead.name);
        const allDown = replicasGivenUp.size >= HA_REPLICAS;
        warn(`${failed}; ${allDown ? 'no metadata replica is left' : 'the cluster goes on with the other replicas'}`);
        if (allDown) reportExit(`every metadata replica failed ${decision.failures} times in a row`);
      } else {
        warn(`${failed}; the cluster goes on without it`);
      }
      return;
    }
    warn(`${describe(dead.name)} ${what}; restarting in ${decision.delayMs / 1000} s (failure ${decision.attempt} in a row, up gives up at ${RAPID_FAILURES_MAX}; log ${logFile})`);
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (stopping) return;
      launch(dead.name, args, readyMessage, dead).then(
        () => options.say(`${describe(dead.name)} restarted`),
        (error: unknown) => {
          if (stopping) return;
          // Not ready in time (still running) or exited while starting: a failure either way.
          const current = children.find((child) => child.name === dead.name) ?? dead;
          if (current.process.exitCode === null && current.process.signalCode === null) current.process.kill('SIGKILL');
          restartLater(current, args, readyMessage, `did not start again (${(error as Error).message.split('\n')[0] ?? ''})`);
        },
      );
    }, decision.delayMs);
    restartTimers.add(timer);
  };

  const nodeNames = Array.from({ length: options.nodes }, (_, i) => `node-${i}`);
  const tls = options.tls === true ? await ensureLocalTls(join(root, 'tls'), ['metadata', GATEWAY, ...nodeNames]) : undefined;
  if (tls !== undefined) options.say(`${tls.created ? 'made a private CA and certificates' : 'using the CA and certificates'} in ${join(root, 'tls')}`);
  // etcd has a CA of its own: it admits any client with a certificate of its CA, and the storage
  // nodes' certificates must not be such (etcd holds the signing key and every token's hash).
  const etcdTls = ha && tls !== undefined ? await ensureLocalTls(join(root, 'tls', 'etcd'), ['etcd', 'metadata']) : undefined;
  /** `--tls-cert --tls-key --tls-ca` of one service; none without TLS. */
  const tlsArgs = (name: string): string[] => {
    const files = tls?.services.get(name);
    return tls === undefined || files === undefined ? [] : ['--tls-cert', files.certFile, '--tls-key', files.keyFile, '--tls-ca', tls.caFile];
  };
  const scheme = tls === undefined ? 'http' : 'https';
  const metadataUrls = (ha ? haReplicaPorts(options.port) : [options.port]).map((port) => `${scheme}://${HOST}:${port}`);
  const metadataUrl = metadataUrls.join(',');
  const nodeUrls = nodeNames.map((_, i) => `${scheme}://${HOST}:${options.port + NODE_PORT_OFFSET + i}`);
  const gatewayUrl = `${scheme}://${HOST}:${options.port + GATEWAY_PORT_OFFSET}`;
  // The CLI finds it here (./data/admin.token) when run from the same directory with no token.
  const adminTokenFile = join(root, 'admin.token');
  try {
    // A node is suspect (read around, given no new chunks) well before it is dead.
    const suspectAfterMs = Math.max(1, Math.min(SUSPECT_AFTER_MS_MAX, Math.floor(options.deadAfterMs / 3)));
    const serviceArgs = (dataDir: string, port: number): string[] => [
      'metadata',
      '--data', dataDir,
      '--host', HOST,
      '--port', String(port),
      '--suspect-after-ms', String(suspectAfterMs),
      '--dead-after-ms', String(options.deadAfterMs),
      // With `ha`, one file for every replica: whichever leads first makes the one admin token.
      '--admin-token-file', adminTokenFile,
      // Every replica serves with the one metadata certificate: they all listen on 127.0.0.1.
      ...tlsArgs('metadata'),
    ];
    if (ha) {
      options.say(`starting etcd (${root}/etcd, logs in ${logDir})`);
      const etcdServer = etcdTls?.services.get('etcd');
      etcd = await startSupervisedEtcd({
        root,
        logDir,
        port: options.port,
        say: options.say,
        warn,
        lost: (why) => reportExit(why),
        ...(etcdTls === undefined || etcdServer === undefined
          ? {}
          : { tls: { caFile: etcdTls.caFile, certFile: etcdServer.certFile, keyFile: etcdServer.keyFile, clientCertAuth: true } }),
      });
      options.say(`etcd ready on ${etcd.etcd.endpoints}${etcd.etcd.reused ? ' (the cluster in DATA/etcd, reused)' : ''}; starting ${HA_REPLICAS} metadata replicas on ${metadataUrl}`);
      const endpoints = etcd.etcd.endpoints;
      const etcdClient = etcdTls?.services.get('metadata');
      const etcdTlsArgs = etcdTls === undefined || etcdClient === undefined ? [] : ['--etcd-ca', etcdTls.caFile, '--etcd-cert', etcdClient.certFile, '--etcd-key', etcdClient.keyFile];
      await Promise.all(
        metadataUrls.map((url, i) =>
          launch(`metadata-${i}`, [
            ...serviceArgs(join(root, `metadata-${i}`), haReplicaPorts(options.port)[i] as number),
            '--store', 'etcd',
            '--etcd', endpoints,
            '--etcd-prefix', HA_ETCD_PREFIX,
            ...etcdTlsArgs,
            '--advertise-url', url,
          ], 'metadata ready'),
        ),
      );
      const leader = await waitForLeader(metadataUrls, tls?.caFile, READY_TIMEOUT_MS);
      options.say(`metadata replica ${leader} is the leader`);
    } else {
      options.say(`starting metadata on ${metadataUrl}`);
      await launch('metadata', serviceArgs(join(root, 'metadata'), options.port), 'metadata ready');
    }
    const ca = tls === undefined ? undefined : await readFile(tls.caFile);
    const adminToken = (await readFile(adminTokenFile, 'utf8')).trim();
    const client = new GranaryClient({ metadataUrl, token: adminToken, ...(ca === undefined ? {} : { http: { ca } }) });
    try {
      // Each node speaks for itself with its own token; made once, kept in its data directory.
      await Promise.all(nodeNames.map((name) => ensureNodeTokenFile(client.metadata, name, join(root, name, NODE_TOKEN_FILE))));
      options.say(`starting ${options.nodes} storage nodes on ports ${options.port + NODE_PORT_OFFSET}-${options.port + NODE_PORT_OFFSET + options.nodes - 1}`);
      await Promise.all(
        nodeUrls.map((url, i) =>
          launch(`node-${i}`, [
            'storage-node',
            '--data', join(root, `node-${i}`),
            '--host', HOST,
            '--port', String(options.port + NODE_PORT_OFFSET + i),
            '--node-id', `node-${i}`,
            '--domain', `rack-${i % DOMAINS}`,
            '--metadata', metadataUrl,
            '--heartbeat-interval-ms', '1000',
            '--token-file', join(root, `node-${i}`, NODE_TOKEN_FILE),
            ...tlsArgs(`node-${i}`),
          ], 'storage node ready'),
        ),
      );
      await waitForNodes(client, options.nodes);
      let sampleCreated: string[] = [];
      if (options.sample && fresh && !(await client.metadata.listTables()).some((t) => t.name === SAMPLE_TABLE)) {
        options.say(`creating the sample table ${SAMPLE_TABLE}`);
        sampleCreated = await createSampleTable(client, options.ec);
      }
      // Last: it plans against the tables and reads through the nodes.
      await launch(RELAYOUT_WORKER, [
        'relayout',
        '--watch',
        '--interval', RELAYOUT_INTERVAL,
        '--rate', RELAYOUT_RATE,
        '--metadata', metadataUrl,
        '--token-file', adminTokenFile,
        ...(tls === undefined ? [] : ['--tls-ca', tls.caFile]),
      ], 'relayout worker ready');
      options.say(`re-layout worker: every ${RELAYOUT_INTERVAL}, at most ${RELAYOUT_RATE}/s, rewrites the blocks whose column order no longer fits how they are read (log ${join(logDir, `${RELAYOUT_WORKER}.log`)})`);
      await launch(GATEWAY, [
        'gateway',
        '--metadata', metadataUrl,
        '--host', HOST,
        '--port', String(options.port + GATEWAY_PORT_OFFSET),
        ...tlsArgs(GATEWAY),
      ], 'gateway ready');
      return {
        metadataUrl,
        metadataUrls,
        etcdEndpoints: etcd?.etcd.endpoints,
        nodeUrls,
        gatewayUrl,
        caFile: tls?.caFile,
        adminTokenFile,
        logDir,
        sampleCreated,
        childExited,
        stop: async () => {
          stopping = true;
          await stop();
        },
      };
    } finally {
      await client.close();
    }
  } catch (error) {
    stopping = true;
    await stop();
    throw error;
  }
}

/**
 * Refuses a data directory whose catalog is of the other kind: its storage nodes hold chunks the
 * new, empty catalog does not know, and would be told to delete them as orphans.
 */
function refuseOtherCatalog(root: string, entries: readonly string[], ha: boolean): void {
  if (ha && entries.includes('metadata')) {
    throw new GranaryError(
      'GRN_BAD_REQUEST',
      `${root} holds a cluster started without --ha (its catalog is in ${join(root, 'metadata')}); --ha keeps the catalog in etcd and would start empty, and its storage nodes' chunks would be deleted as orphans. Run it without --ha, or give --ha another --data directory`,
    );
  }
  if (!ha && entries.includes('etcd')) {
    throw new GranaryError(
      'GRN_BAD_REQUEST',
      `${root} holds a cluster started with --ha (its catalog is in etcd, ${join(root, 'etcd')}); without --ha the catalog would start empty, and its storage nodes' chunks would be deleted as orphans. Run it with --ha, or use another --data directory`,
    );
  }
}

async function waitForNodes(client: GranaryClient, count: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const alive = (await client.metadata.listNodes()).filter((node) => node.state === 'alive').length;
    if (alive >= count) return;
    if (Date.now() > deadline) throw new GranaryError('GRN_UNAVAILABLE', `only ${alive} of ${count} storage nodes registered within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}
