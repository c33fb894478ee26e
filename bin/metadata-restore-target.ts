/**
 * `granary metadata restore`'s work: a checked backup (metadata/backup/) into an empty store,
 * with the capability signing key it carries put where the service reads it.
 *
 * - LevelDB (`--data DIR`): the entries go into DIR/catalog.restoring, which is renamed to
 *   DIR/catalog only once every entry is in, so a restore killed midway leaves no half catalog for
 *   a service to start on. The key goes to DIR/capability-signing.key (mode 0600).
 * - etcd (`--etcd URLS --etcd-prefix P`): the entries go under the prefix in bounded
 *   transactions; the key goes into the store's secrets space, where every replica reads it
 *   (metadata/replica.ts). An interrupted restore says how many entries it wrote: delete the
 *   prefix and restore again.
 *
 * Why the key matters: storage nodes keep the public key they learnt at registration and refuse
 * capabilities signed with any other, and a restored catalog's nodes stay registered, so a
 * service on a restored catalog must sign with the old key.
 */
import { createPrivateKey } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CAPABILITY_KEY_ENTRY, type RestoreSummary, type VerifiedBackup, restoreBackup } from '../metadata/backup/index.js';
import { CAPABILITY_KEY_FILE } from '../metadata/main.js';
import type { KvStore } from '../metadata/store/kv-store.js';
import { LevelStore } from '../metadata/store/level-store.js';
import type { EtcdTlsFiles } from '../metadata/store/etcd-tls.js';
import { levelPath, openStore } from '../metadata/store/open-store.js';
import { GranaryError } from '../protocol/index.js';
import { writePrivateFile } from '../protocol/secret-files.js';
import { syncDirectory } from './metadata-backup-file.js';

/**
 * LevelDB has no transaction limit, and each batch is fsynced: larger batches than etcd's make a
 * restore of millions of entries minutes faster, still bounded.
 */
const LEVEL_BATCH_OPS_MAX = 1024;
const LEVEL_BATCH_BYTES_MAX = 4 * 1024 * 1024;

export type RestoreTarget =
  | { readonly kind: 'level'; readonly dataDir: string }
  | ({ readonly kind: 'etcd'; readonly endpoints: readonly string[]; readonly prefix: string } & EtcdTlsFiles);

export interface RestoreOutcome extends RestoreSummary {
  /** Where the catalog now is. */
  readonly storeName: string;
  /** Where the capability signing key went; undefined when the backup carried none. */
  readonly keyWrittenTo: string | undefined;
}

export async function restoreInto(file: string, target: RestoreTarget): Promise<RestoreOutcome> {
  if (!existsSync(file)) throw new GranaryError('GRN_BAD_REQUEST', `backup file ${file} does not exist`);
  return target.kind === 'level' ? restoreIntoLevel(file, target.dataDir) : restoreIntoEtcd(file, target);
}

async function restoreIntoLevel(file: string, dataDir: string): Promise<RestoreOutcome> {
  const catalog = levelPath(dataDir);
  const staging = `${catalog}.restoring`;
  const keyFile = join(dataDir, CAPABILITY_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  // An existing catalog must be empty, and no service may hold it (LevelStore.open says so).
  const existing = existsSync(catalog);
  if (existing) await refuseNonEmptyLevel(catalog);
  await rm(staging, { recursive: true, force: true });
  const store = await LevelStore.open(staging);
  let summary: RestoreSummary;
  let key: string | undefined;
  try {
    summary = await restoreBackup(() => createReadStream(file), store, {
      storeName: catalog,
      fileName: file,
      batchOpsMax: LEVEL_BATCH_OPS_MAX,
      batchBytesMax: LEVEL_BATCH_BYTES_MAX,
      beforeWrite: async (verified) => {
        key = signingKeyOf(verified, file);
        if (key !== undefined) await refuseOtherKeyFile(keyFile, key);
      },
    });
  } catch (error) {
    await store.close();
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  await store.close();
  if (key !== undefined && !existsSync(keyFile)) await writePrivateFile(keyFile, key);
  if (existing) {
    // Checked again: a service may have started on it while the entries were written.
    await refuseNonEmptyLevel(catalog);
    await rm(catalog, { recursive: true, force: true });
  }
  await rename(staging, catalog);
  await syncDirectory(dataDir);
  return { ...summary, storeName: catalog, keyWrittenTo: key === undefined ? undefined : keyFile };
}

async function restoreIntoEtcd(file: string, target: Extract<RestoreTarget, { kind: 'etcd' }>): Promise<RestoreOutcome> {
  const { SECRETS_SPACE, CAPABILITY_KEY } = await import('../metadata/replica.js');
  const storeName = `etcd prefix ${target.prefix} at ${target.endpoints.join(',')}`;
  // Unfenced: the restore owns the prefix alone (it is empty, so no replica leads it). Its TLS
  // files are read here, before the backup is.
  const store: KvStore = await openStore({ ...target, fenced: false });
  try {
    let key: string | undefined;
    const summary = await restoreBackup(() => createReadStream(file), store, {
      storeName,
      fileName: file,
      beforeWrite: (verified) => {
        key = signingKeyOf(verified, file);
      },
    });
    // A backup of an etcd catalog holds the secrets space already; one of a LevelDB catalog
    // carries the key only as a service file.
    if (key !== undefined && (await store.get(SECRETS_SPACE, CAPABILITY_KEY)) === undefined) {
      await store.write([{ type: 'put', space: SECRETS_SPACE, key: CAPABILITY_KEY, value: Buffer.from(key, 'utf8') }]);
    }
    return { ...summary, storeName, keyWrittenTo: key === undefined ? undefined : `${storeName}, space ${SECRETS_SPACE}` };
  } finally {
    await store.close();
  }
}

async function refuseNonEmptyLevel(catalog: string): Promise<void> {
  const store = await LevelStore.open(catalog);
  try {
    if (!(await store.isEmpty())) {
      throw new GranaryError(
        'GRN_STORE_NOT_EMPTY',
        `${catalog} already holds a catalog; a backup is restored only into an empty store (a new --data directory, or remove its catalog directory); nothing was written`,
      );
    }
  } finally {
    await store.close();
  }
}

/** The capability signing key the backup carries (PEM), checked to be one. */
function signingKeyOf(verified: VerifiedBackup, file: string): string | undefined {
  const bytes = verified.serviceFiles.get(CAPABILITY_KEY_ENTRY);
  if (bytes === undefined) return undefined;
  const pem = Buffer.from(bytes).toString('utf8');
  try {
    if (createPrivateKey(pem).asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  } catch (error) {
    throw new GranaryError('GRN_BACKUP_INVALID', `${file} carries a capability signing key that is not an Ed25519 private key: ${(error as Error).message}`, { cause: error });
  }
  return pem;
}

/** A key file already in the data directory must be the backup's, or the service would sign with another. */
async function refuseOtherKeyFile(keyFile: string, pem: string): Promise<void> {
  const existing = await readFile(keyFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined && existing.trim() !== pem.trim()) {
    throw new GranaryError(
      'GRN_STORE_NOT_EMPTY',
      `${keyFile} holds another capability signing key than the backup's, and storage nodes of the restored catalog accept only the backup's: move ${keyFile} away and restore again; nothing was written`,
    );
  }
}
