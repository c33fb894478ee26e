/**
 * A local cluster of real processes for integration tests: one metadata service and N storage
 * nodes registered with it, each with its own temporary data directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { CAPABILITY_HEADER } from '../../protocol/capability.js';
import type { NodeInfo } from '../../protocol/index.js';
import { type GranaryProcess, startGranaryProcess } from './granary-process.js';
import { pollUntil } from './poll.js';
import { type NodeProcess, startNodeProcess } from './storage-node-process.js';
import { makeTempDir } from './temp-dir.js';
import type { TestTls } from './tls-certs.js';

export interface Cluster {
  metadata: GranaryProcess;
  readonly nodes: NodeProcess[];
  readonly root: string;
  readonly metadataArgs: readonly string[];
  /** The metadata service's bootstrap admin token (it runs with auth on, as deployed). */
  readonly adminToken: string;
  /** Restarts the metadata service on its data directory, on the same port. */
  restartMetadata(signal: NodeJS.Signals): Promise<GranaryProcess>;
  stop(): Promise<void>;
}

export async function startMetadataProcess(dataDir: string, extraArgs: readonly string[] = [], port = 0): Promise<GranaryProcess> {
  return startGranaryProcess(['metadata', '--data', dataDir, '--port', String(port), ...extraArgs], 'metadata ready');
}

/** The admin token a metadata service made in its data directory on first start. */
export async function adminTokenOf(metadataDataDir: string): Promise<string> {
  return (await readFile(join(metadataDataDir, 'admin.token'), 'utf8')).trim();
}

/**
 * `--node-id ID --token T` for a storage node process: a node token made with the admin token,
 * the only credential that lets a node register and heartbeat as ID.
 */
export async function nodeCredentialArgs(metadataUrl: string, adminToken: string, nodeId: string, ca?: Buffer): Promise<string[]> {
  const agent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  try {
    const response = await request(`${metadataUrl}/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ role: 'node', nodeId }),
      ...(agent === undefined ? {} : { dispatcher: agent }),
    });
    const body = (await response.body.json()) as { token?: string; message?: string };
    if (response.statusCode !== 201 || body.token === undefined) throw new Error(`cannot make a node token for ${nodeId}: ${body.message ?? response.statusCode}`);
    return ['--node-id', nodeId, '--token', body.token];
  } finally {
    await agent?.close();
  }
}

/**
 * `x-granary-capability: <admin capability>` for storage-node admin routes (chunk listing, info,
 * scrub) and reads of any chunk, on node `nodeId` (default every node). Admin capabilities live
 * ten minutes: get a fresh one per test step rather than one per file.
 */
export async function adminCapabilityHeaders(metadataUrl: string, adminToken: string, nodeId = '*', ca?: Buffer): Promise<Record<string, string>> {
  const agent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  try {
    const response = await request(`${metadataUrl}/v1/capabilities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ nodeId }),
      ...(agent === undefined ? {} : { dispatcher: agent }),
    });
    const body = (await response.body.json()) as { capability?: string; message?: string };
    if (response.statusCode !== 200 || body.capability === undefined) throw new Error(`cannot get an admin capability for ${nodeId}: ${body.message ?? response.statusCode}`);
    return { [CAPABILITY_HEADER]: body.capability };
  } finally {
    await agent?.close();
  }
}

/** `ca`: the CA bundle an https metadata service's certificate is verified against. */
export async function listNodes(metadataUrl: string, ca?: Buffer, token?: string): Promise<NodeInfo[]> {
  const agent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  try {
    const response = await request(`${metadataUrl}/v1/nodes`, {
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      ...(agent === undefined ? {} : { dispatcher: agent }),
    });
    if (response.statusCode !== 200) throw new Error(`GET /v1/nodes answered ${response.statusCode}: ${await response.body.text()}`);
    return ((await response.body.json()) as { nodes: NodeInfo[] }).nodes;
  } finally {
    await agent?.close();
  }
}

export interface ClusterOptions {
  readonly nodes: number;
  readonly domains?: number;
  readonly metadataArgs?: readonly string[];
  /** Node heartbeat interval; tests use 200 ms to see state changes fast, benches the default. */
  readonly heartbeatIntervalMs?: number;
  /** More flags for every storage node (say `--repair-slots 0` to watch damage without repair). */
  readonly nodeArgs?: readonly string[];
  /**
   * Serve every service over HTTPS with certificates from makeTestTls (names `metadata` and
   * `node-0` ..); each verifies the others against its CA.
   */
  readonly tls?: TestTls;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = await makeTempDir('cluster');
  const metadataArgs = [...(options.metadataArgs ?? []), ...(options.tls?.serviceArgs('metadata') ?? [])];
  const ca = options.tls === undefined ? undefined : await readFile(options.tls.caFile);
  const processes: GranaryProcess[] = [];
  try {
    const metadata = await startMetadataProcess(join(dir.path, 'metadata'), metadataArgs);
    processes.push(metadata);
    const adminToken = await adminTokenOf(join(dir.path, 'metadata'));
    const credentials = await Promise.all(Array.from({ length: options.nodes }, (_, i) => nodeCredentialArgs(metadata.url, adminToken, `node-${i}`, ca)));
    const nodes = await Promise.all(
      Array.from({ length: options.nodes }, (_, i) =>
        startNodeProcess(join(dir.path, `node-${i}`), [
          ...(credentials[i] as string[]),
          '--metadata',
          metadata.url,
          '--domain',
          `rack-${i % (options.domains ?? 3)}`,
          '--heartbeat-interval-ms',
          String(options.heartbeatIntervalMs ?? 200),
          '--reserve',
          '0',
          ...(options.nodeArgs ?? []),
          ...(options.tls?.serviceArgs(`node-${i}`) ?? []),
        ]),
      ),
    );
    processes.push(...nodes);
    await pollUntil('every storage node to register', async () => {
      const listed = await listNodes(metadata.url, ca, adminToken);
      return listed.filter((node) => node.state === 'alive').length === options.nodes ? true : undefined;
    });
    const cluster: Cluster = {
      metadata,
      nodes,
      root: dir.path,
      metadataArgs,
      adminToken,
      async restartMetadata(signal) {
        await cluster.metadata.kill(signal);
        cluster.metadata = await startMetadataProcess(join(dir.path, 'metadata'), metadataArgs, cluster.metadata.port);
        return cluster.metadata;
      },
      async stop() {
        await Promise.all([cluster.metadata, ...nodes].map((p) => p.kill('SIGKILL')));
        await dir.remove();
      },
    };
    return cluster;
  } catch (error) {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await dir.remove();
    throw error;
  }
}
