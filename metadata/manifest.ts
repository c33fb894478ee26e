/**
 * Turns a writer's commit manifest into file records, checking it against what the session was
 * given: every stream lies inside a block this session allocated, every block's sizes agree with
 * the table's erasure layout, every column existed when the session opened. Pure.
 */
import { randomBytes } from 'node:crypto';
import { checksumFromHex, contiguousLayout } from '../erasure/index.js';
import {
  type BlockManifest,
  type CommitManifest,
  GranaryError,
  STREAM_ENTRY_BYTES,
  encodeStreamEntry,
} from '../protocol/index.js';
import { outwardFloat } from './pruning.js';
import type { BlockRecord, ColumnRecord, FileRecord, SessionRecord, StripeRecord, TableRecord } from './records.js';

export const STRIPES_PER_FILE_MAX = 1_000_000;
const CHECKSUM_HEX = /^[0-9a-fA-F]{16}$/;

function bad(message: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', `commit rejected, nothing was stored: ${message}`);
}

export interface CheckedCommit {
  readonly files: FileRecord[];
  /** Allocated blocks the manifest uses, with their final sizes. */
  readonly committedBlocks: BlockRecord[];
  /** Allocated blocks the manifest does not use: garbage. */
  readonly unusedBlockIds: string[];
  readonly rows: number;
  readonly bytes: number;
}

/** Columns as the session saw them: visible at its schema version. */
export function columnsAtVersion(table: TableRecord, version: number): Map<string, ColumnRecord> {
  const byName = new Map<string, ColumnRecord>();
  for (const column of table.columns) {
    const dropped = column.droppedInVersion;
    if (column.addedInVersion <= version && (dropped === undefined || dropped > version)) byName.set(column.name, column);
  }
  return byName;
}

