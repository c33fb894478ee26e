/**
 * etcd over TLS with client certificates (`--client-cert-auth`), as `granary up --ha --tls` runs it
 * and an operator should: the store contract passes over it, a client that does not trust etcd's
 * certificate or shows none of etcd's CA is refused with an error naming the flag that fixes it,
 * bad files and endpoints that do not fit are refused before anything is sent, and a real
 * `granary metadata --store etcd --etcd https://… --etcd-ca … --etcd-cert … --etcd-key …` replica
 * leads on it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupChunks } from '../../metadata/backup/index.js';
import { EtcdStore } from '../../metadata/store/etcd-store.js';
import { type EtcdTls, type EtcdTlsFiles, loadEtcdTls } from '../../metadata/store/etcd-tls.js';
import { LevelStore } from '../../metadata/store/level-store.js';
import { openStore } from '../../metadata/store/open-store.js';
import { GranaryError } from '../../protocol/index.js';
import { startMetadataProcess } from '../helpers/cluster.js';
import { type TestEtcd, etcdContractSubject, startTestEtcd } from '../helpers/etcd.js';
import { GRANARY_BIN, type GranaryProcess } from '../helpers/granary-process.js';
import { replicaHealth } from '../helpers/ha-cluster.js';
import { describeKvStoreContract } from '../helpers/kv-store-contract.js';
import { pollUntil } from '../helpers/poll.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { type TestTls, makeTestTls } from '../helpers/tls-certs.js';

let dir: { path: string; remove: () => Promise<void> };
let tls: TestTls;
/** A CA etcd does not know, with a certificate of its own. */
let stranger: TestTls;
let etcd: TestEtcd;
/** What the replicas are given: etcd's CA, and their client certificate. */
let clientFiles: EtcdTlsFiles;

function files(tlsOf: TestTls, name: string): { certFile: string; keyFile: string } {
  const found = tlsOf.services.get(name);
  if (found === undefined) throw new Error(`no certificate for ${name}`);
  return found;
}

beforeAll(async () => {
  dir = await makeTempDir('etcd-tls');
  [tls, stranger] = await Promise.all([makeTestTls(dir.path, ['etcd', 'metadata']), makeTestTls(dir.path, ['metadata'], 'stranger')]);
  const server = files(tls, 'etcd');
  etcd = await startTestEtcd(1, { tls: { caFile: tls.caFile, certFile: server.certFile, keyFile: server.keyFile, clientCertAuth: true } });
  const client = files(tls, 'metadata');
  clientFiles = { tlsCaFile: tls.caFile, tlsCertFile: client.certFile, tlsKeyFile: client.keyFile };
});
afterAll(async () => {
  await etcd?.cleanup();
  await dir?.remove();
});

const run = promisify(execFile);
const prefix = (): string => `tls-${randomBytes(4).toString('hex')}`;

describeKvStoreContract(
  'EtcdStore over TLS with a client certificate',
  etcdContractSubject((shared) => new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix: shared, fenced: false, tls: loadEtcdTls(clientFiles) })),
);

/** The error a first read through `tls` ends with; fails the test if the read succeeds. */
async function refusal(tlsOf: EtcdTls | undefined): Promise<GranaryError> {
  const store = new EtcdStore({ endpoints: etcd.etcd.clientUrls, prefix: prefix(), fenced: false, ...(tlsOf === undefined ? {} : { tls: tlsOf }) });
  try {
    await store.get('tables', 'x');
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    return error as GranaryError;
  } finally {
    await store.close();
  }
  throw new Error('etcd answered a client it should have refused');
}

