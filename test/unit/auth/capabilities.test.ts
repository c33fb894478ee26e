/**
 * The pieces of auth on their own: chunk capabilities (protocol/capability.ts) and put receipts
 * (protocol/receipt.ts) as wire formats that refuse anything not signed as it stands; the issuer's
 * reuse of read capabilities; and the token store (metadata/tokens.ts): only hashes on disk,
 * revocation, expiry, the bootstrap admin token file, and refusal of requests that make no sense.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapabilityIssuer, CAPABILITY_TTL_MS_DEFAULT } from '../../../metadata/capabilities.js';
import { MetadataDb } from '../../../metadata/db.js';
import { TokenStore } from '../../../metadata/tokens.js';
import { type CreateTokenRequest, TOKEN_PATTERN, TOKEN_TABLES_MAX } from '../../../protocol/auth-types.js';
import {
  CAPABILITY_OPS,
  CAPABILITY_TEXT_MAX,
  type Capability,
  blockOfChunk,
  openCapability,
  publicKeyFromText,
  publicKeyToText,
  signCapability,
} from '../../../protocol/capability.js';
import { GranaryError } from '../../../protocol/index.js';
import { RECEIPT_TEXT_BYTES, receiptVerifies, signReceipt } from '../../../protocol/receipt.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const LATER_MS = Date.UTC(2030, 0, 1);

/** Runs `open` and returns the GranaryError code it throws (or 'accepted'). */
function outcome(open: () => unknown): string {
  try {
    open();
    return 'accepted';
  } catch (error) {
    if (!(error instanceof GranaryError)) throw error;
    return error.code;
  }
}

/** A capability with any header bytes, signed over the domain as the real signer does. */
function signRaw(version: number, op: number, expiresAtS: number, scope: string): string {
  const scopeBytes = Buffer.from(scope);
  const body = Buffer.alloc(7 + scopeBytes.length);
  body.writeUInt8(version, 0);
  body.writeUInt8(op, 1);
  body.writeUInt32BE(expiresAtS, 2);
  body.writeUInt8(scopeBytes.length, 6);
  scopeBytes.copy(body, 7);
  const signature = sign(null, Buffer.concat([Buffer.from('granary-capability-v1\0'), body]), privateKey);
  return Buffer.concat([body, signature]).toString('base64url');
}

