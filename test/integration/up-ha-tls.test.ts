/**
 * `granary up --ha --tls`: etcd serves TLS with a CA of its own (DATA/tls/etcd/) and requires
 * client certificates; the replicas get --etcd-ca/--etcd-cert/--etcd-key and one leads; a storage
 * node's certificate (the services' CA) does not open etcd, the replicas' does; an etcd member that
 * is SIGKILLed is restarted and found healthy over TLS; the gateway serves HTTPS too.
 */
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { HA_ETCD_CLIENT_PORT_OFFSET, HA_PORT_OFFSETS, HA_REPLICAS } from '../../deploy/local-ha.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { flagValue as valueOf, useUpCluster } from '../helpers/up-process.js';

const NODES = 3;

const cluster = useUpCluster({
  name: 'up-ha-tls',
  nodes: NODES,
  portOffsets: HA_PORT_OFFSETS,
  args: (root, port) => ['--ha', '--tls', '--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', '2+1', '--no-sample'],
  readyDeadlineMs: 150_000,
  stopDeadlineMs: 45_000,
});

/** etcd's /health over TLS, presenting `client` (certificate and key files) if given: the status, or the handshake's error. */
async function etcdHealth(url: string, client: { cert: string; key: string } | undefined): Promise<string> {
  const ca = await readFile(join(cluster.root, 'tls', 'etcd', 'ca.pem'));
  const identity = client === undefined ? {} : { cert: await readFile(client.cert), key: await readFile(client.key) };
  return new Promise((done) => {
    const probe = httpsRequest(`${url}/health`, { agent: false, timeout: 5_000, ca, ...identity }, (response) => {
      response.resume();
      response.on('end', () => done(`status ${response.statusCode}`));
    });
    probe.on('timeout', () => probe.destroy(new Error('timed out')));
    probe.on('error', (error) => done(`error ${error.message}`));
    probe.end();
  });
}

describe('granary up --ha --tls', () => {
  it('runs etcd on TLS with client-cert auth from its own CA, and the replicas with the three flags; one leads', async () => {
    const etcdDir = join(cluster.root, 'tls', 'etcd');
    expect(cluster.up.output()).toMatch(/over etcd https:\/\/127\.0\.0\.1:\d+,https:.* \(TLS with client certificates, CA in DATA\/tls\/etcd\)/);
    const children = await cluster.up.children();
    const members = children.filter(({ args }) => args[0]?.endsWith('etcd') === true);
    expect(members).toHaveLength(3);
    for (const { args } of members) {
      expect(valueOf(args, '--listen-client-urls')).toMatch(/^https:\/\/127\.0\.0\.1:/);
      expect(valueOf(args, '--cert-file')).toBe(join(etcdDir, 'etcd.pem'));
      expect(valueOf(args, '--trusted-ca-file')).toBe(join(etcdDir, 'ca.pem'));
      expect(args).toContain('--client-cert-auth');
    }
    const replicas = children.filter(({ args }) => args[args.indexOf(GRANARY_BIN) + 1] === 'metadata');
    expect(replicas).toHaveLength(HA_REPLICAS);
    for (const { args } of replicas) {
      expect(valueOf(args, '--etcd')).toMatch(/^https:\/\/.*,https:\/\/.*,https:\/\//);
      expect(valueOf(args, '--etcd-ca')).toBe(join(etcdDir, 'ca.pem'));
      expect(valueOf(args, '--etcd-cert')).toBe(join(etcdDir, 'metadata.pem'));
      expect(valueOf(args, '--etcd-key')).toBe(join(etcdDir, 'metadata.key'));
    }
    const dispatcher = new Agent({ connect: { ca: await readFile(join(cluster.root, 'tls', 'ca.pem')) } });
    try {
      const roles = await Promise.all(
        Array.from({ length: HA_REPLICAS }, async (_, i) => {
          const answer = await request(`https://127.0.0.1:${cluster.port + i}/health`, { dispatcher });
          return ((await answer.body.json()) as { role?: string }).role;
        }),
      );
      expect(roles.filter((role) => role === 'leader')).toHaveLength(1);
      // The gateway serves HTTPS with a certificate of the same CA, and reaches every replica.
      expect(cluster.up.output()).toContain(`gateway: https://127.0.0.1:${cluster.port + 30}`);
      const splits = await request(`https://127.0.0.1:${cluster.port + 30}/v1/tables/none/splits`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workers: 2 }) });
      // No token sent: the metadata service, reached over TLS, refuses it with its own code.
      expect(splits.statusCode).toBe(401);
      expect(await splits.body.json()).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
    } finally {
      await dispatcher.close();
    }
  });

  it('admits the replicas\' certificate to etcd, and neither none nor a storage node\'s', async () => {
    const url = `https://127.0.0.1:${cluster.port + HA_ETCD_CLIENT_PORT_OFFSET}`;
    expect(await etcdHealth(url, { cert: join(cluster.root, 'tls', 'etcd', 'metadata.pem'), key: join(cluster.root, 'tls', 'etcd', 'metadata.key') })).toBe('status 200');
    expect(await etcdHealth(url, undefined)).toMatch(/^error /);
    expect(await etcdHealth(url, { cert: join(cluster.root, 'tls', 'node-0.pem'), key: join(cluster.root, 'tls', 'node-0.key') })).toMatch(/^error /);
  });

  it('restarts a SIGKILLed etcd member and finds it healthy over TLS', async () => {
    const member = (await cluster.up.children()).find(({ args }) => args[0]?.endsWith('etcd') === true && valueOf(args, '--name') === 'etcd-1');
    expect(member).toBeDefined();
    process.kill(member?.pid as number, 'SIGKILL');
    await pollUntil('up to restart etcd-1', () => (cluster.up.output().includes('etcd member etcd-1 restarted') ? true : undefined), 60_000, 100);
  }, 70_000);
});
