/**
 * The `granary` CLI pointed at one local `granary up` cluster, as the conformance suite and bench
 * run it: three storage nodes, RS 2+1, no sample table, the CLI run from the cluster's directory
 * (where `up` left the admin token) with the metadata URL in the environment.
 */
import { join } from 'node:path';
import type { Cli } from './parquet-corpus-run.js';
import { makeTempDir } from './temp-dir.js';
import { type CliResult, runGranary, startUp } from './up-process.js';
import { freeUpPortRange } from './up-ports.js';

export const CORPUS_NODES = 3;
export const CORPUS_READY_DEADLINE_MS = 150_000;
export const CORPUS_STOP_DEADLINE_MS = 30_000;

/** `up`'s arguments for the corpus cluster. */
export function corpusUpArgs(root: string, port: number): string[] {
  return ['--data', root, '--port', String(port), '--nodes', String(CORPUS_NODES), '--ec', '2+1', '--no-sample'];
}

/** Runs the CLI from `dir` against the metadata service on `port` (a user's token variables ignored). */
export function corpusCli(dir: string, port: number): Cli {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'GRANARY_TOKEN' && key !== 'GRANARY_TOKEN_FILE'));
  return (args: readonly string[]): Promise<CliResult> =>
    runGranary(args, { maxBuffer: 256 * 1024 * 1024, cwd: dir, env: { ...env, GRANARY_METADATA: `http://127.0.0.1:${port}` } });
}

/** A cluster of its own in a temporary directory (the bench's; the test uses useUpCluster). */
export async function startCorpusCluster(): Promise<{ readonly cli: Cli; readonly dir: string; stop(): Promise<void> }> {
  const dir = await makeTempDir('parquet-conformance');
  const port = await freeUpPortRange(CORPUS_NODES);
  const up = startUp(corpusUpArgs(join(dir.path, 'data'), port), dir.path);
  const stop = async (): Promise<void> => {
    await up.stop(CORPUS_STOP_DEADLINE_MS);
    await dir.remove();
  };
  try {
    await up.ready(CORPUS_READY_DEADLINE_MS);
  } catch (error) {
    await stop();
    throw error;
  }
  return { cli: corpusCli(dir.path, port), dir: dir.path, stop };
}
