/**
 * The continuation cursor of a paged scan plan: where the next page starts, as a position in the
 * plan's stable order (partition spec, file id, stripe within the file, and the stripe's number in
 * its partition), bound to the table, its schema version and the scan request it continues.
 *
 * Pages are planned against the live catalog, so the table can change between two pages. Appends
 * do not disturb a cursor (new files come after it in commit order); anything that would make the
 * continued scan differ from a fresh one (the cursor's file or partition gone, stripes renumbered by
 * a removed file, a schema change, another request body) is refused with a 400 naming what
 * changed, and the reader starts again. The checksum catches a cursor cut or edited on the way; a
 * forged one that passes it still only names a position of the same table and request, which the
 * request could have asked for itself.
 */
import { checksumToHex, xxh64 } from '../erasure/index.js';
import { GranaryError, SCAN_CURSOR_CHARS_MAX, type ScanRequest } from '../protocol/index.js';

const CURSOR_VERSION = 1;

/** Where the next page starts. */
export interface ScanPosition {
  readonly partition: string;
  readonly fileId: string;
  /** Index of the stripe within its file. */
  readonly stripeInFile: number;
  /** Number of the stripe within its partition (commit order), checked against the files on resume. */
  readonly stripe: number;
}

export interface ScanCursor extends ScanPosition {
  readonly tableId: string;
  readonly schemaVersion: number;
  /** Fingerprint of the scan request (see requestFingerprint). */
  readonly request: string;
}

/** Fields as they travel: short keys, since a reader sends one with every page. */
interface WireCursor {
  readonly v: number;
  readonly t: string;
  readonly sv: number;
  readonly q: string;
  readonly p: string;
  readonly f: string;
  readonly i: number;
  readonly n: number;
}

export function encodeScanCursor(cursor: ScanCursor): string {
  const wire: WireCursor = {
    v: CURSOR_VERSION,
    t: cursor.tableId,
    sv: cursor.schemaVersion,
    q: cursor.request,
    p: cursor.partition,
    f: cursor.fileId,
    i: cursor.stripeInFile,
    n: cursor.stripe,
  };
  const body = Buffer.from(JSON.stringify(wire), 'utf8');
  const encoded = `${body.toString('base64url')}.${checksumToHex(xxh64(body))}`;
  if (encoded.length > SCAN_CURSOR_CHARS_MAX) {
    // Partition specs and file ids are bounded far below this; a cursor we could not read back is a bug.
    throw new GranaryError('GRN_INTERNAL', `scan cursor of ${encoded.length} characters exceeds ${SCAN_CURSOR_CHARS_MAX}`);
  }
  return encoded;
}

const CURSOR_SHAPE = /^[A-Za-z0-9_-]+\.[0-9a-f]{16}$/;

function malformed(why: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', `scan cursor \`after\` is not one this service issued (${why}); send the \`next\` of the previous page unchanged, or start the scan again without \`after\``, {
    details: { cursor: 'malformed' },
  });
}

export function decodeScanCursor(text: string): ScanCursor {
  if (text.length > SCAN_CURSOR_CHARS_MAX) throw malformed(`longer than ${SCAN_CURSOR_CHARS_MAX} characters`);
  if (!CURSOR_SHAPE.test(text)) throw malformed('not <base64url>.<checksum>');
  const dot = text.indexOf('.');
  const body = Buffer.from(text.slice(0, dot), 'base64url');
  if (checksumToHex(xxh64(body)) !== text.slice(dot + 1)) throw malformed('checksum does not match: cut or edited');
  let wire: unknown;
  try {
    wire = JSON.parse(body.toString('utf8'));
  } catch {
    throw malformed('body is not JSON');
  }
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) throw malformed('body is not an object');
  const w = wire as Partial<Record<keyof WireCursor, unknown>>;
  if (w.v !== CURSOR_VERSION) throw malformed(`version ${String(w.v)}, this service reads ${CURSOR_VERSION}`);
  const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
  const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (!isText(w.t) || !isText(w.q) || !isText(w.p) || !isText(w.f) || !isCount(w.sv) || !isCount(w.i) || !isCount(w.n) || w.i > w.n) {
    throw malformed('fields missing or out of range');
  }
  return { tableId: w.t, schemaVersion: w.sv, request: w.q, partition: w.p, fileId: w.f, stripeInFile: w.i, stripe: w.n };
}

/** JSON with object keys sorted, so two encodings of one request body fingerprint alike. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Identifies a scan request: every page of one scan must carry the same body. */
export function requestFingerprint(request: ScanRequest): string {
  return checksumToHex(xxh64(Buffer.from(canonicalJson(request), 'utf8')));
}

/** A cursor that does not belong to this scan (another table, or another request body). */
export function foreignCursor(why: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', `scan cursor \`after\` belongs to ${why}; send every page's request with the same table and body as the first, or start the scan again without \`after\``, {
    details: { cursor: 'foreign' },
  });
}

/** A cursor of this scan that the catalog has since moved away from. */
export function staleCursor(why: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', `scan cursor \`after\` is stale: ${why} since the scan began; start the scan again without \`after\``, {
    details: { cursor: 'stale' },
  });
}