export function checkCommit(
  table: TableRecord,
  session: SessionRecord,
  manifest: CommitManifest,
  allocated: ReadonlyMap<string, BlockRecord>,
  now: number,
  /** Files the partition already has: the new files' sequence numbers start here. */
  firstSequence = 0,
): CheckedCommit {
  const blocks = new Map<string, BlockManifest>();
  for (const block of manifest.blocks) {
    const record = allocated.get(block.blockId);
    if (record === undefined || record.sessionId !== session.sessionId) {
      throw bad(`block ${block.blockId} was not allocated to session ${session.sessionId}`);
    }
    if (blocks.has(block.blockId)) throw bad(`block ${block.blockId} is listed twice`);
    const policy = { dataShards: record.dataShards, parityShards: record.parityShards };
    const layout = contiguousLayout(policy, block.blockBytes);
    if (block.shardBytes !== layout.shardBytes) {
      throw bad(`block ${block.blockId}: ${block.blockBytes} bytes under RS ${policy.dataShards}+${policy.parityShards} make ${layout.shardBytes}-byte shards, manifest says ${block.shardBytes}`);
    }
    if (block.codec !== record.codec) throw bad(`block ${block.blockId} was placed for codec ${record.codec}, manifest says ${block.codec}`);
    const shards = policy.dataShards + policy.parityShards;
    if (!Array.isArray(block.shardChecksums) || block.shardChecksums.length !== shards || !block.shardChecksums.every((hex) => CHECKSUM_HEX.test(hex))) {
      throw bad(`block ${block.blockId}: shardChecksums must list ${shards} xxh64 checksums of 16 hex digits, one per shard`);
    }
    blocks.set(block.blockId, block);
  }

  const columns = columnsAtVersion(table, session.schemaVersion);
  const used = new Set<string>();
  const files: FileRecord[] = [];
  let rows = 0;
  let bytes = 0;
  manifest.files.forEach((file, fileIndex) => {
    const where = `file ${fileIndex}`;
    if (file.columns.length === 0) throw bad(`${where} has no columns`);
    if (file.stripes.length === 0 || file.stripes.length > STRIPES_PER_FILE_MAX) {
      throw bad(`${where} must have 1..${STRIPES_PER_FILE_MAX} stripes, has ${file.stripes.length}`);
    }
    const cids: number[] = [];
    const seen = new Set<string>();
    for (const name of file.columns) {
      const column = columns.get(name);
      if (column === undefined) throw bad(`${where}: column ${name} is not in table ${table.name} at schema version ${session.schemaVersion}`);
      if (seen.has(name)) throw bad(`${where}: column ${name} appears twice`);
      seen.add(name);
      cids.push(column.cid);
    }
    const blockIds: string[] = [];
    const blockRefs = new Map<string, number>();
    const stripes: StripeRecord[] = [];
    let fileRows = 0;
    let fileBytes = 0;
    file.stripes.forEach((stripe, stripeIndex) => {
      const at = `${where} stripe ${stripeIndex}`;
      if (!Number.isSafeInteger(stripe.rows) || stripe.rows < 1) throw bad(`${at}: rows must be a positive integer`);
      if (stripe.streams.length !== file.columns.length) {
        throw bad(`${at} has ${stripe.streams.length} streams for ${file.columns.length} columns`);
      }
      const streams = new Uint8Array(STREAM_ENTRY_BYTES * file.columns.length);
      const stats = new Float64Array(2 * file.columns.length);
      stripe.streams.forEach((stream, c) => {
        const col = file.columns[c] as string;
        const block = blocks.get(stream.block);
        if (block === undefined) throw bad(`${at} column ${col}: block ${stream.block} is not in the manifest's blocks`);
        if (!Number.isSafeInteger(stream.offset) || !Number.isSafeInteger(stream.length) || stream.offset < 0 || stream.length < 0 ||
          stream.offset + stream.length > block.blockBytes) {
          throw bad(`${at} column ${col}: stream [${stream.offset}, +${stream.length}) is outside block ${stream.block} (${block.blockBytes} bytes)`);
        }
        if (stream.length > 0xffff_ffff) throw bad(`${at} column ${col}: a stream is at most 4 GiB`);
        if (!Number.isInteger(stream.encoding) || stream.encoding < 0 || stream.encoding > 0xffff) {
          throw bad(`${at} column ${col}: encoding must be an integer 0..65535`);
        }
        let checksum: bigint;
        try {
          checksum = checksumFromHex(stream.checksum);
        } catch {
          throw bad(`${at} column ${col}: checksum must be 16 hex digits (xxh64)`);
        }
        const nulls = stream.stats?.nulls ?? 0;
        if (!Number.isSafeInteger(nulls) || nulls < 0 || nulls > stripe.rows) throw bad(`${at} column ${col}: nulls must be 0..${stripe.rows}`);
        let ref = blockRefs.get(stream.block);
        if (ref === undefined) {
          ref = blockIds.length;
          blockIds.push(stream.block);
          blockRefs.set(stream.block, ref);
        }
        used.add(stream.block);
        encodeStreamEntry(streams, c, { blockRef: ref, offset: stream.offset, length: stream.length, checksum, encoding: stream.encoding, nulls });
        const { min, max } = stream.stats ?? {};
        try {
          stats[2 * c] = min === undefined ? Number.NaN : outwardFloat(min, 'down');
          stats[2 * c + 1] = max === undefined ? Number.NaN : outwardFloat(max, 'up');
        } catch {
          throw bad(`${at} column ${col}: stats min/max must be numbers or decimal integer strings`);
        }
        fileBytes += stream.length;
      });
      stripes.push({ rows: stripe.rows, streams, stats: new Uint8Array(stats.buffer) });
      fileRows += stripe.rows;
    });
    files.push({
      fileId: `f${randomBytes(8).toString('hex')}`,
      tableId: table.id,
      partition: session.partition,
      sessionId: session.sessionId,
      committedAt: now,
      sequence: firstSequence + fileIndex,
      rows: fileRows,
      bytes: fileBytes,
      columnCids: cids,
      blockIds,
      stripes,
    });
    rows += fileRows;
    bytes += fileBytes;
  });

  const committedBlocks: BlockRecord[] = [];
  for (const [blockId, block] of blocks) {
    if (!used.has(blockId)) continue;
    const record = allocated.get(blockId) as BlockRecord;
    committedBlocks.push({
      ...record,
      state: 'committed',
      blockBytes: block.blockBytes,
      shardBytes: block.shardBytes,
      shardChecksums: block.shardChecksums.map((hex) => hex.toLowerCase()),
    });
  }
  const unusedBlockIds = session.blockIds.filter((blockId) => !used.has(blockId));
  return { files, committedBlocks, unusedBlockIds, rows, bytes };
}
