/**
 * A `granary up` cluster of a test file (3 nodes, RS 2+1, no sample table) and the `granary`
 * binary pointed at it, as the CLI-level suites (temporal, types, ingest shaping) use it: `granary`
 * runs a command and gives its result, `ok` runs one that must succeed and gives its stdout. The
 * token variables of the calling shell are dropped, so the cluster's own admin token is used.
 */
import { dirname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { expect } from 'vitest';
import { type CliResult, type UpCluster, runGranary, useUpCluster } from './up-process.js';

const NODES = 3;
const READY_DEADLINE_MS = 150_000;
const STOP_DEADLINE_MS = 30_000;

export interface CliCluster {
  readonly cluster: UpCluster;
  granary(args: readonly string[]): Promise<CliResult>;
  /** Runs a command that must exit 0 with nothing on stderr that looks like an error. */
  ok(args: readonly string[]): Promise<string>;
}

export function useCliCluster(name: string, options: { readonly maxBuffer?: number } = {}): CliCluster {
  const cluster = useUpCluster({
    name,
    nodes: NODES,
    args: (root, port) => ['--data', root, '--port', String(port), '--nodes', String(NODES), '--ec', '2+1', '--no-sample'],
    readyDeadlineMs: READY_DEADLINE_MS,
    stopDeadlineMs: STOP_DEADLINE_MS,
  });
  const maxBuffer = options.maxBuffer ?? 64 * 1024 * 1024;
  const granary = async (args: readonly string[]): Promise<CliResult> => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'GRANARY_TOKEN' && key !== 'GRANARY_TOKEN_FILE'));
    return runGranary(args, { maxBuffer, cwd: dirname(cluster.root), env: { ...env, GRANARY_METADATA: `http://127.0.0.1:${cluster.port}` } });
  };
  const ok = async (args: readonly string[]): Promise<string> => {
    const result = await granary(args);
    expect(result.stderr, args.join(' ')).not.toMatch(/error|GRN_/i);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  };
  return { cluster, granary, ok };
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Runs SQL in a fresh in-memory DuckDB; returns the rows of the last statement. */
export async function duck(...statements: string[]): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    let rows: unknown[][] = [];
    for (const sql of statements) rows = (await connection.runAndReadAll(sql)).getRows();
    return rows;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
