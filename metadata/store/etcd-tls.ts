/**
 * TLS between the metadata store and etcd. etcd holds the capability signing key and every token's
 * hash, so whoever can talk to it owns the cluster: over a network it must serve TLS, and with
 * `--client-cert-auth` refuse clients without a certificate of its CA. This file reads and checks
 * the client's side of that (`--etcd-ca`, `--etcd-cert`, `--etcd-key`) when a process starts,
 * before it touches etcd, and says which endpoints go with it: https only when TLS is set, never a
 * mix of http and https.
 */
import { GranaryError } from '../../protocol/index.js';
import { type ServerTls, type TlsSettingNames, loadServerTls, loadTlsCa } from '../../protocol/tls.js';

/** The files, as `granary metadata` and `granary metadata restore` take them. */
export interface EtcdTlsFiles {
  /** `--etcd-ca`: PEM CA bundle that etcd's certificate is verified against (default: Node's bundled roots). */
  readonly tlsCaFile?: string;
  /** `--etcd-cert`: PEM client certificate for an etcd with `--client-cert-auth` (needs tlsKeyFile). */
  readonly tlsCertFile?: string;
  /** `--etcd-key`: PEM private key of tlsCertFile. */
  readonly tlsKeyFile?: string;
}

/** The files read and checked; what EtcdStore gives etcd's client. */
export interface EtcdTls {
  /** undefined: trust Node's bundled roots (an etcd with a publicly signed certificate). */
  readonly ca: Buffer | undefined;
  /** The client certificate and key presented to etcd, if any. */
  readonly client: ServerTls | undefined;
}

/** The flags, named in every message about the files (GRANARY_ETCD_CA etc. as environment variables). */
export const ETCD_TLS_SETTINGS: TlsSettingNames = { cert: '--etcd-cert', key: '--etcd-key', ca: '--etcd-ca' };

/** Reads the files; undefined when none is given (the endpoints are then http://, or https:// with Node's roots). */
export function loadEtcdTls(files: EtcdTlsFiles): EtcdTls | undefined {
  const { tlsCaFile, tlsCertFile, tlsKeyFile } = files;
  if (tlsCaFile === undefined && tlsCertFile === undefined && tlsKeyFile === undefined) return undefined;
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    const [given, missing] = tlsCertFile === undefined ? [ETCD_TLS_SETTINGS.key, ETCD_TLS_SETTINGS.cert] : [ETCD_TLS_SETTINGS.cert, ETCD_TLS_SETTINGS.key];
    throw new GranaryError('GRN_BAD_REQUEST', `${given} needs ${missing} as well: etcd is shown a client certificate with its key, both or neither`);
  }
  return { ca: loadTlsCa(tlsCaFile, ETCD_TLS_SETTINGS), client: loadServerTls(tlsCertFile, tlsKeyFile, ETCD_TLS_SETTINGS) };
}

/**
 * Refuses endpoints that do not fit the TLS: a mix of http:// and https:// (one client speaks one
 * or the other to every member), or TLS files with http:// endpoints (they would silently go unused).
 * Returns whether the endpoints are https.
 */
export function checkEtcdEndpoints(endpoints: readonly string[], tls: EtcdTls | undefined): boolean {
  const secure = endpoints.filter((endpoint) => /^https:\/\//i.test(endpoint));
  if (secure.length > 0 && secure.length < endpoints.length) {
    throw new GranaryError(
      'GRN_BAD_REQUEST',
      `--etcd mixes https:// and http:// URLs (${endpoints.join(',')}); the client speaks TLS to every member or to none: give every member's https:// URL`,
    );
  }
  if (tls !== undefined && secure.length === 0) {
    const given = [tls.ca === undefined ? undefined : '--etcd-ca', tls.client === undefined ? undefined : '--etcd-cert/--etcd-key'].filter((flag) => flag !== undefined);
    throw new GranaryError('GRN_BAD_REQUEST', `${given.join(' and ')} set TLS for etcd, but --etcd names http:// URLs (${endpoints.join(',')}): give its https:// URLs`);
  }
  return secure.length > 0;
}
