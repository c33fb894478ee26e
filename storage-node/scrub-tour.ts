/**
 * The order of a scrub pass: chunk ids sorted, starting at an origin and wrapping around. A random
 * origin per pass means a pass that is cut short again and again (a node restarted more often
 * than a pass lasts, with its cursor lost) still spreads its checks over the whole disk instead of
 * re-checking the first chunks forever; the sorted order makes "after the cursor" well defined
 * across restarts and across chunks added or deleted meanwhile.
 */
import { lowerBound, upperBound } from '../protocol/sorted-ids.js';

/** A random chunk id to start a pass at; '' (before every id) when there are none. */
export function pickOrigin(sortedIds: readonly string[], random: () => number): string {
  if (sortedIds.length === 0) return '';
  const index = Math.min(sortedIds.length - 1, Math.floor(random() * sortedIds.length));
  return sortedIds[index] as string;
}

/**
 * The ids a pass from `origin` has still to visit after `cursor` (the last one it verified; null
 * before the first): ids >= origin in order, then ids < origin. Ids added since the pass began are
 * visited when they fall after the cursor; deleted ones are simply absent.
 */
export function remainingInTour(sortedIds: readonly string[], origin: string, cursor: string | null): string[] {
  const from = lowerBound(sortedIds, origin);
  const head = sortedIds.slice(from);
  const tail = sortedIds.slice(0, from);
  if (cursor === null) return [...head, ...tail];
  if (cursor >= origin) return [...head.slice(upperBound(head, cursor)), ...tail];
  // The cursor has wrapped: only the ids between it and the origin are left.
  return tail.slice(upperBound(tail, cursor));
}

/** Sorts ids by code unit, the order the tour (and its persisted cursor) is defined in. */
export function sortIds(ids: string[]): string[] {
  return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
