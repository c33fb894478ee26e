/**
 * Typed calls to the metadata service's HTTP API (protocol/*-types.ts), sent to whichever of the
 * metadata replicas answers (protocol/metadata-failover.ts).
 */
import type {
  BlockPlacement,
  CommitManifest,
  CommitResult,
  CorruptChunkReport,
  NodeInfo,
  OpenSessionRequest,
  PartitionDetail,
  PartitionInfo,
  PlannedBlock,
  RepairStatus,
  ScanPageRequest,
  ScanPlan,
  ScanRequest,
  SessionInfo,
  TableAlteration,
  TableInfo,
  TableSpec,
  TableSummary,
} from '../protocol/index.js';
import { GranaryError, type HttpPools } from '../protocol/index.js';
import { parseMetadataUrls } from '../protocol/metadata-endpoints.js';
import { FAILOVER_DEFAULTS, type FailoverPolicy, MetadataEndpoints, type Replay, callWithFailover } from '../protocol/metadata-failover.js';
import type { DroppedFile, PartitionFile } from '../protocol/catalog-types.js';
import type { BlockPage, FilePage, GcEntry, GcStatus, NodePage, PartitionPage, TablePage } from '../protocol/page-types.js';
import { type PageOptions, collect, followPages, pageQuery } from './paging.js';
import type { JobDetail, JobList, JobReadReport } from '../protocol/job-types.js';
import type { DeclaredJob, Declarations, JobDeclaration } from '../protocol/hot-cache-types.js';
import type { FileLayout, RelayoutCommit, RelayoutPlan, RelayoutResult } from '../protocol/relayout-types.js';
import type { CapabilityAnswer, CreateTokenRequest, CreatedToken, TokenInfo } from '../protocol/auth-types.js';

/** Mutations that may run twice (see CallOptions.replay). */
const SAFE: CallOptions = { replay: 'safe' };

/**
 * What /health answers. A follower replica holds no catalog and answers only `status`, `role`,
 * `leader` and `store`: the counts come from the leader (or a lone LevelDB service).
 */
export interface MetadataHealth {
  readonly status: string;
  readonly role?: 'leader' | 'follower';
  /** The leader's URL (null during an election, or from a lone LevelDB service). */
  readonly leader?: string | null;
  readonly store?: 'level' | 'etcd';
  readonly tables?: number;
  readonly blocks?: number;
  readonly nodes?: { readonly total: number; readonly alive: number; readonly suspect: number; readonly dead: number; readonly draining: number };
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface CallOptions {
  readonly msgpackBody?: boolean;
  readonly signal?: AbortSignal;
  /**
   * Whether the call is sent again when its connection dropped after the request went out.
   * Default: `safe` for GET, `unsent-only` for everything else; a mutation is marked `safe` only
   * when running it twice leaves the catalog as once would (see the methods).
   */
  readonly replay?: Replay;
}

export class MetadataClient {
  private readonly authorization: Readonly<Record<string, string>>;
  private readonly endpoints: MetadataEndpoints;
  private readonly failover: FailoverPolicy;

