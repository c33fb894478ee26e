export { METADATA_DEFAULTS, type MetadataConfig, type RunningMetadata, startMetadata } from './main.js';
export { MetadataService } from './service.js';
export { buildMetadataServer } from './server.js';
export { MetadataDb } from './db.js';
export { MetadataState } from './state.js';
export { placeShards, type PlacementCandidate } from './placement.js';
export { planScan, loadFile } from './planner.js';
