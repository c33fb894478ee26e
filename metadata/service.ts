/** The metadata service's parts wired together over one state. */
import type { Random } from './placement.js';
import { type LivenessConfig, NodeRegistry } from './nodes.js';
import { Scans } from './scans.js';
import type { MetadataState } from './state.js';
import { Catalog } from './tables.js';
import { WriteSessions } from './writes.js';

export class MetadataService {
  readonly nodes: NodeRegistry;
  readonly catalog: Catalog;
  readonly writes: WriteSessions;
  readonly scans: Scans;

  constructor(
    readonly state: MetadataState,
    liveness: LivenessConfig,
    startedAt: number,
    random: Random = Math.random,
  ) {
    this.nodes = new NodeRegistry(state, liveness, startedAt);
    this.catalog = new Catalog(state, this.nodes);
    this.writes = new WriteSessions(state, this.catalog, this.nodes, random);
    this.scans = new Scans(state, this.catalog, this.nodes);
  }

  tableNamesById(): Map<string, string> {
    return new Map([...this.state.tablesByName.values()].map((table) => [table.id, table.name]));
  }
}
