/**
 * Bearer tokens: created by an admin, shown once, stored as the SHA-256 of their secret, looked
 * up by the id they carry. Hashing the secret means a copy of the catalog grants nothing; the
 * secret is 256 random bits, so one fast hash is enough (no password stretching is needed).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type CreateTokenRequest,
  type CreatedToken,
  ROLES,
  type Role,
  TOKEN_PATTERN,
  TOKEN_TABLES_MAX,
  TOKEN_TTL_MS_MAX,
  type TokenInfo,
} from '../protocol/auth-types.js';
import { GranaryError, NODE_ID_PATTERN } from '../protocol/index.js';
import { writePrivateFile } from '../protocol/secret-files.js';
import { type MetadataDb, del, put } from './db.js';
import type { TokenRecord } from './records.js';

/** Tokens the service holds at most: each costs a record and a map entry. */
export const TOKENS_MAX = 100_000;
const DESCRIPTION_CHARS_MAX = 200;

/** Who a request comes from, once its token checked out. */
export interface Principal {
  readonly tokenId: string;
  readonly role: Role;
  /** Tables a writer or reader may touch; undefined: every table. */
  readonly tables: ReadonlySet<string> | undefined;
  /** The node a node token speaks for. */
  readonly nodeId: string | undefined;
}

/** Every request when authentication is switched off (`--auth off`): an admin. */
export const ANONYMOUS_ADMIN: Principal = { tokenId: 'anonymous', role: 'admin', tables: undefined, nodeId: undefined };

export class TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();

  constructor(private readonly db: MetadataDb) {}

  async load(): Promise<void> {
    for await (const [id, record] of this.db.tokens.entries()) this.tokens.set(id, record);
  }

  /** The principal behind an `authorization` header value; throws GRN_UNAUTHENTICATED. */
  authenticate(header: string | undefined, now = Date.now()): Principal {
    if (header === undefined || header === '') {
      throw new GranaryError('GRN_UNAUTHENTICATED', 'this request needs a token: send "authorization: Bearer <token>" (granary --token, GRANARY_TOKEN or --token-file)');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null) throw new GranaryError('GRN_UNAUTHENTICATED', 'the authorization header must be "Bearer <token>"');
    return this.principalOf(match[1] as string, now);
  }

  principalOf(token: string, now = Date.now()): Principal {
    const parts = TOKEN_PATTERN.exec(token);
    if (parts === null) throw new GranaryError('GRN_UNAUTHENTICATED', 'the token is malformed: Granary tokens look like grn_<id>_<secret>');
    const record = this.tokens.get(parts[1] as string);
    if (record === undefined || !secretMatches(parts[2] as string, record.secretHash)) {
      throw new GranaryError('GRN_UNAUTHENTICATED', 'the token is unknown or revoked; ask an admin for a new one (granary token create)');
    }
    if (record.expiresAt !== undefined && record.expiresAt <= now) {
      throw new GranaryError('GRN_UNAUTHENTICATED', `token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; ask an admin for a new one`);
    }
    return {
      tokenId: record.id,
      role: record.role,
      tables: record.tables === undefined ? undefined : new Set(record.tables),
      nodeId: record.nodeId,
    };
  }

  async create(request: CreateTokenRequest, now = Date.now()): Promise<CreatedToken> {
    const problem = requestProblem(request);
    if (problem !== undefined) throw new GranaryError('GRN_BAD_REQUEST', problem);
    if (this.tokens.size >= TOKENS_MAX) {
      throw new GranaryError('GRN_QUOTA_EXCEEDED', `the service holds at most ${TOKENS_MAX} tokens; revoke unused ones (granary token list / revoke)`);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: TokenRecord = {
      id,
      role: request.role,
      ...(request.tables === undefined ? {} : { tables: [...new Set(request.tables)] }),
      ...(request.nodeId === undefined ? {} : { nodeId: request.nodeId }),
      ...(request.description === undefined ? {} : { description: request.description }),
      secretHash: hashSecret(secret),
      createdAt: now,
      ...(request.ttlMs === undefined ? {} : { expiresAt: now + request.ttlMs }),
    };
    await this.db.write([put(this.db.tokens, id, record)]);
    this.tokens.set(id, record);
    return { ...infoOf(record), token: `grn_${id}_${secret}` };
  }

  list(): TokenInfo[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id)).map(infoOf);
  }

  async revoke(id: string): Promise<TokenInfo> {
    const record = this.tokens.get(id);
    if (record === undefined) throw new GranaryError('GRN_TOKEN_NOT_FOUND', `no token with id ${id.slice(0, 40)}; see granary token list`);
    await this.db.write([del(this.db.tokens, id)]);
    this.tokens.delete(id);
    return infoOf(record);
  }

  /**
   * Makes sure `file` holds a working admin token: the one there if the store knows it, else a
   * new one written with mode 0600 (what `granary up` and a first start rely on). Returns
   * whether a new token was written.
   */
  async ensureAdminTokenFile(file: string): Promise<boolean> {
    const existing = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (existing !== undefined) {
      try {
        if (this.principalOf(existing).role === 'admin') return false;
      } catch (error) {
        if (!(error instanceof GranaryError)) throw error;
      }
    }
    const created = await this.create({ role: 'admin', description: `bootstrap admin token (${file})` });
    await writePrivateFile(file, `${created.token}\n`);
    return true;
  }
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function secretMatches(secret: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function infoOf(record: TokenRecord): TokenInfo {
  return {
    id: record.id,
    role: record.role,
    ...(record.tables === undefined ? {} : { tables: record.tables }),
    ...(record.nodeId === undefined ? {} : { nodeId: record.nodeId }),
    ...(record.description === undefined ? {} : { description: record.description }),
    createdAt: new Date(record.createdAt).toISOString(),
    ...(record.expiresAt === undefined ? {} : { expiresAt: new Date(record.expiresAt).toISOString() }),
  };
}

function requestProblem(request: CreateTokenRequest): string | undefined {
  if (!(ROLES as readonly string[]).includes(request.role)) return `role must be one of ${ROLES.join(', ')}`;
  if (request.role === 'node') {
    if (request.nodeId === undefined || !NODE_ID_PATTERN.test(request.nodeId)) return 'a node token needs the node id it speaks for (nodeId)';
    if (request.tables !== undefined) return 'a node token has no table scope';
  } else if (request.nodeId !== undefined) {
    return 'only a node token names a node id';
  }
  if (request.tables !== undefined) {
    if (request.role === 'admin') return 'an admin token cannot be limited to tables; make a reader or writer token';
    if (request.tables.length === 0 || request.tables.length > TOKEN_TABLES_MAX) return `tables must list 1..${TOKEN_TABLES_MAX} table names`;
  }
  if (request.ttlMs !== undefined && !(Number.isSafeInteger(request.ttlMs) && request.ttlMs > 0 && request.ttlMs <= TOKEN_TTL_MS_MAX)) {
    return `ttlMs must be a whole number in 1..${TOKEN_TTL_MS_MAX} (100 years)`;
  }
  if (request.description !== undefined && request.description.length > DESCRIPTION_CHARS_MAX) {
    return `description is at most ${DESCRIPTION_CHARS_MAX} characters`;
  }
  return undefined;
}
