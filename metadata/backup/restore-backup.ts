/**
 * Restoring a backup (backup-format.ts) into an empty store, all or nothing as far as the file is
 * concerned: a first pass reads the whole file and checks it (magic, format, every frame, entry
 * count and checksum), and only then does a second pass write the entries, in batches small
 * enough for any store (etcd refuses a transaction of more than 128 operations or 1.5 MiB by
 * default). A truncated, corrupt or foreign file is refused with nothing written. What can still
 * stop a restore halfway is the store itself failing, or the file changing between the passes;
 * then the error says the store holds part of the backup and must be emptied before a new try.
 */
import { GranaryError } from '../../protocol/index.js';
import type { KvOperation, KvStore } from '../store/kv-store.js';
import { isReservedSpace } from './backup-format.js';
import { BackupReader, type VerifiedBackup, verifyBackup } from './read-backup.js';

/** Operations per store batch: half of etcd's default transaction limit. */
export const RESTORE_BATCH_OPS_MAX = 64;
/** Key and value bytes per store batch (an entry larger than this goes alone): under etcd's 1.5 MiB request limit. */
export const RESTORE_BATCH_BYTES_MAX = 1024 * 1024;

export interface RestoreOptions {
  /** How errors name the target store ("/srv/granary/catalog", "etcd prefix /granary/"). */
  readonly storeName?: string;
  /** How errors name the file. */
  readonly fileName?: string;
  /**
   * Called after the file checked out and before the first write, with what it holds: a caller
   * refuses here (by throwing) with nothing written, e.g. when a service file it would write
   * conflicts with one already in place.
   */
  readonly beforeWrite?: (verified: VerifiedBackup) => Promise<void> | void;
  readonly batchOpsMax?: number;
  readonly batchBytesMax?: number;
}

export interface RestoreSummary extends VerifiedBackup {
  /** Store batches written. */
  readonly batches: number;
}

/**
 * Restores the backup `open()` reads into `store`, which must be empty. `open` is called twice (a
 * checking pass, then a writing pass) and must give the same bytes both times: a file, not a
 * live download. Service files are returned, never written to the store.
 */
export async function restoreBackup(open: () => AsyncIterable<Uint8Array>, store: KvStore, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const storeName = options.storeName ?? `the ${store.kind} store`;
  const opsMax = options.batchOpsMax ?? RESTORE_BATCH_OPS_MAX;
  const bytesMax = options.batchBytesMax ?? RESTORE_BATCH_BYTES_MAX;
  await refuseNonEmpty(store, storeName);
  const verified = await verifyBackup(open(), options.fileName);
  await options.beforeWrite?.(verified);
  // Checked again: the checking pass may have taken long enough for a service to start on it.
  await refuseNonEmpty(store, storeName);

  const reader = new BackupReader(open(), options.fileName);
  let written = 0;
  let batches = 0;
  let batch: KvOperation[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await store.write(batch);
    written += batch.length;
    batches++;
    batch = [];
    batchBytes = 0;
  };
  try {
    for await (const entry of reader.entries()) {
      if (isReservedSpace(entry.space)) continue;
      const bytes = Buffer.byteLength(entry.space) + Buffer.byteLength(entry.key) + entry.value.length;
      if (batch.length > 0 && (batch.length >= opsMax || batchBytes + bytes > bytesMax)) await flush();
      batch.push({ type: 'put', space: entry.space, key: entry.key, value: entry.value });
      batchBytes += bytes;
    }
    // The last batch waits for the trailer: a file changed since the check writes one batch less.
    if (reader.verified?.checksum !== verified.checksum || reader.verified.storeEntries !== verified.storeEntries) {
      throw new GranaryError('GRN_BACKUP_INVALID', 'the file changed between the checking pass and the writing pass');
    }
    await flush();
  } catch (error) {
    if (written === 0) throw error;
    throw new GranaryError(
      error instanceof GranaryError ? error.code : 'GRN_INTERNAL',
      `the restore stopped after writing ${written} of ${verified.storeEntries} entries (${(error as Error).message}); ${storeName} now holds part of the backup: empty it (${emptyHow(store)}) and restore again`,
      { cause: error },
    );
  }
  if (written !== verified.storeEntries) {
    throw new GranaryError('GRN_INTERNAL', `the restore wrote ${written} entries, the backup holds ${verified.storeEntries}`);
  }
  return { ...verified, batches };
}

async function refuseNonEmpty(store: KvStore, storeName: string): Promise<void> {
  if (!(await store.isEmpty())) {
    throw new GranaryError(
      'GRN_STORE_NOT_EMPTY',
      `${storeName} already holds a catalog; a backup is restored only into an empty store (${emptyHow(store)}); nothing was written`,
    );
  }
}

function emptyHow(store: KvStore): string {
  return store.kind === 'level' ? 'a new --data directory, or remove its catalog directory' : 'a new --etcd-prefix, or delete every key under it';
}
