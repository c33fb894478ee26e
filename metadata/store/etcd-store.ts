/**
 * The replicated store: the catalog's spaces under one key prefix of an etcd cluster, so several
 * metadata replicas share one source of truth that survives the loss of a minority of members.
 *
 * Writes are fenced (docs/design.md, "The metadata store"): a replica may change the catalog only
 * while it holds the leader key, and every batch is one etcd transaction that first compares the
 * leader key's value with this replica's own. A deposed leader, a paused process that wakes after
 * its lease ran out, or a replica cut off from the quorum therefore cannot commit: its transaction
 * fails as a whole and the caller gets GRN_NOT_LEADER, with nothing changed.
 *
 * Keys are `<prefix>/<space>/<key>`. Reads are linearizable (etcd's default), so a replica that
 * just won an election loads everything its predecessor acknowledged.
 */
import { rootCertificates } from 'node:tls';
import { Etcd3, type IOptions } from 'etcd3';
import { GranaryError } from '../../protocol/index.js';
import { ETCD_TLS_SETTINGS, type EtcdTls, checkEtcdEndpoints } from './etcd-tls.js';
import { KV_PAGE_ENTRIES, type KvEntry, type KvOperation, type KvRangeOptions, type KvStore, checkSpace, prefixEnd } from './kv-store.js';

/** The leader key and the value this replica wrote into it when it won. */
export interface Fence {
  readonly key: string;
  readonly value: string;
}

export interface EtcdStoreOptions {
  /** Client URLs of the etcd members: all http://host:port, or all https:// (TLS). */
  readonly endpoints: readonly string[];
  /** Every key this catalog keeps starts with `<prefix>/`; several catalogs may share one etcd. */
  readonly prefix: string;
  /**
   * When true, writes need a fence (`setFence`) and are refused without one: the replicas'
   * mode. False for tools that own the prefix alone (restore into an empty store, tests).
   */
  readonly fenced: boolean;
  /** Deadline of each call to etcd; a store that does not answer in time is GRN_STORE_UNAVAILABLE. */
  readonly callTimeoutMs?: number;
  /**
   * The CA that etcd's certificate is verified against and the client certificate shown to it
   * (metadata/store/etcd-tls.ts, loadEtcdTls); needs https:// endpoints. Without it, https://
   * endpoints are verified against Node's bundled roots.
   */
  readonly tls?: EtcdTls;
}

const CALL_TIMEOUT_MS_DEFAULT = 5_000;
/**
 * etcd has no byte limit on a range, only an entry limit, and values run from tens of bytes
 * (blocks) to 256 KiB (manifest pieces). Pages start small and are sized from the entries seen to
 * about PAGE_BYTES_TARGET, so a page of pieces stays a few MiB and one of blocks still has hundreds.
 */
const PAGE_ENTRIES_FIRST = 16;
const PAGE_BYTES_TARGET = 1024 * 1024;
/** Above the largest page (PAGE_ENTRIES_FIRST pieces, or a target-sized page plus one piece); grpc's default is 4 MiB. */
const GRPC_RECEIVE_BYTES_MAX = 64 * 1024 * 1024;

/** The next page's entry limit, from the bytes the last page carried per entry. */
function nextPageEntries(entries: number, bytes: number): number {
  if (entries === 0) return PAGE_ENTRIES_FIRST;
  const perEntry = Math.max(1, bytes / entries);
  return Math.max(1, Math.min(KV_PAGE_ENTRIES, Math.floor(PAGE_BYTES_TARGET / perEntry)));
}

export class EtcdStore implements KvStore {
  readonly kind = 'etcd' as const;
  readonly client: Etcd3;
  readonly prefix: string;
  private fence: Fence | undefined;
  /**
   * Told when a write shows the term is over (refused by the fence) or leaves the catalog in
   * doubt (etcd did not answer: it may have applied the batch). Either way this replica's memory
   * may no longer match the store, so it must stop leading; the next leader loads afresh.
   */
  onTermInDoubt: ((reason: string) => void) | undefined;

