/**
 * Manifest pieces: a committed file's per-stripe data (rows, packed stream locations, min/max
 * stats) cut into immutable runs of consecutive stripes, each small enough for one store value.
 *
 * Why: the stream locations are ~48 bytes per column per stripe, so a 500-column table of a few
 * thousand stripes per partition is gigabytes if the service holds them all. The small FileRecord
 * stays in memory; the pieces stay in the store and come back through a bounded cache
 * (cache.ts) only for the stripes a plan page covers. Pieces are cut by bytes (as many stripes
 * as fit PIECE_BYTES_TARGET, at least one), so a value stays far under etcd's 1.5 MiB request
 * limit; a piece's length and xxh64 are kept in the file record, so a piece read back is checked
 * before a byte of it reaches a plan.
 *
 * Body layout (format 1, little-endian), aligned so one copy gives typed views without another:
 *   stripes u32 | columns u32 | rows u32 x stripes (padded to 8 bytes)
 *   | streams: STREAM_ENTRY_BYTES x columns x stripes | stats: min f64, max f64 x columns x stripes
 */
import { checksumToHex, xxh64 } from '../../erasure/index.js';
import { GranaryError, STREAM_ENTRY_BYTES } from '../../protocol/index.js';
import { type Operation, type Records, del, put } from '../db.js';
import type { FileRecord, FileWithStripes, ManifestDescriptor, ManifestPieceRecord, StripeRecord } from '../records.js';

export const PIECE_FORMAT = 1;
/**
 * Body bytes a piece aims at: with msgpack's few bytes of framing a value stays under 256 KiB. A
 * stripe is never split, so a piece of one stripe wider than this is as wide as the stripe
 * (48 bytes a column: 480 KiB at the 10,000-column quota, still a third of etcd's limit).
 */
export const PIECE_BYTES_TARGET = 240 * 1024;
/** Pieces one file may have: bounds its descriptor (a commit's manifest is far below this). */
export const PIECES_PER_FILE_MAX = 100_000;
const HEADER_BYTES = 8;
const STATS_BYTES_PER_COLUMN = 16;
const WORDS_PER_ENTRY = STREAM_ENTRY_BYTES / 4;

/** A piece as the planner reads it: typed views of one aligned buffer. */
export interface DecodedPiece {
  /** Index in its file of the piece's first stripe. */
  readonly firstStripe: number;
  readonly stripes: number;
  readonly columns: number;
  readonly rows: Uint32Array;
  /** WORDS_PER_ENTRY words per column per stripe, stripe after stripe (aligned wire layout). */
  readonly words: Uint32Array;
  /** min, max per column per stripe, stripe after stripe. */
  readonly stats: Float64Array;
  /** Bytes this piece holds in memory: what the cache counts. */
  readonly bytes: number;
}

/** A file split for the store: the small record, and the pieces in order. */
export interface SplitFile {
  readonly record: FileRecord;
  readonly pieces: readonly ManifestPieceRecord[];
}

function rowsBytes(stripes: number): number {
  return Math.ceil(stripes / 2) * 8;
}

export function pieceBodyBytes(stripes: number, columns: number): number {
  return HEADER_BYTES + rowsBytes(stripes) + stripes * columns * (STREAM_ENTRY_BYTES + STATS_BYTES_PER_COLUMN);
}

/** Stripes per piece for a file of `columns`: as many as fit the target, at least one. */
export function stripesPerPiece(columns: number, targetBytes = PIECE_BYTES_TARGET): number {
  const perStripe = 4 + columns * (STREAM_ENTRY_BYTES + STATS_BYTES_PER_COLUMN);
  return Math.max(1, Math.floor((targetBytes - HEADER_BYTES - 4) / perStripe));
}

export function pieceKey(fileId: string, piece: number): string {
  return `${fileId}/${String(piece).padStart(6, '0')}`;
}

/** The piece holding stripe `stripe` of a file. */
export function pieceOf(descriptor: ManifestDescriptor, stripe: number): number {
  return Math.floor(stripe / descriptor.stripesPerPiece);
}

