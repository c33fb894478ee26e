/** The metadata service's parts wired together over one state. */
import type { Dispatcher } from 'undici';
import { GranaryError, type HeartbeatAnswer, type NodeHeartbeat, type NodeInfo, type NodeRegistration, type PlannedBlock, type RegistrationAnswer, type RepairTask, type ScanRequest } from '../protocol/index.js';
import type { BlockPage, GcBacklog } from '../protocol/page-types.js';
import { gcBacklog, wakeGcFor } from './gc.js';
import { type PageRequest, cutPage } from './paging.js';
import { type InventoryConfig, INVENTORY_DEFAULTS, Inventory } from './inventory.js';
import { type LivenessConfig, NodeRegistry } from './nodes.js';
import type { Random } from './placement.js';
import { REPAIR_DEFAULTS, type RepairConfig, RepairScheduler } from './repair.js';
import { MANIFEST_CACHE_BYTES_DEFAULT, ManifestCache } from './manifests/cache.js';
import { Scans } from './scans.js';
import { Relayouts } from './relayout.js';
import { HotSets } from './hot-sets.js';
import { JOB_DECLARATION_FIRST_EPOCH_TTL_MS } from '../protocol/hot-cache-types.js';
import { type JobAccount, JobAccounts, fromStoredJob, toStoredJob } from './job-accounts.js';
import { del, put } from './db.js';
import type { JobReadReport } from '../protocol/job-types.js';
import type { MetadataState } from './state.js';
import { Catalog, QUOTA_DEFAULTS, type Quotas } from './tables.js';
import { WriteSessions } from './writes.js';
import { CapabilityIssuer } from './capabilities.js';
import { TokenStore } from './tokens.js';

/** Blocks listed per page by `GET /v1/blocks` when `limit` is left out (also its most). */
export const BLOCKS_PAGE_MAX = 1_000;

export interface ServiceConfig {
  readonly liveness: LivenessConfig;
  readonly repair?: RepairConfig;
  readonly inventory?: InventoryConfig;
  /** Catalog and write quotas; each one left out keeps its default. */
  readonly quotas?: Partial<Quotas>;
  /** Signs chunk capabilities; an in-memory key when not given (tests). */
  readonly capabilities?: CapabilityIssuer;
  /**
   * 'on' (the default): every route but /health and /metrics needs a bearer token
   * (metadata/auth.ts) and nodes are told to check capabilities. 'off': for tests and
   * benchmarks on loopback only.
   */
  readonly auth?: 'on' | 'off';
  /** Carries the service's own calls to storage nodes (checking readers' damage reports); one trusting the cluster CA under TLS. */
  readonly nodeDispatcher?: Dispatcher;
  /** Bytes of decoded manifest pieces kept in memory (manifests/cache.ts); MANIFEST_CACHE_BYTES_DEFAULT when not given. */
  readonly manifestCacheBytes?: number;
  /** Half-life of column popularity (metadata/popularity.ts); POPULARITY_HALF_LIFE_MS_DEFAULT when not given. */
  readonly popularityHalfLifeMs?: number;
  /** How long a job's read accounting is kept after it was last seen (metadata/job-accounts.ts). */
  readonly jobRetentionMs?: number;
  /** How long re-laid-out blocks stay readable before GC (metadata/relayout.ts); RELAYOUT_GRACE_MS_DEFAULT when not given. */
  readonly relayoutGraceMs?: number;
}

export class MetadataService {
  readonly nodes: NodeRegistry;
  readonly catalog: Catalog;
  readonly writes: WriteSessions;
  readonly scans: Scans;
  readonly repair: RepairScheduler;
  readonly inventory: Inventory;
  /** Per-job read accounting; loaded by `load()`. */
  readonly jobs: JobAccounts;
  readonly relayouts: Relayouts;
  /** What each node keeps in its hot-column cache. */
  readonly hotSets: HotSets;
  /** Where work off any request path reports failures; the runtime points it at its log. */
  onBackgroundError: (error: unknown) => void = (error) => console.error(error);
  /** Loaded by `load()`, with the rest of what the service keeps outside MetadataState. */
  readonly tokens: TokenStore;
  readonly capabilities: CapabilityIssuer;
  readonly auth: 'on' | 'off';
  readonly nodeDispatcher: Dispatcher | undefined;

