/**
 * The web console's files (metadata/console/static/: a page, one script, one stylesheet), read
 * once into memory when the metadata service builds its app: they are a few tens of KiB, and an
 * operator's browser polling the console must cost the service no disk reads. The build copies
 * the folder next to this module in dist/ (package.json "build"), so the same relative path finds
 * them when run from source and from the package.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CONSOLE_PATH } from '../../protocol/metadata-endpoints.js';

/** One file of the console and the routes that serve it. */
export interface ConsoleFile {
  /** Name in the static folder. */
  readonly file: string;
  readonly contentType: string;
  /** URL paths answered with it (the page at `/ui` and `/ui/`, so either link works). */
  readonly routes: readonly string[];
}

export const CONSOLE_FILES: readonly ConsoleFile[] = [
  { file: 'index.html', contentType: 'text/html; charset=utf-8', routes: [CONSOLE_PATH, `${CONSOLE_PATH}/`] },
  { file: 'console.js', contentType: 'text/javascript; charset=utf-8', routes: [`${CONSOLE_PATH}/console.js`] },
  { file: 'console.css', contentType: 'text/css; charset=utf-8', routes: [`${CONSOLE_PATH}/console.css`] },
];

/** A console file as served: its bytes and type. */
export interface LoadedConsoleFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The console's files by URL path. */
export type ConsoleAssets = ReadonlyMap<string, LoadedConsoleFile>;

/** The static folder beside this module (metadata/console/static, or dist/metadata/console/static). */
export const CONSOLE_STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

/**
 * A console file could not be read: a packaging fault (a build that skipped the copy step), not a
 * request's. The service still serves its API; the console routes answer with this message.
 */
export class ConsoleFilesMissingError extends Error {
  readonly code = 'GRN_CONSOLE_FILES_MISSING';
  readonly dir: string;

  constructor(dir: string, file: string, cause: unknown) {
    super(`the web console's ${file} is missing from ${dir} (npm run build copies metadata/console/static there)`, { cause });
    this.name = 'ConsoleFilesMissingError';
    this.dir = dir;
  }
}

/** Reads every console file from `dir`; the error names the first one that could not be read. */
export async function loadConsoleAssets(dir: string = CONSOLE_STATIC_DIR): Promise<ConsoleAssets> {
  const assets = new Map<string, LoadedConsoleFile>();
  for (const { file, contentType, routes } of CONSOLE_FILES) {
    let body: Buffer;
    try {
      body = await readFile(`${dir}${dir.endsWith('/') ? '' : '/'}${file}`);
    } catch (error) {
      throw new ConsoleFilesMissingError(dir, file, error);
    }
    for (const route of routes) assets.set(route, { body, contentType });
  }
  return assets;
}
