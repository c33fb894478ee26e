/**
 * Scan planning against the live catalog, and feature popularity: how often each column is read,
 * so writers can lay popular columns side by side and readers coalesce them into large reads.
 * Counts are kept in memory and flushed to LevelDB now and then (losing the last few seconds of
 * counts in a crash is harmless).
 */
import type { ScanPageRequest, ScanPlan, ScanRequest } from '../protocol/index.js';
import type { NodeRegistry } from './nodes.js';
import type { ManifestCache } from './manifests/cache.js';
import { PIECE_BYTES_TARGET } from './manifests/pieces.js';
import { READ_AHEAD_PIECES, planScan } from './planner.js';
import type { FileRecord } from './records.js';
import type { MetadataState } from './state.js';
import type { Catalog } from './tables.js';

export interface ColumnPopularity {
  readonly column: string;
  readonly featureId?: number;
  readonly scans: number;
}

/** Read-ahead needs room for a page's pieces in flight several times over. */
const READ_AHEAD_CACHE_BYTES_MIN = 4 * (READ_AHEAD_PIECES + 1) * PIECE_BYTES_TARGET;

export class Scans {
  private dirty = new Set<string>();

  constructor(
    private readonly state: MetadataState,
    private readonly catalog: Catalog,
    private readonly nodes: NodeRegistry,
    /** Manifest pieces come through it: the service's memory for them is bounded by its size. */
    readonly manifests: ManifestCache,
  ) {}

  /** One page of the scan's plan; the first page (no cursor) counts the scan toward popularity. */
  async plan(tableName: string, request: ScanRequest, page: ScanPageRequest = {}): Promise<ScanPlan> {
    // The table is looked up inside the gate: a drop that ran while this page waited is seen.
    const { table, plan, columnCids } = await this.state.plans.plan(async () => {
      const table = this.catalog.table(tableName);
      const now = Date.now();
      const result = await planScan(
        {
          table,
          partitions: [...this.state.partitionsOf(table.id).values()],
          files: (partition) => this.state.files.get(table.id)?.get(partition) ?? [],
          block: (blockId) => this.state.blocks.get(blockId),
          node: (nodeId) => {
            const node = this.state.nodes.get(nodeId);
            return node === undefined ? undefined : { url: node.url, state: this.nodes.stateOf(node, now) };
          },
          piece: (file, piece) => this.manifests.peek(file, piece) ?? this.manifests.get(file, piece),
          // Reading ahead into a cache too small to keep what it read would only evict pieces
          // the walk is about to use.
          ...(this.manifests.bytesMax < READ_AHEAD_CACHE_BYTES_MIN
            ? {}
            : {
                readAhead: (file: FileRecord, piece: number) => {
                  // Only a head start: the walk asks for the piece again when it needs it, and a
                  // failed load is answered to that request, so this one's failure has nowhere to go.
                  if (!this.manifests.holds(file, piece)) this.manifests.get(file, piece).catch(() => undefined);
                },
              }),
        },
        request,
        page,
      );
      return { table, ...result };
    });
    // A scan is counted once, however many pages it reads.
    if (page.after !== undefined) return plan;
    let counts = this.state.popularity.get(table.id);
    if (counts === undefined) {
      counts = new Map();
      this.state.popularity.set(table.id, counts);
    }
    for (const cid of columnCids) counts.set(cid, (counts.get(cid) ?? 0) + 1);
    this.dirty.add(table.id);
    return plan;
  }

  popularity(tableName: string): ColumnPopularity[] {
    const table = this.catalog.table(tableName);
    const counts = this.state.popularity.get(table.id);
    return table.columns
      .filter((column) => column.droppedInVersion === undefined)
      .map((column) => ({
        column: column.name,
        ...(column.featureId === undefined ? {} : { featureId: column.featureId }),
        scans: counts?.get(column.cid) ?? 0,
      }))
      .sort((a, b) => b.scans - a.scans || (a.column < b.column ? -1 : 1));
  }

  /** Writes changed counts to LevelDB. */
  async flush(): Promise<void> {
    const tables = [...this.dirty];
    this.dirty = new Set();
    for (const tableId of tables) {
      const counts = this.state.popularity.get(tableId);
      if (counts === undefined) continue;
      await this.state.db.popularity.put(tableId, Object.fromEntries([...counts].map(([cid, count]) => [String(cid), count])));
    }
  }
}
