/**
 * The garbage-collection queue: blocks whose chunks nobody will read again (aborted or expired
 * sessions, dropped partitions and tables, blocks a commit did not use). Queuing happens in the
 * same batch as the change that orphans the blocks, so a crash cannot leak them.
 */
import type { GcBacklog, GcEntry, GcStatus } from '../protocol/page-types.js';
import { type Operation, del, put } from './db.js';
import { type PageRequest, cutPage } from './paging.js';
import type { GcRecord } from './records.js';
import type { MetadataState } from './state.js';

/** `notBefore`: the chunks are left alone until then (readers may still hold plans naming them). */
export function queueBlocks(state: MetadataState, blockIds: readonly string[], reason: string, now: number, notBefore?: number): { operations: Operation[]; apply: () => void } {
  const records: GcRecord[] = [];
  for (const blockId of blockIds) {
    const block = state.blocks.get(blockId);
    if (block === undefined) continue;
    records.push({
      blockId,
      chunks: [
        ...block.nodes.map((nodeId, shard) => ({ chunkId: `${blockId}.${shard}`, nodeId })),
        ...(block.formerNodes ?? []).map(({ shard, nodeId }) => ({ chunkId: `${blockId}.${shard}`, nodeId })),
      ],
      reason,
      queuedAt: now,
      ...(notBefore === undefined ? {} : { nextAttemptAt: notBefore }),
    });
  }
  // Corrupt reports about these chunks are moot once the block is garbage.
  const corrupt = records.flatMap((record) => record.chunks.map((chunk) => chunk.chunkId)).filter((id) => state.corrupt.has(id));
  return {
    operations: [
      ...records.flatMap((record) => [put(state.db.gc, record.blockId, record), del(state.db.blocks, record.blockId)]),
      ...corrupt.map((chunkId) => del(state.db.corrupt, chunkId)),
    ],
    apply: () => {
      for (const record of records) {
        state.putGc(record);
        state.deleteBlock(record.blockId);
      }
      for (const chunkId of corrupt) state.corrupt.delete(chunkId);
    },
  };
}

/** A GC record deleting one copy of a chunk from one node (an old location after repair, an orphan). */
export function copyGc(chunkId: string, nodeId: string, reason: string, now: number): GcRecord {
  return { blockId: `copy:${chunkId}@${nodeId}`, chunks: [{ chunkId, nodeId }], reason, queuedAt: now };
}

/** Records queued, the chunks they still name, and how many failed a pass and wait to be tried again: counters, not a walk. */
export function gcBacklog(state: MetadataState): GcBacklog {
  return { records: state.gcQueue.size, chunks: state.gcQueue.chunks, backingOff: state.gcQueue.retrying };
}

/** The backlog and one page of the queue's records in key order. */
export function gcStatus(state: MetadataState, page: PageRequest): GcStatus {
  const { keys, next } = cutPage(state.gcQueue.keysAfter(page.after, page.limit + 1), page.limit);
  return { ...gcBacklog(state), blocks: keys.map((key) => gcEntry(state.gcQueue.get(key) as GcRecord)), next };
}

function gcEntry(record: GcRecord): GcEntry {
  const { nextAttemptAt, ...rest } = record;
  return {
    ...rest,
    queuedAt: new Date(record.queuedAt).toISOString(),
    ...(nextAttemptAt === undefined ? {} : { nextAttemptAt: new Date(nextAttemptAt).toISOString() }),
  };
}

/**
 * A node back in service: its deletions waiting out a back-off are due at once (in memory; the
 * next pass persists what it does), so a returning node is cleaned up in seconds, not after
 * the longest back-off.
 */
export function wakeGcFor(state: MetadataState, nodeId: string): number {
  let woken = 0;
  for (const record of [...state.gcQueue.values()]) {
    if (record.nextAttemptAt === undefined || !record.chunks.some((chunk) => chunk.nodeId === nodeId)) continue;
    const { nextAttemptAt: _waited, ...due } = record;
    state.putGc(due);
    woken++;
  }
  return woken;
}
