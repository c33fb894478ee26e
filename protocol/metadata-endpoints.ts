/**
 * Why a list: the metadata service runs as several replicas (one leader, the others following
 * it), and a client or storage node that knows only one of them loses the catalog when that one
 * process goes down. So `--metadata` and `GRANARY_METADATA` name every replica, comma-separated
 * (`http://m1:7070,http://m2:7070,http://m3:7070`), and callers fail over along the list
 * (protocol/metadata-failover.ts). One URL, as before, is a list of one.
 *
 * Every place that reads the setting parses it here, so a typo is refused the same way
 * everywhere, before any process starts.
 */
import { GranaryError } from './errors.js';

/** More replicas than this is a mistake (an etcd-backed service runs 3 or 5). */
export const METADATA_URLS_MAX = 16;

/** The name of the setting, for messages. */
const SETTING = '--metadata / GRANARY_METADATA';

/**
 * The metadata URLs a setting names: a comma-separated string, or the entries already split.
 * Each must be an absolute http(s) URL; trailing slashes are dropped. Refuses (GRN_BAD_REQUEST,
 * naming the entry) an empty list, an empty entry, a URL that is not http(s), a duplicate, and
 * more than METADATA_URLS_MAX entries.
 */
export function parseMetadataUrls(value: string | readonly string[], setting = SETTING): readonly string[] {
  const entries = typeof value === 'string' ? value.split(',') : value.flatMap((entry) => entry.split(','));
  const bad = (message: string): GranaryError => new GranaryError('GRN_BAD_REQUEST', `${setting}: ${message}`);
  if (entries.every((entry) => entry.trim() === '')) {
    throw bad('no metadata URL given; write e.g. http://10.0.0.2:7070, or several separated by commas');
  }
  if (entries.length > METADATA_URLS_MAX) throw bad(`${entries.length} URLs, more than the ${METADATA_URLS_MAX} allowed`);
  const urls: string[] = [];
  for (const [index, raw] of entries.entries()) {
    const entry = raw.trim();
    const position = entries.length === 1 ? '' : ` (entry ${index + 1} of ${entries.length})`;
    if (entry === '') throw bad(`an empty entry${position}: a doubled or trailing comma?`);
    const url = URL.canParse(entry) ? new URL(entry) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw bad(`"${entry}" is not an http(s) URL${position}; write e.g. http://10.0.0.2:7070`);
    }
    const normalised = entry.replace(/\/+$/, '');
    if (urls.some((seen) => sameEndpoint(seen, normalised))) throw bad(`"${entry}" is listed twice${position}`);
    urls.push(normalised);
  }
  return urls;
}

/** Whether two metadata URLs name the same endpoint (scheme, host and port; case and default ports aside). */
export function sameEndpoint(a: string, b: string): boolean {
  if (!URL.canParse(a) || !URL.canParse(b)) return a === b;
  const left = new URL(a);
  const right = new URL(b);
  return left.origin === right.origin && left.pathname.replace(/\/+$/, '') === right.pathname.replace(/\/+$/, '');
}

/** Where a metadata service serves its read-only web console (metadata/console/). */
export const CONSOLE_PATH = '/ui';

/** The console of the metadata service at `metadataUrl` (a URL as parseMetadataUrls gives it). */
export function consoleUrl(metadataUrl: string): string {
  return `${metadataUrl.replace(/\/+$/, '')}${CONSOLE_PATH}`;
}
