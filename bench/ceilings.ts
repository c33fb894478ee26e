/**
 * The ceilings the client figures are ratios to, measured in the same run on the same volume:
 * memcpy, a raw file read (from the page cache: the file was just written), a raw file write +
 * fsync, and the loopback HTTP ceiling (a bare node:http server in its own process serving bytes
 * from memory to an undici client).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { type Throughput, concurrently, throughput } from './measure.js';

const PIECE_BYTES = 8 * 1024 * 1024;

function randomPiece(): Buffer {
  return randomFillSync(Buffer.allocUnsafe(PIECE_BYTES));
}

/** Past every cache already; keeps two buffers affordable at any scale (a job can be GBs). */
const MEMCPY_BUFFER_MAX = 256 * 1024 * 1024;

/** Buffer.copy of `bytes` (in pieces of at most MEMCPY_BUFFER_MAX) into another buffer. */
export function memcpyCeiling(bytes: number, seconds: number): Promise<Throughput> {
  const size = Math.min(bytes, MEMCPY_BUFFER_MAX);
  const source = Buffer.alloc(size, 1);
  const target = Buffer.allocUnsafe(size);
  return throughput(
    'memcpy',
    () => {
      let copied = 0;
      while (copied < bytes) copied += source.copy(target, 0, 0, Math.min(size, bytes - copied));
      return copied;
    },
    seconds,
  );
}

async function writeFile(path: string, bytes: number, fsync: boolean): Promise<number> {
  const piece = randomPiece();
  const file = await open(path, 'w');
  try {
    const start = process.hrtime.bigint();
    for (let written = 0; written < bytes; written += PIECE_BYTES) await file.write(piece, 0, Math.min(PIECE_BYTES, bytes - written));
    if (fsync) await file.sync();
    return Number(process.hrtime.bigint() - start) / 1e9;
  } finally {
    await file.close();
  }
}

/** Writes `bytes` to a fresh file in `dir` and fsyncs it, once (a second run would not be fresh). */
export async function fileWriteCeiling(dir: string, bytes: number): Promise<Throughput> {
  const path = join(dir, 'ceiling-write.bin');
  try {
    const seconds = await writeFile(path, bytes, true);
    return { name: 'file write + fsync', bytes, seconds, bytesPerSecond: bytes / seconds };
  } finally {
    await rm(path, { force: true });
  }
}

/** Reads a file of `bytes` in 8 MiB pieces, over and over; it was just written, so from the page cache. */
export async function fileReadCeiling(dir: string, bytes: number, seconds: number): Promise<Throughput> {
  const path = join(dir, 'ceiling-read.bin');
  await writeFile(path, bytes, false);
  const file = await open(path, 'r');
  const into = Buffer.allocUnsafe(PIECE_BYTES);
  try {
    return await throughput(
      'file read (page cache)',
      async () => {
        let read = 0;
        for (;;) {
          const { bytesRead } = await file.read(into, 0, PIECE_BYTES, read);
          if (bytesRead === 0) return read;
          read += bytesRead;
        }
      },
      seconds,
    );
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

/** The loopback HTTP ceiling's server (bare-http-server.ts), in its own process. */
export async function startBareServer(): Promise<{ url: string; stop: () => void }> {
  const script = fileURLToPath(new URL('./bare-http-server.ts', import.meta.url));
  // One process (tsx as a loader, not its CLI, which would fork a grandchild we could not kill).
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (text: Buffer) => resolve((JSON.parse(text.toString()) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** One GET of `bytes` from the bare server, body drained; the bytes received. */
export async function bareGet(pool: Pool, bytes: number): Promise<number> {
  const response = await pool.request({ method: 'GET', path: `/?size=${bytes}` });
  let received = 0;
  for await (const piece of response.body) received += (piece as Buffer).length;
  return received;
}

/**
 * The bare server answering `requestBytes` per GET to `concurrency` requests in flight; the best
 * of two rounds, as one round on a shared machine can land in another process's burst (a ceiling
 * that reads low flatters every ratio to it).
 */
export async function httpCeiling(requestBytes: number, concurrency: number, seconds: number): Promise<Throughput & { requests: number }> {
  const bare = await startBareServer();
  const pool = new Pool(bare.url, { connections: concurrency });
  try {
    const once = (): Promise<number> => bareGet(pool, requestBytes);
    const first = await concurrently('bare http', concurrency, seconds, once);
    const second = await concurrently('bare http', concurrency, seconds, once);
    return first.bytesPerSecond >= second.bytesPerSecond ? first : second;
  } finally {
    await pool.close();
    bare.stop();
  }
}
