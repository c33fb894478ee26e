/**
 * Re-layout of committed files (docs/design.md, "Re-layout"; protocol/relayout-types.ts): which
 * files pay for a rewrite in the current popularity order (relayout-model.ts), a file's streams
 * block by block for the worker that rewrites them, and the commit that puts the new blocks in
 * place of the old ones. The commit makes a new file record with the same stripes in the same
 * position (same sequence, so stripe numbers and splits hold), the streams pointing into the new
 * blocks at their new offsets, and everything else (lengths, checksums, encodings, stats) as it
 * was; the old file leaves in the same batch, and its blocks join the GC queue to be deleted
 * only after a grace time, so readers holding plans of the old blocks finish on them. A scan
 * cursor naming the old file resumes on the new one (FileRecord.replaces).
 */
import { randomBytes } from 'node:crypto';
import { checksumToHex } from '../erasure/index.js';
import { GranaryError, NO_BLOCK, type PlannedBlock, STREAM_ENTRY_BYTES, decodeStreamEntry } from '../protocol/index.js';
import type { FileLayout, LayoutBlock, RelayoutCandidate, RelayoutCommit, RelayoutPlan, RelayoutResult } from '../protocol/relayout-types.js';
import { del, put } from './db.js';
import { queueBlocks } from './gc.js';
import { checkBlockClaims } from './manifest.js';
import type { ManifestCache } from './manifests/cache.js';
import { deleteDroppedPieces, dropMarkers, writePiecesAhead } from './manifests/drops.js';
import { type DecodedPiece, splitFile } from './manifests/pieces.js';
import { parsePartitionSpec } from '../protocol/partition-spec.js';
import { loadFile } from './planner.js';
import { checkReceipts } from './receipts.js';
import type { BlockRecord, FileRecord, SessionRecord, StripeRecord, TableRecord } from './records.js';
import { type ColumnScore, READ_COST_BYTES, type ModelBlock, type ModelStream, hotColumns, judgeFile, popularityOrder } from './relayout-model.js';
import { type MetadataState, fileKey } from './state.js';
import type { Catalog } from './tables.js';
import type { WriteSessions } from './writes.js';

/** Replaced file ids a file remembers for cursors (re-laid again and again, the oldest are forgotten). */
export const RELAYOUT_REPLACED_MAX = 4;
/** How long replaced blocks stay readable for plans made before the swap. */
export const RELAYOUT_GRACE_MS_DEFAULT = 10 * 60_000;

interface StreamAt extends ModelStream {
  readonly checksum: bigint;
}

/** A file's streams grouped by its blocks (by block ref), each group in block offset order. */
interface FileStreams {
  readonly byBlock: StreamAt[][];
  /** Its stripes as stored, when asked for (the commit rewrites them). */
  readonly stripes: StripeRecord[];
}

export interface RelayoutDeps {
  readonly state: MetadataState;
  readonly catalog: Catalog;
  readonly writes: WriteSessions;
  readonly manifests: ManifestCache;
  readonly plannedBlock: (blockId: string, now: number) => PlannedBlock;
  /** Decayed popularity of a table's columns by id (Scans.columnScores). */
  readonly columnScores: (tableId: string, cids: readonly number[], now: number) => ColumnScore[];
  readonly graceMs?: number;
}

export class Relayouts {
  readonly graceMs: number;

  constructor(private readonly deps: RelayoutDeps) {
    this.graceMs = deps.graceMs ?? RELAYOUT_GRACE_MS_DEFAULT;
  }

  /** Every file of the table (or of one partition) with what a rewrite would cost and save. */
  plan(tableName: string, partition?: string): Promise<RelayoutPlan> {
    const { state, catalog } = this.deps;
    return state.plans.plan(async () => {
      const table = catalog.table(tableName);
      const specs = partition === undefined ? [...state.partitionsOf(table.id).keys()].sort() : [this.partitionOf(table, partition)];
      const now = Date.now();
      const live = table.columns.filter((c) => c.droppedInVersion === undefined);
      const tableScores = this.scores(table, live.map((c) => c.cid), now);
      const scansExpected = tableScores.reduce((most, score) => Math.max(most, score.scans), 0);
      const files: RelayoutCandidate[] = [];
      for (const spec of specs) {
        for (const { record } of state.filesOf(table.id, spec)) files.push(await this.judge(table, spec, record, scansExpected, now));
      }
      return {
        table: table.name,
        order: popularityOrder(tableScores).map((index) => (live[index] as (typeof live)[number]).name),
        hotColumns: [...hotColumns(tableScores)].sort((a, b) => a - b).map((index) => (live[index] as (typeof live)[number]).name),
        scansExpected: Math.round(scansExpected * 100) / 100,
        readCostBytes: READ_COST_BYTES,
        files,
      };
    });
  }

