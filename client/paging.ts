/**
 * Following the metadata service's paged listings (protocol/page-types.ts) from the client: one
 * page per request, fetched as the caller consumes items, so listing a catalog of any size holds
 * one page at a time.
 */
import { GranaryError } from '../protocol/index.js';
import type { Paged } from '../protocol/page-types.js';

/** A page asked for: `after` the `next` of the page before (none for the first), `limit` items at most. */
export interface PageOptions {
  readonly after?: string;
  readonly limit?: number;
}

/** `?limit=…&after=…` for a page request, or '' when it asks for the default first page. */
export function pageQuery(page: PageOptions = {}, extra: Readonly<Record<string, string>> = {}): string {
  const query = new URLSearchParams(extra);
  if (page.limit !== undefined) query.set('limit', String(page.limit));
  if (page.after !== undefined) query.set('after', page.after);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * Every item of a listing, page after page until `next` is null, from the first page or after
 * `start` (a `next` kept from before). A page that does not move on (the same cursor again, or
 * none of its items with a `next`) would loop forever: it is an error.
 */
export async function* followPages<P extends Paged, T>(
  fetchPage: (after: string | undefined) => Promise<P>,
  itemsOf: (page: P) => readonly T[],
  what: string,
  start?: string,
): AsyncGenerator<T> {
  let after = start;
  for (;;) {
    const page = await fetchPage(after);
    const items = itemsOf(page);
    yield* items;
    if (page.next === null) return;
    if (page.next === after || items.length === 0) {
      throw new GranaryError('GRN_INTERNAL', `the metadata service answered a page of ${what} that does not move on (next ${JSON.stringify(page.next)}, ${items.length} items)`);
    }
    after = page.next;
  }
}

/** All items of an async listing in an array (for callers that need them together: small listings). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
