/**
 * Write sessions: the lease a writer holds on a partition while it stores chunks, the blocks it
 * is given, and the atomic, idempotent commit that makes its files visible. An aborted or expired
 * session's blocks go to garbage collection in the same batch that closes it.
 */
import { checkReceipts } from './receipts.js';
import { randomBytes } from 'node:crypto';
import { DEFAULT_CODEC_ID } from '../erasure/index.js';
import {
  type BlockPlacement,
  type CommitManifest,
  type CommitResult,
  GranaryError,
  type OpenSessionRequest,
  type SessionInfo,
  parsePartitionSpec,
  TABLE_DEFAULTS,
} from '../protocol/index.js';
import { del, put } from './db.js';
import { queueBlocks } from './gc.js';
import { checkCommit, columnsAtVersion } from './manifest.js';
import { writePiecesAhead } from './manifests/drops.js';
import { splitFile } from './manifests/pieces.js';
import type { NodeRegistry } from './nodes.js';
import { type Random, placeShards } from './placement.js';
import { loadFile } from './planner.js';
import type { BlockRecord, PartitionRecord, SessionRecord, TableRecord } from './records.js';
import { columnInfo } from './schema.js';
import { type MetadataState, fileKey, partitionKey } from './state.js';
import { type Catalog, quotaExceeded } from './tables.js';

export const LEASE_MS_DEFAULT = 60_000;
export const LEASE_MS_MAX = 60 * 60_000;
/** How long a closed session is kept, so a retried commit still gets its original answer. */
export const CLOSED_SESSION_RETENTION_MS = 24 * 60 * 60 * 1000;
const SESSIONS_FORGOTTEN_PER_SWEEP = 1000;

export class WriteSessions {
  constructor(
    private readonly state: MetadataState,
    private readonly catalog: Catalog,
    private readonly nodes: NodeRegistry,
    private readonly random: Random = Math.random,
  ) {}

  /** `ownerTokenId`: the token opening it, the only one (besides admins) that may use it. */
  open(tableName: string, request: OpenSessionRequest, ownerTokenId?: string): Promise<SessionInfo> {
    return this.state.exclusive(async () => {
      const table = this.catalog.table(tableName);
      const { spec, values } = parsePartitionSpec(request.partition, table.partitionBy);
      const { openSessionsMax, openSessionsPerTableMax } = this.catalog.quotas;
      const openHere = this.state.openSessionCount(table.id);
      if (openHere >= openSessionsPerTableMax) {
        throw quotaExceeded('openSessionsPerTableMax', openSessionsPerTableMax, `table ${table.name} has ${openHere} open write sessions`, 'commit or abort some first');
      }
      const openAll = this.state.openSessionCount();
      if (openAll >= openSessionsMax) {
        throw quotaExceeded('openSessionsMax', openSessionsMax, `the cluster has ${openAll} open write sessions`, 'commit or abort some first');
      }
      const leaseMs = request.leaseMs ?? LEASE_MS_DEFAULT;
      if (!Number.isInteger(leaseMs) || leaseMs < 1000 || leaseMs > LEASE_MS_MAX) {
        throw new GranaryError('GRN_BAD_REQUEST', `leaseMs must be an integer in 1000..${LEASE_MS_MAX}`);
      }
      const now = Date.now();
      const session: SessionRecord = {
        sessionId: `s${randomBytes(10).toString('hex')}`,
        tableId: table.id,
        tableName: table.name,
        partition: spec,
        values,
        state: 'open',
        leaseMs,
        leaseExpiresAt: now + leaseMs,
        createdAt: now,
        schemaVersion: table.schemaVersion,
        ...(ownerTokenId === undefined ? {} : { ownerTokenId }),
      };
      await this.state.db.write([put(this.state.db.sessions, session.sessionId, session)]);
      this.state.putSession(session);
      return this.info(session);
    });
  }

  get(sessionId: string): SessionInfo {
    return this.info(this.session(sessionId));
  }

  renew(sessionId: string): Promise<SessionInfo> {
    return this.state.exclusive(async () => {
      const session = this.openSession(sessionId);
      const next: SessionRecord = { ...session, leaseExpiresAt: Date.now() + session.leaseMs };
      await this.state.db.write([put(this.state.db.sessions, sessionId, next)]);
      this.state.putSession(next);
      return this.info(next);
    });
  }

