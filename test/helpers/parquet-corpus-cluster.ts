/**
 * The `granary` commands pointed at one local `granary up` cluster, as the conformance suite and
 * bench run them: three storage nodes, RS 2+1, no sample table, the commands run in process
 * (in-process-cli.ts: a fresh process per command made the collection take 10-35 minutes on two
 * cores) with the admin token `up` left in the cluster's directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type InProcessCli, inProcessCli } from './in-process-cli.js';
import { makeTempDir } from './temp-dir.js';
import { startUp } from './up-process.js';
import { freeUpPortRange } from './up-ports.js';

export const CORPUS_NODES = 3;
export const CORPUS_READY_DEADLINE_MS = 150_000;
export const CORPUS_STOP_DEADLINE_MS = 30_000;

/** `up`'s arguments for the corpus cluster. */
export function corpusUpArgs(root: string, port: number): string[] {
  return ['--data', root, '--port', String(port), '--nodes', String(CORPUS_NODES), '--ec', '2+1', '--no-sample'];
}

/** Runs commands against the metadata service on `port` with the admin token `up` wrote under `root`. */
export async function corpusCli(root: string, port: number): Promise<InProcessCli> {
  const token = (await readFile(join(root, 'admin.token'), 'utf8')).trim();
  return inProcessCli(`http://127.0.0.1:${port}`, token);
}

/** A cluster of its own in a temporary directory (the bench's; the test uses useUpCluster). */
export async function startCorpusCluster(): Promise<{ readonly cli: InProcessCli; readonly dir: string; stop(): Promise<void> }> {
  const dir = await makeTempDir('parquet-conformance');
  const port = await freeUpPortRange(CORPUS_NODES);
  const root = join(dir.path, 'data');
  const up = startUp(corpusUpArgs(root, port), dir.path);
  let cli: InProcessCli | undefined;
  const stop = async (): Promise<void> => {
    cli?.close();
    await up.stop(CORPUS_STOP_DEADLINE_MS);
    await dir.remove();
  };
  try {
    await up.ready(CORPUS_READY_DEADLINE_MS);
    cli = await corpusCli(root, port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { cli, dir: dir.path, stop };
}