  constructor(
    readonly state: MetadataState,
    config: ServiceConfig,
    startedAt: number,
    random: Random = Math.random,
  ) {
    this.nodes = new NodeRegistry(state, config.liveness, startedAt);
    this.catalog = new Catalog(state, this.nodes, { ...QUOTA_DEFAULTS, ...config.quotas });
    this.writes = new WriteSessions(state, this.catalog, this.nodes, random);
    this.scans = new Scans(state, this.catalog, this.nodes, new ManifestCache(state.db.manifests, config.manifestCacheBytes ?? MANIFEST_CACHE_BYTES_DEFAULT), config.popularityHalfLifeMs);
    this.repair = new RepairScheduler(state, this.nodes, config.repair ?? REPAIR_DEFAULTS, random);
    this.inventory = new Inventory(state, config.inventory ?? INVENTORY_DEFAULTS);
    this.jobs = new JobAccounts(config.jobRetentionMs);
    this.hotSets = new HotSets({
      plan: (table, request, after) => this.scans.plan(table, request, after === undefined ? {} : { after }),
      check: (declaration) => {
        const table = this.catalog.table(declaration.table);
        for (const name of declaration.columns ?? []) {
          if (!table.columns.some((c) => c.name === name && c.droppedInVersion === undefined)) {
            throw new GranaryError('GRN_BAD_REQUEST', `table ${table.name} has no column ${name}; \`granary table describe ${table.name}\` lists them`);
          }
        }
      },
      columnBytes: (table, column) => this.scans.columnBytes(table, column),
      onError: (error) => this.onBackgroundError(error),
    });
    // A training job's first plan of each epoch declares (or renews) what it reads, unless the
    // job registered a declaration (which wins).
    this.scans.onTrainingScan = (table, job, request) => {
      // The plan it rides on must not fail for it: the cache is an optimisation.
      try {
        this.declareFirstEpoch(table, job, request);
      } catch (error) {
        this.onBackgroundError(error);
      }
    };
    this.relayouts = new Relayouts({
      state,
      catalog: this.catalog,
      writes: this.writes,
      manifests: this.scans.manifests,
      plannedBlock: (blockId, now) => this.plannedBlock(blockId, now),
      columnScores: (tableId, cids, now) => this.scans.columnScores(tableId, cids, now),
      ...(config.relayoutGraceMs === undefined ? {} : { graceMs: config.relayoutGraceMs }),
    });
    this.tokens = new TokenStore(state.db);
    this.capabilities = config.capabilities ?? CapabilityIssuer.ephemeral();
    this.auth = config.auth ?? 'on';
    this.nodeDispatcher = config.nodeDispatcher;
  }

  /** A training job's first plan of an epoch declares (or renews) what it reads, for the hot-column cache. */
  private declareFirstEpoch(table: string, job: string, request: ScanRequest): void {
    this.hotSets.declare(
      {
        job,
        table,
        ...(request.columns === undefined ? {} : { columns: request.columns }),
        ...(request.partitions === undefined ? {} : { partitions: request.partitions }),
        ttlMs: JOB_DECLARATION_FIRST_EPOCH_TTL_MS,
      },
      'first-epoch',
      Date.now(),
    );
  }

  /** Loads the tokens and the jobs' accounting (the catalog itself is loaded by MetadataState.load). */
  async load(): Promise<void> {
    await this.tokens.load();
    const accounts: JobAccount[] = [];
    for await (const [, stored] of this.state.db.jobs.entries()) {
      const account = fromStoredJob(stored);
      if (account !== undefined) accounts.push(account);
    }
    this.jobs.restore(accounts, Date.now());
  }

  /** A reader's counts since its previous report, for a table it may read. */
  reportJob(tableName: string, report: JobReadReport): void {
    this.jobs.addReport(this.catalog.table(tableName).name, report, Date.now());
  }

  /**
   * Writes the jobs changed since the last flush, and deletes the ones forgotten. Like
   * popularity, losing the last seconds of counts in a crash is harmless.
   */
  async flushJobs(): Promise<void> {
    const { changed, forgotten } = this.jobs.takeChanges();
    await this.state.db.write([...changed.map((account) => put(this.state.db.jobs, account.job, toStoredJob(account))), ...forgotten.map((job) => del(this.state.db.jobs, job))]);
  }

