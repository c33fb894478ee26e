/**
 * How every listing of the metadata service pages (issue 12: O(page) APIs): `?limit=N&after=C`
 * answers `{ <items>: [...], next }`, items in a stable order, `next` the sort key of the page's
 * last item when more may follow (null on the last page). A cursor is a sort key, not a position,
 * so an item added or removed between two pages moves nothing: each item still there is listed
 * exactly once. Clients treat cursors as opaque; the service checks their shape, so a cursor
 * from another listing (or a typo) is a 400 that says where cursors come from.
 */
import { GranaryError } from '../protocol/index.js';
import { PAGE_LIMIT_MAX } from '../protocol/page-types.js';

export { PAGE_LIMIT_MAX };

/** One kind of cursor: what a listing's sort key looks like, for the check and the message. */
export interface CursorShape {
  /** The listing, as the message names it: `GET /v1/tables`. */
  readonly route: string;
  /** What the cursor is, in words: `a table name`. */
  readonly what: string;
  readonly pattern: RegExp;
  readonly charsMax: number;
}

/** A page asked for, checked. */
export interface PageRequest {
  readonly after: string | undefined;
  readonly limit: number;
}

export interface PageQuery {
  readonly after?: string;
  readonly limit?: number;
}

/**
 * The querystring of a paged route: types only, so the range and the cursor's shape are checked
 * by `pageRequest`, whose messages say what to send instead. `extra` adds a route's own fields.
 */
export function pageQuerySchema(extra: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    properties: { after: { type: 'string' }, limit: { type: 'integer' }, ...extra },
  };
}

/**
 * Checks a page's `limit` (1..`limitMax`, `limitDefault` when absent) and `after` against the
 * listing's cursor shape; throws GRN_BAD_REQUEST naming the fix.
 */
export function pageRequest(query: PageQuery, shape: CursorShape, limitDefault: number, limitMin = 1, limitMax = PAGE_LIMIT_MAX): PageRequest {
  const limit = query.limit ?? limitDefault;
  if (!Number.isInteger(limit) || limit < limitMin || limit > limitMax) {
    throw new GranaryError('GRN_BAD_REQUEST', `limit of ${shape.route} must be a whole number ${limitMin}..${limitMax} (items per page); got ${String(query.limit)}`);
  }
  const after = query.after;
  if (after !== undefined && (after.length === 0 || after.length > shape.charsMax || !shape.pattern.test(after))) {
    throw new GranaryError(
      'GRN_BAD_REQUEST',
      `after of ${shape.route} must be ${shape.what}: the \`next\` of the page before, or left out for the first page; ` +
        `got ${JSON.stringify(after.length > 80 ? `${after.slice(0, 80)}…` : after)}`,
    );
  }
  return { after, limit };
}

/**
 * A page from up to `limit + 1` sort keys read after the cursor: the extra one only tells that
 * more follow, so the last page says `next: null` without a second look.
 */
export function cutPage(keys: readonly string[], limit: number): { keys: string[]; next: string | null } {
  if (keys.length <= limit) return { keys: [...keys], next: null };
  const page = keys.slice(0, limit);
  return { keys: page, next: page[page.length - 1] ?? null };
}

/** The sort keys of each listing. Lengths are those the records themselves are held to. */
export const CURSORS = {
  tables: { route: 'GET /v1/tables', what: 'a table name', pattern: /^[a-z_][a-z0-9_]*$/, charsMax: 128 },
  partitions: {
    route: 'GET /v1/tables/:name/partitions',
    what: 'a partition spec (key=value[/key=value])',
    pattern: /^[a-z_][a-z0-9_]*=[A-Za-z0-9._:+-]+(\/[a-z_][a-z0-9_]*=[A-Za-z0-9._:+-]+)*$/,
    charsMax: 8_192,
  },
  files: { route: 'GET /v1/tables/:name/partitions/:partition/files', what: 'a file sequence number', pattern: /^(0|[1-9][0-9]*)$/, charsMax: 15 },
  nodes: { route: 'GET /v1/nodes', what: 'a node id', pattern: /^[a-z0-9][a-z0-9._-]*$/, charsMax: 64 },
  gc: { route: 'GET /v1/gc', what: 'a GC record key (a block id, or copy:CHUNK@NODE)', pattern: /^[A-Za-z0-9._:@-]+$/, charsMax: 200 },
  blocks: { route: 'GET /v1/blocks', what: 'a block id', pattern: /^[A-Za-z0-9._-]+$/, charsMax: 64 },
  // Repair lists by endangerment: moving last, fewest node failures to spare, oldest, block id (repair.ts).
  repair: {
    route: 'GET /v1/repair',
    what: 'a repair queue position (MOVING.SPARE.CREATED.BLOCK)',
    pattern: /^[01]\.(-1|[0-9]{1,3})\.[0-9]{1,16}\.[A-Za-z0-9_-]+$/,
    charsMax: 96,
  },
} as const satisfies Record<string, CursorShape>;
