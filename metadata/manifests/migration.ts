/**
 * Data directories written before manifests left the file record hold FileRecords with every
 * stripe inline. Each such record is rewritten at load into the current shape: its pieces in
 * bounded writes behind a marker (as a commit writes them: manifests/drops.ts), then one batch
 * that replaces the record and drops the marker. A crash midway leaves the old record and a
 * marker whose pieces the next start deletes before it rewrites the record again.
 */
import { type MetadataDb, del, put } from '../db.js';
import type { FileRecord, FileWithStripes } from '../records.js';
import { writePiecesAhead } from './drops.js';
import { splitFile } from './pieces.js';

/** A file record as it may be stored: the current shape, or one with its stripes inline. */
export type StoredFileRecord = FileRecord | FileWithStripes;

export function hasInlineStripes(record: StoredFileRecord): record is FileWithStripes {
  return !('manifest' in record) && Array.isArray((record as Partial<FileWithStripes>).stripes);
}

/** Rewrites one file record of the old shape under `key`; returns the record now stored. */
export async function migrateFileRecord(db: MetadataDb, key: string, legacy: FileWithStripes): Promise<FileRecord> {
  const split = splitFile(legacy);
  await writePiecesAhead(db, [split], Date.now());
  await db.write([put(db.files, key, split.record), del(db.manifestDrops, split.record.fileId)]);
  return split.record;
}
