/** The command line of a local etcd member: the limits the metadata store needs, loopback only. */
import { describe, expect, it } from 'vitest';
import {
  ETCD_AUTO_COMPACTION_RETENTION,
  ETCD_MAX_REQUEST_BYTES,
  ETCD_MAX_TXN_OPS,
  ETCD_QUOTA_BACKEND_BYTES,
  type EtcdMemberLayout,
  etcdMemberArgs,
} from '../../deploy/etcd-flags.js';

const members: EtcdMemberLayout[] = [0, 1, 2].map((i) => ({ name: `etcd-${i}`, dataDir: `/d/etcd-${i}`, clientPort: 7080 + i, peerPort: 7090 + i }));

/** The value after `flag`. */
function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
}

describe('etcdMemberArgs', () => {
  it('names every peer, listens on loopback only and sets the store limits', () => {
    const args = etcdMemberArgs(members[1] as EtcdMemberLayout, members, 'granary-t', 'new');
    expect(flag(args, '--name')).toBe('etcd-1');
    expect(flag(args, '--data-dir')).toBe('/d/etcd-1');
    expect(flag(args, '--listen-client-urls')).toBe('http://127.0.0.1:7081');
    expect(flag(args, '--listen-peer-urls')).toBe('http://127.0.0.1:7091');
    expect(flag(args, '--initial-cluster')).toBe('etcd-0=http://127.0.0.1:7090,etcd-1=http://127.0.0.1:7091,etcd-2=http://127.0.0.1:7092');
    expect(flag(args, '--initial-cluster-state')).toBe('new');
    expect(flag(args, '--initial-cluster-token')).toBe('granary-t');
    expect(flag(args, '--quota-backend-bytes')).toBe(String(ETCD_QUOTA_BACKEND_BYTES));
    expect(flag(args, '--max-txn-ops')).toBe(String(ETCD_MAX_TXN_OPS));
    expect(flag(args, '--max-request-bytes')).toBe(String(ETCD_MAX_REQUEST_BYTES));
    expect(flag(args, '--auto-compaction-retention')).toBe(ETCD_AUTO_COMPACTION_RETENTION);
    // Metrics stay on the client URL: no other listener.
    expect(args).not.toContain('--listen-metrics-urls');
    for (const value of args.filter((arg) => arg.startsWith('http'))) expect(value).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });

  it('serves TLS on the client URL with the given files, and client-cert auth only when asked; peers stay http', () => {
    const tls = { certFile: '/t/etcd.pem', keyFile: '/t/etcd.key', caFile: '/t/ca.pem', clientCertAuth: true };
    const args = etcdMemberArgs(members[0] as EtcdMemberLayout, members, 't', 'new', tls);
    expect(flag(args, '--listen-client-urls')).toBe('https://127.0.0.1:7080');
    expect(flag(args, '--advertise-client-urls')).toBe('https://127.0.0.1:7080');
    expect(flag(args, '--cert-file')).toBe('/t/etcd.pem');
    expect(flag(args, '--key-file')).toBe('/t/etcd.key');
    expect(flag(args, '--trusted-ca-file')).toBe('/t/ca.pem');
    expect(args).toContain('--client-cert-auth');
    expect(flag(args, '--listen-peer-urls')).toBe('http://127.0.0.1:7090');
    expect(etcdMemberArgs(members[0] as EtcdMemberLayout, members, 't', 'new', { ...tls, clientCertAuth: false })).not.toContain('--client-cert-auth');
    expect(etcdMemberArgs(members[0] as EtcdMemberLayout, members, 't', 'new')).not.toContain('--cert-file');
  });

  it('says existing for a cluster that has run, and refuses a member that is not in it', () => {
    expect(flag(etcdMemberArgs(members[0] as EtcdMemberLayout, members, 't', 'existing'), '--initial-cluster-state')).toBe('existing');
    expect(() => etcdMemberArgs({ ...(members[0] as EtcdMemberLayout) }, members, 't', 'new')).toThrow(/not one of the cluster's members/);
  });
});

describe('the README', () => {
  it('lists the limits an operator\'s own etcd needs, as up passes them', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = (await readFile(new URL('../../README.md', import.meta.url), 'utf8')).replace(/\s+/g, ' ');
    expect(readme).toContain(
      `--max-txn-ops ${ETCD_MAX_TXN_OPS} --max-request-bytes ${ETCD_MAX_REQUEST_BYTES} --quota-backend-bytes ${ETCD_QUOTA_BACKEND_BYTES} --auto-compaction-mode periodic --auto-compaction-retention ${ETCD_AUTO_COMPACTION_RETENTION}`,
    );
  });
});
