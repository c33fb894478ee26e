/**
 * Why failover lives here: with replicated metadata, any one replica may be down (refuses
 * connections), between leaders (503 GRN_NO_LEADER), just demoted (503 GRN_NOT_LEADER, naming
 * the leader when it knows it) or cut off from etcd (503 GRN_STORE_UNAVAILABLE). None of those
 * is the caller's problem: another replica, or the same one a moment later, will answer. The
 * client library and the storage node's metadata link both send their calls through
 * `callWithFailover`, so they move along the `--metadata` list the same way.
 *
 * When a call may be sent again (docs/design.md, "Client"): a 503 with one of FAILOVER_CODES
 * and a connection that never opened mean the replica changed nothing, so any call is retried.
 * A connection that dropped after the request went out (reset, closed before the answer, no
 * answer in time) may have been carried out; only calls marked `replay: 'safe'`, whose second
 * run leaves the catalog as the first left it (reads, heartbeats, a commit, which answers the
 * stored result with `alreadyCommitted`), are retried then. Any other answer is final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ErrorCode, GranaryError, toGranaryError } from './errors.js';
import { sameEndpoint } from './metadata-endpoints.js';

export interface FailoverPolicy {
  /** How long one call keeps trying replicas, from its first attempt; 0: one pass over the list. */
  readonly deadlineMs: number;
  /** The pause after every replica failed once, doubled after each further pass up to `backoffMaxMs`. */
  readonly backoffFirstMs: number;
  readonly backoffMaxMs: number;
}

/** 20 s outlasts an etcd leader election (a few seconds) and a replica's restart. */
export const FAILOVER_DEFAULTS: FailoverPolicy = { deadlineMs: 20_000, backoffFirstMs: 100, backoffMaxMs: 1_000 };

/**
 * Whether a call may be sent again when its connection dropped after the request went out:
 * `safe` when repeating it leaves the catalog as once would; `unsent-only` otherwise.
 */
export type Replay = 'safe' | 'unsent-only';

/** Answers that promise nothing was changed, and that another replica or a later try may not give. */
export const FAILOVER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['GRN_NOT_LEADER', 'GRN_NO_LEADER', 'GRN_STORE_UNAVAILABLE', 'GRN_UNAVAILABLE']);

/** Connection failures before any byte of the request went out. */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
/** Connection failures once the request may have been delivered. */
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_ABORTED', 'ABORT_ERR', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);
/** Transport failures that are settings to fix, not replicas to skip. */
const CONFIG_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_HTTP_REQUEST', 'EPROTO']);

/**
 * How a failed attempt bears on trying again elsewhere: `unsent` (nothing was changed: any call
 * moves on), `dropped` (maybe carried out: only replay-safe calls move on), `final` (an answer).
 */
export type FailureKind = 'unsent' | 'dropped' | 'final';

export function failureKind(error: unknown): FailureKind {
  const codes = codesOf(error);
  const name = (error as { name?: unknown } | null)?.name;
  if (error instanceof GranaryError) {
    // An answer rebuilt from an error body has no cause; a transport failure always has one.
    if (error.cause === undefined) return FAILOVER_CODES.has(error.code) ? 'unsent' : 'final';
    if (error.code !== 'GRN_UNAVAILABLE' || codes.some((code) => CONFIG_CODES.has(code))) return 'final';
    return codes.some((code) => UNSENT_CODES.has(code)) ? 'unsent' : 'dropped';
  }
  if (codes.some((code) => UNSENT_CODES.has(code))) return 'unsent';
  // A body cut off mid-answer surfaces raw; so does an abort by the caller's own timeout.
  if (codes.some((code) => DROPPED_CODES.has(code)) || name === 'TimeoutError' || name === 'AbortError') return 'dropped';
  return 'final';
}

/**
 * The replicas one caller knows, and the one it sends to now. Shared by all of the caller's
 * calls, so once one call found the live replica the next ones start there.
 */
