/**
 * Data directories written before manifests left the file record hold FileRecords with every
 * stripe inline. Each such record is rewritten at load into the current shape (its pieces and
 * the small record) in one batch per file: a crash midway leaves every file either old or new,
 * and the next start rewrites the old ones left.
 */
import { type MetadataDb, put } from '../db.js';
import type { FileRecord, FileWithStripes } from '../records.js';
import { pieceOperations, splitFile } from './pieces.js';

/** A file record as it may be stored: the current shape, or one with its stripes inline. */
export type StoredFileRecord = FileRecord | FileWithStripes;

export function hasInlineStripes(record: StoredFileRecord): record is FileWithStripes {
  return !('manifest' in record) && Array.isArray((record as Partial<FileWithStripes>).stripes);
}

/** Rewrites one file record of the old shape under `key`; returns the record now stored. */
export async function migrateFileRecord(db: MetadataDb, key: string, legacy: FileWithStripes): Promise<FileRecord> {
  const split = splitFile(legacy);
  await db.write([...pieceOperations(db.manifests, split), put(db.files, key, split.record)]);
  return split.record;
}
