/**
 * Why a metadata link: the metadata service places new chunks only on nodes it believes alive,
 * and counts a node's chunks lost (and queues them for repair) when its heartbeats stop. So a node
 * must announce itself, keep proving it is alive with its free space, and hand over what its
 * scrubber found rotten, while it is still possible to rebuild it from parity.
 *
 * The link never crashes the node: the metadata service may start after it, restart and forget
 * it (a heartbeat then answers 404 GRN_NODE_NOT_FOUND and the node registers again), or be
 * unreachable for a while. Every failure is logged and retried on the next tick; ticks never
 * overlap, and each HTTP call has a bounded duration.
 *
 * The service may run as several replicas (`--metadata URL1,URL2,URL3`): each call goes to the
 * replica that answered last and moves along the list when that one is down, has no leader or
 * is not the leader (protocol/metadata-failover.ts), one pass over the list per call by default;
 * the next tick is the pause before the next pass.
 */
import type { JobCounts } from './job-counts.js';
import { Agent, request } from 'undici';
import {
  type CorruptChunkReport,
  DOMAIN_PATTERN,
  GranaryError,
  type HeartbeatAnswer,
  NODE_ID_PATTERN,
  type NodeHeartbeat,
  type NodeInfo,
  type NodeLoad,
  type NodeRegistration,
  type RegistrationAnswer,
  errorFromAnswer,
} from '../protocol/index.js';
import { parseMetadataUrls } from '../protocol/metadata-endpoints.js';
import { type FailoverPolicy, MetadataEndpoints, type Replay, callWithFailover } from '../protocol/metadata-failover.js';
import { transportError } from '../protocol/tls.js';
import type { CorruptChunk } from './chunk-store.js';

/** The subset of a pino/fastify logger the link writes to. */
export interface LinkLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface MetadataLinkOptions {
  /**
   * Base URL of the metadata service, e.g. http://10.0.0.2:7070, or of each of its replicas (a
   * list, or comma-separated).
   */
  readonly metadataUrl: string | readonly string[];
  /** How long one call keeps trying replicas; default LINK_FAILOVER_DEFAULTS (one pass over the list). */
  readonly failover?: Partial<FailoverPolicy>;
  /** PEM CA bundle an https metadata service's certificate is verified against; default Node's roots. */
  readonly ca?: Buffer | string;
  readonly nodeId: string;
  /** Base URL clients use to reach this node. */
  readonly url: string;
  /** Failure domain (rack, zone). */
  readonly domain: string;
  readonly heartbeatIntervalMs: number;
  /** Current disk figures, read at every registration and heartbeat. */
  readonly load: () => Promise<NodeLoad>;
  /** Chunks found corrupt so far (the store's `corruptChunks()`). */
  readonly corruptChunks: () => readonly CorruptChunk[];
  readonly logger: LinkLogger;
  /** Upper bound on one HTTP call; default REQUEST_TIMEOUT_MS_DEFAULT. */
  readonly requestTimeoutMs?: number;
  /** What the node served per job since the last heartbeat: sent with each one, given back if it fails. */
  readonly jobCounts?: JobCounts;
  /** What the node adds to each heartbeat (free repair slots, tasks running). */
  readonly heartbeatExtras?: () => Pick<NodeHeartbeat, 'repairSlotsFree' | 'repairsRunning' | 'hotVersion'>;
  /** The work a heartbeat answer carries (repair tasks, an inventory round). */
  readonly onHeartbeatAnswer?: (answer: HeartbeatAnswer) => void;
  /** The node token (role node, for this node id) sent with every call; none when the service runs with auth off. */
  readonly token?: string;
  /** The node's receipt public key (base64 SPKI DER), told to the service at registration. */
  readonly receiptKey?: string;
  /** The registration answer: it carries the key capabilities are signed with. */
  readonly onRegistered?: (answer: RegistrationAnswer) => void;
}

export interface MetadataLinkStatus {
  readonly registered: boolean;
  /** Ticks in a row that failed; 0 after a successful one. */
  readonly consecutiveFailures: number;
  /** Corrupt chunk ids the metadata service has accepted since the last registration. */
  readonly reportedCorruptCount: number;
}

export const REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/**
 * One pass over the replicas per call: the heartbeat ticks already retry, so a call that waited
 * for a leader would only delay the next heartbeat. A leader a replica names is still followed.
 */
export const LINK_FAILOVER_DEFAULTS: FailoverPolicy = { deadlineMs: 0, backoffFirstMs: 100, backoffMaxMs: 1_000 };
/** Corrupt chunks sent in one report; the rest follow on the next ticks. */
export const CORRUPT_REPORT_CHUNKS_MAX = 1_000;
/** While failures continue, one warning per this many ticks (the first is always logged). */
const FAILURE_LOG_EVERY_TICKS = 30;