function encodeBody(stripes: readonly StripeRecord[], columns: number): Uint8Array {
  const body = new Uint8Array(pieceBodyBytes(stripes.length, columns));
  const view = new DataView(body.buffer);
  view.setUint32(0, stripes.length, true);
  view.setUint32(4, columns, true);
  let at = HEADER_BYTES;
  for (const stripe of stripes) {
    view.setUint32(at, stripe.rows, true);
    at += 4;
  }
  at = HEADER_BYTES + rowsBytes(stripes.length);
  for (const stripe of stripes) {
    assert(stripe.streams.length === columns * STREAM_ENTRY_BYTES, 'a stripe has one stream entry per file column');
    body.set(stripe.streams, at);
    at += stripe.streams.length;
  }
  for (const stripe of stripes) {
    assert(stripe.stats.length === columns * STATS_BYTES_PER_COLUMN, 'a stripe has min and max per file column');
    body.set(stripe.stats, at);
    at += stripe.stats.length;
  }
  assert(at === body.length, 'a piece body is filled exactly');
  return body;
}

/** Per file column: the widest [min, max] over the stripes, NaN when some stripe has none. */
function fileBounds(stripes: readonly StripeRecord[], columns: number): Uint8Array {
  const bounds = new Float64Array(2 * columns).fill(Number.NaN);
  const seen = new Uint8Array(columns);
  for (const stripe of stripes) {
    const stats = new Float64Array(copyOf(stripe.stats).buffer);
    for (let c = 0; c < columns; c++) {
      const low = stats[2 * c] as number;
      const high = stats[2 * c + 1] as number;
      if (seen[c] === 2) continue;
      if (Number.isNaN(low) || Number.isNaN(high)) {
        // No stats in one stripe: the file cannot be skipped on this column.
        seen[c] = 2;
        bounds[2 * c] = Number.NaN;
        bounds[2 * c + 1] = Number.NaN;
      } else if (seen[c] === 0) {
        seen[c] = 1;
        bounds[2 * c] = low;
        bounds[2 * c + 1] = high;
      } else {
        bounds[2 * c] = Math.min(bounds[2 * c] as number, low);
        bounds[2 * c + 1] = Math.max(bounds[2 * c + 1] as number, high);
      }
    }
  }
  return new Uint8Array(bounds.buffer);
}

/** Cuts a file's stripes into pieces and makes the small record that describes them. */
export function splitFile(file: FileWithStripes, targetBytes = PIECE_BYTES_TARGET): SplitFile {
  const { stripes, ...header } = file;
  const columns = file.columnCids.length;
  assert(stripes.length > 0, `file ${file.fileId} has stripes`);
  const perPiece = stripesPerPiece(columns, targetBytes);
  const pieces: ManifestPieceRecord[] = [];
  const pieceBytes: number[] = [];
  const pieceChecksums: string[] = [];
  for (let first = 0; first < stripes.length; first += perPiece) {
    const body = encodeBody(stripes.slice(first, first + perPiece), columns);
    pieces.push({ format: PIECE_FORMAT, body });
    pieceBytes.push(body.length);
    pieceChecksums.push(checksumToHex(xxh64(body)));
  }
  if (pieces.length > PIECES_PER_FILE_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `file ${file.fileId} would need ${pieces.length} manifest pieces; a file holds at most ${PIECES_PER_FILE_MAX}: write it through several sessions`);
  }
  return {
    record: {
      ...header,
      stripeCount: stripes.length,
      manifest: { stripesPerPiece: perPiece, pieceBytes, pieceChecksums },
      bounds: fileBounds(stripes, columns),
    },
    pieces,
  };
}

/** The puts that store a file's pieces: apart from the record's own put, so a batch can be split. */
export function pieceOperations(manifests: Records<ManifestPieceRecord>, split: SplitFile): Operation[] {
  return split.pieces.map((piece, index) => put(manifests, pieceKey(split.record.fileId, index), piece));
}

