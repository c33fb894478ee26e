/** Starts a real `granary storage-node` process on a free loopback port. */
import { type GranaryProcess, startGranaryProcess } from './granary-process.js';

export { GRANARY_BIN } from './granary-process.js';

export interface NodeProcess extends GranaryProcess {
  readonly nodeId: string;
}

export async function startNodeProcess(
  dataDir: string,
  extraArgs: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<NodeProcess> {
  const started = await startGranaryProcess(
    // No hot-column cache unless a test asks for one (a later --hot-cache-bytes wins): the fault
    // tests damage chunk files under a node and expect its reads to show it, which a range the
    // node holds in memory would hide.
    ['storage-node', '--data', dataDir, '--port', '0', '--scrub-interval-hours', '0', '--hot-cache-bytes', '0', ...extraArgs],
    'storage node ready',
    nodeArgs,
  );
  return { ...started, nodeId: started.ready.nodeId as string };
}
