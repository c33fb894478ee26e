/**
 * The metadata service's side of chunk capabilities (protocol/capability.ts): it holds the one
 * Ed25519 private key of the cluster and signs a capability for every chunk operation it allows:
 * reads with scan plans, writes with block allocations, replaces and reads with repair tasks,
 * deletes with garbage collection, and node admin work for admin tokens.
 */
import { type KeyObject, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { loadOrCreateKeyFile } from '../protocol/secret-files.js';
import { type CapabilityOp, publicKeyToText, signCapability } from '../protocol/capability.js';

/**
 * How long a capability stays valid. Long enough for a training job's scan plan to be read to
 * its end (HDFS block tokens live 10 hours by default); a plan read past it is refused with a
 * clear error and is planned again.
 */
export const CAPABILITY_TTL_MS_DEFAULT = 10 * 60 * 60 * 1000;
/** Deletes and admin capabilities are used at once: they live only minutes. */
const SHORT_CAPABILITY_TTL_MS = 10 * 60 * 1000;

/** Read capabilities kept for reuse (about 200 bytes each). */
const READ_CACHE_ENTRIES_MAX = 200_000;

export class CapabilityIssuer {
  private readonly readCache = new Map<string, { readonly capability: string; readonly expiresAtMs: number }>();
  readonly publicKey: KeyObject;
  /** The public key as nodes receive it in registration answers. */
  readonly publicKeyText: string;

  constructor(
    private readonly privateKey: KeyObject,
    readonly ttlMs: number = CAPABILITY_TTL_MS_DEFAULT,
  ) {
    this.publicKey = createPublicKey(privateKey);
    this.publicKeyText = publicKeyToText(this.publicKey);
  }

  /**
   * The private key as PKCS#8 PEM, for metadata backups (metadata/backup/): a catalog restored
   * under another key would have its nodes refuse every capability until they re-register.
   */
  privateKeyPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** A key for tests and in-process services that keep nothing on disk. */
  static ephemeral(ttlMs?: number): CapabilityIssuer {
    return new CapabilityIssuer(generateKeyPairSync('ed25519').privateKey, ttlMs);
  }

  /**
   * The key kept in `file` (PKCS#8 PEM, mode 0600), created on first start. It must survive
   * restarts: nodes pin the public key they registered with.
   */
  static async fromKeyFile(file: string, ttlMs?: number): Promise<CapabilityIssuer> {
    return new CapabilityIssuer(await loadOrCreateKeyFile(file), ttlMs);
  }

  /**
   * Read any shard of a block. Signing costs ~35 us, and a plan may name thousands of blocks, so
   * a block's read capability is reused while it has more than half its life left.
   */
  read(blockId: string, now = Date.now()): string {
    const cached = this.readCache.get(blockId);
    if (cached !== undefined && cached.expiresAtMs - now > this.ttlMs / 2) return cached.capability;
    if (this.readCache.size >= READ_CACHE_ENTRIES_MAX) this.readCache.clear();
    const expiresAtMs = now + this.ttlMs;
    const capability = this.sign('read', blockId, expiresAtMs);
    this.readCache.set(blockId, { capability, expiresAtMs });
    return capability;
  }

  /** Store a chunk that does not exist yet. */
  write(chunkId: string, now = Date.now()): string {
    return this.sign('write', chunkId, now + this.ttlMs);
  }

  /** Store a chunk, replacing a copy that differs (repair targets). */
  replace(chunkId: string, now = Date.now()): string {
    return this.sign('replace', chunkId, now + this.ttlMs);
  }

  delete(chunkId: string, now = Date.now()): string {
    return this.sign('delete', chunkId, now + SHORT_CAPABILITY_TTL_MS);
  }

  /** A node's admin routes (list, scrub, verify); `*` for every node. */
  admin(nodeId: string, now = Date.now()): { capability: string; expiresAtMs: number } {
    const expiresAtMs = now + SHORT_CAPABILITY_TTL_MS;
    return { capability: this.sign('admin', nodeId, expiresAtMs), expiresAtMs };
  }

  private sign(op: CapabilityOp, scope: string, expiresAtMs: number): string {
    return signCapability({ op, scope, expiresAtMs }, this.privateKey);
  }
}
