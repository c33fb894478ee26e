/**
 * The built (dist/) copies of modules that start worker threads, for suites that call them
 * hundreds of times in process. From sources, every Parquet decoding thread first loads tsx and
 * compiles its TypeScript (about 3 s of CPU a thread on two cores); the built JavaScript starts in
 * milliseconds. The integration project runs after `npm run build` (package.json), as the suites
 * that start `granary` processes from dist/ already require. Types come from the sources.
 */
import { access } from 'node:fs/promises';

type CliModule = typeof import('../../client/cli/index.js');
type FailureLineModule = typeof import('../../client/cli/failure-line.js');
type TableLikeModule = typeof import('../../client/cli/formats/table-like.js');
type InferColumnsModule = typeof import('../../client/cli/formats/infer-columns.js');

async function importBuilt<T>(path: string): Promise<T> {
  const url = new URL(`../../dist/${path}`, import.meta.url);
  try {
    await access(url);
  } catch {
    throw new Error(`${url.pathname} is missing: run npm run build before the integration tests`);
  }
  return (await import(url.href)) as T;
}

export const builtCli = (): Promise<CliModule> => importBuilt('client/cli/index.js');
export const builtFailureLine = (): Promise<FailureLineModule> => importBuilt('client/cli/failure-line.js');
export const builtTableLike = (): Promise<TableLikeModule> => importBuilt('client/cli/formats/table-like.js');
export const builtInferColumns = (): Promise<InferColumnsModule> => importBuilt('client/cli/formats/infer-columns.js');