describe('chunk capabilities (protocol/capability.ts)', () => {
  it('round-trips every operation, with the expiry rounded up to a second', () => {
    for (const op of CAPABILITY_OPS) {
      const capability: Capability = { op, scope: op === 'admin' ? 'node-3' : 'b0123456789abcdef.4', expiresAtMs: LATER_MS + 1 };
      const text = signCapability(capability, privateKey);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(text.length).toBeLessThanOrEqual(CAPABILITY_TEXT_MAX);
      expect(openCapability(text, publicKey)).toEqual({ ...capability, expiresAtMs: LATER_MS + 1000 });
    }
  });

  it('opens the longest scope there is, and refuses to sign an empty or longer one', () => {
    const longest = 'x'.repeat(255);
    expect(openCapability(signCapability({ op: 'read', scope: longest, expiresAtMs: LATER_MS }, privateKey), publicKey).scope).toBe(longest);
    expect(() => signCapability({ op: 'read', scope: 'x'.repeat(256), expiresAtMs: LATER_MS }, privateKey)).toThrow(RangeError);
    expect(() => signCapability({ op: 'read', scope: '', expiresAtMs: LATER_MS }, privateKey)).toThrow(RangeError);
  });

  it('refuses a capability with any byte changed', () => {
    const bytes = Buffer.from(signCapability({ op: 'delete', scope: 'b00aa.2', expiresAtMs: LATER_MS }, privateKey), 'base64url');
    let checked = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const tampered = Buffer.from(bytes);
        tampered[i] = (tampered[i] as number) ^ flip;
        expect(outcome(() => openCapability(tampered.toString('base64url'), publicKey)), `byte ${i} ^ ${flip}`).toBe('GRN_CAPABILITY_REFUSED');
        checked++;
      }
    }
    expect(checked).toBe(2 * (7 + 7 + 64));
  });

  it('refuses one signed by another key, truncated, extended, empty or oversized', () => {
    const text = signCapability({ op: 'read', scope: 'b00aa', expiresAtMs: LATER_MS }, privateKey);
    expect(openCapability(text, publicKey).op).toBe('read');
    expect(outcome(() => openCapability(text, other.publicKey))).toBe('GRN_CAPABILITY_REFUSED');
    expect(outcome(() => openCapability(signCapability({ op: 'read', scope: 'b00aa', expiresAtMs: LATER_MS }, other.privateKey), publicKey))).toBe(
      'GRN_CAPABILITY_REFUSED',
    );
    const bytes = Buffer.from(text, 'base64url');
    for (let length = 0; length < bytes.length; length++) {
      expect(outcome(() => openCapability(bytes.subarray(0, length).toString('base64url'), publicKey)), `${length} bytes`).toBe('GRN_CAPABILITY_REFUSED');
    }
    expect(outcome(() => openCapability(Buffer.concat([bytes, Buffer.from([0])]).toString('base64url'), publicKey))).toBe('GRN_CAPABILITY_REFUSED');
    expect(outcome(() => openCapability('', publicKey))).toBe('GRN_CAPABILITY_REFUSED');
    expect(outcome(() => openCapability('A'.repeat(CAPABILITY_TEXT_MAX + 1), publicKey))).toBe('GRN_CAPABILITY_REFUSED');
    expect(outcome(() => openCapability(text + 'A'.repeat(CAPABILITY_TEXT_MAX), publicKey))).toBe('GRN_CAPABILITY_REFUSED');
    // Characters base64url does not have are not skipped into a valid capability.
    for (const variant of [`${text.slice(0, 10)}!${text.slice(10)}`, `${text} `, `${text}=`, `\n${text}`, text.replace(/[-_]/g, (c) => (c === '-' ? '+' : '/'))]) {
      if (variant === text) continue;
      expect(outcome(() => openCapability(variant, publicKey)), JSON.stringify(variant)).toBe('GRN_CAPABILITY_REFUSED');
    }
  });

  it('refuses an unknown version or operation even when properly signed', () => {
    const expiresAtS = LATER_MS / 1000;
    expect(openCapability(signRaw(1, 0, expiresAtS, 'b00aa'), publicKey)).toEqual({ op: 'read', scope: 'b00aa', expiresAtMs: LATER_MS });
    for (const [version, op] of [
      [0, 0],
      [2, 0],
      [255, 0],
      [1, CAPABILITY_OPS.length],
      [1, 255],
    ] as const) {
      expect(() => openCapability(signRaw(version, op, expiresAtS, 'b00aa'), publicKey), `version ${version} op ${op}`).toThrow(/version|unknown operation/);
    }
  });

  it('names the block of a chunk, and carries public keys as text that only an Ed25519 key passes', () => {
    expect(blockOfChunk('b00aa.11')).toBe('b00aa');
    expect(blockOfChunk('b00aa')).toBe('b00aa');
    const text = publicKeyToText(publicKey);
    expect(publicKeyFromText(text, 'a key').equals(publicKey)).toBe(true);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(outcome(() => publicKeyFromText(publicKeyToText(rsa), 'a key'))).toBe('GRN_BAD_REQUEST');
    expect(outcome(() => publicKeyFromText('bm90IGEga2V5', 'a key'))).toBe('GRN_BAD_REQUEST');
  });
});

