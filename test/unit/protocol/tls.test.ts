/**
 * TLS settings (protocol/tls.ts) and the callers that use them: a service refuses bad certificate,
 * key and CA files at start-up with the file's name, and a caller that does not trust a
 * certificate says so with the setting to fix it. One real HTTPS socket, since the handshake is
 * the point; everything else in milliseconds.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_DEFAULTS, startMetadata } from '../../../metadata/main.js';
import { GranaryError, HttpPools } from '../../../protocol/index.js';
import { loadServerTls, loadTlsCa, transportError } from '../../../protocol/tls.js';
import { STORAGE_NODE_DEFAULTS, startStorageNode } from '../../../storage-node/main.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { type TestTls, makeTestTls } from '../../helpers/tls-certs.js';

let dir: Awaited<ReturnType<typeof makeTempDir>>;
let tls: TestTls;
/** Signed by another CA, for a host that is not this one. */
let elsewhere: TestTls;
let garbage: string;

const files = (name: string): { certFile: string; keyFile: string } => {
  const found = tls.services.get(name);
  if (found === undefined) throw new Error(`no certificate for ${name}`);
  return found;
};

/** The GranaryError a call throws; fails the test when it does not throw one. */
async function thrown(work: () => unknown): Promise<GranaryError> {
  try {
    await work();
  } catch (error) {
    if (error instanceof GranaryError) return error;
    throw error;
  }
  throw new Error('expected a GranaryError');
}

beforeAll(async () => {
  dir = await makeTempDir('tls-unit');
  tls = await makeTestTls(dir.path, ['server', 'other']);
  elsewhere = await makeTestTls(dir.path, ['server'], 'elsewhere', ['granary.invalid']);
  garbage = join(dir.path, 'garbage.pem');
  await writeFile(garbage, 'not a certificate\n');
});

afterAll(async () => {
  await dir?.remove();
});

describe('loadServerTls', () => {
  it('serves plain HTTP when neither file is given, and reads both when both are', () => {
    expect(loadServerTls(undefined, undefined)).toBeUndefined();
    const loaded = loadServerTls(files('server').certFile, files('server').keyFile);
    expect(loaded?.cert.toString('utf8')).toContain('BEGIN CERTIFICATE');
    expect(loaded?.key.toString('utf8')).toContain('PRIVATE KEY');
  });

  it('wants both files or neither, and names the one missing', async () => {
    const certOnly = await thrown(() => loadServerTls(files('server').certFile, undefined));
    expect(certOnly.code).toBe('GRN_BAD_REQUEST');
    expect(certOnly.message).toMatch(/^--tls-cert needs --tls-key/);
    const keyOnly = await thrown(() => loadServerTls(undefined, files('server').keyFile));
    expect(keyOnly.message).toMatch(/^--tls-key needs --tls-cert/);
  });

  it('names a file it cannot read, one that is not PEM, and a key of another certificate', async () => {
    const missing = join(dir.path, 'absent.pem');
    const unreadable = await thrown(() => loadServerTls(missing, files('server').keyFile));
    expect(unreadable.message).toContain(missing);
    expect(unreadable.message).toContain('ENOENT');
    const notPem = await thrown(() => loadServerTls(garbage, files('server').keyFile));
    expect(notPem.message).toContain(garbage);
    expect(notPem.message).toContain('not a PEM certificate');
    const badKey = await thrown(() => loadServerTls(files('server').certFile, garbage));
    expect(badKey.message).toContain(garbage);
    const mismatched = await thrown(() => loadServerTls(files('server').certFile, files('other').keyFile));
    expect(mismatched.message).toContain('does not belong to certificate');
    expect(mismatched.message).toContain(files('other').keyFile);
  });
});

describe('loadTlsCa', () => {
  it('reads a CA bundle, and refuses a missing or non-PEM one by name', async () => {
    expect(loadTlsCa(undefined)).toBeUndefined();
    expect(loadTlsCa(tls.caFile)?.toString('utf8')).toContain('BEGIN CERTIFICATE');
    const notPem = await thrown(() => loadTlsCa(garbage));
    expect(notPem.code).toBe('GRN_BAD_REQUEST');
    expect(notPem.message).toContain(garbage);
    const missing = await thrown(() => loadTlsCa(join(dir.path, 'nope.pem')));
    expect(missing.message).toContain('nope.pem');
  });
});

