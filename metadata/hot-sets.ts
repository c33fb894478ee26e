/**
 * What each storage node should keep in its hot-column cache (docs/design.md, "Hot-column
 * cache"; protocol/hot-cache-types.ts). Jobs declare the table, columns and partitions they will
 * read (`granary jobs register`, or their first training plan does it); the service plans each
 * declaration as a scan would, maps every stream to the shard ranges that hold it, merges them
 * per chunk as readers coalesce reads, and ranks them by the decayed bytes read of their
 * columns. A node learns its set from heartbeat answers when it changed. Sets are computed again
 * when a declaration comes or goes, and now and then for partitions committed since.
 */
import { contiguousLayout, shardPieces } from '../erasure/index.js';
import { GranaryError, NO_BLOCK, type ScanPlan, type ScanRequest, decodeStreamEntry } from '../protocol/index.js';
import {
  type DeclaredJob,
  HOT_EXTENTS_PER_NODE_MAX,
  type HotExtent,
  type HotSet,
  JOB_DECLARATIONS_MAX,
  JOB_DECLARATION_TTL_MS_DEFAULT,
  JOB_DECLARATION_TTL_MS_MAX,
  type JobDeclaration,
} from '../protocol/hot-cache-types.js';
import { type CoalescedRange, coalesce } from './relayout-model.js';

/** Sets are computed again at least this often, for partitions committed since. */
export const HOT_SETS_REFRESH_MS = 60_000;

interface Declaration extends JobDeclaration {
  readonly source: DeclaredJob['source'];
  readonly declaredAt: number;
  readonly expiresAt: number;
}

export interface HotSetsDeps {
  /** One page of a scan's plan (a maintenance read: it counts toward nothing). */
  readonly plan: (table: string, request: ScanRequest, after?: string) => Promise<ScanPlan>;
  /** Checks the table and columns exist (throws the catalog's error otherwise). */
  readonly check: (declaration: JobDeclaration) => void;
  /** Decayed bytes read of a table's column (0 when never read). */
  readonly columnBytes: (table: string, column: string) => number;
  readonly onError: (error: unknown) => void;
}

export class HotSets {
  /** By `${job}\0${table}`, oldest declared first. */
  private readonly declarations = new Map<string, Declaration>();
  private version = 0;
  private byNode = new Map<string, HotExtent[]>();
  private dirty = true;
  private computedAt = 0;
  private computing: Promise<void> | undefined;

  constructor(private readonly deps: HotSetsDeps) {}

  /** Adds or renews a declaration; a first-epoch one never replaces what a job registered. */
  declare(declaration: JobDeclaration, source: DeclaredJob['source'], now: number): DeclaredJob {
    const ttlMs = declaration.ttlMs ?? JOB_DECLARATION_TTL_MS_DEFAULT;
    if (!(Number.isSafeInteger(ttlMs) && ttlMs > 0 && ttlMs <= JOB_DECLARATION_TTL_MS_MAX)) {
      throw new GranaryError('GRN_BAD_REQUEST', `a declaration holds for 1 ms to ${JOB_DECLARATION_TTL_MS_MAX / 86_400_000} days, got ${ttlMs} ms`);
    }
    this.deps.check(declaration);
    const key = `${declaration.job}\u0000${declaration.table}`;
    const existing = this.declarations.get(key);
    if (source === 'first-epoch' && existing?.source === 'register' && existing.expiresAt > now) return described(existing);
    const record: Declaration = { ...declaration, ttlMs, source, declaredAt: now, expiresAt: now + ttlMs };
    if (existing !== undefined && existing.expiresAt > now && sameReads(existing, record)) {
      // Renewed: the sets the nodes hold are still the right ones.
      this.declarations.delete(key);
      this.declarations.set(key, { ...record, declaredAt: existing.declaredAt });
      return described(record);
    }
    this.declarations.delete(key);
    this.declarations.set(key, record);
    while (this.declarations.size > JOB_DECLARATIONS_MAX) this.declarations.delete(this.declarations.keys().next().value as string);
    this.dirty = true;
    // Computed now, so the nodes' next heartbeats carry it (the job's next epoch may be seconds away).
    this.kick(now);
    return described(record);
  }

  /** True when the job has a live declaration for the table. */
  declared(job: string, table: string, now: number): boolean {
    return (this.declarations.get(`${job}\u0000${table}`)?.expiresAt ?? 0) > now;
  }

  /** The version of the sets computed last, and whether a newer one is being computed or due. */
  state(): { readonly version: number; readonly pending: boolean } {
    return { version: this.version, pending: this.dirty || this.computing !== undefined };
  }

  list(now: number): DeclaredJob[] {
    this.expire(now);
    return [...this.declarations.values()].reverse().map(described);
  }

