/**
 * HTTP plumbing shared by everything that calls a Granary service (the client library, and
 * storage nodes reading from their peers during repair): one keep-alive undici pool per origin,
 * JSON and msgpack bodies, and answers turned into typed GranaryErrors.
 */
import { pack } from 'msgpackr';
import { Pool } from 'undici';
import { GranaryError, errorFromAnswer } from './errors.js';
import { MSGPACK } from './http.js';
import { type MsgpackLimits, decodeUntrustedMsgpack } from './safe-msgpack.js';
import { transportError } from './tls.js';

/**
 * An answer is as untrusted as a request (a rogue or impersonated service), but a plan page
 * legitimately holds more values than any request: up to SCAN_PAGE_ENTRIES_MAX stream entries,
 * plus its blocks with a placement and capability per chunk.
 */
const ANSWER_LIMITS: Partial<MsgpackLimits> = { itemsMax: 10_000_000, containersMax: 2_000_000 };

export interface HttpOptions {
  /** Connections kept per origin. */
  readonly connectionsPerOrigin: number;
  /** Time allowed for an answer's headers, and between body chunks. */
  readonly timeoutMs: number;
  /**
   * PEM CA bundle that https origins' certificates must chain to (protocol/tls.ts loadTlsCa);
   * without it, Node's bundled roots. Certificates are verified either way.
   */
  readonly ca?: Buffer | string;
  /** The whole-answer deadline of batched range reads (BATCH_READ_DEADLINE_DEFAULTS when not given). */
  readonly batchReadDeadline?: BatchReadDeadline;
}

export const HTTP_DEFAULTS: HttpOptions = { connectionsPerOrigin: 8, timeoutMs: 30_000 };

/**
 * How long a batched read may take in all, from sending it to its last frame: `timeoutMs` bounds
 * only the gap between body pieces, and a node sending a byte every few seconds never trips it.
 * A read past its deadline is aborted and read around as a dead node's would be.
 */
export interface BatchReadDeadline {
  /** No read's deadline is shorter, however few bytes it asks. */
  readonly floorMs: number;
  /** A read of B bytes may take B / this seconds when that is longer than the floor. */
  readonly bytesPerSecondMin: number;
}

/** A 4 MiB read may take 10 s (0.4 MB/s), a 64 MiB one 67 s: slow links pass, stalled nodes do not. */
export const BATCH_READ_DEADLINE_DEFAULTS: BatchReadDeadline = { floorMs: 10_000, bytesPerSecondMin: 1_000_000 };

/** The deadline of a batched read of `bytes` in all. */
export function batchReadDeadlineMs(bytes: number, deadline: BatchReadDeadline = BATCH_READ_DEADLINE_DEFAULTS): number {
  return Math.max(deadline.floorMs, Math.ceil((bytes / deadline.bytesPerSecondMin) * 1000));
}

export class HttpPools {
  private readonly pools = new Map<string, Pool>();

  constructor(readonly options: HttpOptions = HTTP_DEFAULTS) {}

  pool(url: string): Pool {
    const origin = new URL(url).origin;
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.options.connectionsPerOrigin,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        // Connecting to a host that is cut off would otherwise wait undici's own 10 s.
        connectTimeout: this.options.timeoutMs,
        keepAliveTimeout: 30_000,
        ...(this.options.ca === undefined ? {} : { connect: { ca: this.options.ca } }),
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Sends a request and decodes a JSON or msgpack answer; non-2xx answers throw GranaryError. */
  async call<T>(
    baseUrl: string,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    options: { readonly msgpackBody?: boolean; readonly signal?: AbortSignal; readonly headers?: Readonly<Record<string, string>> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: `application/json, ${MSGPACK}`, ...options.headers };
    let payload: Buffer | string | undefined;
    if (body !== undefined) {
      headers['content-type'] = options.msgpackBody === true ? MSGPACK : 'application/json';
      payload = options.msgpackBody === true ? pack(body) : JSON.stringify(body);
    }
    let response;
    try {
      response = await this.pool(baseUrl).request({
        method,
        path,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      throw transportError(error, `${method} ${baseUrl}${path}`, baseUrl);
    }
    const raw = Buffer.from(await response.body.arrayBuffer());
    const type = String(response.headers['content-type'] ?? '');
    let decoded: unknown;
    try {
      decoded = raw.length === 0 ? undefined : type.includes('msgpack') ? decodeUntrustedMsgpack(raw, ANSWER_LIMITS) : type.includes('json') ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8');
    } catch (error) {
      throw new GranaryError('GRN_INTERNAL', `${method} ${baseUrl}${path}: undecodable answer (${type})`, { cause: error });
    }
    if (response.statusCode >= 300) throw errorFromAnswer(response.statusCode, decoded);
    return decoded as T;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}
