/**
 * Chunk capabilities: short-lived permissions the metadata service signs and storage nodes check
 * (the model of HDFS block access tokens and Tectonic's capabilities). A node holds only the
 * service's public key, so a node, or anyone who can reach one, cannot mint a capability; and a
 * node trusts no request about a chunk unless it carries one naming that operation and that
 * chunk (or its block, for reads). See docs/design.md, "Security".
 *
 * Wire form (base64url of):
 *   version u8 = 1 | op u8 | expiresAt u32 (seconds since the epoch) | scopeLength u8 | scope
 *   | Ed25519 signature (64 bytes) over CAPABILITY_DOMAIN followed by the bytes before it.
 */
import { type KeyObject, createPublicKey, sign, verify } from 'node:crypto';
import { GranaryError } from './errors.js';

/** What a capability allows; a closed set. */
export const CAPABILITY_OPS = [
  /** Read ranges of any shard of one block (scope: block id). */
  'read',
  /** Store one chunk that does not exist yet (scope: chunk id). */
  'write',
  /** Store one chunk, replacing a copy that differs (repair; scope: chunk id). */
  'replace',
  /** Delete one chunk (garbage collection; scope: chunk id). */
  'delete',
  /** A node's admin routes: list, scrub, verify (scope: node id, or `*` for every node). */
  'admin',
] as const;
export type CapabilityOp = (typeof CAPABILITY_OPS)[number];

/** Header that carries a capability on single-chunk requests; batch reads carry them in the body. */
export const CAPABILITY_HEADER = 'x-granary-capability';
/** Every capability of every node: the scope of an admin capability for the whole cluster. */
export const ANY_NODE = '*';

export interface Capability {
  readonly op: CapabilityOp;
  readonly scope: string;
  readonly expiresAtMs: number;
}

const VERSION = 1;
const DOMAIN = Buffer.from('granary-capability-v1\0');
const SIGNATURE_BYTES = 64;
const SCOPE_BYTES_MAX = 255;
/** Longest capability text a node will look at: a bound before any decoding or verifying. */
export const CAPABILITY_TEXT_MAX = Math.ceil(((7 + SCOPE_BYTES_MAX + SIGNATURE_BYTES) * 4) / 3) + 4;

/** Signs a capability with the metadata service's Ed25519 private key. */
export function signCapability(capability: Capability, privateKey: KeyObject): string {
  const scope = Buffer.from(capability.scope, 'utf8');
  if (scope.length === 0 || scope.length > SCOPE_BYTES_MAX) throw new RangeError(`capability scope must be 1..${SCOPE_BYTES_MAX} bytes`);
  const body = Buffer.allocUnsafe(7 + scope.length);
  body.writeUInt8(VERSION, 0);
  body.writeUInt8(CAPABILITY_OPS.indexOf(capability.op), 1);
  body.writeUInt32BE(Math.min(0xffff_ffff, Math.ceil(capability.expiresAtMs / 1000)), 2);
  body.writeUInt8(scope.length, 6);
  scope.copy(body, 7);
  const signature = sign(null, Buffer.concat([DOMAIN, body]), privateKey);
  return Buffer.concat([body, signature]).toString('base64url');
}

/**
 * Checks a capability's signature and form, and returns what it allows. Throws
 * GRN_CAPABILITY_REFUSED for anything malformed or not signed by `publicKey`; expiry and scope
 * are the caller's to check (they depend on the request).
 */
export function openCapability(text: string, publicKey: KeyObject): Capability {
  if (text.length === 0 || text.length > CAPABILITY_TEXT_MAX) throw refused('capability is empty or too long');
  const bytes = Buffer.from(text, 'base64url');
  // Buffer.from skips characters base64url does not have: only the one text of these bytes is
  // accepted, so a capability has one form (and one entry in a node's verified cache).
  if (bytes.toString('base64url') !== text) throw refused('capability is not canonical base64url');
  if (bytes.length < 7 + 1 + SIGNATURE_BYTES) throw refused('capability is too short');
  const version = bytes.readUInt8(0);
  if (version !== VERSION) throw refused(`capability version ${version} is not understood`);
  const op = CAPABILITY_OPS[bytes.readUInt8(1)];
  if (op === undefined) throw refused('capability names an unknown operation');
  const scopeBytes = bytes.readUInt8(6);
  if (bytes.length !== 7 + scopeBytes + SIGNATURE_BYTES) throw refused('capability length does not match its scope');
  const body = bytes.subarray(0, 7 + scopeBytes);
  const signature = bytes.subarray(7 + scopeBytes);
  if (!verify(null, Buffer.concat([DOMAIN, body]), publicKey, signature)) {
    throw refused('capability signature does not verify: it was not signed by this cluster\'s metadata service');
  }
  return { op, scope: body.subarray(7).toString('utf8'), expiresAtMs: bytes.readUInt32BE(2) * 1000 };
}

/** The block a chunk id belongs to (`<block>.<shard>`), which read capabilities name. */
export function blockOfChunk(chunkId: string): string {
  const dot = chunkId.lastIndexOf('.');
  return dot <= 0 ? chunkId : chunkId.slice(0, dot);
}

/** Exports an Ed25519 public key as text (base64 of its SPKI DER) for registration answers and files. */
export function publicKeyToText(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

export function publicKeyFromText(text: string, what: string): KeyObject {
  try {
    const key = createPublicKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key`);
    return key;
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `${what} is not an Ed25519 public key (base64 SPKI DER): ${(error as Error).message}`);
  }
}

function refused(message: string): GranaryError {
  return new GranaryError('GRN_CAPABILITY_REFUSED', message);
}
