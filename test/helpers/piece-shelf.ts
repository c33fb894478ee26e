/**
 * Files with their stripes inline made plannable without a store: each is split into manifest
 * pieces (metadata/manifests/pieces.ts) kept here, and the planner's `piece` source decodes and
 * checks them on demand, counting loads. A small `targetBytes` cuts a file into many pieces, so
 * tests of tiny tables still cross piece boundaries.
 */
import { type DecodedPiece, decodePiece, pieceKey, splitFile } from '../../metadata/manifests/pieces.js';
import { type LoadedFile, loadFile } from '../../metadata/planner.js';
import type { FileRecord, FileWithStripes, ManifestPieceRecord } from '../../metadata/records.js';

export class PieceShelf {
  readonly stored = new Map<string, ManifestPieceRecord>();
  /** Pieces decoded so far. */
  loads = 0;

  constructor(private readonly targetBytes?: number) {}

  add(file: FileWithStripes): LoadedFile {
    const split = splitFile(file, this.targetBytes);
    split.pieces.forEach((piece, index) => this.stored.set(pieceKey(file.fileId, index), piece));
    return loadFile(split.record);
  }

  readonly piece = (file: FileRecord, index: number): DecodedPiece => {
    this.loads++;
    return decodePiece(file, index, this.stored.get(pieceKey(file.fileId, index)));
  };
}
