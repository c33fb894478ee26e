/**
 * `--etcd-ca`, `--etcd-cert` and `--etcd-key`, as `granary metadata` and `granary metadata restore`
 * take them: the TLS to etcd (metadata/store/etcd-tls.ts reads and checks the files).
 */
import { InvalidArgumentError } from 'commander';
import type { EtcdTlsFiles } from '../metadata/store/etcd-tls.js';

export interface EtcdTlsFlags {
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
}

/** The flags as the store's options. */
export function etcdTlsFiles(flags: EtcdTlsFlags): EtcdTlsFiles {
  return {
    ...(flags.etcdCa === undefined ? {} : { tlsCaFile: flags.etcdCa }),
    ...(flags.etcdCert === undefined ? {} : { tlsCertFile: flags.etcdCert }),
    ...(flags.etcdKey === undefined ? {} : { tlsKeyFile: flags.etcdKey }),
  };
}

/** With --store level the flags would go unread: say so rather than ignore them. */
export function refuseEtcdTlsFlags(flags: EtcdTlsFlags): void {
  const given = (['etcdCa', 'etcdCert', 'etcdKey'] as const).filter((name) => flags[name] !== undefined);
  if (given.length === 0) return;
  const names = given.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  throw new InvalidArgumentError(`${names.join(', ')} ${given.length === 1 ? 'is' : 'are'} only read with --store etcd`);
}