  constructor(private readonly options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) throw new GranaryError('GRN_BAD_REQUEST', 'etcd store needs at least one endpoint (--etcd URL1,URL2,...)');
    if (!/^[A-Za-z0-9._-]+$/.test(options.prefix)) {
      throw new GranaryError('GRN_BAD_REQUEST', `etcd prefix ${JSON.stringify(options.prefix)} must be letters, digits, '.', '_' or '-'`);
    }
    checkEtcdEndpoints(options.endpoints, options.tls);
    this.prefix = options.prefix;
    const timeout = options.callTimeoutMs ?? CALL_TIMEOUT_MS_DEFAULT;
    const clientOptions: IOptions = {
      hosts: [...options.endpoints],
      dialTimeout: timeout,
      grpcOptions: { 'grpc.max_receive_message_length': GRPC_RECEIVE_BYTES_MAX },
      // Streams (watches, lease keep-alives) live long; every other call gets a deadline so a
      // request never hangs on an unreachable quorum.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      // Verification is never turned off: without a CA, https:// endpoints get Node's roots.
      ...(options.tls === undefined
        ? {}
        : {
            credentials: {
              rootCertificate: options.tls.ca ?? Buffer.from(rootCertificates.join('\n')),
              ...(options.tls.client === undefined ? {} : { certChain: options.tls.client.cert, privateKey: options.tls.client.key }),
            },
          }),
    };
    this.client = new Etcd3(clientOptions);
  }

  /** Full key of the leader election (shared with metadata/leadership.ts). */
  leaderKey(): string {
    return `${this.prefix}/_leader`;
  }

  /** Writes succeed only while the leader key holds `fence.value`; undefined refuses them all. */
  setFence(fence: Fence | undefined): void {
    this.fence = fence;
  }

  private spaceStart(space: string): string {
    checkSpace(space);
    return `${this.prefix}/${space}/`;
  }

  async get(space: string, key: string): Promise<Uint8Array | undefined> {
    const answer = await this.call(() => this.client.kv.range({ key: Buffer.from(this.spaceStart(space) + key) }));
    const kv = answer.kvs[0];
    return kv === undefined ? undefined : kv.value;
  }

  async *range(space: string, options: KvRangeOptions = {}): AsyncGenerator<[string, Uint8Array]> {
    const base = this.spaceStart(space);
    const within = base + (options.prefix ?? '');
    const start = options.after !== undefined && base + options.after >= within ? `${base + options.after}\0` : within;
    for await (const kv of this.keyRange(Buffer.from(start), Buffer.from(prefixEnd(within)), options.limit)) {
      yield [kv.key.subarray(base.length).toString('utf8'), kv.value];
    }
  }

  /**
   * Entries from `start` (inclusive) to `end` (exclusive) in key order, at most `limit`, in pages
   * sized by bytes and read at the revision of the first page, so the whole walk is one view.
   */
  private async *keyRange(start: Buffer, end: Buffer, limit = Number.POSITIVE_INFINITY): AsyncGenerator<{ readonly key: Buffer; readonly value: Buffer }> {
    let from = start;
    let left = limit;
    let revision: string | undefined;
    let pageEntries = PAGE_ENTRIES_FIRST;
    while (left > 0) {
      const page = Math.min(left, pageEntries);
      const answer = await this.call(() =>
        this.client.kv.range({ key: from, range_end: end, limit: page, ...(revision === undefined ? {} : { revision }) }),
      );
      revision ??= answer.header.revision;
      pageEntries = nextPageEntries(answer.kvs.length, answer.kvs.reduce((sum, kv) => sum + kv.value.length, 0));
      left -= answer.kvs.length;
      yield* answer.kvs;
      const last = answer.kvs[answer.kvs.length - 1];
      if (!answer.more || last === undefined) return;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  async write(operations: readonly KvOperation[]): Promise<void> {
    if (operations.length === 0) return;
    const success = operations.map((op) => {
      const key = Buffer.from(this.spaceStart(op.space) + op.key);
      return op.type === 'put'
        ? { request_put: { key, value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength) } }
        : { request_delete_range: { key } };
    });
    if (!this.options.fenced) {
      await this.call(() => this.client.kv.txn({ success }));
      return;
    }
    const fence = this.fence;
    if (fence === undefined) throw notLeader('this replica is not the leader');
    let answer: Awaited<ReturnType<Etcd3['kv']['txn']>>;
    try {
      answer = await this.call(() =>
        this.client.kv.txn({ compare: [{ key: Buffer.from(fence.key), target: 'Value', result: 'Equal', value: Buffer.from(fence.value) }], success }),
      );
    } catch (error) {
      this.endTerm(fence, `a write's outcome is unknown (${(error as Error).message})`);
      throw error;
    }
    if (!answer.succeeded) {
      // Someone else holds the key (or nobody: our lease ran out).
      this.endTerm(fence, 'a write was refused by the leader fence');
      throw notLeader('its leadership ended (another replica holds the leader key, or its lease ran out)');
    }
  }

  /** Refuses every later write of this term, and tells the election. */
  private endTerm(fence: Fence, reason: string): void {
    if (this.fence !== fence) return;
    this.fence = undefined;
    this.onTermInDoubt?.(reason);
  }

  async *snapshot(): AsyncGenerator<KvEntry> {
    const base = `${this.prefix}/`;
    for await (const kv of this.keyRange(Buffer.from(base), Buffer.from(prefixEnd(base)))) {
      const rest = kv.key.subarray(base.length).toString('utf8');
      const slash = rest.indexOf('/');
      // The leader key belongs to the running replicas, not to the catalog.
      if (slash <= 0) continue;
      yield { space: rest.slice(0, slash), key: rest.slice(slash + 1), value: kv.value };
    }
  }

  async isEmpty(): Promise<boolean> {
    for await (const _ of this.snapshot()) return false;
    return true;
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** Runs one etcd call, turning its failures into errors a user can act on. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw storeError(error, this.options.endpoints);
    }
  }
}

