/**
 * Deleting the manifest pieces of dropped files in bounded batches. A table or partition drop
 * can name thousands of pieces, more than one store request should carry (etcd refuses large
 * ones), so the drop's own batch removes the file records and writes one marker per file with
 * pieces; the pieces then go in batches of at most PIECE_DELETES_PER_BATCH, each file's marker
 * with its last piece. A crash in between leaves markers that the next start finishes, so no
 * piece outlives its file for long and none is deleted while its file is still visible.
 */
import { type MetadataDb, type Operation, del, put } from '../db.js';
import type { FileRecord } from '../records.js';
import { type SplitFile, pieceDeletions, pieceOperations } from './pieces.js';

/** Store operations of one batch of piece deletions: under etcd's default of 128 per transaction. */
export const PIECE_DELETES_PER_BATCH = 100;
/** Pieces per store write: at most 1 MiB (pieces are under 256 KiB), below etcd's default request limit. */
export const PIECES_PER_WRITE = 4;

/** The markers that go into the batch that drops `files`. */
export function dropMarkers(db: MetadataDb, files: readonly FileRecord[], now: number): Operation[] {
  return files.map((file) => put(db.manifestDrops, file.fileId, { pieces: file.manifest.pieceBytes.length, droppedAt: now }));
}

/** Deletes the pieces of dropped files (their markers written already), bounded per batch. */
export async function deleteDroppedPieces(db: MetadataDb, drops: readonly { readonly fileId: string; readonly pieces: number }[]): Promise<void> {
  let batch: Operation[] = [];
  for (const { fileId, pieces } of drops) {
    for (let from = 0; from < pieces; from += PIECE_DELETES_PER_BATCH) {
      const to = Math.min(pieces, from + PIECE_DELETES_PER_BATCH);
      for (const operation of pieceDeletions(db.manifests, fileId, to, from)) {
        batch.push(operation);
        if (batch.length >= PIECE_DELETES_PER_BATCH) {
          await db.write(batch);
          batch = [];
        }
      }
    }
    batch.push(del(db.manifestDrops, fileId));
    if (batch.length >= PIECE_DELETES_PER_BATCH) {
      await db.write(batch);
      batch = [];
    }
  }
  await db.write(batch);
}

/** Finishes the drops a stop or crash interrupted; returns how many files it cleaned up. */
export async function resumeManifestDrops(db: MetadataDb): Promise<number> {
  const drops: { fileId: string; pieces: number }[] = [];
  for await (const [fileId, marker] of db.manifestDrops.entries()) drops.push({ fileId, pieces: marker.pieces });
  await deleteDroppedPieces(db, drops);
  return drops.length;
}

/**
 * Writes files' pieces ahead of the batch that makes the files visible, in bounded writes, each
 * file's marker first: until that batch (which must delete the markers) lands, the pieces are
 * unreferenced, and a crash leaves markers the next start's resumeManifestDrops cleans up.
 */
export async function writePiecesAhead(db: MetadataDb, split: readonly SplitFile[], now: number): Promise<void> {
  if (split.length === 0) return;
  await db.write(dropMarkers(db, split.map(({ record }) => record), now));
  const operations = split.flatMap((file) => pieceOperations(db.manifests, file));
  for (let at = 0; at < operations.length; at += PIECES_PER_WRITE) await db.write(operations.slice(at, at + PIECES_PER_WRITE));
}
