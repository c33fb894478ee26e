/**
 * The storage node's data directory: where chunks, temporaries and the node's identity live, and
 * the lock that keeps two processes from using one directory.
 *
 *   DIR/LOCK           pid of the process using the directory
 *   DIR/node.json      { nodeId, createdAt }: the node keeps its id across restarts
 *   DIR/scrub-state.json   the scrubber's cursor, so a pass resumes after a restart
 *   DIR/chunks/ab/ID   chunk files, fanned out over 256 directories by a hash of the id
 *   DIR/tmp/           uploads in progress; anything here at start-up is a crashed upload
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { xxh64 } from '../erasure/index.js';
import { GranaryError } from '../protocol/index.js';

export const FANOUT_DIRS = 256;

export function fanoutOf(id: string): string {
  return Number(xxh64(Buffer.from(id, 'utf8')) & 0xffn).toString(16).padStart(2, '0');
}

export class DataDir {
  readonly root: string;
  readonly chunksDir: string;
  readonly tmpDir: string;
  readonly scrubStatePath: string;

  constructor(root: string) {
    this.root = root;
    this.chunksDir = join(root, 'chunks');
    this.tmpDir = join(root, 'tmp');
    this.scrubStatePath = join(root, 'scrub-state.json');
  }

  chunkDir(id: string): string {
    return join(this.chunksDir, fanoutOf(id));
  }

  chunkPath(id: string): string {
    return join(this.chunksDir, fanoutOf(id), id);
  }

  tmpPath(id: string): string {
    return join(this.tmpDir, `${id}.${randomBytes(6).toString('hex')}.part`);
  }

  async create(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await Promise.all(
      Array.from({ length: FANOUT_DIRS }, (_, i) =>
        mkdir(join(this.chunksDir, i.toString(16).padStart(2, '0')), { recursive: true }),
      ),
    );
    await fsyncDir(this.root);
    await fsyncDir(this.chunksDir);
  }

  /**
   * Takes the directory for this process. A lock left by a process that no longer runs (killed
   * with SIGKILL) is taken over; one held by a live process is an error naming its pid.
   */
  async lock(): Promise<() => Promise<void>> {
    const path = join(this.root, 'LOCK');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, 'wx');
        try {
          await handle.writeFile(`${process.pid}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        return async () => {
          await unlink(path);
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
        if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
          throw new GranaryError(
            'GRN_UNAVAILABLE',
            `data directory ${this.root} is in use by process ${holder}; stop it or pick another --data`,
          );
        }
        await unlink(path).catch((unlinkError: NodeJS.ErrnoException) => {
          if (unlinkError.code !== 'ENOENT') throw unlinkError;
        });
      }
    }
    throw new GranaryError('GRN_UNAVAILABLE', `could not lock data directory ${this.root}: another process keeps taking it`);
  }

  /** The node's persistent id, created on first start. */
  async nodeId(preferred?: string): Promise<string> {
    const path = join(this.root, 'node.json');
    try {
      const stored = JSON.parse(await readFile(path, 'utf8')) as { nodeId?: unknown };
      if (typeof stored.nodeId === 'string') {
        if (preferred !== undefined && preferred !== stored.nodeId) {
          throw new GranaryError(
            'GRN_BAD_REQUEST',
            `data directory ${this.root} belongs to node ${stored.nodeId}, not ${preferred}; drop --node-id or use another --data`,
          );
        }
        return stored.nodeId;
      }
    } catch (error) {
      if (error instanceof GranaryError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const nodeId = preferred ?? `node-${randomBytes(6).toString('hex')}`;
    const tmp = `${path}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ nodeId, createdAt: new Date().toISOString() })}\n`);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    await fsyncDir(this.root);
    return nodeId;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes a rename or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