function notLeader(why: string): GranaryError {
  return new GranaryError('GRN_NOT_LEADER', `metadata replica cannot change the catalog: ${why}; nothing was changed, retry on another replica`);
}

/** How Node and OpenSSL say etcd's certificate was not trusted (grpc passes the message on, without the code). */
const SERVER_UNTRUSTED =
  /unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames|Hostname\/IP does not match/i;
/** TLS alerts etcd sends a client whose certificate it refuses, or that has none (--client-cert-auth). */
const CLIENT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown)\b/i;
/** An https client that met a plain HTTP listener. */
const NOT_TLS = /wrong version number|packet length too long|http request/i;

/**
 * What went wrong in a TLS handshake with etcd, and the setting that fixes it; undefined when the
 * failure was not one. Still GRN_STORE_UNAVAILABLE: clients move to another replica, whose
 * settings may be right.
 */
function tlsFailure(message: string, endpoints: readonly string[]): string | undefined {
  const secure = endpoints.some((endpoint) => /^https:/i.test(endpoint));
  if (!secure) return undefined;
  const untrusted = SERVER_UNTRUSTED.exec(message);
  if (untrusted !== null) {
    return `is not trusted: its certificate does not verify (${untrusted[0]}); pass the CA that signed it with ${ETCD_TLS_SETTINGS.ca} FILE (or GRANARY_ETCD_CA)`;
  }
  const refused = CLIENT_REFUSED.exec(message);
  if (refused !== null) {
    return `refused this client's certificate, or its lack of one (TLS ${refused[0]}): an etcd with --client-cert-auth needs one signed by its CA, given with ${ETCD_TLS_SETTINGS.cert} and ${ETCD_TLS_SETTINGS.key} (or GRANARY_ETCD_CERT and GRANARY_ETCD_KEY)`;
  }
  const plain = NOT_TLS.exec(message);
  if (plain !== null) return `did not answer TLS (${plain[0]}): if it serves plain HTTP, use http:// URLs in --etcd`;
  return undefined;
}

/** Maps an etcd client failure to a typed error; size limits and TLS failures name the setting that fixes them. */
export function storeError(error: unknown, endpoints: readonly string[]): GranaryError {
  if (error instanceof GranaryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/too many operations in txn/i.test(message)) {
    return new GranaryError('GRN_INTERNAL', `etcd refused a transaction with too many operations (${message}); start etcd with --max-txn-ops 16384 or more`, { cause: error });
  }
  if (/request is too large|larger than max|ResourceExhausted|RESOURCE_EXHAUSTED/i.test(message)) {
    return new GranaryError('GRN_INTERNAL', `etcd refused a request as too large (${message}); start etcd with --max-request-bytes 8388608 or more`, { cause: error });
  }
  const tlsTrouble = tlsFailure(message, endpoints);
  if (tlsTrouble !== undefined) return new GranaryError('GRN_STORE_UNAVAILABLE', `etcd (${endpoints.join(',')}) ${tlsTrouble}; nothing was changed`, { cause: error });
  if (/database space exceeded/i.test(message)) {
    return new GranaryError('GRN_STORE_UNAVAILABLE', `etcd is out of space (${message}): compact and defragment it, or raise --quota-backend-bytes`, { cause: error });
  }
  return new GranaryError('GRN_STORE_UNAVAILABLE', `etcd (${endpoints.join(',')}) did not answer: ${message}; nothing was changed`, { cause: error });
}
