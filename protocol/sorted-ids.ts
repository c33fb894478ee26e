/** Binary searches over ids sorted by code unit (chunk listings, the scrub tour, block listings). */

/** The first index whose id is >= `id`. */
export function lowerBound(sortedIds: readonly string[], id: string): number {
  let low = 0;
  let high = sortedIds.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sortedIds[mid] as string) < id) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The first index whose id is > `id`. */
export function upperBound(sortedIds: readonly string[], id: string): number {
  let low = 0;
  let high = sortedIds.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sortedIds[mid] as string) <= id) low = mid + 1;
    else high = mid;
  }
  return low;
}
