/** Placement, partition filters, stats pruning and schema evolution: pure functions. */
import { describe, expect, it } from 'vitest';
import { alterTable, newTableRecord, visibleColumns } from '../../../metadata/schema.js';
import { matchesPartition, validatePartitionFilter } from '../../../metadata/partition-filter.js';
import { type PlacementCandidate, placeShards } from '../../../metadata/placement.js';
import { mayMatch, outwardFloat, resolvePredicate } from '../../../metadata/pruning.js';
import { seededRandom } from '../../helpers/metadata-app.js';

function nodes(count: number, domains: number, free: (i: number) => number = () => 1e12): PlacementCandidate[] {
  return Array.from({ length: count }, (_, i) => ({ nodeId: `n${i}`, domain: `d${i % domains}`, freeBytes: free(i) }));
}

describe('placement', () => {
  it('picks distinct nodes, spread evenly over failure domains', () => {
    const random = seededRandom(1);
    for (let round = 0; round < 200; round++) {
      const chosen = placeShards(nodes(12, 3), 9, random);
      expect(new Set(chosen.map((n) => n.nodeId)).size).toBe(9);
      const perDomain = new Map<string, number>();
      for (const node of chosen) perDomain.set(node.domain, (perDomain.get(node.domain) ?? 0) + 1);
      expect([...perDomain.values()].sort()).toEqual([3, 3, 3]);
    }
  });

  it('uses more domains than shards when it can, and falls back when domains are uneven', () => {
    const chosen = placeShards(nodes(20, 10), 9, seededRandom(2));
    expect(new Set(chosen.map((n) => n.domain)).size).toBe(9);
    const lopsided = [...nodes(8, 1), { nodeId: 'x', domain: 'other', freeBytes: 1e12 }];
    const placed = placeShards(lopsided, 9, seededRandom(3));
    expect(new Set(placed.map((n) => n.nodeId)).size).toBe(9);
  });

  it('favours nodes with more free space', () => {
    const random = seededRandom(4);
    const counts = new Map<string, number>();
    const candidates = nodes(10, 10, (i) => (i === 0 ? 10e12 : 1e12));
    for (let round = 0; round < 2000; round++) {
      for (const node of placeShards(candidates, 1, random)) counts.set(node.nodeId, (counts.get(node.nodeId) ?? 0) + 1);
    }
    expect(counts.get('n0') ?? 0).toBeGreaterThan(900);
    expect(counts.get('n1') ?? 0).toBeLessThan(200);
  });

  it('replaces one shard away from the nodes the block already uses', () => {
    const all = nodes(10, 5);
    const taken = all.slice(0, 8);
    const [replacement] = placeShards(all.filter((n) => n.nodeId !== 'n0'), 1, seededRandom(5), taken.slice(1));
    expect(['n8', 'n9']).toContain(replacement?.nodeId);
  });

  it('refuses a policy the cluster cannot place, saying how many nodes it has', () => {
    expect(() => placeShards(nodes(5, 2), 9)).toThrow(/needs 9 distinct storage nodes but only 5/);
  });

  it('with nodes down, doubles shards up evenly on the alive nodes, never below k distinct nodes', () => {
    const sharing = { allowShared: true, minDistinctNodes: 6 };
    for (const alive of [8, 7, 6]) {
      const chosen = placeShards(nodes(alive, 3), 9, seededRandom(alive), [], sharing);
      expect(chosen).toHaveLength(9);
      const perNode = new Map<string, number>();
      for (const node of chosen) perNode.set(node.nodeId, (perNode.get(node.nodeId) ?? 0) + 1);
      // Every alive node is used, and none holds more than one shard above another.
      expect(perNode.size).toBe(alive);
      expect(Math.max(...perNode.values()) - Math.min(...perNode.values())).toBeLessThanOrEqual(1);
    }
    expect(() => placeShards(nodes(5, 3), 9, seededRandom(9), [], sharing)).toThrow(/needs 6 distinct storage nodes but only 5/);
  });

  it('replaces a shard onto a node of the block only when no other node is left', () => {
    const all = nodes(6, 3);
    const [replacement] = placeShards(all.slice(1), 1, seededRandom(10), all.slice(1), { allowShared: true, minDistinctNodes: 4 });
    expect(all.slice(1).map((n) => n.nodeId)).toContain(replacement?.nodeId);
  });
});

describe('partition filters', () => {
  const keys = ['ds', 'region'];
  const p = (ds: string, region: string) => ({ ds, region });
  it('matches equality, IN and ranges', () => {
    expect(matchesPartition(p('2026-11-25', 'eu'), { ds: { eq: '2026-11-25' } })).toBe(true);
    expect(matchesPartition(p('2026-11-25', 'eu'), { ds: { eq: '2026-11-24' } })).toBe(false);
    expect(matchesPartition(p('2026-11-25', 'eu'), { region: { in: ['us', 'eu'] } })).toBe(true);
    expect(matchesPartition(p('2026-11-25', 'eu'), { ds: { gte: '2026-11-20', lt: '2026-11-25' } })).toBe(false);
    expect(matchesPartition(p('2026-11-24', 'eu'), { ds: { gte: '2026-11-20', lt: '2026-11-25' }, region: { eq: 'eu' } })).toBe(true);
  });
  it('rejects unknown keys and malformed conditions', () => {
    expect(() => validatePartitionFilter({ dt: { eq: 'x' } }, keys)).toThrow(/partitioned by ds, region/);
    expect(() => validatePartitionFilter({ ds: {} }, keys)).toThrow(/must use eq, in/);
    expect(() => validatePartitionFilter({ ds: { eq: 'a', gt: 'b' } as never }, keys)).toThrow(/cannot be combined/);
  });
});