  async register(registration: NodeRegistration): Promise<RegistrationAnswer> {
    const info = await this.nodes.register(registration);
    // A node that (re)starts may have lost any part of its disk: compare before trusting it.
    this.inventory.want(registration.nodeId);
    return { ...info, capabilityKey: this.auth === 'on' ? this.capabilities.publicKeyText : null };
  }

  /** Records the heartbeat and answers with work: repair tasks for its free slots, an inventory round. */
  async heartbeat(nodeId: string, heartbeat: NodeHeartbeat): Promise<HeartbeatAnswer> {
    const { info, returned } = await this.nodes.heartbeat(nodeId, heartbeat);
    // Back from the dead: what it holds is compared with the catalog, not trusted blindly, and
    // the deletions that waited for it go ahead.
    if (returned) {
      this.inventory.want(nodeId);
      wakeGcFor(this.state, nodeId);
    }
    this.repair.extend(nodeId, heartbeat.repairsRunning ?? []);
    if (heartbeat.jobs !== undefined) this.jobs.addNodeCounts(heartbeat.jobs, Date.now());
    const hot = this.hotSets.forNode(nodeId, heartbeat.hotVersion, Date.now());
    const repairs = (await this.repair.assign(nodeId, heartbeat.repairSlotsFree ?? 0)).map((task) => this.withCapabilities(task));
    const inventoryRound = info.state === 'alive' || info.state === 'draining' ? this.inventory.maybeOpen(nodeId) : undefined;
    return { ...info, ...(repairs.length === 0 ? {} : { repairs }), ...(inventoryRound === undefined ? {} : { inventoryRound }), ...(hot === undefined ? {} : { hot }) };
  }

  /** A task carries what its node needs to do it: reading the block, and replacing each restored chunk. */
  private withCapabilities(task: RepairTask): RepairTask {
    return {
      ...task,
      readCapability: this.capabilities.read(task.blockId),
      restores: task.restores.map((restore) => ({ ...restore, capability: this.capabilities.replace(restore.chunkId) })),
    };
  }

  gcBacklog(): GcBacklog {
    return gcBacklog(this.state);
  }

  tableNamesById(): Map<string, string> {
    return new Map([...this.state.tablesByName.values()].map((table) => [table.id, table.name]));
  }

  /**
   * Committed blocks with their chunk locations, in block id order, for fsck and tools: a page
   * is read from the ids kept in order as blocks commit and go (state.committedIds, or the
   * table's), so it costs O(log n + page), never a walk or a sort of every block.
   */
  listBlocks(options: { readonly table?: string } & PageRequest): BlockPage {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > BLOCKS_PAGE_MAX) {
      throw new GranaryError('GRN_BAD_REQUEST', `limit must be 1..${BLOCKS_PAGE_MAX}`);
    }
    const ids = options.table === undefined ? this.state.committedIds : this.state.committedIdsByTable.get(this.catalog.table(options.table).id);
    const now = Date.now();
    const { keys: page, next } = cutPage(ids?.after(options.after, options.limit + 1) ?? [], options.limit);
    const blocks = page.map((blockId) => this.plannedBlock(blockId, now));
    return { blocks, next };
  }

  /** A committed block with its chunk locations and a read capability, as plans give them. */
  plannedBlock(blockId: string, now: number): PlannedBlock {
    const block = this.state.blocks.get(blockId);
    if (block === undefined) throw new GranaryError('GRN_INTERNAL', `catalog names block ${blockId}, which has no record`);
    return {
      blockId,
      dataShards: block.dataShards,
      parityShards: block.parityShards,
      codec: block.codec,
      blockBytes: block.blockBytes,
      shardBytes: block.shardBytes,
      capability: this.capabilities.read(blockId, now),
      chunks: block.nodes.map((nodeId, shard) => {
        const node = this.state.nodes.get(nodeId);
        return { shard, chunkId: `${blockId}.${shard}`, nodeId, url: node?.url ?? '', nodeState: node === undefined ? 'removed' : this.nodes.stateOf(node, now) };
      }),
    };
  }
}