describe('transportError', () => {
  it('turns a certificate failure, however deeply wrapped, into GRN_TLS_UNTRUSTED naming the setting', () => {
    const tlsFailure = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    const wrapped = new TypeError('fetch failed', { cause: tlsFailure });
    const error = transportError(wrapped, 'GET https://10.0.0.2:7070/health', 'https://10.0.0.2:7070');
    expect(error.code).toBe('GRN_TLS_UNTRUSTED');
    expect(error.message).toContain('https://10.0.0.2:7070');
    expect(error.message).toContain('--tls-ca FILE (or GRANARY_TLS_CA)');
    expect(error.cause).toBe(wrapped);
  });

  it('leaves other failures GRN_UNAVAILABLE, and hints at http when the peer speaks no TLS', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(transportError(refused, 'GET x', 'https://10.0.0.2:7070').code).toBe('GRN_UNAVAILABLE');
    const plain = Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    const hinted = transportError(plain, 'GET x', 'https://10.0.0.2:7070');
    expect(hinted.code).toBe('GRN_UNAVAILABLE');
    expect(hinted.message).toContain('use http://');
  });
});

describe('HttpPools over a real HTTPS socket', () => {
  const servers: Server[] = [];
  let url: string;
  let wrongHostUrl: string;

  /** An HTTPS server on loopback answering every request with a JSON status. */
  async function serve(certs: TestTls): Promise<string> {
    const found = certs.services.get('server');
    const loaded = loadServerTls(found?.certFile, found?.keyFile);
    const server = createServer({ cert: loaded?.cert, key: loaded?.key }, (_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end('{"status":"ok"}');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    url = await serve(tls);
    wrongHostUrl = await serve(elsewhere);
  });

  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('verifies against the configured CA, and refuses without it with GRN_TLS_UNTRUSTED', async () => {
    const trusting = new HttpPools({ connectionsPerOrigin: 1, timeoutMs: 5_000, ca: loadTlsCa(tls.caFile) as Buffer });
    const stranger = new HttpPools({ connectionsPerOrigin: 1, timeoutMs: 5_000 });
    try {
      expect(await trusting.call(url, 'GET', '/health')).toEqual({ status: 'ok' });
      const refused = await thrown(() => stranger.call(url, 'GET', '/health'));
      expect(refused.code).toBe('GRN_TLS_UNTRUSTED');
      expect(refused.message).toContain('--tls-ca');
    } finally {
      await trusting.close();
      await stranger.close();
    }
  });

  it('refuses a certificate that names another host, even from the trusted CA', async () => {
    const pools = new HttpPools({ connectionsPerOrigin: 1, timeoutMs: 5_000, ca: loadTlsCa(elsewhere.caFile) as Buffer });
    try {
      const refused = await thrown(() => pools.call(wrongHostUrl, 'GET', '/health'));
      expect(refused.code).toBe('GRN_TLS_UNTRUSTED');
      expect(refused.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await pools.close();
    }
  });
});

describe('services refuse bad TLS settings before touching their data', () => {
  it('the metadata service, given a certificate without its key', async () => {
    const dataDir = join(dir.path, 'metadata-data');
    const error = await thrown(() => startMetadata({ ...METADATA_DEFAULTS, dataDir, port: 0, tlsCertFile: files('server').certFile }));
    expect(error.message).toContain('--tls-cert needs --tls-key');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a storage node, given an unreadable CA or an http:// advertised URL while serving HTTPS', async () => {
    const dataDir = join(dir.path, 'node-data');
    const base = { ...STORAGE_NODE_DEFAULTS, dataDir, port: 0 };
    const noCa = await thrown(() => startStorageNode({ ...base, tlsCaFile: join(dir.path, 'missing-ca.pem') }));
    expect(noCa.message).toContain('missing-ca.pem');
    const plainAdvertised = await thrown(() =>
      startStorageNode({ ...base, tlsCertFile: files('server').certFile, tlsKeyFile: files('server').keyFile, advertiseUrl: 'http://127.0.0.1:7101' }),
    );
    expect(plainAdvertised.message).toContain('must start with https://');
    expect(existsSync(dataDir)).toBe(false);
  });
});