export class MetadataLink {
  private readonly endpoints: MetadataEndpoints;
  private readonly failover: FailoverPolicy;
  /** The replica the last successful tick talked to, so a move to another one is logged once. */
  private answeredBy: string | undefined;
  private readonly requestTimeoutMs: number;
  private registered = false;
  private consecutiveFailures = 0;
  /** Ids accepted by the metadata service; pruned to the store's current corrupt set. */
  private readonly reported = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private started = false;
  private soon = false;
  private readonly abort = new AbortController();
  /** Trusts the configured CA; undefined: undici's global agent. */
  private readonly agent: Agent | undefined;

  constructor(private readonly options: MetadataLinkOptions) {
    const bad = (message: string): GranaryError => new GranaryError('GRN_BAD_REQUEST', message);
    const metadataUrls = parseMetadataUrls(options.metadataUrl, 'metadata URL');
    if (!URL.canParse(options.url)) throw bad(`advertised URL "${options.url}" is not a URL`);
    if (!NODE_ID_PATTERN.test(options.nodeId)) throw bad(`node id "${options.nodeId}" must match ${NODE_ID_PATTERN}`);
    if (!DOMAIN_PATTERN.test(options.domain)) throw bad(`domain "${options.domain}" must match ${DOMAIN_PATTERN}`);
    if (!(Number.isInteger(options.heartbeatIntervalMs) && options.heartbeatIntervalMs > 0)) {
      throw bad(`heartbeat interval must be a positive whole number of ms, got ${options.heartbeatIntervalMs}`);
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    if (!(this.requestTimeoutMs > 0)) throw bad(`request timeout must be positive, got ${this.requestTimeoutMs}`);
    this.endpoints = new MetadataEndpoints(metadataUrls);
    this.failover = { ...LINK_FAILOVER_DEFAULTS, ...options.failover };
    this.agent = options.ca === undefined ? undefined : new Agent({ connect: { ca: options.ca } });
  }

  /** Registers at once, then heartbeats every interval. Never throws for network trouble. */
  start(): void {
    if (this.started) throw new Error('MetadataLink.start() called twice');
    this.started = true;
    this.schedule(0);
  }

  status(): MetadataLinkStatus {
    return { registered: this.registered, consecutiveFailures: this.consecutiveFailures, reportedCorruptCount: this.reported.size };
  }

  /** Runs the next tick now instead of at the next interval (say, a repair slot came free). */
  tickSoon(): void {
    if (this.abort.signal.aborted || !this.started) return;
    if (this.timer === undefined) {
      // A tick is running: the next one follows it at once.
      this.soon = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Stops the ticks, cancels the HTTP call in flight and waits for it to settle. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.agent?.close();
  }

  private schedule(delayMs: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.tick().finally(() => {
        this.inFlight = undefined;
        const delayMs = this.soon ? 0 : this.options.heartbeatIntervalMs;
        this.soon = false;
        this.schedule(delayMs);
      });
    }, delayMs);
  }

  /** One round: register or heartbeat, then report new corrupt chunks. Never rejects. */
  private async tick(): Promise<void> {
    try {
      if (this.registered) await this.heartbeat();
      else await this.register();
      await this.reportCorrupt();
      if (this.consecutiveFailures > 0) {
        this.options.logger.info({ failedTicks: this.consecutiveFailures, metadataUrl: this.endpoints.current }, 'metadata service reachable again');
      } else if (this.answeredBy !== undefined && this.answeredBy !== this.endpoints.current) {
        this.options.logger.info({ from: this.answeredBy, metadataUrl: this.endpoints.current }, 'talking to another metadata replica');
      }
      this.answeredBy = this.endpoints.current;
      this.consecutiveFailures = 0;
    } catch (error) {
      if (this.abort.signal.aborted) return;
      this.consecutiveFailures++;
      if ((this.consecutiveFailures - 1) % FAILURE_LOG_EVERY_TICKS !== 0) return;
      const fields = { err: error, metadataUrls: this.endpoints.urls, failedTicks: this.consecutiveFailures };
      // A 4xx will not cure itself by retrying (bad config, protocol mismatch): say so louder.
      if (error instanceof GranaryError && error.statusCode < 500) {
        this.options.logger.error(fields, 'metadata service rejected this node; retrying every tick');
      } else {
        this.options.logger.warn(fields, 'metadata service unreachable; retrying every tick');
      }
    }
  }