  /**
   * `urls`: the metadata replicas, as a list or a comma-separated string (one URL is a list of
   * one). `token`: the bearer token sent with every call (none for a service with auth off).
   * `failover`: how long a call keeps trying the replicas (FAILOVER_DEFAULTS).
   */
  constructor(
    private readonly http: HttpPools,
    urls: string | readonly string[],
    token?: string,
    failover: Partial<FailoverPolicy> = {},
  ) {
    this.endpoints = new MetadataEndpoints(parseMetadataUrls(urls, 'metadata URL'));
    this.failover = { ...FAILOVER_DEFAULTS, ...failover };
    this.authorization = token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /** The replica calls go to now: the one that answered last. */
  get url(): string {
    return this.endpoints.current;
  }

  /** Every metadata replica this client knows, in the order given. */
  get urls(): readonly string[] {
    return this.endpoints.urls;
  }

  private call<T>(method: Method, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
    const { replay, ...rest } = options;
    const send = { ...rest, headers: this.authorization };
    return callWithFailover(this.endpoints, (url) => this.http.call<T>(url, method, path, body, send), {
      replay: replay ?? (method === 'GET' ? 'safe' : 'unsent-only'),
      policy: this.failover,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  createTable(spec: TableSpec): Promise<TableInfo> {
    return this.call('POST', '/v1/tables', spec);
  }

  /** One page of tables by name (a scoped token sees its own tables only). */
  tablesPage(page: PageOptions = {}): Promise<TablePage> {
    return this.call('GET', `/v1/tables${pageQuery(page)}`);
  }

  /** Every table, page by page as they are consumed; `pageLimit`: tables per request. */
  tables(pageLimit?: number): AsyncGenerator<TableSummary> {
    return followPages((after) => this.tablesPage({ after, limit: pageLimit }), (page) => page.tables, 'tables');
  }

  /** Every table in one array (follows every page). */
  listTables(): Promise<TableSummary[]> {
    return collect(this.tables());
  }

  describeTable(name: string): Promise<TableInfo> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(name)}`);
  }

  alterTable(name: string, change: TableAlteration): Promise<TableInfo> {
    return this.call('PATCH', `/v1/tables/${encodeURIComponent(name)}`, change);
  }

  dropTable(name: string): Promise<{ table: string; partitions: number; blocksQueued: number }> {
    return this.call('DELETE', `/v1/tables/${encodeURIComponent(name)}`);
  }

  /** One page of a table's partitions by spec. */
  partitionsPage(table: string, page: PageOptions = {}): Promise<PartitionPage> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/partitions${pageQuery(page)}`);
  }

  /** Every partition of a table, page by page as they are consumed. */
  partitions(table: string, pageLimit?: number): AsyncGenerator<PartitionInfo> {
    return followPages((after) => this.partitionsPage(table, { after, limit: pageLimit }), (page) => page.partitions, `partitions of ${table}`);
  }

  /** Every partition of a table in one array (follows every page). */
  listPartitions(table: string): Promise<PartitionInfo[]> {
    return collect(this.partitions(table));
  }

  /** A partition's counters and its first files (`filesNext` continues them with `files`). */
  describePartition(table: string, partition: string): Promise<PartitionDetail> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}`);
  }

  /** One page of a partition's files in commit order. */
  filesPage(table: string, partition: string, page: PageOptions = {}): Promise<FilePage> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}/files${pageQuery(page)}`);
  }

  /** Every file of a partition in commit order, page by page; `after`: start after this file sequence (a `filesNext`). */
  files(table: string, partition: string, options: { readonly pageLimit?: number; readonly after?: string } = {}): AsyncGenerator<PartitionFile> {
    return followPages((after) => this.filesPage(table, partition, { after, limit: options.pageLimit }), (page) => page.files, `files of ${table} ${partition}`, options.after);
  }

  dropPartition(table: string, partition: string): Promise<{ table: string; partition: string; blocksQueued: number }> {
    return this.call('DELETE', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}`);
  }

  /** Removes one committed file of a partition (admin only); its blocks are garbage collected. */
  dropFile(table: string, partition: string, fileId: string): Promise<DroppedFile> {
    return this.call('DELETE', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}/files/${encodeURIComponent(fileId)}`);
  }

  popularity(table: string): Promise<{ columns: { column: string; featureId?: number; bytes: number; scans: number }[]; jobs: { job: string; bytes: number; scans: number; lastAt: string }[] }> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/popularity`);
  }

  drainNode(nodeId: string): Promise<NodeInfo> {
    // Draining a draining node changes nothing.
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/drain`, undefined, SAFE);
  }

  undrainNode(nodeId: string): Promise<NodeInfo> {
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/undrain`, undefined, SAFE);
  }

  /** Repair progress and the `limit` most endangered blocks (0: counts only), after `after` (a `next`). */
  repair(limit = 100, after?: string): Promise<RepairStatus> {
    return this.call('GET', `/v1/repair${pageQuery({ limit, after })}`);
  }

  /** Every block waiting for repair, most endangered first, page by page. */
  repairItems(pageLimit = 1_000): AsyncGenerator<RepairStatus['items'][number]> {
    return followPages((after) => this.repair(pageLimit, after), (page) => page.items, 'the repair queue');
  }

  removeNode(nodeId: string): Promise<{ nodeId: string; removed: boolean; blocksToRebuild: number }> {
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/remove`);
  }

  /** One page of committed blocks with their chunk locations. */
  listBlocks(options: { readonly table?: string } & PageOptions = {}): Promise<BlockPage> {
    return this.call('GET', `/v1/blocks${pageQuery(options, options.table === undefined ? {} : { table: options.table })}`);
  }

  /** Every committed block (of one table), page by page. */
  blocks(options: { readonly table?: string; readonly pageLimit?: number } = {}): AsyncGenerator<PlannedBlock> {
    const table = options.table === undefined ? {} : { table: options.table };
    return followPages((after) => this.listBlocks({ ...table, after, limit: options.pageLimit }), (page) => page.blocks, 'blocks');
  }

  /** The GC backlog and one page of its records by key (the first 100 without options). */
  gc(page: PageOptions = {}): Promise<GcStatus> {
    return this.call('GET', `/v1/gc${pageQuery(page)}`);
  }

  /** Every record of the GC queue by key (after `start`, a `next`), page by page. */
  gcRecords(pageLimit = 1_000, start?: string): AsyncGenerator<GcEntry> {
    return followPages((after) => this.gc({ after, limit: pageLimit }), (page) => page.blocks, 'the GC queue', start);
  }

  health(): Promise<MetadataHealth> {
    return this.call('GET', '/health');
  }

  openSession(table: string, request: OpenSessionRequest): Promise<SessionInfo> {
    // A session opened twice leaves one unused: it holds no blocks and expires with its lease.
    return this.call('POST', `/v1/tables/${encodeURIComponent(table)}/sessions`, request, SAFE);
  }

  renewSession(sessionId: string): Promise<SessionInfo> {
    return this.call('POST', `/v1/sessions/${sessionId}/renew`, undefined, SAFE);
  }

  allocateBlock(sessionId: string): Promise<BlockPlacement> {
    // A block allocated twice leaves one out of the manifest: the commit queues it for GC.
    return this.call('POST', `/v1/sessions/${sessionId}/blocks`, undefined, SAFE);
  }

  replaceShard(sessionId: string, blockId: string, shard: number): Promise<BlockPlacement> {
    // A second replacement keeps the first one's node among the block's former nodes, as a refused one.
    return this.call('POST', `/v1/sessions/${sessionId}/blocks/${blockId}/replace`, { shard }, SAFE);
  }

  commit(sessionId: string, manifest: CommitManifest): Promise<CommitResult> {
    // A commit sent again answers the stored result with `alreadyCommitted: true` (metadata/writes.ts).
    return this.call('POST', `/v1/sessions/${sessionId}/commit`, manifest, { msgpackBody: true, replay: 'safe' });
  }

  abort(sessionId: string): Promise<SessionInfo> {
    // Aborting an aborted session answers it as it is.
    return this.call('POST', `/v1/sessions/${sessionId}/abort`, undefined, SAFE);
  }

  /** One page of a scan's plan: the first without `page.after`, then each page's `next` with the same request. */
  plan(table: string, request: ScanRequest, page: ScanPageRequest = {}): Promise<ScanPlan> {
    const query = new URLSearchParams();
    if (page.after !== undefined) query.set('after', page.after);
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    const suffix = query.toString() === '' ? '' : `?${query.toString()}`;
    // A plan reads the catalog; a second one only counts its columns' popularity twice.
    return this.call('POST', `/v1/tables/${encodeURIComponent(table)}/scan${suffix}`, request, SAFE);
  }

  /**
   * Every page of a scan's plan, fetched as they are consumed: the caller holds one page at a
   * time (plus the one `prefetch` asks for ahead), never the whole plan.
   */
  async *planPages(table: string, request: ScanRequest, options: { readonly limit?: number; readonly prefetch?: boolean } = {}): AsyncGenerator<ScanPlan> {
    const limit = options.limit === undefined ? {} : { limit: options.limit };
    let page = await this.plan(table, request, limit);
    let asked: string | undefined;
    for (;;) {
      const after = page.next;
      if (after === undefined) {
        yield page;
        return;
      }
      // Each page moves the scan on and holds a stripe; anything else would loop forever.
      if (after === asked || page.stripes.length === 0) {
        throw new GranaryError('GRN_INTERNAL', `the metadata service answered a plan page of ${table} that does not move the scan on (${page.stripes.length} stripes)`);
      }
      asked = after;
      if (options.prefetch === true) {
        const ahead = this.plan(table, request, { ...limit, after });
        // Awaited after the yield; if the consumer stops early its rejection must not go unhandled.
        ahead.catch(() => undefined);
        yield page;
        page = await ahead;
      } else {
        yield page;
        page = await this.plan(table, request, { ...limit, after });
      }
    }
  }

  /** One page of storage nodes by id. */
  nodesPage(page: PageOptions = {}): Promise<NodePage> {
    return this.call('GET', `/v1/nodes${pageQuery(page)}`);
  }

  /** Every storage node by id, page by page. */
  nodes(pageLimit?: number): AsyncGenerator<NodeInfo> {
    return followPages((after) => this.nodesPage({ after, limit: pageLimit }), (page) => page.nodes, 'nodes');
  }

  /** Every storage node in one array (follows every page). */
  listNodes(): Promise<NodeInfo[]> {
    return collect(this.nodes());
  }

  createToken(request: CreateTokenRequest): Promise<CreatedToken> {
    return this.call('POST', '/v1/tokens', request);
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.call<{ tokens: TokenInfo[] }>('GET', '/v1/tokens')).tokens;
  }

  revokeToken(id: string): Promise<TokenInfo> {
    return this.call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  }

  /** A short-lived capability for a storage node's admin routes (`*`: every node). */
  adminCapability(nodeId: string): Promise<CapabilityAnswer> {
    return this.call('POST', '/v1/capabilities', { nodeId }, SAFE);
  }

  /** Which files of the table (or of one partition) a re-layout would pay for (admin). */
  relayoutPlan(table: string, partition?: string): Promise<RelayoutPlan> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/relayout${partition === undefined ? '' : `?partition=${encodeURIComponent(partition)}`}`);
  }

  /** A file's blocks and streams, for rewriting it (admin). */
  fileLayout(table: string, partition: string, fileId: string): Promise<FileLayout> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}/files/${encodeURIComponent(fileId)}/layout`);
  }

  commitRelayout(sessionId: string, commit: RelayoutCommit): Promise<RelayoutResult> {
    // A retried commit answers the stored result with `alreadyCommitted: true` (metadata/relayout.ts).
    return this.call('POST', `/v1/sessions/${sessionId}/relayout`, commit, { msgpackBody: true, replay: 'safe' });
  }

  /** A reader's counts since its previous report; sent once (a report counted twice would inflate the job). */
  reportReads(table: string, report: JobReadReport): Promise<void> {
    return this.call('POST', `/v1/tables/${encodeURIComponent(table)}/reads`, report);
  }

  /** Declares what a job will read of a table, for the nodes' hot-column caches. */
  declareJob(table: string, declaration: Omit<JobDeclaration, 'table'>): Promise<DeclaredJob> {
    // Declaring again renews the declaration: safe to send twice.
    return this.call('POST', `/v1/tables/${encodeURIComponent(table)}/declarations`, declaration, SAFE);
  }

  /** The live declarations, most recent first (admin). */
  declarations(): Promise<Declarations> {
    return this.call('GET', '/v1/declarations');
  }

  /** Recent jobs, most recently seen first (admin). */
  jobs(limit?: number): Promise<JobList> {
    return this.call('GET', `/v1/jobs${limit === undefined ? '' : `?limit=${limit}`}`);
  }

  /** One job with its read-size histogram and its tables (admin). */
  job(job: string): Promise<JobDetail> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(job)}`);
  }

  reportCorrupt(nodeId: string, report: CorruptChunkReport): Promise<{ accepted: number }> {
    // A chunk reported twice is recorded once.
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/corrupt`, report, SAFE);
  }
}