export class MetadataEndpoints {
  private index = 0;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new GranaryError('GRN_BAD_REQUEST', 'no metadata URL given');
  }

  get current(): string {
    return this.urls[this.index] as string;
  }

  /** The entry of the list that `url` names, if any (a leader hint may be spelled differently). */
  find(url: unknown): string | undefined {
    return typeof url === 'string' ? this.urls.find((known) => sameEndpoint(known, url)) : undefined;
  }

  /** Makes `url`, which just answered, the one later calls start at. */
  answered(url: string): void {
    const index = this.urls.indexOf(url);
    if (index >= 0) this.index = index;
  }

  /**
   * Leaves `failed` for `leader` when the list holds it, else the next URL. Only when `failed`
   * is still current: calls failing together on one replica move the list on once, not once each.
   */
  moveOn(failed: string, leader?: string): void {
    if (this.current !== failed) return;
    const hinted = leader === undefined ? -1 : this.urls.indexOf(leader);
    this.index = hinted >= 0 && hinted !== this.index ? hinted : (this.index + 1) % this.urls.length;
  }
}

export interface FailoverOptions {
  readonly replay: Replay;
  readonly policy: FailoverPolicy;
  /** The caller's own abort: stops the retries at once. */
  readonly signal?: AbortSignal;
}

/**
 * Runs `attempt` on the current replica, moving along the list on failures that another replica
 * may not give (see the header), until one answers or `policy.deadlineMs` has passed; then throws
 * the last failure, its code kept, its message naming every URL tried. Every replica is tried at
 * least once, however short the deadline.
 */
export async function callWithFailover<T>(endpoints: MetadataEndpoints, attempt: (url: string) => Promise<T>, options: FailoverOptions): Promise<T> {
  const { policy, signal } = options;
  const startedAt = Date.now();
  const tried: string[] = [];
  /** The URLs tried since the last pause: when it holds every one, the next try waits. */
  let pass = new Set<string>();
  let backoffMs = policy.backoffFirstMs;
  let firstPass = true;
  let url = endpoints.current;
  for (;;) {
    pass.add(url);
    if (!tried.includes(url)) tried.push(url);
    let failure: unknown;
    try {
      const answer = await attempt(url);
      endpoints.answered(url);
      return answer;
    } catch (error) {
      failure = error;
    }
    const kind = failureKind(failure);
    if (signal?.aborted === true) throw failure;
    if (kind === 'final') {
      // A real answer (a 404, a 409): this replica is up, and the answer is the caller's.
      endpoints.answered(url);
      throw failure;
    }
    const leader = endpoints.find(failure instanceof GranaryError ? failure.details?.leader : undefined);
    endpoints.moveOn(url, leader);
    // A dropped connection on a call that must not run twice: the replica is likely gone, so
    // later calls go elsewhere, but this one's outcome is unknown and the caller must decide.
    if (kind === 'dropped' && options.replay === 'unsent-only') throw failure;
    const deadline = startedAt + policy.deadlineMs;
    const next = [leader, endpoints.current, ...endpoints.urls].find((candidate) => candidate !== undefined && !pass.has(candidate));
    if (next !== undefined && (firstPass || Date.now() < deadline)) {
      url = next;
      continue;
    }
    // The pass is over (every replica failed in it, or the deadline passed during it): pause and
    // go round again, unless the pause would end past the deadline.
    if (next !== undefined || Date.now() + backoffMs > deadline) throw gaveUp(failure, tried, Date.now() - startedAt);
    firstPass = false;
    try {
      await sleep(backoffMs, undefined, signal === undefined ? undefined : { signal });
    } catch {
      throw failure;
    }
    backoffMs = Math.min(backoffMs * 2, policy.backoffMaxMs);
    pass = new Set();
    url = endpoints.current;
  }
}

/** The last failure, its code and details kept, saying which replicas were tried and for how long. */
function gaveUp(failure: unknown, tried: readonly string[], elapsedMs: number): GranaryError {
  const last = toGranaryError(failure);
  const message = `${last.message} (no metadata replica answered in ${(elapsedMs / 1000).toFixed(1)} s; tried ${tried.join(', ')})`;
  return new GranaryError(last.code, message, { cause: failure, ...(last.details === undefined ? {} : { details: last.details }) });
}

/** The error, or one of its causes, with a string `code`. */
function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}
