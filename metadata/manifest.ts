/**
 * Turns a writer's commit manifest into file records, checking it against what the session was
 * given and against what the catalog's packed records can hold: every block was allocated to
 * this session and is still uncommitted, its sizes agree with its erasure layout and the table's
 * block size, every stream lies inside one of the commit's blocks, every count fits the u32 fields
 * of protocol/scan-types.ts, every column existed when the session opened. A manifest that fails
 * any check is refused whole, naming the file, stripe and column, before anything is stored: a
 * bad commit that got in would fail every later read of its partition. Pure.
 */
import { randomBytes } from 'node:crypto';
import { SHARD_BYTES_MAX, checksumFromHex, contiguousLayout } from '../erasure/index.js';
import {
  type BlockManifest,
  type CommitManifest,
  GranaryError,
  STREAM_ENTRY_BYTES,
  encodeStreamEntry,
  STREAM_ENCODINGS,
  isKnownEncoding,
} from '../protocol/index.js';
import { outwardFloat } from './pruning.js';
import type { BlockRecord, ColumnRecord, FileWithStripes, SessionRecord, StripeRecord, TableRecord } from './records.js';
import { quotaExceeded } from './tables.js';

/**
 * Rows of one stripe. Nulls are packed as u32 and must not exceed rows, so rows must fit a u32;
 * 10 million is also the largest stripe-row target a table accepts (metadata/schema.ts).
 */
export const STRIPE_ROWS_MAX = 10_000_000;
/** Streams are packed with a u32 length (protocol/scan-types.ts). */
export const STREAM_BYTES_MAX = 0xffff_ffff;
/** Files one commit adds (the writer sends one; several writers use several sessions). */
export const FILES_PER_COMMIT_MAX = 1_024;
/** Stripes of one commit, all files together: the hard ceiling above the stripesPerCommitMax quota. */
export const STRIPES_PER_COMMIT_MAX = 1_000_000;
/**
 * Streams (stripes x columns) of one commit. Each becomes 48 bytes of records (32 packed, 16 of
 * stats); on the wire a writer's stream entry is about 130 bytes of msgpack, so the 64 MiB commit
 * body (routes/schemas.ts) carries about 500,000 and this ceiling is never the tighter one.
 */
export const STREAMS_PER_COMMIT_MAX = 1_000_000;
/**
 * A block may pass the table's block target by one stripe (the writer starts a new block only
 * between stripes, and a single stripe can exceed the target); its size claim is bounded by
 * BLOCK_OVERSHOOT_FACTOR x (block target + stripe target) and by what its shards can hold.
 */
export const BLOCK_OVERSHOOT_FACTOR = 2;
const CHECKSUM_HEX = /^[0-9a-fA-F]{16}$/;
/** int64 stats beyond 2^53 travel as decimal strings; nothing else may. */
const DECIMAL_INTEGER = /^-?\d{1,20}$/;

function bad(message: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', `commit rejected, nothing was stored: ${message}`);
}

/** Limits that depend on the service's settings. */
export interface CommitLimits {
  readonly stripesPerCommitMax: number;
}

export const COMMIT_LIMITS_DEFAULT: CommitLimits = { stripesPerCommitMax: STRIPES_PER_COMMIT_MAX };

export interface CheckedCommit {
  /** With their stripes inline: writes.ts splits each into its record and manifest pieces. */
  readonly files: FileWithStripes[];
  /** Allocated blocks the manifest uses, with their final sizes. */
  readonly committedBlocks: BlockRecord[];
  /** Allocated blocks the manifest does not use: garbage. */
  readonly unusedBlockIds: string[];
  readonly rows: number;
  readonly bytes: number;
  /** Plain-layout bytes of the files' streams (`bytes` for a file that does not say). */
  readonly rawBytes: number;
}

/** The largest block a table's writer can produce (see BLOCK_OVERSHOOT_FACTOR). */
export function blockBytesMax(table: TableRecord): number {
  return Math.min(BLOCK_OVERSHOOT_FACTOR * (table.blockBytes + table.stripeBytes), SHARD_BYTES_MAX * table.dataShards);
}

/**
 * Checks the blocks a commit names against what the session was given, and answers them by id.
 * This is the seam for proof that the chunks exist: put receipts signed by the storage nodes
 * (each shard's length and checksum) are verified here, against `record.nodes`, once writers
 * send them; until then a block is trusted to hold what the writer says once it was allocated
 * to this session.
 */
