/** Metadata backup and restore: the file format, a consistent backup while serving, a checked restore. */
export {
  BACKUP_FORMAT,
  BACKUP_MAGIC,
  type BackupHeader,
  CAPABILITY_KEY_ENTRY,
  SERVICE_FILES_SPACE,
  type StoreKind,
} from './backup-format.js';
export { type BackupOptions, type BackupSummary, backupChunks, granaryVersion, writeBackup } from './write-backup.js';
export { BackupReader, type VerifiedBackup, verifyBackup } from './read-backup.js';
export { RESTORE_BATCH_BYTES_MAX, RESTORE_BATCH_OPS_MAX, type RestoreOptions, type RestoreSummary, restoreBackup } from './restore-backup.js';
