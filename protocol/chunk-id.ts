/**
 * Chunk ids name files on storage nodes, so they are restricted to characters that are safe in a
 * file name on every file system (lowercase only: macOS and Windows fold case), can never climb
 * out of the data directory, and are bounded in length.
 */
import { GranaryError } from './errors.js';

export const CHUNK_ID_BYTES_MAX = 128;
const CHUNK_ID_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

export function chunkIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return 'a chunk id must be a string';
  if (id.length === 0) return 'a chunk id must not be empty';
  if (id.length > CHUNK_ID_BYTES_MAX) return `a chunk id is at most ${CHUNK_ID_BYTES_MAX} characters, got ${id.length}`;
  if (!CHUNK_ID_PATTERN.test(id)) {
    return `chunk id "${id.slice(0, 40)}" may hold only a-z, 0-9, '.', '_' and '-', and must start with a letter or digit`;
  }
  if (id.includes('..')) return `chunk id "${id}" must not contain ".."`;
  return undefined;
}

export function validateChunkId(id: unknown): string {
  const problem = chunkIdProblem(id);
  if (problem !== undefined) throw new GranaryError('GRN_INVALID_CHUNK_ID', problem);
  return id as string;
}

/** The id of shard `shard` of block `blockId`: `<block>.<shard>`. */
export function chunkIdOf(blockId: string, shard: number): string {
  return validateChunkId(`${blockId}.${shard}`);
}