export function checkBlockClaims(
  table: TableRecord,
  session: SessionRecord,
  claims: readonly BlockManifest[],
  allocated: ReadonlyMap<string, BlockRecord>,
): Map<string, BlockManifest> {
  const blocks = new Map<string, BlockManifest>();
  const sizeMax = blockBytesMax(table);
  for (const block of claims) {
    const record = allocated.get(block.blockId);
    if (record === undefined || record.sessionId !== session.sessionId || record.state !== 'allocated') {
      throw bad(`block ${block.blockId} was not allocated to session ${session.sessionId}, or is committed already; name only blocks this session was given and has not committed`);
    }
    if (blocks.has(block.blockId)) throw bad(`block ${block.blockId} is listed twice`);
    const policy = { dataShards: record.dataShards, parityShards: record.parityShards };
    if (!Number.isSafeInteger(block.blockBytes) || block.blockBytes < 1 || block.blockBytes > sizeMax) {
      throw bad(`block ${block.blockId}: blockBytes ${block.blockBytes} must be 1..${sizeMax} for table ${table.name} (block target ${table.blockBytes}, stripe target ${table.stripeBytes})`);
    }
    const layout = contiguousLayout(policy, block.blockBytes);
    if (block.shardBytes !== layout.shardBytes) {
      throw bad(`block ${block.blockId}: ${block.blockBytes} bytes under RS ${policy.dataShards}+${policy.parityShards} make ${layout.shardBytes}-byte shards, manifest says ${block.shardBytes}`);
    }
    assert(layout.shardBytes * policy.dataShards >= block.blockBytes, `block ${block.blockId}: k shards hold the block`);
    if (block.codec !== record.codec) throw bad(`block ${block.blockId} was placed for codec ${record.codec}, manifest says ${block.codec}`);
    const shards = policy.dataShards + policy.parityShards;
    if (!Array.isArray(block.shardChecksums) || block.shardChecksums.length !== shards || !block.shardChecksums.every((hex) => typeof hex === 'string' && CHECKSUM_HEX.test(hex))) {
      throw bad(`block ${block.blockId}: shardChecksums must list ${shards} xxh64 checksums of 16 hex digits, one per shard`);
    }
    blocks.set(block.blockId, block);
  }
  return blocks;
}

