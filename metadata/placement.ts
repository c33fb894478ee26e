/**
 * Where the k+m chunks of a block go: k+m distinct nodes, spread as evenly as possible over
 * failure domains (so losing a rack loses few shards of any block), chosen at random weighted by
 * free space (so emptier disks fill faster and the cluster converges to even use). Pure; the
 * random source is injected for tests.
 *
 * With fewer than k+m nodes alive (up to m down or draining), a write may still go on: with
 * `allowShared`, the shards that find no node of their own go to the nodes holding the fewest of
 * the block's shards, never on fewer than `minDistinctNodes` nodes. Every shard is still written
 * (so a block keeps chunk-level protection against rot, and full redundancy comes back by copying
 * a shard, not rebuilding it); repair moves the doubled shards once nodes are back.
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
export interface SharingOptions {
  /** Let shards share a node when there are not enough distinct ones (reduced redundancy). */
  readonly allowShared: boolean;
  /** Distinct nodes the block must span in the end (taken ones included), e.g. k. */
  readonly minDistinctNodes: number;
}

const NO_SHARING: SharingOptions = { allowShared: false, minDistinctNodes: 0 };

export function placeShards(
  candidates: readonly PlacementCandidate[],
  count: number,
  random: Random = Math.random,
  taken: readonly PlacementCandidate[] = [],
  sharing: SharingOptions = NO_SHARING,
): PlacementCandidate[] {
  const takenIds = new Set(taken.map((node) => node.nodeId));
  const pool = candidates.filter((node) => !takenIds.has(node.nodeId));
  if (pool.length >= count) return placeDistinct(pool, count, random, taken);
  const distinct = takenIds.size + pool.length;
  if (!sharing.allowShared || distinct < Math.max(1, sharing.minDistinctNodes)) {
    const needed = sharing.allowShared ? sharing.minDistinctNodes : count + taken.length;
    throw new GranaryError(
      'GRN_PLACEMENT_IMPOSSIBLE',
      `a block needs ${needed} distinct storage nodes but only ${distinct} are alive with free space; ` +
        'start more nodes, undrain some, or use a narrower erasure policy',
    );
  }
  const chosen = placeDistinct(pool, pool.length, random, taken);
  // The rest share nodes: each goes to the node with the fewest of the block's shards, then the
  // least loaded domain, then the most free space, so no node holds much more than another.
  const shardsOn = new Map<string, number>();
  const domainLoad = new Map<string, number>();
  for (const node of [...taken, ...chosen]) {
    shardsOn.set(node.nodeId, (shardsOn.get(node.nodeId) ?? 0) + 1);
    domainLoad.set(node.domain, (domainLoad.get(node.domain) ?? 0) + 1);
  }
  const hosts = candidates.filter((node) => shardsOn.has(node.nodeId));
  while (chosen.length < count) {
    const pick = [...hosts].sort(
      (a, b) =>
        (shardsOn.get(a.nodeId) as number) - (shardsOn.get(b.nodeId) as number) ||
        (domainLoad.get(a.domain) ?? 0) - (domainLoad.get(b.domain) ?? 0) ||
        b.freeBytes - a.freeBytes ||
        (a.nodeId < b.nodeId ? -1 : 1),
    )[0];
    if (pick === undefined) throw new GranaryError('GRN_PLACEMENT_IMPOSSIBLE', 'no alive storage node can take a shard; start more nodes');
    chosen.push(pick);
    shardsOn.set(pick.nodeId, (shardsOn.get(pick.nodeId) ?? 0) + 1);
    domainLoad.set(pick.domain, (domainLoad.get(pick.domain) ?? 0) + 1);
  }
  return chosen;
}

/** `count` distinct nodes of `pool` (which has at least that many), spread over domains. */
function placeDistinct(
  pool: readonly PlacementCandidate[],
  count: number,
  random: Random,
  taken: readonly PlacementCandidate[],
): PlacementCandidate[] {
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