  /**
   * The node's hot set if it differs from the version it holds; starts a computation when the
   * sets are stale (the answer then carries the sets computed last, and the next one the new).
   */
  forNode(nodeId: string, knownVersion: number | undefined, now: number): HotSet | undefined {
    this.expire(now);
    if (this.dirty || now - this.computedAt >= HOT_SETS_REFRESH_MS) this.kick(now);
    if (knownVersion === this.version || (this.version === 0 && knownVersion === undefined)) return undefined;
    return { version: this.version, extents: this.byNode.get(nodeId) ?? [] };
  }

  /** Starts a computation unless one runs (a change during it marks the sets dirty for the next). */
  private kick(now: number): void {
    if (this.computing !== undefined) return;
    this.computing = this.compute(now)
      .catch(this.deps.onError)
      .finally(() => {
        this.computing = undefined;
      });
  }

  /** Computes every node's set now (tests wait on it). */
  async refresh(now = Date.now()): Promise<void> {
    await this.computing;
    this.dirty = true;
    await this.compute(now);
  }

  private expire(now: number): void {
    for (const [key, declaration] of this.declarations) {
      if (declaration.expiresAt > now) continue;
      this.declarations.delete(key);
      this.dirty = true;
    }
  }

  private async compute(now: number): Promise<void> {
    this.dirty = false;
    this.computedAt = now;
    /** nodeId -> chunkId -> its ranges */
    const ranges = new Map<string, Map<string, CoalescedRange[]>>();
    for (const declaration of [...this.declarations.values()]) {
      try {
        await this.addDeclaration(declaration, ranges);
      } catch (error) {
        // A table dropped or a column gone since it was declared: the others still count.
        if (!(error instanceof GranaryError)) throw error;
      }
    }
    const byNode = new Map<string, HotExtent[]>();
    for (const [nodeId, chunks] of ranges) {
      const extents: HotExtent[] = [];
      for (const [chunkId, list] of chunks) extents.push(...merged(chunkId, list));
      extents.sort((a, b) => b.priority - a.priority || (a.chunkId < b.chunkId ? -1 : a.chunkId > b.chunkId ? 1 : a.offset - b.offset));
      byNode.set(nodeId, extents.slice(0, HOT_EXTENTS_PER_NODE_MAX));
    }
    this.byNode = byNode;
    this.version++;
  }

  private async addDeclaration(declaration: Declaration, ranges: Map<string, Map<string, CoalescedRange[]>>): Promise<void> {
    const request: ScanRequest = {
      ...(declaration.columns === undefined ? {} : { columns: declaration.columns }),
      ...(declaration.partitions === undefined ? {} : { partitions: declaration.partitions }),
      purpose: 'maintenance',
    };
    let after: string | undefined;
    do {
      const plan = await this.deps.plan(declaration.table, request, after);
      const priorities = plan.columns.map((column) => 1 + this.deps.columnBytes(declaration.table, column.name));
      for (const stripe of plan.stripes) {
        for (let c = 0; c < plan.columns.length; c++) {
          const entry = decodeStreamEntry(stripe.streams, c);
          if (entry.blockRef === NO_BLOCK || entry.length === 0) continue;
          const block = plan.blocks[entry.blockRef];
          if (block === undefined) continue;
          const layout = contiguousLayout({ dataShards: block.dataShards, parityShards: block.parityShards }, block.blockBytes);
          for (const piece of shardPieces(layout, entry.offset, entry.length)) {
            const chunk = block.chunks[piece.shard];
            if (chunk === undefined) continue;
            let chunks = ranges.get(chunk.nodeId);
            if (chunks === undefined) {
              chunks = new Map();
              ranges.set(chunk.nodeId, chunks);
            }
            let list = chunks.get(chunk.chunkId);
            if (list === undefined) {
              list = [];
              chunks.set(chunk.chunkId, list);
            }
            list.push([piece.shardOffset, piece.shardOffset + piece.length, priorities[c] as number]);
          }
        }
      }
      after = plan.next;
    } while (after !== undefined);
  }
}

/** A chunk's ranges merged across the gaps readers read through, each with its best priority. */
function merged(chunkId: string, list: CoalescedRange[]): HotExtent[] {
  return coalesce(list).map(([start, end, priority]) => ({ chunkId, offset: start, length: end - start, priority }));
}

/** The same table, columns and partitions (what the hot sets are computed from). */
function sameReads(a: JobDeclaration, b: JobDeclaration): boolean {
  return a.table === b.table && JSON.stringify(a.columns ?? null) === JSON.stringify(b.columns ?? null) && JSON.stringify(a.partitions ?? null) === JSON.stringify(b.partitions ?? null);
}

function described(declaration: Declaration): DeclaredJob {
  const { declaredAt, expiresAt, ...rest } = declaration;
  return { ...rest, declaredAt: new Date(declaredAt).toISOString(), expiresAt: new Date(expiresAt).toISOString() };
}