describe('put receipts (protocol/receipt.ts)', () => {
  const checksum = 0x0123_4567_89ab_cdefn;

  it('verifies for exactly the chunk, length, checksum and key it was signed for', () => {
    const receipt = signReceipt('b00aa.3', 4096, checksum, privateKey);
    expect(receipt.length).toBe(RECEIPT_TEXT_BYTES);
    expect(receiptVerifies(receipt, 'b00aa.3', 4096, checksum, publicKey)).toBe(true);
    expect(receiptVerifies(receipt, 'b00aa.4', 4096, checksum, publicKey)).toBe(false);
    expect(receiptVerifies(receipt, 'b00aa.3', 4097, checksum, publicKey)).toBe(false);
    expect(receiptVerifies(receipt, 'b00aa.3', 4096, checksum ^ 1n, publicKey)).toBe(false);
    expect(receiptVerifies(receipt, 'b00aa.3', 4096, checksum, other.publicKey)).toBe(false);
    // The zero byte after the id keeps an id from borrowing the length's bytes.
    expect(receiptVerifies(signReceipt('b00aa.3', 0, 0n, privateKey), 'b00aa.3\0', 0, 0n, publicKey)).toBe(false);
  });

  it('refuses a receipt with any byte changed, or of another length', () => {
    const receipt = signReceipt('b00aa.3', 4096, checksum, privateKey);
    const bytes = Buffer.from(receipt, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] as number) ^ 0x10;
      expect(receiptVerifies(tampered.toString('base64url'), 'b00aa.3', 4096, checksum, publicKey), `byte ${i}`).toBe(false);
    }
    expect(receiptVerifies(receipt.slice(0, -1), 'b00aa.3', 4096, checksum, publicKey)).toBe(false);
    expect(receiptVerifies(`${receipt}A`, 'b00aa.3', 4096, checksum, publicKey)).toBe(false);
    expect(receiptVerifies('', 'b00aa.3', 4096, checksum, publicKey)).toBe(false);
    expect(receiptVerifies('!'.repeat(RECEIPT_TEXT_BYTES), 'b00aa.3', 4096, checksum, publicKey)).toBe(false);
    // A capability's signature over the same id is no receipt.
    const capability = Buffer.from(signCapability({ op: 'write', scope: 'b00aa.3', expiresAtMs: LATER_MS }, privateKey), 'base64url');
    expect(receiptVerifies(capability.subarray(-64).toString('base64url'), 'b00aa.3', 4096, checksum, publicKey)).toBe(false);
  });
});

describe('CapabilityIssuer (metadata/capabilities.ts)', () => {
  const now = Date.UTC(2026, 11, 2);

  it('reuses a block read capability while it has more than half its life left, then signs a new one', () => {
    const issuer = new CapabilityIssuer(privateKey, 60_000);
    const first = issuer.read('b00aa', now);
    expect(openCapability(first, publicKey)).toEqual({ op: 'read', scope: 'b00aa', expiresAtMs: now + 60_000 });
    expect(issuer.read('b00aa', now + 29_999)).toBe(first);
    expect(issuer.read('b00bb', now)).not.toBe(first);
    const renewed = issuer.read('b00aa', now + 30_000);
    expect(renewed).not.toBe(first);
    expect(openCapability(renewed, publicKey).expiresAtMs).toBe(now + 90_000);
    expect(issuer.read('b00aa', now + 31_000)).toBe(renewed);
  });

  it('signs writes, replaces and deletes for one chunk, deletes and admin work for minutes only', () => {
    const issuer = new CapabilityIssuer(privateKey);
    expect(issuer.ttlMs).toBe(CAPABILITY_TTL_MS_DEFAULT);
    expect(openCapability(issuer.write('b00aa.1', now), publicKey)).toEqual({ op: 'write', scope: 'b00aa.1', expiresAtMs: now + CAPABILITY_TTL_MS_DEFAULT });
    expect(openCapability(issuer.replace('b00aa.1', now), publicKey)).toEqual({ op: 'replace', scope: 'b00aa.1', expiresAtMs: now + CAPABILITY_TTL_MS_DEFAULT });
    expect(openCapability(issuer.delete('b00aa.1', now), publicKey)).toEqual({ op: 'delete', scope: 'b00aa.1', expiresAtMs: now + 10 * 60_000 });
    const admin = issuer.admin('node-2', now);
    expect(admin.expiresAtMs).toBe(now + 10 * 60_000);
    expect(openCapability(admin.capability, publicKey)).toEqual({ op: 'admin', scope: 'node-2', expiresAtMs: admin.expiresAtMs });
    // Another service's issuer signs nothing this one's key accepts.
    expect(outcome(() => openCapability(CapabilityIssuer.ephemeral().write('b00aa.1'), publicKey))).toBe('GRN_CAPABILITY_REFUSED');
  });

  it('keeps its key in a 0600 file across restarts', async () => {
    const dir = await makeTempDir('cap-key');
    try {
      const file = join(dir.path, 'sub', 'capability.key');
      const first = await CapabilityIssuer.fromKeyFile(file);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const again = await CapabilityIssuer.fromKeyFile(file);
      expect(again.publicKeyText).toBe(first.publicKeyText);
      expect(openCapability(first.write('b00aa.0'), again.publicKey).op).toBe('write');
      await writeFile(file, 'not a key');
      await expect(CapabilityIssuer.fromKeyFile(file)).rejects.toMatchObject({ code: 'GRN_BAD_REQUEST' });
    } finally {
      await dir.remove();
    }
  });
});