/** The deletes of a file's pieces, from `from` on. */
export function pieceDeletions(manifests: Records<ManifestPieceRecord>, fileId: string, pieces: number, from = 0): Operation[] {
  const operations: Operation[] = [];
  for (let piece = from; piece < pieces; piece++) operations.push(del(manifests, pieceKey(fileId, piece)));
  return operations;
}

function corrupt(file: FileRecord, piece: number, why: string): GranaryError {
  return new GranaryError('GRN_INTERNAL', `manifest piece ${piece} of file ${file.fileId} (table ${file.tableId}, partition ${file.partition}) is damaged in the metadata store: ${why}; no plan was made from it`, {
    details: { fileId: file.fileId, piece },
  });
}

/**
 * Checks a piece read back against its file's descriptor (length, xxh64, shape) and decodes it
 * into one aligned buffer. A piece that does not match is GRN_INTERNAL naming the file and the
 * piece: a plan is never made from bytes the commit did not write.
 */
export function decodePiece(file: FileRecord, piece: number, stored: ManifestPieceRecord | undefined): DecodedPiece {
  const { manifest } = file;
  assert(piece >= 0 && piece < manifest.pieceBytes.length, `piece ${piece} of file ${file.fileId} exists`);
  if (stored === undefined) throw corrupt(file, piece, 'it is missing');
  if (stored.format !== PIECE_FORMAT || !(stored.body instanceof Uint8Array)) throw corrupt(file, piece, `format ${String(stored.format)} is not ${PIECE_FORMAT}`);
  const { body } = stored;
  if (body.length !== manifest.pieceBytes[piece]) throw corrupt(file, piece, `${body.length} bytes, the file record says ${String(manifest.pieceBytes[piece])}`);
  const checksum = checksumToHex(xxh64(body));
  if (checksum !== manifest.pieceChecksums[piece]) throw corrupt(file, piece, `xxh64 ${checksum}, the file record says ${String(manifest.pieceChecksums[piece])}`);
  // One copy into a fresh, aligned buffer: the store's bytes may sit at any offset of a shared pool.
  const buffer = copyOf(body).buffer;
  const view = new DataView(buffer);
  const stripes = view.getUint32(0, true);
  const columns = view.getUint32(4, true);
  const firstStripe = piece * manifest.stripesPerPiece;
  const expected = Math.min(manifest.stripesPerPiece, file.stripeCount - firstStripe);
  if (stripes !== expected || columns !== file.columnCids.length || pieceBodyBytes(stripes, columns) !== body.length) {
    throw corrupt(file, piece, `it holds ${stripes} stripes of ${columns} columns, the file record says ${expected} of ${file.columnCids.length}`);
  }
  const streamsAt = HEADER_BYTES + rowsBytes(stripes);
  const statsAt = streamsAt + stripes * columns * STREAM_ENTRY_BYTES;
  return {
    firstStripe,
    stripes,
    columns,
    rows: new Uint32Array(buffer, HEADER_BYTES, stripes),
    words: new Uint32Array(buffer, streamsAt, stripes * columns * WORDS_PER_ENTRY),
    stats: new Float64Array(buffer, statsAt, stripes * columns * 2),
    bytes: buffer.byteLength,
  };
}

/** The stripes of decoded pieces back as records (migration checks, tests, tools). */
export function stripesOf(piece: DecodedPiece): StripeRecord[] {
  const entryBytes = piece.columns * STREAM_ENTRY_BYTES;
  const words = new Uint8Array(piece.words.buffer, piece.words.byteOffset, piece.words.byteLength);
  const stats = new Uint8Array(piece.stats.buffer, piece.stats.byteOffset, piece.stats.byteLength);
  return Array.from({ length: piece.stripes }, (_, s) => ({
    rows: piece.rows[s] as number,
    streams: words.slice(s * entryBytes, (s + 1) * entryBytes),
    stats: stats.slice(s * piece.columns * STATS_BYTES_PER_COLUMN, (s + 1) * piece.columns * STATS_BYTES_PER_COLUMN),
  }));
}

/** A copy in a buffer of its own (Buffer#slice would share the store's pool). */
function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** An invariant of the layout; a failure is a bug, not a bad request. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}
