/**
 * The one error catalogue of Granary's wire contract. Every error a service answers with, and
 * every error the client raises from an answer, has a stable code from this list, an HTTP status,
 * and a message that tells the user what to do next. Search a code here to find what it means.
 */
import { ErasureError } from '../erasure/index.js';

export const ERROR_STATUS = {
  /** The request is malformed: a field is missing, of the wrong type or out of bounds. */
  GRN_BAD_REQUEST: 400,
  /** A chunk id breaks the naming rule (see chunk-id.ts). */
  GRN_INVALID_CHUNK_ID: 400,
  /** An uploaded body does not hash to the checksum the writer declared; nothing was stored. */
  GRN_CHECKSUM_MISMATCH: 400,
  /** Rows or a stream do not fit the column format (wrong value shape, malformed stream bytes). */
  GRN_FORMAT_INVALID: 400,
  /** The request carries no credential, or one that is unknown, revoked or expired. */
  GRN_UNAUTHENTICATED: 401,
  /** The credential is valid but its role, table scope or node does not allow this request. */
  GRN_FORBIDDEN: 403,
  /** A storage-node request carries no capability that allows it (missing, expired, forged, or for another chunk or operation). */
  GRN_CAPABILITY_REFUSED: 403,
  /** No endpoint answers that method and path. */
  GRN_NO_ROUTE: 404,
  /** No storage node with that id is registered (a node re-registers when it sees this). */
  GRN_NODE_NOT_FOUND: 404,
  /** The node still holds chunks the catalog needs, or is in service: drain it first. */
  GRN_NODE_IN_USE: 409,
  /** No repair task with that id is running (it finished, expired, or the service restarted). */
  GRN_REPAIR_TASK_NOT_FOUND: 404,
  /** No table with that name exists. */
  GRN_TABLE_NOT_FOUND: 404,
  /** A table with that name already exists. */
  GRN_TABLE_EXISTS: 409,
  /** No committed partition matches that spec. */
  GRN_PARTITION_NOT_FOUND: 404,
  /** The partition has no committed file with that id (`granary partition describe` lists them). */
  GRN_FILE_NOT_FOUND: 404,
  /** No token with that id exists. */
  GRN_TOKEN_NOT_FOUND: 404,
  /** No job with that id read anything within the job retention (`granary jobs` lists the recent ones). */
  GRN_JOB_NOT_FOUND: 404,
  /** A configured limit (tables, columns, sessions, blocks) would be exceeded. */
  GRN_QUOTA_EXCEEDED: 429,
  /** No write session with that id exists. */
  GRN_SESSION_NOT_FOUND: 404,
  /** The session is no longer open (committed, aborted or expired). */
  GRN_SESSION_CLOSED: 409,
  /** Not enough suitable storage nodes to place a block under the table's erasure policy. */
  GRN_PLACEMENT_IMPOSSIBLE: 503,
  /** No chunk with that id is stored on this node. */
  GRN_CHUNK_NOT_FOUND: 404,
  /** A chunk with that id but different content already exists; chunks are immutable. */
  GRN_CHUNK_EXISTS: 409,
  /** Another upload of the same chunk id is in progress. */
  GRN_CHUNK_BUSY: 409,
  /** The body is larger than this node accepts. */
  GRN_PAYLOAD_TOO_LARGE: 413,
  /** The request body's content type is not one this endpoint reads. */
  GRN_UNSUPPORTED_MEDIA_TYPE: 415,
  /** A byte range lies outside the chunk. */
  GRN_RANGE_NOT_SATISFIABLE: 416,
  /** Stored bytes failed their checksum; they are never returned. Read the range from other shards. */
  GRN_CHUNK_CORRUPT: 500,
  /** An unexpected failure; the message and the server log say more. */
  GRN_INTERNAL: 500,
  /** Raised by a caller, never answered: the peer's TLS certificate does not chain to a trusted CA (pass it with --tls-ca / GRANARY_TLS_CA) or names another host. */
  GRN_TLS_UNTRUSTED: 502,
  /** The process is shutting down or not ready; retry on another node or later. */
  GRN_UNAVAILABLE: 503,
  /**
   * This metadata replica is not (or is no longer) the leader, so it cannot change the catalog;
   * nothing was changed. Clients retry on another `--metadata` URL; `details.leader` names the
   * leader when the replica knows it.
   */
  GRN_NOT_LEADER: 503,
  /** No metadata replica holds the leadership right now (an election is under way); retry in a few seconds. */
  GRN_NO_LEADER: 503,
  /** The metadata store (etcd) does not answer; nothing was changed. Check the etcd members named by --etcd. */
  GRN_STORE_UNAVAILABLE: 503,
  /** More shards of a block are lost than its parity can rebuild: the data cannot be read now. */
  GRN_DATA_UNAVAILABLE: 503,
  /** Bytes read back do not match the checksum recorded when they were written, from every source tried. */
  GRN_DATA_CORRUPT: 500,
  /** The disk is full (or below the configured reserve); nothing partial was left behind. */
  GRN_DISK_FULL: 507,
  /** A metadata backup file is truncated, corrupt, of a newer format or not a backup at all; nothing was restored. */
  GRN_BACKUP_INVALID: 400,
  /** A restore targets a metadata store that already holds entries; restore only into an empty one (a new --data directory or etcd prefix). */
  GRN_STORE_NOT_EMPTY: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class GranaryError extends Error {
  readonly code: ErrorCode;
  /** Read by fastify to choose the answer's status. */
  readonly statusCode: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GranaryError';
    this.code = code;
    this.statusCode = ERROR_STATUS[code];
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Rebuilds the typed error from an error answer, whatever shape it came in. */
export function errorFromAnswer(statusCode: number, body: unknown): GranaryError {
  if (typeof body === 'object' && body !== null) {
    const { code, message, details } = body as Record<string, unknown>;
    if (isErrorCode(code) && typeof message === 'string') {
      const detailRecord = typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : undefined;
      return new GranaryError(code, message, detailRecord === undefined ? {} : { details: detailRecord });
    }
  }
  const text = typeof body === 'string' ? body.slice(0, 500) : JSON.stringify(body)?.slice(0, 500);
  const code: ErrorCode = statusCode === 503 ? 'GRN_UNAVAILABLE' : statusCode >= 500 ? 'GRN_INTERNAL' : 'GRN_BAD_REQUEST';
  return new GranaryError(code, `HTTP ${statusCode}: ${text ?? 'no body'}`);
}

/** Maps errors from the pure layers to the catalogue; unknown errors become GRN_INTERNAL. */
export function toGranaryError(error: unknown): GranaryError {
  if (error instanceof GranaryError) return error;
  if (error instanceof ErasureError) {
    const code: ErrorCode = error.code === 'GRN_ERASURE_INVALID_ARGUMENT' ? 'GRN_BAD_REQUEST' : 'GRN_INTERNAL';
    return new GranaryError(code, error.message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new GranaryError('GRN_INTERNAL', message, { cause: error });
}
