/**
 * What every CLI command shares: the metadata URL, `--json`, readable tables, and errors turned
 * into one actionable line and a non-zero exit.
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { GranaryError } from '../../protocol/errors.js';
import { parseMetadataUrls } from '../../protocol/metadata-endpoints.js';
import { readSecretFile } from '../../protocol/secret-files.js';
import { loadTlsCa } from '../../protocol/tls.js';
import { GranaryClient } from '../index.js';

export const DEFAULT_METADATA_URL = 'http://127.0.0.1:7070';

export interface GlobalFlags {
  /** The metadata replicas (--metadata / GRANARY_METADATA, comma-separated). */
  readonly metadata: readonly string[];
  /** How long a metadata call keeps trying replicas (--metadata-failover-ms); undefined: the library's default. */
  readonly metadataFailoverMs: number | undefined;
  readonly json: boolean;
  /** Bearer token: --token, GRANARY_TOKEN, --token-file, GRANARY_TOKEN_FILE, else ./data/admin.token when it exists. */
  readonly token: string | undefined;
  /** CA bundle (--tls-ca / GRANARY_TLS_CA) that https services' certificates must chain to; undefined: Node's roots. */
  readonly tlsCa: Buffer | undefined;
}

export function globals(command: Command): GlobalFlags {
  const flags = command.opts<{ metadata?: readonly string[]; metadataFailoverMs?: number; json?: boolean; tlsCa?: string; token?: string; tokenFile?: string }>();
  return {
    metadata: flags.metadata ?? [DEFAULT_METADATA_URL],
    metadataFailoverMs: flags.metadataFailoverMs,
    json: flags.json === true,
    token: resolveToken(flags.token, flags.tokenFile),
    tlsCa: loadTlsCa(flags.tlsCa),
  };
}

/** Runs `work` with a client on the metadata URL; the client is closed on every path. */
export async function withClient<T>(command: Command, work: (client: GranaryClient, flags: GlobalFlags) => Promise<T>): Promise<T> {
  const flags = globals(command);
  const client = new GranaryClient({
    metadataUrl: flags.metadata,
    ...(flags.metadataFailoverMs === undefined ? {} : { metadataFailover: { deadlineMs: flags.metadataFailoverMs } }),
    ...(flags.token === undefined ? {} : { token: flags.token }),
    ...(flags.tlsCa === undefined ? {} : { http: { ca: flags.tlsCa } }),
  });
  try {
    return await work(client, flags);
  } finally {
    await client.close();
  }
}

/** `--metadata`'s value: the replicas' URLs, comma-separated; a bad entry is a usage error naming it. */
export function metadataUrlsOption(text: string): readonly string[] {
  try {
    return parseMetadataUrls(text);
  } catch (error) {
    if (error instanceof GranaryError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** `--metadata-failover-ms`'s value: a whole number of milliseconds, 0 for one pass over the replicas. */
export function failoverMsOption(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`"${text}" is not a whole number of milliseconds (0: try each metadata URL once)`);
  return value;
}

/**
 * The local cluster's admin token, used when no token is given: `granary up` writes it there, so
 * the commands after it work from the same directory with nothing to set.
 */
export const LOCAL_ADMIN_TOKEN_FILE = 'data/admin.token';

/** The token the flags name; a token file that cannot be read is an error naming it. */
export function resolveToken(token: string | undefined, tokenFile: string | undefined): string | undefined {
  if (token !== undefined && token !== '') return token.trim();
  if (tokenFile !== undefined && tokenFile !== '') return readSecretFile(tokenFile, 'token file (--token-file / GRANARY_TOKEN_FILE)');
  return existsSync(LOCAL_ADMIN_TOKEN_FILE) ? readSecretFile(LOCAL_ADMIN_TOKEN_FILE, 'token file') : undefined;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** Prints rows as aligned columns under a header. */
export function printTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  for (const row of cells) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