describe('stats pruning', () => {
  const table = newTableRecord(
    { name: 't', columns: [{ name: 'x', type: 'int64' }, { name: 's', type: 'string' }] },
    0,
  );
  const columns = new Map(visibleColumns(table).map((c) => [c.name, c]));
  const check = (op: '=' | '<' | '<=' | '>' | '>=' | 'between', value: number | [number, number], min: number, max: number) =>
    mayMatch(true, min, max, resolvePredicate({ column: 'x', op, value }, columns));

  it('keeps stripes that may match and skips those that cannot', () => {
    expect(check('=', 5, 1, 10)).toBe(true);
    expect(check('=', 11, 1, 10)).toBe(false);
    expect(check('<', 1, 1, 10)).toBe(true); // non-strict on purpose: rounding must never skip a match
    expect(check('<', 0, 1, 10)).toBe(false);
    expect(check('>=', 10, 1, 10)).toBe(true);
    expect(check('>', 11, 1, 10)).toBe(false);
    expect(check('between', [11, 20], 1, 10)).toBe(false);
    expect(check('between', [-5, 1], 1, 10)).toBe(true);
    expect(mayMatch(true, Number.NaN, Number.NaN, resolvePredicate({ column: 'x', op: '=', value: 3 }, columns))).toBe(true);
    expect(mayMatch(false, 0, 100, resolvePredicate({ column: 'x', op: '=', value: 3 }, columns))).toBe(false);
  });

  it('rounds int64 stats outward so no matching stripe is skipped', () => {
    const big = '9007199254740993'; // 2^53 + 1: not a float64
    expect(outwardFloat(big, 'down')).toBeLessThanOrEqual(9007199254740993);
    expect(BigInt(outwardFloat(big, 'up'))).toBeGreaterThanOrEqual(9007199254740993n);
    expect(BigInt(outwardFloat(big, 'down'))).toBeLessThanOrEqual(9007199254740993n);
    const predicate = resolvePredicate({ column: 'x', op: '=', value: big }, columns);
    expect(mayMatch(true, outwardFloat(big, 'down'), outwardFloat(big, 'up'), predicate)).toBe(true);
  });

  it('refuses predicates on unknown or non-numeric columns', () => {
    expect(() => resolvePredicate({ column: 'nope', op: '=', value: 1 }, columns)).toThrow(/unknown column nope/);
    expect(() => resolvePredicate({ column: 's', op: '=', value: 1 }, columns)).toThrow(/stats exist only for/);
    expect(() => resolvePredicate({ column: 'x', op: 'between', value: 1 }, columns)).toThrow(/\[low, high\]/);
  });
});

describe('schemas', () => {
  const base = { name: 'events', columns: [{ name: 'label', type: 'float' as const }, { name: 'f_1', type: 'float' as const, featureId: 1 }] };

  it('validates names, types, duplicates, keys and policies with actionable messages', () => {
    expect(() => newTableRecord({ ...base, name: 'Bad-Name' }, 0)).toThrow(/table name "Bad-Name" must match/);
    expect(() => newTableRecord({ ...base, columns: [...base.columns, { name: 'label', type: 'float' }] }, 0)).toThrow(/declared twice/);
    expect(() => newTableRecord({ ...base, columns: [{ name: 'x', type: 'float16' as never }] }, 0)).toThrow(/unknown type "float16"; types are float, double/);
    expect(() => newTableRecord({ ...base, partitionBy: ['label'] }, 0)).toThrow(/also a column/);
    expect(() => newTableRecord({ ...base, ec: '6-3' }, 0)).toThrow(/look like "6\+3"/);
    expect(() => newTableRecord({ ...base, columns: [...base.columns, { name: 'f_2', type: 'float', featureId: 1 }] }, 0)).toThrow(/share featureId 1/);
    expect(() => newTableRecord({ ...base, retention: '3 months' }, 0)).toThrow(/retention must look like "90d"/);
    expect(() => newTableRecord({ ...base, ec: '2+1', blockBytes: 1024 * 1024 * 1024 }, 0)).toThrow(/536870912-byte shards; the maximum is 268435456/);
    const table = newTableRecord({ ...base, ec: '10+4', retention: '90d' }, 0);
    expect(table).toMatchObject({ dataShards: 10, parityShards: 4, retentionDays: 90, partitionBy: ['ds'], schemaVersion: 1 });
  });

  it('adds and drops columns as new versions; a re-added name is a new column', () => {
    const v1 = newTableRecord(base, 0);
    const v2 = alterTable(v1, { addColumns: [{ name: 'ids', type: 'id_list', featureId: 7 }], dropColumns: ['f_1'] });
    expect(v2.schemaVersion).toBe(2);
    expect(visibleColumns(v2).map((c) => c.name)).toEqual(['label', 'ids']);
    const v3 = alterTable(v2, { addColumns: [{ name: 'f_1', type: 'double' }] });
    const readded = visibleColumns(v3).find((c) => c.name === 'f_1');
    expect(readded?.cid).not.toBe(v1.columns.find((c) => c.name === 'f_1')?.cid);
    expect(readded?.addedInVersion).toBe(3);
    expect(() => alterTable(v3, { dropColumns: ['missing'] })).toThrow(/no such column/);
    expect(() => alterTable(v3, { addColumns: [{ name: 'label', type: 'float' }] })).toThrow(/already exists/);
    expect(() => alterTable(v3, {})).toThrow(/nothing to change/);
    expect(() => alterTable(v1, { dropColumns: ['label', 'f_1'] })).toThrow(/every column/);
  });
});