describe('TokenStore (metadata/tokens.ts)', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  let db: MetadataDb;
  let store: TokenStore;

  beforeEach(async () => {
    dir = await makeTempDir('tokens');
    db = new MetadataDb(join(dir.path, 'catalog'));
    await db.open();
    store = new TokenStore(db);
    await store.load();
  });
  afterEach(async () => {
    await db.close();
    await dir.remove();
  });

  async function reopen(): Promise<TokenStore> {
    await db.close();
    db = new MetadataDb(join(dir.path, 'catalog'));
    await db.open();
    const reopened = new TokenStore(db);
    await reopened.load();
    return reopened;
  }

  it('stores only a hash: no record holds the secret, and the token still works after a restart', async () => {
    const created = await store.create({ role: 'reader', tables: ['events'], description: 'trainer' });
    const match = TOKEN_PATTERN.exec(created.token);
    expect(match).not.toBeNull();
    const [, id, secret] = match as unknown as [string, string, string];
    expect(created).toMatchObject({ id, role: 'reader', tables: ['events'], description: 'trainer' });
    let records = 0;
    for await (const { key, value: bytes } of db.store.snapshot()) {
      const value = Buffer.from(bytes);
      records++;
      for (const text of [secret, created.token]) {
        expect(key.includes(text)).toBe(false);
        expect(value.includes(Buffer.from(text))).toBe(false);
      }
    }
    expect(records).toBe(1);
    expect(store.list()).toEqual([expect.not.objectContaining({ token: expect.anything() })]);
    expect(JSON.stringify(store.list())).not.toContain(secret);

    const reopened = await reopen();
    const principal = reopened.authenticate(`Bearer ${created.token}`);
    expect(principal).toMatchObject({ tokenId: id, role: 'reader', nodeId: undefined });
    expect([...(principal.tables ?? [])]).toEqual(['events']);
  });

  it('authenticates only a well-formed bearer header of a known, unrevoked, unexpired token', async () => {
    const created = await store.create({ role: 'writer' }, 1_000);
    const expiring = await store.create({ role: 'admin', ttlMs: 500 }, 1_000);
    expect(store.authenticate(`Bearer ${created.token}`, 2_000).role).toBe('writer');
    expect(store.authenticate(`bearer  ${created.token}`, 2_000).role).toBe('writer');
    expect(store.authenticate(`Bearer ${expiring.token}`, 1_499).role).toBe('admin');
    const refused = [undefined, '', created.token, `Basic ${created.token}`, `Bearer ${created.token} x`, 'Bearer grn_0000000000000000_' + 'A'.repeat(43), `Bearer ${created.token.slice(0, -1)}`];
    for (const header of refused) {
      expect(outcome(() => store.authenticate(header, 2_000)), String(header)).toBe('GRN_UNAUTHENTICATED');
    }
    // Expired from the moment its time is up.
    expect(outcome(() => store.authenticate(`Bearer ${expiring.token}`, 1_500))).toBe('GRN_UNAUTHENTICATED');
    expect(store.list().find((t) => t.id === expiring.id)?.expiresAt).toBe(new Date(1_500).toISOString());

    const revoked = await store.revoke(created.id);
    expect(revoked).toMatchObject({ id: created.id, role: 'writer' });
    expect(outcome(() => store.authenticate(`Bearer ${created.token}`, 2_000))).toBe('GRN_UNAUTHENTICATED');
    await expect(store.revoke(created.id)).rejects.toMatchObject({ code: 'GRN_TOKEN_NOT_FOUND' });
    // Revocation is durable.
    const reopened = await reopen();
    expect(outcome(() => reopened.authenticate(`Bearer ${created.token}`, 2_000))).toBe('GRN_UNAUTHENTICATED');
    expect(reopened.list().map((t) => t.id)).toEqual([expiring.id]);
  });

  it('binds node tokens to their node id', async () => {
    const created = await store.create({ role: 'node', nodeId: 'node-7' });
    expect(store.principalOf(created.token)).toMatchObject({ role: 'node', nodeId: 'node-7', tables: undefined });
  });

  it('refuses requests for roles and scopes that make no sense, storing nothing', async () => {
    const bad: [CreateTokenRequest, RegExp][] = [
      [{ role: 'root' as never }, /role must be one of/],
      [{ role: 'node' }, /needs the node id/],
      [{ role: 'node', nodeId: 'Not A Node!' }, /needs the node id/],
      [{ role: 'node', nodeId: 'node-1', tables: ['events'] }, /no table scope/],
      [{ role: 'reader', nodeId: 'node-1' }, /only a node token names a node id/],
      [{ role: 'admin', tables: ['events'] }, /cannot be limited to tables/],
      [{ role: 'writer', tables: [] }, /tables must list/],
      [{ role: 'writer', tables: Array.from({ length: TOKEN_TABLES_MAX + 1 }, (_, i) => `t${i}`) }, /tables must list/],
      [{ role: 'reader', ttlMs: 0 }, /ttlMs must be/],
      [{ role: 'reader', ttlMs: -5 }, /ttlMs must be/],
      [{ role: 'reader', ttlMs: 1.5 }, /ttlMs must be/],
      [{ role: 'reader', description: 'x'.repeat(201) }, /description is at most/],
    ];
    for (const [request, message] of bad) {
      await expect(store.create(request), JSON.stringify(request).slice(0, 80)).rejects.toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringMatching(message) });
    }
    expect(store.list()).toEqual([]);
    let records = 0;
    for await (const _ of db.store.snapshot()) records++;
    expect(records).toBe(0);
  });

  it('refuses a lifetime that runs past the last date there is, so list and revoke keep working', async () => {
    await expect(store.create({ role: 'reader', ttlMs: Number.MAX_SAFE_INTEGER })).rejects.toMatchObject({ code: 'GRN_BAD_REQUEST' });
    expect(store.list()).toEqual([]);
    const decade = await store.create({ role: 'reader', ttlMs: 10 * 365 * 24 * 3600_000 });
    expect(store.list().map((t) => t.id)).toEqual([decade.id]);
  });

  it('ensureAdminTokenFile writes a working admin token with mode 0600, and reuses a valid file', async () => {
    const file = join(dir.path, 'data', 'admin.token');
    expect(await store.ensureAdminTokenFile(file)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect(store.principalOf(token).role).toBe('admin');
    expect(await store.ensureAdminTokenFile(file)).toBe(false);
    expect((await readFile(file, 'utf8')).trim()).toBe(token);
    expect(store.list()).toHaveLength(1);
    // After a restart the file is still valid and kept.
    const reopened = await reopen();
    expect(await reopened.ensureAdminTokenFile(file)).toBe(false);

    // A revoked token, or one of another role, is replaced (and the file kept private).
    await reopened.revoke(reopened.principalOf(token).tokenId);
    await chmod(file, 0o644);
    expect(await reopened.ensureAdminTokenFile(file)).toBe(true);
    const replaced = (await readFile(file, 'utf8')).trim();
    expect(replaced).not.toBe(token);
    expect(reopened.principalOf(replaced).role).toBe('admin');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reader = await reopened.create({ role: 'reader' });
    await writeFile(file, reader.token);
    expect(await reopened.ensureAdminTokenFile(file)).toBe(true);
    expect(reopened.principalOf((await readFile(file, 'utf8')).trim()).role).toBe('admin');
  });
});