  /** A file's blocks and their streams, for the worker that rewrites it. */
  layout(tableName: string, partition: string, fileId: string): Promise<FileLayout> {
    const { state, catalog } = this.deps;
    return state.plans.plan(async () => {
      const table = catalog.table(tableName);
      const spec = this.partitionOf(table, partition);
      const record = this.fileOf(table, spec, fileId);
      const shared = this.sharedBlocks(table, spec, record);
      if (shared !== undefined) throw new GranaryError('GRN_BAD_REQUEST', `file ${fileId} shares block ${shared} with another file of its commit; it cannot be re-laid out alone`);
      const streams = await this.streamsOf(record, false);
      const now = Date.now();
      const blocks: LayoutBlock[] = record.blockIds.map((blockId, ref) => ({
        block: this.deps.plannedBlock(blockId, now),
        streams: (streams.byBlock[ref] ?? []).map((s) => ({ stripe: s.stripe, column: s.column, offset: s.offset, length: s.length, checksum: checksumToHex(s.checksum) })),
      }));
      return { table: table.name, partition: spec, fileId, columns: record.columnCids.length, order: popularityOrder(this.scores(table, record.columnCids, now)), blocks };
    });
  }

  /** Puts the session's new blocks in place of the file's old ones, in one batch. */
  commit(sessionId: string, body: RelayoutCommit): Promise<RelayoutResult> {
    const { state, writes } = this.deps;
    return state.exclusive(async () => {
      const claimed = writes.claim(sessionId);
      if ('committed' in claimed) {
        const { table, partition, fileIds, bytes } = claimed.committed;
        return { table, partition, replacedFileId: body.fileId, fileId: fileIds[0] ?? '', blocks: body.blocks.length, bytes, alreadyCommitted: true };
      }
      const { session, table, held } = claimed;
      const { answer, old } = await state.plans.remove(() => this.swap(session, table, held, body));
      // The old file's pieces go after the swap, in bounded batches, with plans going again.
      await deleteDroppedPieces(state.db, [{ fileId: old.fileId, pieces: old.manifest.pieceBytes.length }]);
      return answer;
    });
  }