  allocateBlock(sessionId: string): Promise<BlockPlacement> {
    return this.state.exclusive(async () => {
      const session = this.openSession(sessionId);
      const held = this.state.blocksOfSession(sessionId).size;
      const { blocksPerSessionMax } = this.catalog.quotas;
      if (held >= blocksPerSessionMax) {
        throw quotaExceeded('blocksPerSessionMax', blocksPerSessionMax, `session ${sessionId} holds ${held} blocks`, 'commit this session and write the rest through another');
      }
      const table = this.tableOf(session);
      // Up to m nodes down or draining: shards double up rather than the write stopping; the
      // block is under-replicated from its commit on, and repair spreads it out again.
      const chosen = placeShards(this.nodes.placementCandidates(), table.dataShards + table.parityShards, this.random, [], {
        allowShared: true,
        minDistinctNodes: table.dataShards,
      });
      const block: BlockRecord = {
        blockId: `b${randomBytes(10).toString('hex')}`,
        tableId: table.id,
        sessionId,
        dataShards: table.dataShards,
        parityShards: table.parityShards,
        codec: DEFAULT_CODEC_ID,
        nodes: chosen.map((node) => node.nodeId),
        state: 'allocated',
        blockBytes: 0,
        shardBytes: 0,
        createdAt: Date.now(),
      };
      // The block record alone: it names the session, so the session record is not rewritten
      // and an allocation costs the same whether it is the session's first block or its last.
      await this.state.db.write([put(this.state.db.blocks, block.blockId, block)]);
      this.state.putBlock(block);
      return this.placement(block);
    });
  }

  replaceShard(sessionId: string, blockId: string, shard: number): Promise<BlockPlacement> {
    return this.state.exclusive(async () => {
      const session = this.openSession(sessionId);
      const block = this.state.blocks.get(blockId);
      if (block === undefined || block.sessionId !== session.sessionId || block.state !== 'allocated') {
        throw new GranaryError('GRN_BAD_REQUEST', `block ${blockId} is not an uncommitted block of session ${sessionId}`);
      }
      if (!Number.isInteger(shard) || shard < 0 || shard >= block.nodes.length) {
        throw new GranaryError('GRN_BAD_REQUEST', `shard must be 0..${block.nodes.length - 1}, got ${shard}`);
      }
      const candidates = this.nodes.placementCandidates();
      const keep = block.nodes.filter((_, index) => index !== shard);
      const taken = keep.map((nodeId) => {
        const node = this.state.nodes.get(nodeId);
        return { nodeId, domain: node?.domain ?? '', freeBytes: node?.freeBytes ?? 0 };
      });
      // The failed node is excluded too: the writer just could not reach it.
      const failed = block.nodes[shard] as string;
      const [replacement] = placeShards(candidates.filter((node) => node.nodeId !== failed), 1, this.random, taken, {
        allowShared: true,
        minDistinctNodes: block.dataShards,
      });
      const next: BlockRecord = {
        ...block,
        nodes: block.nodes.map((nodeId, index) => (index === shard ? (replacement?.nodeId ?? nodeId) : nodeId)),
        formerNodes: [...(block.formerNodes ?? []), { shard, nodeId: failed }],
      };
      await this.state.db.write([put(this.state.db.blocks, blockId, next)]);
      this.state.putBlock(next);
      return this.placement(next);
    });
  }