/** A stats bound as float64, rounded outward; undefined when absent. */
function statsBound(value: number | string | undefined, direction: 'down' | 'up', at: string): number {
  if (value === undefined) return Number.NaN;
  if (typeof value === 'number' && !Number.isNaN(value)) return value;
  if (typeof value === 'string' && DECIMAL_INTEGER.test(value)) return outwardFloat(value, direction);
  throw bad(`${at}: stats min/max must be numbers (not NaN) or decimal integer strings, got ${JSON.stringify(value)?.slice(0, 40)}`);
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

/**
 * `allocated`: the session's blocks (any others are refused). `firstSequence`: the sequence
 * number of the first new file, after every file the partition has.
 */
export function checkCommit(
  table: TableRecord,
  session: SessionRecord,
  manifest: CommitManifest,
  allocated: ReadonlyMap<string, BlockRecord>,
  now: number,
  firstSequence = 0,
  limits: CommitLimits = COMMIT_LIMITS_DEFAULT,
): CheckedCommit {
  checkSize(manifest, limits);
  const blocks = checkBlockClaims(table, session, manifest.blocks, allocated);

  const columns = columnsAtVersion(table, session.schemaVersion);
  const used = new Set<string>();
  const files: FileWithStripes[] = [];
  let rows = 0;
  let bytes = 0;
  let rawBytes = 0;
  manifest.files.forEach((file, fileIndex) => {
    const where = `file ${fileIndex}`;
    if (file.columns.length === 0) throw bad(`${where} has no columns`);
    if (file.stripes.length === 0) throw bad(`${where} has no stripes`);
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
      if (!Number.isSafeInteger(stripe.rows) || stripe.rows < 1 || stripe.rows > STRIPE_ROWS_MAX) {
        throw bad(`${at}: rows must be an integer in 1..${STRIPE_ROWS_MAX}, got ${stripe.rows}`);
      }
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
        if (stream.length > STREAM_BYTES_MAX) throw bad(`${at} column ${col}: a stream is at most ${STREAM_BYTES_MAX} bytes`);
        if (!isKnownEncoding(stream.encoding)) {
          throw bad(`${at} column ${col}: encoding ${String(stream.encoding)} is not one this service knows (${[...STREAM_ENCODINGS].join(', ')})`);
        }
        let checksum: bigint;
        try {
          checksum = checksumFromHex(stream.checksum);
        } catch {
          throw bad(`${at} column ${col}: checksum must be 16 hex digits (xxh64)`);
        }
        const nulls = stream.stats?.nulls ?? 0;
        if (!Number.isSafeInteger(nulls) || nulls < 0 || nulls > stripe.rows) {
          throw bad(`${at} column ${col}: nulls must be an integer in 0..${stripe.rows} (the stripe's rows), got ${nulls}`);
        }
        let ref = blockRefs.get(stream.block);
        if (ref === undefined) {
          ref = blockIds.length;
          blockIds.push(stream.block);
          blockRefs.set(stream.block, ref);
        }
        used.add(stream.block);
        encodeStreamEntry(streams, c, { blockRef: ref, offset: stream.offset, length: stream.length, checksum, encoding: stream.encoding, nulls });
        const low = statsBound(stream.stats?.min, 'down', `${at} column ${col}`);
        const high = statsBound(stream.stats?.max, 'up', `${at} column ${col}`);
        if (low > high) throw bad(`${at} column ${col}: stats min ${String(stream.stats?.min)} is above max ${String(stream.stats?.max)}`);
        stats[2 * c] = low;
        stats[2 * c + 1] = high;
        fileBytes += stream.length;
      });
      stripes.push({ rows: stripe.rows, streams, stats: new Uint8Array(stats.buffer) });
      fileRows += stripe.rows;
    });
    // A stream's plain layout is at most STREAM_BYTES_MAX too: a larger claim is not a size.
    const rawBytesMax = STREAM_BYTES_MAX * file.columns.length * file.stripes.length;
    if (file.rawBytes !== undefined && (!Number.isSafeInteger(file.rawBytes) || file.rawBytes < 0 || file.rawBytes > rawBytesMax)) {
      throw bad(`${where}: rawBytes must be an integer in 0..${rawBytesMax}, got ${String(file.rawBytes)}`);
    }
    files.push({
      fileId: `f${randomBytes(8).toString('hex')}`,
      tableId: table.id,
      partition: session.partition,
      sessionId: session.sessionId,
      committedAt: now,
      sequence: firstSequence + fileIndex,
      rows: fileRows,
      bytes: fileBytes,
      ...(file.rawBytes === undefined ? {} : { rawBytes: file.rawBytes }),
      columnCids: cids,
      blockIds,
      stripes,
    });
    rows += fileRows;
    bytes += fileBytes;
    rawBytes += file.rawBytes ?? fileBytes;
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
  const unusedBlockIds = [...allocated.values()]
    .filter((record) => record.sessionId === session.sessionId && record.state === 'allocated' && !used.has(record.blockId))
    .map((record) => record.blockId);
  assert(Number.isSafeInteger(rows) && Number.isSafeInteger(bytes), 'commit totals are exact');
  return { files, committedBlocks, unusedBlockIds, rows, bytes, rawBytes };
}

/** Counts against the commit's ceilings before any per-stream work (or record) is made. */
function checkSize(manifest: CommitManifest, limits: CommitLimits): void {
  if (manifest.files.length > FILES_PER_COMMIT_MAX) throw bad(`${manifest.files.length} files; a commit holds at most ${FILES_PER_COMMIT_MAX}`);
  let stripes = 0;
  let streams = 0;
  for (const file of manifest.files) {
    stripes += file.stripes.length;
    for (const stripe of file.stripes) streams += stripe.streams.length;
  }
  const stripesMax = Math.min(limits.stripesPerCommitMax, STRIPES_PER_COMMIT_MAX);
  if (stripes > stripesMax) {
    throw quotaExceeded('stripesPerCommitMax', stripesMax, `a commit of ${stripes} stripes`, 'write the partition through several sessions (each commits a file)');
  }
  if (streams > STREAMS_PER_COMMIT_MAX) throw bad(`${streams} streams (stripes x columns); a commit holds at most ${STREAMS_PER_COMMIT_MAX}: write through several sessions`);
}

/** An invariant the checks above guarantee; a failure is a bug, not a bad request. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}