  private async swap(session: SessionRecord, table: TableRecord, held: Map<string, BlockRecord>, body: RelayoutCommit): Promise<{ answer: RelayoutResult; old: FileRecord }> {
    const { state } = this.deps;
    const db = state.db;
    const files = state.filesOf(table.id, session.partition);
    const index = files.findIndex(({ record }) => record.fileId === body.fileId);
    const old = files[index]?.record;
    if (old === undefined) {
      throw new GranaryError('GRN_FILE_NOT_FOUND', `partition ${session.partition} of table ${table.name} has no file ${body.fileId} (dropped, or re-laid out meanwhile); plan again`);
    }
    const shared = this.sharedBlocks(table, session.partition, old);
    if (shared !== undefined) throw new GranaryError('GRN_BAD_REQUEST', `file ${old.fileId} shares block ${shared} with another file of its commit; it cannot be re-laid out alone`);
    const replacing = new Map(body.blocks.map((entry) => [entry.replaces, entry]));
    if (replacing.size !== body.blocks.length || replacing.size !== old.blockIds.length || !old.blockIds.every((blockId) => replacing.has(blockId))) {
      throw new GranaryError('GRN_BAD_REQUEST', `a re-layout of file ${old.fileId} names each of its ${old.blockIds.length} blocks once (${old.blockIds.join(', ')})`);
    }
    const claims = checkBlockClaims(table, session, body.blocks.map((entry) => entry.block), held);
    checkReceipts(body.blocks.map((entry) => entry.block), held, state.nodes);
    const streams = await this.streamsOf(old, true);
    // New offset of every (stripe, column) stream, checked against the new block it lands in.
    const moved = new Map<number, { blockRef: number; offset: number }>();
    old.blockIds.forEach((blockId, ref) => {
      const entry = replacing.get(blockId) as RelayoutCommit['blocks'][number];
      const list = streams.byBlock[ref] ?? [];
      if (entry.offsets.length !== list.length) {
        throw new GranaryError('GRN_BAD_REQUEST', `block ${blockId} holds ${list.length} streams of file ${old.fileId}; its re-layout gives ${entry.offsets.length} offsets`);
      }
      const placed = list.map((stream, i) => ({ stream, offset: entry.offsets[i] as number })).sort((a, b) => a.offset - b.offset);
      let end = 0;
      for (const { stream, offset } of placed) {
        if (!Number.isSafeInteger(offset) || offset < 0 || offset + stream.length > entry.block.blockBytes || (stream.length > 0 && offset < end)) {
          throw new GranaryError('GRN_BAD_REQUEST', `block ${entry.block.blockId}: stream of stripe ${stream.stripe} column ${stream.column} (${stream.length} bytes) cannot start at ${offset}: outside the ${entry.block.blockBytes}-byte block or over another stream`);
        }
        end = Math.max(end, offset + stream.length);
        moved.set(stream.stripe * old.columnCids.length + stream.column, { blockRef: ref, offset });
      }
    });
    const columns = old.columnCids.length;
    const stripes: StripeRecord[] = streams.stripes.map((stripe, s) => {
      const entries = stripe.streams.slice();
      for (let c = 0; c < columns; c++) {
        const target = moved.get(s * columns + c);
        if (target === undefined) continue;
        const view = new DataView(entries.buffer, entries.byteOffset + c * STREAM_ENTRY_BYTES, STREAM_ENTRY_BYTES);
        view.setUint32(0, target.blockRef, true);
        view.setFloat64(8, target.offset, true);
      }
      return { rows: stripe.rows, streams: entries, stats: stripe.stats };
    });
    const now = Date.now();
    const { stripeCount: _count, manifest: _manifest, bounds: _bounds, ...header } = old;
    const split = splitFile({
      ...header,
      fileId: `f${randomBytes(8).toString('hex')}`,
      sessionId: session.sessionId,
      committedAt: now,
      blockIds: old.blockIds.map((blockId) => (replacing.get(blockId) as RelayoutCommit['blocks'][number]).block.blockId),
      replaces: [old.fileId, ...(old.replaces ?? [])].slice(0, RELAYOUT_REPLACED_MAX),
      stripes,
    });
    const committedBlocks: BlockRecord[] = [...claims.values()].map((claim) => ({
      ...(held.get(claim.blockId) as BlockRecord),
      state: 'committed',
      blockBytes: claim.blockBytes,
      shardBytes: claim.shardBytes,
      shardChecksums: claim.shardChecksums.map((hex) => hex.toLowerCase()),
    }));
    const answer: RelayoutResult = {
      table: table.name,
      partition: session.partition,
      replacedFileId: old.fileId,
      fileId: split.record.fileId,
      blocks: committedBlocks.length,
      bytes: committedBlocks.reduce((sum, block) => sum + block.blockBytes, 0),
      alreadyCommitted: false,
    };
    const closed: SessionRecord = {
      ...session,
      state: 'committed',
      closedAt: now,
      blocksAtClose: held.size,
      result: { sessionId: session.sessionId, table: table.name, partition: session.partition, fileIds: [answer.fileId], rows: old.rows, bytes: answer.bytes, alreadyCommitted: false },
    };
    const unused = [...held.keys()].filter((blockId) => !claims.has(blockId));
    const gcUnused = queueBlocks(state, unused, `unused by re-layout session ${session.sessionId}`, now);
    const gcOld = queueBlocks(state, old.blockIds, `file ${old.fileId} of ${table.name} ${session.partition} re-laid out as ${answer.fileId}`, now, now + this.graceMs);
    await writePiecesAhead(db, [split], now);
    await db.write([
      del(db.manifestDrops, split.record.fileId),
      put(db.files, fileKey(table.id, session.partition, split.record.fileId), split.record),
      del(db.files, fileKey(table.id, session.partition, old.fileId)),
      ...dropMarkers(db, [old], now),
      ...committedBlocks.map((block) => put(db.blocks, block.blockId, block)),
      put(db.sessions, session.sessionId, closed),
      ...gcUnused.operations,
      ...gcOld.operations,
    ]);
    for (const block of committedBlocks) state.putBlock(block);
    gcUnused.apply();
    gcOld.apply();
    files[index] = loadFile(split.record);
    state.putSession(closed);
    return { answer, old };
  }