  commit(sessionId: string, manifest: CommitManifest): Promise<CommitResult> {
    return this.state.exclusive(async () => {
      const session = this.session(sessionId);
      if (session.state === 'committed' && session.result !== undefined) return { ...session.result, alreadyCommitted: true };
      this.assertOpen(session);
      const table = this.tableOf(session);
      const now = Date.now();
      // After the last file's, not the file count: a dropped file leaves a gap a count would reuse.
      const files = this.state.filesOf(table.id, session.partition);
      const nextSequence = files.length === 0 ? 0 : (files[files.length - 1] as (typeof files)[number]).record.sequence + 1;
      const held = this.sessionBlocks(sessionId);
      const checked = checkCommit(table, session, manifest, held, now, nextSequence, { stripesPerCommitMax: this.catalog.quotas.stripesPerCommitMax });
      // After the claims are checked against the session: the nodes must vouch for every chunk.
      checkReceipts(manifest.blocks, held, this.state.nodes);
      const result: CommitResult = {
        sessionId,
        table: table.name,
        partition: session.partition,
        fileIds: checked.files.map((file) => file.fileId),
        rows: checked.rows,
        bytes: checked.bytes,
        alreadyCommitted: false,
      };
      const db = this.state.db;
      const existing = this.state.partitionsOf(table.id).get(session.partition);
      const stripes = checked.files.reduce((sum, file) => sum + file.stripes.length, 0);
      const partition: PartitionRecord | undefined =
        checked.files.length === 0
          ? existing
          : {
              tableId: table.id,
              spec: session.partition,
              values: session.values,
              createdAt: existing?.createdAt ?? now,
              files: (existing?.files ?? 0) + checked.files.length,
              stripes: (existing?.stripes ?? 0) + stripes,
              rows: (existing?.rows ?? 0) + checked.rows,
              bytes: (existing?.bytes ?? 0) + checked.bytes,
              rawBytes: (existing?.rawBytes ?? existing?.bytes ?? 0) + checked.rawBytes,
            };
      const closed: SessionRecord = { ...session, state: 'committed', result, closedAt: now, blocksAtClose: held.size };
      const gc = queueBlocks(this.state, checked.unusedBlockIds, `unused by commit of session ${sessionId}`, now);
      // Each file's stripes go to immutable manifest pieces; only the small record stays in memory.
      const split = checked.files.map((file) => splitFile(file));
      await writePiecesAhead(db, split, now);
      await db.write([
        ...split.map(({ record }) => del(db.manifestDrops, record.fileId)),
        ...split.map(({ record }) => put(db.files, fileKey(table.id, session.partition, record.fileId), record)),
        ...checked.committedBlocks.map((block) => put(db.blocks, block.blockId, block)),
        ...(partition === undefined || checked.files.length === 0 ? [] : [put(db.partitions, partitionKey(table.id, partition.spec), partition)]),
        put(db.sessions, sessionId, closed),
        ...gc.operations,
      ]);
      for (const block of checked.committedBlocks) this.state.putBlock(block);
      gc.apply();
      if (partition !== undefined && checked.files.length > 0) {
        this.state.partitionsOf(table.id).set(partition.spec, partition);
        this.state.filesOf(table.id, partition.spec).push(...split.map(({ record }) => loadFile(record)));
      }
      this.state.putSession(closed);
      return result;
    });
  }

  /**
   * A session about to commit something other than new files (a re-layout, metadata/relayout.ts),
   * under MetadataState.exclusive: its record and table, and the blocks it may name; or its
   * stored result when it committed already (a retried commit).
   */
  claim(sessionId: string): { readonly committed: CommitResult } | { readonly session: SessionRecord; readonly table: TableRecord; readonly held: Map<string, BlockRecord> } {
    const session = this.session(sessionId);
    if (session.state === 'committed' && session.result !== undefined) return { committed: session.result };
    this.assertOpen(session);
    return { session, table: this.tableOf(session), held: this.sessionBlocks(sessionId) };
  }

  abort(sessionId: string): Promise<SessionInfo> {
    return this.state.exclusive(async () => {
      const session = this.session(sessionId);
      if (session.state === 'aborted' || session.state === 'expired') return this.info(session);
      this.assertOpen(session);
      return this.info(await this.close(session, 'aborted'));
    });
  }

  /**
   * Expires open sessions whose lease ran out, and forgets closed sessions older than
   * CLOSED_SESSION_RETENTION_MS (long enough for any commit retry to still get its answer).
   * Returns how many expired.
   */
  expireLeases(now = Date.now()): Promise<number> {
    return this.state.exclusive(async () => {
      let expired = 0;
      const forgotten: string[] = [];
      for (const session of [...this.state.sessions.values()]) {
        if (session.state === 'open' && session.leaseExpiresAt <= now) {
          await this.close(session, 'expired');
          expired++;
        } else if (session.state !== 'open' && (session.closedAt ?? session.leaseExpiresAt) + CLOSED_SESSION_RETENTION_MS <= now) {
          if (forgotten.length < SESSIONS_FORGOTTEN_PER_SWEEP) forgotten.push(session.sessionId);
        }
      }
      if (forgotten.length > 0) {
        await this.state.db.write(forgotten.map((id) => del(this.state.db.sessions, id)));
        for (const id of forgotten) this.state.deleteSession(id);
      }
      return expired;
    });
  }