describe('etcd with TLS and --client-cert-auth', () => {
  it('serves https client URLs only', () => {
    expect(etcd.etcd.clientUrls).toHaveLength(1);
    for (const url of etcd.etcd.clientUrls) expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(etcd.etcd.endpoints.startsWith('https://')).toBe(true);
  });

  it('refuses a client that does not trust its certificate, naming --etcd-ca', async () => {
    const client = files(tls, 'metadata');
    // No CA: Node's bundled roots, which do not include the test CA; then the wrong CA.
    for (const ca of [undefined, stranger.caFile]) {
      const error = await refusal(loadEtcdTls({ ...(ca === undefined ? {} : { tlsCaFile: ca }), tlsCertFile: client.certFile, tlsKeyFile: client.keyFile }));
      expect(error.code).toBe('GRN_STORE_UNAVAILABLE');
      expect(error.message).toMatch(/is not trusted: its certificate does not verify/);
      expect(error.message).toContain('--etcd-ca');
    }
    // https:// URLs with no TLS settings at all: the same.
    const bare = await refusal(undefined);
    expect(bare.message).toContain('--etcd-ca');
  });

  it('refuses a client without a certificate, or with one of another CA, naming --etcd-cert and --etcd-key', async () => {
    const foreign = files(stranger, 'metadata');
    for (const tlsOf of [loadEtcdTls({ tlsCaFile: tls.caFile }), loadEtcdTls({ tlsCaFile: tls.caFile, tlsCertFile: foreign.certFile, tlsKeyFile: foreign.keyFile })]) {
      const error = await refusal(tlsOf);
      expect(error.code).toBe('GRN_STORE_UNAVAILABLE');
      expect(error.message).toMatch(/refused this client's certificate, or its lack of one \(TLS alert [a-z ]+\)/);
      expect(error.message).toContain('--etcd-cert');
      expect(error.message).toContain('--etcd-key');
    }
  });

  it('opens through openStore (the restore command\'s path) with the three files', async () => {
    const store = await openStore({ kind: 'etcd', endpoints: etcd.etcd.clientUrls, prefix: prefix(), ...clientFiles });
    try {
      await store.write([{ type: 'put', space: 'tables', key: 'a', value: Buffer.from('1') }]);
      expect(Buffer.from((await store.get('tables', 'a')) ?? []).toString()).toBe('1');
    } finally {
      await store.close();
    }
  });

  it('refuses bad files and endpoints that do not fit the TLS before sending anything', async () => {
    const garbage = join(dir.path, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    const client = files(tls, 'metadata');
    const cases: [EtcdTlsFiles, RegExp][] = [
      [{ tlsCaFile: join(dir.path, 'missing.pem') }, /cannot read TLS CA bundle \(--etcd-ca\) .*missing\.pem: ENOENT/],
      [{ tlsCaFile: garbage }, /TLS CA bundle .*garbage\.pem holds no PEM certificate/],
      [{ tlsCaFile: tls.caFile, tlsCertFile: client.certFile }, /--etcd-cert needs --etcd-key as well/],
      [{ tlsCaFile: tls.caFile, tlsKeyFile: client.keyFile }, /--etcd-key needs --etcd-cert as well/],
      [{ tlsCaFile: tls.caFile, tlsCertFile: garbage, tlsKeyFile: client.keyFile }, /garbage\.pem is not a PEM certificate/],
      [{ tlsCaFile: tls.caFile, tlsCertFile: client.certFile, tlsKeyFile: files(stranger, 'metadata').keyFile }, /does not belong to certificate/],
    ];
    for (const [given, message] of cases) {
      expect(() => loadEtcdTls(given), JSON.stringify(given)).toThrow(message);
    }
    const tlsOf = loadEtcdTls(clientFiles);
    const plain = etcd.etcd.clientUrls.map((url) => url.replace('https://', 'http://'));
    expect(() => new EtcdStore({ endpoints: plain, prefix: prefix(), fenced: false, tls: tlsOf })).toThrow(
      /--etcd-ca and --etcd-cert\/--etcd-key set TLS for etcd, but --etcd names http:\/\/ URLs/,
    );
    expect(() => new EtcdStore({ endpoints: [...etcd.etcd.clientUrls, ...plain], prefix: prefix(), fenced: false, tls: tlsOf })).toThrow(
      /--etcd mixes https:\/\/ and http:\/\/ URLs/,
    );
  });

  it('a granary metadata replica given --etcd-ca, --etcd-cert and --etcd-key leads, and one with a bad file does not start', async () => {
    const client = files(tls, 'metadata');
    const tlsArgs = ['--etcd-ca', tls.caFile, '--etcd-cert', client.certFile, '--etcd-key', client.keyFile];
    const base = ['--store', 'etcd', '--etcd', etcd.etcd.endpoints, '--etcd-prefix', prefix(), '--leader-ttl', '3'];
    const missing = join(dir.path, 'no-such-key.pem');
    await expect(startMetadataProcess(join(dir.path, 'replica-bad'), [...base, ...tlsArgs.slice(0, 4), '--etcd-key', missing])).rejects.toThrow(
      /cannot read TLS key \(--etcd-key\) .*no-such-key\.pem: ENOENT/,
    );
    let replica: GranaryProcess | undefined;
    try {
      replica = await startMetadataProcess(join(dir.path, 'replica'), [...base, ...tlsArgs]);
      const url = replica.url;
      const health = await pollUntil('the replica to lead over TLS', async () => {
        const answer = await replicaHealth(url);
        return answer?.role === 'leader' ? answer : undefined;
      }, 30_000, 100);
      expect(health.leader).toBe(url);
    } finally {
      await replica?.kill('SIGKILL');
    }
  });

  it('granary metadata restore puts a backup into etcd over TLS with the three flags, and says what is missing without them', async () => {
    // A small backup of a LevelDB catalog: two entries.
    const level = await LevelStore.open(join(dir.path, 'level-catalog'));
    const file = join(dir.path, 'catalog.backup');
    try {
      await level.write([
        { type: 'put', space: 'tables', key: 't1', value: Buffer.from('one') },
        { type: 'put', space: 'tables', key: 't2', value: Buffer.from('two') },
      ]);
      const chunks: Buffer[] = [];
      for await (const chunk of backupChunks(level)) chunks.push(chunk);
      await writeFile(file, Buffer.concat(chunks), { mode: 0o600 });
    } finally {
      await level.close();
    }
    const client = files(tls, 'metadata');
    const target = prefix();
    const restoreArgs = [GRANARY_BIN, 'metadata', 'restore', file, '--store', 'etcd', '--etcd', etcd.etcd.endpoints, '--etcd-prefix', target, '--etcd-ca', tls.caFile];
    // Without a client certificate etcd refuses the restore, and the message says which flags to add.
    const refused = await run(process.execPath, restoreArgs).then(
      () => undefined,
      (error: { stderr?: string }) => error.stderr ?? '',
    );
    expect(refused).toMatch(/refused this client's certificate.*--etcd-cert and --etcd-key/);
    const { stdout } = await run(process.execPath, [...restoreArgs, '--etcd-cert', client.certFile, '--etcd-key', client.keyFile]);
    expect(stdout).toMatch(/restored 2 catalog entries/);
    expect(stdout).toContain(`--etcd-ca ${tls.caFile} --etcd-cert ${client.certFile} --etcd-key ${client.keyFile}`);
    const store = await openStore({ kind: 'etcd', endpoints: etcd.etcd.clientUrls, prefix: target, ...clientFiles });
    try {
      expect(Buffer.from((await store.get('tables', 't2')) ?? []).toString()).toBe('two');
    } finally {
      await store.close();
    }
  });
});
