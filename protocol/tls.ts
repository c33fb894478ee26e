/**
 * TLS settings, understood the same way by both services and every client. A cluster that
 * serves HTTPS needs three files: a certificate and its key to serve with (both or neither), and
 * a CA bundle its callers verify against. A bad file must stop a service at start-up with the
 * file's name, not at its first handshake; and a certificate its caller does not trust must read
 * as that (with the setting that fixes it), not as a node that is down and worth retrying.
 *
 * Verification is never turned off: without a CA file the caller trusts Node's bundled roots.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { GranaryError } from './errors.js';

/** The certificate and key a service serves HTTPS with, PEM. */
export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The flags a set of TLS files is given with, named in the messages about them. */
export interface TlsSettingNames {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The services' own HTTPS settings (the default of the loaders below). */
export const SERVICE_TLS_SETTINGS: TlsSettingNames = { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca' };

/** How a user names the CA setting, for messages that tell them what to pass. */
export const TLS_CA_SETTING = '--tls-ca FILE (or GRANARY_TLS_CA)';

/** Largest certificate, key or CA bundle file read; a whole system bundle is about 220 KB. */
const TLS_FILE_BYTES_MAX = 4 * 1024 * 1024;

/**
 * Reads a service's certificate and key, both or neither (undefined: serve plain HTTP), and
 * checks that they parse and belong together.
 */
export function loadServerTls(certFile: string | undefined, keyFile: string | undefined, settings: TlsSettingNames = SERVICE_TLS_SETTINGS): ServerTls | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile === undefined ? [settings.key, settings.cert] : [settings.cert, settings.key];
    throw new GranaryError('GRN_BAD_REQUEST', `${given} needs ${missing} as well: HTTPS is served with a certificate and its key, both or neither`);
  }
  const cert = readTlsFile(certFile, `TLS certificate (${settings.cert})`);
  const key = readTlsFile(keyFile, `TLS key (${settings.key})`);
  try {
    new X509Certificate(cert);
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `TLS certificate ${certFile} is not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `TLS key ${keyFile} is not a PEM private key (an encrypted key is not supported): ${(error as Error).message}`, { cause: error });
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `TLS key ${keyFile} does not belong to certificate ${certFile}: ${(error as Error).message}`, { cause: error });
  }
  return { cert, key };
}

/** Reads a CA bundle (one or more PEM certificates); undefined when no file is given. */
export function loadTlsCa(caFile: string | undefined, settings: TlsSettingNames = SERVICE_TLS_SETTINGS): Buffer | undefined {
  if (caFile === undefined) return undefined;
  const ca = readTlsFile(caFile, `TLS CA bundle (${settings.ca})`);
  // Node ignores a CA bundle it cannot parse and then trusts nothing: say so now instead.
  try {
    new X509Certificate(ca);
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `TLS CA bundle ${caFile} holds no PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  return ca;
}

function readTlsFile(file: string, what: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new GranaryError('GRN_BAD_REQUEST', `cannot read ${what} ${file}: ${reason}`, { cause: error });
  }
  if (bytes.length === 0 || bytes.length > TLS_FILE_BYTES_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `${what} ${file} is ${bytes.length} bytes; a PEM file is 1 B..${TLS_FILE_BYTES_MAX / 1024 / 1024} MiB`);
  }
  return bytes;
}

/** OpenSSL's verification failures as Node reports them, plus Node's own host name check. */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The error, or one of its causes, with a `code`. */
function codesOf(error: unknown): { code: string; message: string }[] {
  const found: { code: string; message: string }[] = [];
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') found.push({ code, message: String((e as { message?: unknown }).message ?? code) });
  }
  return found;
}

/**
 * The error to raise when a call to `url` failed before any answer: GRN_TLS_UNTRUSTED when the
 * peer's certificate was not trusted, a hint when the two ends disagree on http and https, and
 * GRN_UNAVAILABLE (worth retrying elsewhere) for everything else.
 */
export function transportError(error: unknown, what: string, url: string): GranaryError {
  const codes = codesOf(error);
  const untrusted = codes.find((c) => UNTRUSTED_CODES.has(c.code));
  if (untrusted !== undefined) {
    return new GranaryError(
      'GRN_TLS_UNTRUSTED',
      `${what}: the certificate of ${new URL(url).origin} is not trusted (${untrusted.code}: ${untrusted.message}); pass the CA that signed it with ${TLS_CA_SETTING}`,
      { cause: error },
    );
  }
  const message = (error as Error).message ?? String(error);
  // An https caller reading a plain HTTP answer: OpenSSL sees no TLS record.
  if (codes.some((c) => c.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || c.code === 'ERR_SSL_HTTP_REQUEST' || c.code === 'EPROTO')) {
    return new GranaryError('GRN_UNAVAILABLE', `${what} failed: ${message} (is ${new URL(url).origin} plain HTTP? then use http://)`, { cause: error });
  }
  return new GranaryError('GRN_UNAVAILABLE', `${what} failed: ${message}`, { cause: error });
}
