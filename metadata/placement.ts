/**
 * Where the k+m chunks of a block go: k+m distinct nodes, spread as evenly as possible over
 * failure domains (so losing a rack loses few shards of any block), chosen at random weighted by
 * free space (so emptier disks fill faster and the cluster converges to even use). Pure; the
 * random source is injected for tests.
 */
import { GranaryError } from '../protocol/index.js';

export interface PlacementCandidate {
  readonly nodeId: string;
  readonly domain: string;
  readonly freeBytes: number;
}

export type Random = () => number;

/**
 * Picks `count` distinct candidates. `taken` are nodes the block already uses (excluded, and
 * counted against their domains), for replacing one shard.
 */
export function placeShards(
  candidates: readonly PlacementCandidate[],
  count: number,
  random: Random = Math.random,
  taken: readonly PlacementCandidate[] = [],
): PlacementCandidate[] {
  const takenIds = new Set(taken.map((node) => node.nodeId));
  const pool = candidates.filter((node) => !takenIds.has(node.nodeId));
  if (pool.length < count) {
    throw new GranaryError(
      'GRN_PLACEMENT_IMPOSSIBLE',
      `a block needs ${count + taken.length} distinct storage nodes but only ${pool.length + taken.length} are alive with free space; ` +
        'start more nodes, undrain some, or use a narrower erasure policy',
    );
  }
  const domainLoad = new Map<string, number>();
  for (const node of pool) domainLoad.set(node.domain, 0);
  for (const node of taken) domainLoad.set(node.domain, (domainLoad.get(node.domain) ?? 0) + 1);
  let cap = Math.ceil((count + taken.length) / domainLoad.size);
  const chosen: PlacementCandidate[] = [];
  const remaining = [...pool];
  while (chosen.length < count) {
    const eligible = remaining.filter((node) => (domainLoad.get(node.domain) ?? 0) < cap);
    if (eligible.length === 0) {
      cap++;
      continue;
    }
    const pick = weightedPick(eligible, random);
    chosen.push(pick);
    remaining.splice(remaining.indexOf(pick), 1);
    domainLoad.set(pick.domain, (domainLoad.get(pick.domain) ?? 0) + 1);
  }
  return chosen;
}

function weightedPick(nodes: readonly PlacementCandidate[], random: Random): PlacementCandidate {
  // A node with no reported free space still gets a sliver of weight rather than never being picked.
  const weights = nodes.map((node) => Math.max(node.freeBytes, 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let target = random() * total;
  for (let i = 0; i < nodes.length; i++) {
    target -= weights[i] as number;
    if (target < 0) return nodes[i] as PlacementCandidate;
  }
  return nodes[nodes.length - 1] as PlacementCandidate;
}
