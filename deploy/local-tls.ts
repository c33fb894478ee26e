/**
 * A private CA and one certificate per service for a cluster on loopback (`granary up --tls`, and
 * the TLS integration tests). Everything is made by the `openssl` command: Node's crypto makes
 * keys but cannot sign certificates, and a dependency (node-forge, @peculiar/x509) for a
 * development launcher is more code to trust than a tool every Linux and macOS machine has.
 * Keys are P-256 (fast to make, as strong as RSA-3072), written with mode 0600.
 *
 * Each certificate names 127.0.0.1, ::1 and localhost (where `granary up` listens) and its
 * service's own name, so the same files serve a compose project whose services are called
 * `metadata` and `node-0` ..:
 *
 *   node dist/deploy/local-tls.js deploy/tls metadata node-0 node-1 ... node-8
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GranaryError } from '../protocol/index.js';

const run = promisify(execFile);

export interface LocalTls {
  /** The CA certificate (PEM) every caller passes as --tls-ca. */
  readonly caFile: string;
  /** Certificate and key files per service name, as passed to `files`. */
  readonly services: ReadonlyMap<string, { readonly certFile: string; readonly keyFile: string }>;
}

export interface LocalTlsOptions {
  /** Host names and addresses every certificate is valid for. */
  readonly hosts?: readonly string[];
  /** Validity of the CA and of each certificate. */
  readonly days?: number;
  /** The openssl binary (default: `openssl` on the PATH). */
  readonly openssl?: string;
}

export const LOCAL_TLS_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;
const LOCAL_TLS_DAYS = 825;
/** Services one call makes certificates for, so a typo in --nodes cannot run openssl forever. */
const LOCAL_TLS_SERVICES_MAX = 128;
/** openssl processes run at once. */
const OPENSSL_PROCESSES_MAX = 4;
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Files of the CA and of each service under `dir`; made when any is missing (all of them anew, so
 * every certificate is signed by the CA on disk), kept otherwise so callers keep trusting them.
 */
export async function ensureLocalTls(dir: string, names: readonly string[], options: LocalTlsOptions = {}): Promise<LocalTls & { readonly created: boolean }> {
  if (names.length === 0 || names.length > LOCAL_TLS_SERVICES_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `certificates are made for 1..${LOCAL_TLS_SERVICES_MAX} services, not ${names.length}`);
  }
  for (const name of names) if (!SERVICE_NAME.test(name)) throw new GranaryError('GRN_BAD_REQUEST', `"${name}" is not a service name for a certificate file`);
  const tls: LocalTls = {
    caFile: join(dir, 'ca.pem'),
    services: new Map(names.map((name) => [name, { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) }])),
  };
  const needed = [tls.caFile, join(dir, 'ca.key'), ...[...tls.services.values()].flatMap((s) => [s.certFile, s.keyFile])];
  const present = await Promise.all(needed.map((file) => access(file).then(() => true, () => false)));
  if (present.every(Boolean)) return { ...tls, created: false };
  await makeLocalTls(dir, names, options);
  return { ...tls, created: true };
}

/** Makes a new CA and a certificate per service in `dir` (created, mode 0700), replacing any there. */
export async function makeLocalTls(dir: string, names: readonly string[], options: LocalTlsOptions = {}): Promise<LocalTls> {
  const openssl = options.openssl ?? 'openssl';
  const days = String(options.days ?? LOCAL_TLS_DAYS);
  const hosts = options.hosts ?? LOCAL_TLS_HOSTS;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = join(dir, 'openssl.cnf');
  // A config of our own: the system one differs between OpenSSL 1.1, 3 and LibreSSL, and a
  // default extension section would clash with ours.
  await writeFile(config, opensslConfig(), { mode: 0o600 });
  const openSsl = async (args: readonly string[]): Promise<void> => {
    try {
      await run(openssl, args, { timeout: 30_000 });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stderr?: string };
      const why = failure.code === 'ENOENT' ? `${openssl} is not installed; install OpenSSL, or pass certificates of your own with --tls-cert, --tls-key and --tls-ca` : (failure.stderr ?? failure.message).trim();
      throw new GranaryError('GRN_INTERNAL', `making TLS certificates in ${dir} failed: ${why}`, { cause: error });
    }
  };
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openSsl(['req', '-x509', ...newKey, '-keyout', caKey, '-out', caFile, '-days', days, '-subj', '/CN=Granary local CA', '-config', config, '-extensions', 'granary_ca']);
  const services = new Map<string, { certFile: string; keyFile: string }>(
    names.map((name) => [name, { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) }]),
  );
  const issue = async (name: string): Promise<void> => {
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const extensions = join(dir, `${name}.ext`);
    await writeFile(extensions, serviceExtensions([...hosts, name]), { mode: 0o600 });
    await openSsl(['req', '-new', ...newKey, '-keyout', keyFile, '-out', csr, '-subj', `/CN=granary ${name}`, '-config', config]);
    await openSsl([
      'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-out', certFile, '-days', days,
      // A random serial: no serial file to keep, and no two certificates of one CA share one.
      '-set_serial', `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '7')}`,
      '-extfile', extensions,
    ]);
    await Promise.all([rm(csr, { force: true }), rm(extensions, { force: true })]);
  };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < names.length) await issue(names[next++] as string);
  };
  await Promise.all(Array.from({ length: Math.min(OPENSSL_PROCESSES_MAX, names.length) }, lane));
  await Promise.all([caKey, ...[...services.values()].map((s) => s.keyFile)].map((key) => chmod(key, 0o600)));
  return { caFile, services };
}

function opensslConfig(): string {
  return [
    '[req]',
    'distinguished_name = granary_dn',
    'prompt = no',
    '[granary_dn]',
    'CN = granary',
    '[granary_ca]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '',
  ].join('\n');
}

/** Extensions of a service certificate valid for `hosts` (names and addresses). */
function serviceExtensions(hosts: readonly string[]): string {
  const names = [...new Set(hosts)].map((host) => (/^[0-9.]+$/.test(host) || host.includes(':') ? `IP:${host}` : `DNS:${host}`)).join(',');
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    // clientAuth too: the same certificate can prove a service's identity when it calls a peer.
    'extendedKeyUsage = serverAuth, clientAuth',
    `subjectAltName = ${names}`,
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

// As a script: certificates for services run elsewhere (deploy/compose.yaml), not by `granary up`.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, ...names] = process.argv.slice(2);
  if (dir === undefined || names.length === 0) {
    process.stderr.write('usage: node dist/deploy/local-tls.js DIR SERVICE...   (e.g. deploy/tls metadata node-0 node-1)\n');
    process.exit(2);
  }
  makeLocalTls(dir, names).then(
    (tls) => process.stdout.write(`CA ${tls.caFile}; certificates and keys for ${names.join(', ')} in ${dir}\n`),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
