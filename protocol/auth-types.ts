/**
 * Identities: bearer tokens with a role, an optional table scope and an expiry, checked by the
 * metadata service on every request (`authorization: Bearer <token>`). Tokens are shown once
 * when created and stored only as hashes. See docs/design.md, "Security".
 *
 *   POST   /v1/tokens           CreateTokenRequest -> CreatedToken   (admin)
 *   GET    /v1/tokens                              -> { tokens: TokenInfo[] }
 *   DELETE /v1/tokens/:id                          -> TokenInfo (the revoked token)
 *   POST   /v1/capabilities     AdminCapabilityRequest -> { capability, expiresAt }  (admin: a node's admin routes)
 */

/** What a token may do; a closed set. */
export const ROLES = [
  /** Everything: tables, nodes, tokens, and every table's data. */
  'admin',
  /** Ingest into its tables (open sessions, allocate blocks, commit), and describe them. */
  'writer',
  /** Plan and read scans of its tables, and describe them. */
  'reader',
  /** One storage node: register, heartbeat, report damage and inventory, report repairs, all as that node id. */
  'node',
] as const;
export type Role = (typeof ROLES)[number];

/** Tokens look like `grn_<16 hex id>_<43 base64url secret>`; only the id is ever shown again. */
export const TOKEN_PATTERN = /^grn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const TOKEN_TABLES_MAX = 256;
/**
 * Longest lifetime a token may be given: 100 years. Beyond ~270,000 years its expiry is no date
 * (JavaScript dates end at 8.64e15 ms), and listing or revoking it would fail.
 */
export const TOKEN_TTL_MS_MAX = 100 * 366 * 24 * 60 * 60 * 1000;

export interface CreateTokenRequest {
  readonly role: Role;
  /** Tables a writer or reader token is limited to (default: every table). */
  readonly tables?: readonly string[];
  /** For a node token: the node id it speaks for (required). */
  readonly nodeId?: string;
  /** Lifetime in ms (default: no expiry). */
  readonly ttlMs?: number;
  /** A note for `token list`: who or what holds it. */
  readonly description?: string;
}

export interface TokenInfo {
  readonly id: string;
  readonly role: Role;
  readonly tables?: readonly string[];
  readonly nodeId?: string;
  readonly description?: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
}

export interface CreatedToken extends TokenInfo {
  /** The secret: shown once, never stored by the service. */
  readonly token: string;
}

export interface AdminCapabilityRequest {
  /** The node whose admin routes the capability opens; `*` for every node. */
  readonly nodeId: string;
}

export interface CapabilityAnswer {
  readonly capability: string;
  readonly expiresAt: string;
}
