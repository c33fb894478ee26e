/** Cutting a scan's selected stripes into splits (client/reader/splits.ts), as `splits` and the gateway's workers get them. */
import { describe, expect, it } from 'vitest';
import type { ScanSplit } from '../../../client/index.js';
import { type SelectedStripe, cutSplits } from '../../../client/reader/splits.js';

/** Stripes 0.. of each partition `ds=<name>`, in plan order. */
function stripesOf(partitions: Record<string, number>): SelectedStripe[] {
  return Object.entries(partitions).flatMap(([ds, stripes]) => Array.from({ length: stripes }, (_, i) => ({ partition: `ds=${ds}`, stripe: i })));
}

function oneStripeSplits(partitions: Record<string, number>): ScanSplit[] {
  return Object.entries(partitions).flatMap(([ds, stripes]) =>
    Array.from({ length: stripes }, (_, i) => ({ partitions: { ds: { eq: ds } }, stripes: { from: i, to: i + 1 } })),
  );
}

/** Every (partition, stripe) a set of splits covers, in order. */
function covered(splits: readonly ScanSplit[]): string[] {
  return splits.flatMap((split) => {
    const ds = (split.partitions.ds as { eq: string }).eq;
    return Array.from({ length: split.stripes.to - split.stripes.from }, (_, i) => `${ds}#${split.stripes.from + i}`);
  });
}

describe('cutSplits', () => {
  it('cuts consecutive stripes of one partition, never across partitions, covering each stripe once', () => {
    const single = oneStripeSplits({ a: 10, b: 3, c: 1 });
    const merged = cutSplits(stripesOf({ a: 10, b: 3, c: 1 }), 4);
    expect(merged.map((s) => [(s.partitions.ds as { eq: string }).eq, s.stripes.from, s.stripes.to])).toEqual([
      ['a', 0, 4],
      ['a', 4, 8],
      ['a', 8, 10],
      ['b', 0, 3],
      ['c', 0, 1],
    ]);
    expect(covered(merged)).toEqual(covered(single));
  });

  it('gives one-stripe splits for one stripe per split, and none for no stripes', () => {
    const single = oneStripeSplits({ a: 3 });
    expect(cutSplits(stripesOf({ a: 3 }), 1)).toEqual(single);
    expect(cutSplits([], 5)).toEqual([]);
  });

  it('covers every stripe exactly once for any run length', () => {
    const single = oneStripeSplits({ a: 17, b: 5, c: 9 });
    for (let perSplit = 1; perSplit <= 40; perSplit++) expect(covered(cutSplits(stripesOf({ a: 17, b: 5, c: 9 }), perSplit)), String(perSplit)).toEqual(covered(single));
  });
});