  private async close(session: SessionRecord, state: 'aborted' | 'expired'): Promise<SessionRecord> {
    const held = [...this.state.blocksOfSession(session.sessionId)];
    const closed: SessionRecord = { ...session, state, closedAt: Date.now(), blocksAtClose: held.length };
    const gc = queueBlocks(this.state, held, `session ${session.sessionId} ${state}`, Date.now());
    await this.state.db.write([put(this.state.db.sessions, session.sessionId, closed), ...gc.operations]);
    gc.apply();
    this.state.putSession(closed);
    return closed;
  }

  /** The session's blocks still `allocated`, by id: what its commit may name. */
  private sessionBlocks(sessionId: string): Map<string, BlockRecord> {
    const held = new Map<string, BlockRecord>();
    for (const blockId of this.state.blocksOfSession(sessionId)) {
      const block = this.state.blocks.get(blockId);
      if (block !== undefined) held.set(blockId, block);
    }
    return held;
  }

  private session(sessionId: string): SessionRecord {
    const session = this.state.sessions.get(sessionId);
    if (session === undefined) throw new GranaryError('GRN_SESSION_NOT_FOUND', `no write session ${sessionId}`);
    return session;
  }

  private openSession(sessionId: string): SessionRecord {
    const session = this.session(sessionId);
    this.assertOpen(session);
    return session;
  }

  private assertOpen(session: SessionRecord): void {
    if (session.state === 'open' && session.leaseExpiresAt <= Date.now()) {
      throw new GranaryError('GRN_SESSION_CLOSED', `write session ${session.sessionId} lease ran out; open a new session and write again`);
    }
    if (session.state !== 'open') {
      throw new GranaryError('GRN_SESSION_CLOSED', `write session ${session.sessionId} is ${session.state}; open a new session`);
    }
  }

  private tableOf(session: SessionRecord) {
    const table = this.catalog.table(session.tableName);
    if (table.id !== session.tableId) {
      throw new GranaryError('GRN_SESSION_CLOSED', `table ${session.tableName} was dropped and re-created since session ${session.sessionId} opened`);
    }
    return table;
  }

  private placement(block: BlockRecord): BlockPlacement {
    return {
      blockId: block.blockId,
      dataShards: block.dataShards,
      parityShards: block.parityShards,
      codec: block.codec,
      chunks: block.nodes.map((nodeId, shard) => ({
        shard,
        chunkId: `${block.blockId}.${shard}`,
        nodeId,
        url: this.state.nodes.get(nodeId)?.url ?? '',
      })),
    };
  }

  private info(session: SessionRecord): SessionInfo {
    const table = this.state.tablesByName.get(session.tableName);
    const columns = table === undefined ? [] : [...columnsAtVersion(table, session.schemaVersion).values()].map(columnInfo);
    return {
      sessionId: session.sessionId,
      table: session.tableName,
      partition: session.partition,
      state: session.state === 'open' && session.leaseExpiresAt <= Date.now() ? 'expired' : session.state,
      leaseMs: session.leaseMs,
      leaseExpiresAt: new Date(session.leaseExpiresAt).toISOString(),
      createdAt: new Date(session.createdAt).toISOString(),
      blocks: session.state === 'open' ? this.state.blocksOfSession(session.sessionId).size : (session.blocksAtClose ?? 0),
      schemaVersion: session.schemaVersion,
      columns,
      ec: table === undefined ? '' : `${table.dataShards}+${table.parityShards}`,
      codec: DEFAULT_CODEC_ID,
      blockBytes: table?.blockBytes ?? 0,
      stripeRows: table?.stripeRows ?? 0,
      stripeBytes: table?.stripeBytes ?? 0,
      encoding: table?.encoding ?? TABLE_DEFAULTS.encoding,
      compressionLevel: table?.compressionLevel ?? TABLE_DEFAULTS.compressionLevel,
    };
  }
}
