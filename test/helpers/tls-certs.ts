/**
 * Certificates for TLS tests: a private CA and one certificate per service (127.0.0.1, ::1,
 * localhost), made with openssl through the same code as `granary up --tls`, and the flags that
 * hand them to a service.
 */
import { join } from 'node:path';
import { type LocalTls, type LocalTlsOptions, makeLocalTls } from '../../deploy/local-tls.js';

export interface TestTls extends LocalTls {
  /** `--tls-cert --tls-key --tls-ca` of one service named to `makeTestTls`. */
  serviceArgs(name: string): string[];
}

/** A CA and certificates for `names` under `dir`/`label` (default `tls`); `hosts` the certificates name (default loopback). */
export async function makeTestTls(dir: string, names: readonly string[], label = 'tls', hosts?: LocalTlsOptions['hosts']): Promise<TestTls> {
  const tls = await makeLocalTls(join(dir, label), names, { days: 2, ...(hosts === undefined ? {} : { hosts }) });
  return {
    ...tls,
    serviceArgs(name) {
      const files = tls.services.get(name);
      if (files === undefined) throw new Error(`no certificate was made for ${name}; made: ${[...tls.services.keys()].join(', ')}`);
      return ['--tls-cert', files.certFile, '--tls-key', files.keyFile, '--tls-ca', tls.caFile];
    },
  };
}