  private async judge(table: TableRecord, spec: string, record: FileRecord, scansExpected: number, now: number): Promise<RelayoutCandidate> {
    const base = { partition: spec, fileId: record.fileId, blocks: record.blockIds.length };
    const shared = this.sharedBlocks(table, spec, record);
    if (shared !== undefined) {
      return { ...base, bytes: 0, readsNow: 0, readsAfter: 0, bytesToRewrite: 0, bytesSaved: 0, pays: false, reason: `shares block ${shared} with another file of its commit` };
    }
    const scores = this.scores(table, record.columnCids, now);
    const streams = await this.streamsOf(record, false);
    const blocks: ModelBlock[] = record.blockIds.map((blockId, ref) => {
      const block = this.deps.state.blocks.get(blockId);
      if (block === undefined) throw new GranaryError('GRN_INTERNAL', `catalog names block ${blockId}, which has no record`);
      return { dataShards: block.dataShards, parityShards: block.parityShards, blockBytes: block.blockBytes, streams: streams.byBlock[ref] ?? [] };
    });
    return { ...base, ...judgeFile(blocks, popularityOrder(scores), hotColumns(scores), scansExpected) };
  }

  private scores(table: TableRecord, cids: readonly number[], now: number): ColumnScore[] {
    return this.deps.columnScores(table.id, cids, now);
  }

  private partitionOf(table: TableRecord, partition: string): string {
    const spec = parsePartitionSpec(partition, table.partitionBy).spec;
    if (!this.deps.state.partitionsOf(table.id).has(spec)) throw new GranaryError('GRN_PARTITION_NOT_FOUND', `table ${table.name} has no committed partition ${spec}`);
    return spec;
  }

  private fileOf(table: TableRecord, spec: string, fileId: string): FileRecord {
    const found = this.deps.state.filesOf(table.id, spec).find(({ record }) => record.fileId === fileId);
    if (found === undefined) throw new GranaryError('GRN_FILE_NOT_FOUND', `partition ${spec} of table ${table.name} has no file ${fileId}; \`granary relayout ${table.name} --dry-run\` lists its files`);
    return found.record;
  }

  /** A block the file shares with another file of the partition (files of one commit may), if any. */
  private sharedBlocks(table: TableRecord, spec: string, record: FileRecord): string | undefined {
    const mine = new Set(record.blockIds);
    for (const { record: other } of this.deps.state.filesOf(table.id, spec)) {
      if (other.fileId === record.fileId || other.sessionId !== record.sessionId) continue;
      const shared = other.blockIds.find((blockId) => mine.has(blockId));
      if (shared !== undefined) return shared;
    }
    return undefined;
  }

  /** Reads the file's manifest pieces: its streams by block, and (when `keepStripes`) its stripes. */
  private async streamsOf(record: FileRecord, keepStripes: boolean): Promise<FileStreams> {
    const byBlock: StreamAt[][] = record.blockIds.map(() => []);
    const stripes: StripeRecord[] = [];
    const columns = record.columnCids.length;
    for (let piece = 0; piece < record.manifest.pieceBytes.length; piece++) {
      const decoded: DecodedPiece = await this.deps.manifests.get(record, piece);
      const entries = new Uint8Array(decoded.words.buffer, decoded.words.byteOffset, decoded.words.byteLength);
      for (let s = 0; s < decoded.stripes; s++) {
        const stripe = decoded.firstStripe + s;
        for (let c = 0; c < columns; c++) {
          const entry = decodeStreamEntry(entries, s * columns + c);
          if (entry.blockRef === NO_BLOCK) continue;
          const list = byBlock[entry.blockRef];
          if (list === undefined) throw new GranaryError('GRN_INTERNAL', `file ${record.fileId} stripe ${stripe} column ${c} names block ref ${entry.blockRef} of ${record.blockIds.length}`);
          list.push({ stripe, column: c, offset: entry.offset, length: entry.length, checksum: entry.checksum });
        }
        if (keepStripes) {
          const streams = entries.slice(s * columns * STREAM_ENTRY_BYTES, (s + 1) * columns * STREAM_ENTRY_BYTES);
          const stats = new Uint8Array(decoded.stats.buffer, decoded.stats.byteOffset + s * columns * 16, columns * 16).slice();
          stripes.push({ rows: decoded.rows[s] as number, streams, stats });
        }
      }
    }
    for (const list of byBlock) list.sort((a, b) => a.offset - b.offset || a.stripe - b.stripe || a.column - b.column);
    return { byBlock, stripes };
  }
}