  private async register(): Promise<void> {
    const { nodeId, url, domain } = this.options;
    const registration: NodeRegistration = {
      nodeId,
      url,
      domain,
      ...loadOf(await this.options.load()),
      ...(this.options.receiptKey === undefined ? {} : { receiptKey: this.options.receiptKey }),
    };
    const info = (await this.post('/v1/nodes/register', registration)) as RegistrationAnswer;
    this.options.onRegistered?.(info);
    this.registered = true;
    // The service may have lost what we reported before: report it again.
    this.reported.clear();
    this.options.logger.info({ nodeId, url, domain, state: info.state, metadataUrl: this.endpoints.current }, 'registered with metadata service');
  }

  private async heartbeat(): Promise<void> {
    const jobs = this.options.jobCounts?.take() ?? [];
    const heartbeat: NodeHeartbeat = { ...loadOf(await this.options.load()), ...this.options.heartbeatExtras?.(), ...(jobs.length === 0 ? {} : { jobs }) };
    try {
      const answer = (await this.post(`${this.nodePath()}/heartbeat`, heartbeat)) as HeartbeatAnswer;
      this.options.onHeartbeatAnswer?.(answer);
    } catch (error) {
      this.options.jobCounts?.giveBack(jobs);
      if (!isNodeNotFound(error)) throw error;
      this.registered = false;
      this.options.logger.info({ nodeId: this.options.nodeId }, 'metadata service does not know this node; registering again');
      await this.register();
    }
  }

  private async reportCorrupt(): Promise<void> {
    const corrupt = this.options.corruptChunks();
    const current = new Set(corrupt.map((chunk) => chunk.id));
    // A chunk no longer corrupt (deleted, or rewritten) is reported again if it rots again.
    for (const id of this.reported) if (!current.has(id)) this.reported.delete(id);
    const fresh = corrupt.filter((chunk) => !this.reported.has(chunk.id)).slice(0, CORRUPT_REPORT_CHUNKS_MAX);
    if (fresh.length === 0) return;
    const report: CorruptChunkReport = { chunks: fresh.map((chunk) => ({ chunkId: chunk.id, reason: chunk.reason })) };
    try {
      await this.post(`${this.nodePath()}/corrupt`, report);
    } catch (error) {
      if (isNodeNotFound(error)) this.registered = false;
      throw error;
    }
    for (const chunk of fresh) this.reported.add(chunk.id);
    this.options.logger.info({ chunks: report.chunks }, 'reported corrupt chunks to metadata service');
  }

  private nodePath(): string {
    return `/v1/nodes/${encodeURIComponent(this.options.nodeId)}`;
  }

  /**
   * POSTs JSON to the metadata service, moving along the replicas as the header says; answers
   * the parsed body of a 2xx, throws the typed error of anything else. `replay`: whether the call
   * may be sent again after a connection dropped once it went out. Registration, heartbeats,
   * damage and repair reports may (the service keeps one node record, one damage record per chunk,
   * and answers a finished task's report again); an inventory page may not (a page sent twice
   * is refused as out of order), so its sender passes `unsent-only`.
   */
  post(path: string, payload: unknown, replay: Replay = 'safe'): Promise<unknown> {
    return callWithFailover(this.endpoints, (baseUrl) => this.postTo(baseUrl, path, payload), { replay, policy: this.failover, signal: this.abort.signal });
  }

  /** One POST to one replica. */
  private async postTo(baseUrl: string, path: string, payload: unknown): Promise<unknown> {
    let response;
    try {
      response = await request(`${baseUrl}${path}`, {
        method: 'POST',
        headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(this.options.token === undefined ? {} : { authorization: `Bearer ${this.options.token}` }),
      },
        body: JSON.stringify(payload),
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.requestTimeoutMs)]),
        ...(this.agent === undefined ? {} : { dispatcher: this.agent }),
      });
    } catch (error) {
      // Typed, so a certificate this node does not trust is logged as that, with the setting to fix it.
      throw transportError(error, `POST ${baseUrl}${path}`, baseUrl);
    }
    const text = await response.body.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text for the error message.
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return body;
    throw errorFromAnswer(response.statusCode, body);
  }
}

/** Only the contract's fields, whatever else the source returns. */
function loadOf(load: NodeLoad): NodeLoad {
  return { capacityBytes: load.capacityBytes, freeBytes: load.freeBytes, usedBytes: load.usedBytes, chunkCount: load.chunkCount };
}

function isNodeNotFound(error: unknown): boolean {
  return error instanceof GranaryError && error.code === 'GRN_NODE_NOT_FOUND';
}
