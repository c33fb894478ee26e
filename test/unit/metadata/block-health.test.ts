/**
 * How endangered a block is and what must move, case by case: the pure decision the repair
 * scheduler makes for every block, driven by a table of node states and damage reports.
 */
import { describe, expect, it } from 'vitest';
import { assessBlock } from '../../../metadata/block-health.js';
import type { NodeStanding } from '../../../metadata/block-health.js';
import type { BlockRecord, CorruptRecord } from '../../../metadata/records.js';

function block(nodes: readonly string[], k = 4, m = 2): BlockRecord {
  return {
    blockId: 'b1',
    tableId: 't',
    sessionId: 's',
    dataShards: k,
    parityShards: m,
    codec: 'rs-wasm-v1',
    nodes,
    state: 'committed',
    blockBytes: 4096,
    shardBytes: 1024,
    createdAt: 0,
  };
}

interface Case {
  readonly name: string;
  readonly nodes: readonly string[];
  readonly standing?: Readonly<Record<string, NodeStanding>>;
  readonly damaged?: Readonly<Record<number, { missing?: boolean; onNode?: string }>>;
  readonly health: string;
  readonly spare: number;
  readonly needs: readonly string[];
}

const SIX = ['a', 'b', 'c', 'd', 'e', 'f'];

const CASES: readonly Case[] = [
  { name: 'all healthy', nodes: SIX, health: 'healthy', spare: 2, needs: [] },
  { name: 'suspect nodes are read around, not repaired', nodes: SIX, standing: { a: 'suspect', b: 'suspect' }, health: 'healthy', spare: 2, needs: [] },
  { name: 'one dead node', nodes: SIX, standing: { c: 'dead' }, health: 'under-replicated', spare: 1, needs: ['2:dead-node:rebuild'] },
  { name: 'one removed node', nodes: SIX, standing: { f: 'removed' }, health: 'under-replicated', spare: 1, needs: ['5:removed-node:rebuild'] },
  { name: 'corrupt chunk', nodes: SIX, damaged: { 1: {} }, health: 'under-replicated', spare: 1, needs: ['1:corrupt:rebuild'] },
  { name: 'missing chunk', nodes: SIX, damaged: { 4: { missing: true } }, health: 'under-replicated', spare: 1, needs: ['4:missing:rebuild'] },
  { name: 'a stale report about another node is ignored', nodes: SIX, damaged: { 1: { onNode: 'z' } }, health: 'healthy', spare: 2, needs: [] },
  { name: 'draining node: copied, still readable', nodes: SIX, standing: { d: 'draining' }, health: 'moving', spare: 2, needs: ['3:draining:copy'] },
  {
    name: 'two losses: none to spare',
    nodes: SIX,
    standing: { a: 'dead' },
    damaged: { 5: {} },
    health: 'under-replicated',
    spare: 0,
    needs: ['0:dead-node:rebuild', '5:corrupt:rebuild'],
  },
  { name: 'three losses of 4+2: unavailable', nodes: SIX, standing: { a: 'dead', b: 'dead', c: 'removed' }, health: 'unavailable', spare: -1, needs: ['0:dead-node:rebuild', '1:dead-node:rebuild', '2:removed-node:rebuild'] },
  { name: 'written with two nodes down: doubled shards', nodes: ['a', 'b', 'c', 'd', 'a', 'b'], health: 'under-replicated', spare: 1, needs: ['4:doubled:copy', '5:doubled:copy'] },
  { name: 'doubled node dead: both its shards rebuilt', nodes: ['a', 'b', 'c', 'd', 'e', 'a'], standing: { a: 'dead' }, health: 'under-replicated', spare: 0, needs: ['0:dead-node:rebuild', '5:dead-node:rebuild'] },
  { name: 'a draining node that died is rebuilt, not copied', nodes: SIX, standing: { e: 'dead' }, health: 'under-replicated', spare: 1, needs: ['4:dead-node:rebuild'] },
];

describe('block health', () => {
  for (const testCase of CASES) {
    it(testCase.name, () => {
      const record = block(testCase.nodes);
      const damage = new Map<string, CorruptRecord>();
      for (const [shard, report] of Object.entries(testCase.damaged ?? {})) {
        const chunkId = `b1.${shard}`;
        damage.set(chunkId, { chunkId, nodeId: report.onNode ?? (record.nodes[Number(shard)] as string), reason: 'test', reportedAt: 0, ...(report.missing ? { missing: true } : {}) });
      }
      const result = assessBlock(record, (nodeId) => testCase.standing?.[nodeId] ?? 'alive', (chunkId) => damage.get(chunkId));
      expect(result.health).toBe(testCase.health);
      expect(result.nodeFailuresToSpare).toBe(testCase.spare);
      expect(result.needs.map((need) => `${need.shard}:${need.reason}:${need.mode}`)).toEqual(testCase.needs);
      expect(result.readableShards.length + result.needs.filter((need) => need.mode === 'rebuild').length).toBe(record.nodes.length);
    });
  }
});
