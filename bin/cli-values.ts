/** Parsers for command-line values, shared by every `granary` command. */
import { InvalidArgumentError } from 'commander';
import { DOMAIN_PATTERN, GranaryError } from '../protocol/index.js';
import { parseMetadataUrls } from '../protocol/metadata-endpoints.js';

export { parseByteSize, parseDurationMs } from '../client/cli/cli-values.js';

export function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new InvalidArgumentError(`"${text}" is not a TCP port (0-65535; 0 picks a free one)`);
  }
  return value;
}

export function parseNonNegativeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError(`"${text}" is not a non-negative number`);
  return value;
}

export function parseLogLevel(text: string): string {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(text)) throw new InvalidArgumentError(`log level must be one of ${levels.join(', ')}`);
  return text;
}

export function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`"${text}" is not a positive whole number`);
  return value;
}

/** An absolute http(s) URL, e.g. http://10.0.0.2:7100. */
export function parseHttpUrl(text: string): string {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidArgumentError(`"${text}" is not an http(s) URL; write e.g. http://10.0.0.2:7100`);
  }
  return text;
}

/** `--metadata`: the metadata replicas' URLs, comma-separated (protocol/metadata-endpoints.ts). */
export function parseMetadataUrlList(text: string): readonly string[] {
  try {
    return parseMetadataUrls(text);
  } catch (error) {
    if (error instanceof GranaryError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** A failure domain name (rack, zone): letters, digits and . _ : - , at most 64 characters. */
export function parseDomain(text: string): string {
  if (!DOMAIN_PATTERN.test(text)) {
    throw new InvalidArgumentError(
      `"${text}" is not a failure domain name: use letters, digits and . _ : - (starting with a letter or digit, at most 64 characters), e.g. rack-1`,
    );
  }
  return text;
}

/** `--etcd`: client URLs of the etcd members, comma-separated (http://127.0.0.1:2379,...). */
export function parseEtcdEndpoints(text: string): readonly string[] {
  const endpoints = text.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  if (endpoints.length === 0) throw new InvalidArgumentError('no etcd URL given; write e.g. http://127.0.0.1:2379,http://127.0.0.1:22379');
  for (const endpoint of endpoints) parseHttpUrl(endpoint);
  return endpoints;
}
