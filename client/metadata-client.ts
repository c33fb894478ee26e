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
import type { DroppedFile } from '../protocol/catalog-types.js';
import type { CapabilityAnswer, CreateTokenRequest, CreatedToken, TokenInfo } from '../protocol/auth-types.js';

/** Mutations that may run twice (see CallOptions.replay). */
const SAFE: CallOptions = { replay: 'safe' };

export interface MetadataHealth {
  readonly status: string;
  readonly tables: number;
  readonly blocks: number;
  readonly nodes: { readonly total: number; readonly alive: number; readonly suspect: number; readonly dead: number; readonly draining: number };
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

  async listTables(): Promise<TableSummary[]> {
    return (await this.call<{ tables: TableSummary[] }>('GET', '/v1/tables')).tables;
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

  async listPartitions(table: string): Promise<PartitionInfo[]> {
    return (await this.call<{ partitions: PartitionInfo[] }>('GET', `/v1/tables/${encodeURIComponent(table)}/partitions`)).partitions;
  }

  describePartition(table: string, partition: string): Promise<PartitionDetail> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}`);
  }

  dropPartition(table: string, partition: string): Promise<{ table: string; partition: string; blocksQueued: number }> {
    return this.call('DELETE', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}`);
  }

  /** Removes one committed file of a partition (admin only); its blocks are garbage collected. */
  dropFile(table: string, partition: string, fileId: string): Promise<DroppedFile> {
    return this.call('DELETE', `/v1/tables/${encodeURIComponent(table)}/partitions/${encodeURIComponent(partition)}/files/${encodeURIComponent(fileId)}`);
  }

  popularity(table: string): Promise<{ columns: { column: string; featureId?: number; scans: number }[] }> {
    return this.call('GET', `/v1/tables/${encodeURIComponent(table)}/popularity`);
  }

  drainNode(nodeId: string): Promise<NodeInfo> {
    // Draining a draining node changes nothing.
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/drain`, undefined, SAFE);
  }

  undrainNode(nodeId: string): Promise<NodeInfo> {
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/undrain`, undefined, SAFE);
  }

  /** Repair progress and the `limit` most endangered blocks. */
  repair(limit = 100): Promise<RepairStatus> {
    return this.call('GET', `/v1/repair?limit=${limit}`);
  }

  removeNode(nodeId: string): Promise<{ nodeId: string; removed: boolean; blocksToRebuild: number }> {
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/remove`);
  }

  /** One page of committed blocks with their chunk locations. */
  listBlocks(options: { readonly table?: string; readonly after?: string; readonly limit?: number } = {}): Promise<{ blocks: PlannedBlock[]; next: string | null }> {
    const query = new URLSearchParams();
    if (options.table !== undefined) query.set('table', options.table);
    if (options.after !== undefined) query.set('after', options.after);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    return this.call('GET', `/v1/blocks?${query.toString()}`);
  }

  gc(): Promise<{ records: number; chunks: number; backingOff: number }> {
    return this.call('GET', '/v1/gc');
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

  async listNodes(): Promise<NodeInfo[]> {
    return (await this.call<{ nodes: NodeInfo[] }>('GET', '/v1/nodes')).nodes;
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

  reportCorrupt(nodeId: string, report: CorruptChunkReport): Promise<{ accepted: number }> {
    // A chunk reported twice is recorded once.
    return this.call('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/corrupt`, report, SAFE);
  }
}
