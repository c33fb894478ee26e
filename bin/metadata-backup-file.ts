/**
 * `granary metadata backup`'s work: download GET /v1/admin/backup from whichever metadata replica
 * answers into FILE.partial (mode 0600: the backup holds the capability signing key), fsync it,
 * read it back and check it end to end (verifyBackup), and only then rename it to FILE. A backup
 * cut short by the network, the service or a full disk never takes FILE's name.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Agent, type Dispatcher, request } from 'undici';
import { type VerifiedBackup, verifyBackup } from '../metadata/backup/index.js';
import { GranaryError, errorFromAnswer } from '../protocol/index.js';
import { transportError } from '../protocol/tls.js';

export interface DownloadOptions {
  /** The metadata replicas, tried in order until one answers. */
  readonly urls: readonly string[];
  readonly token: string | undefined;
  readonly ca: Buffer | undefined;
  readonly out: string;
}

export interface DownloadedBackup extends VerifiedBackup {
  /** The replica that served it. */
  readonly url: string;
}

/** A replica that answers with one of these may be a follower or restarting: the next one is tried. */
const TRY_NEXT_STATUS = 503;

export async function downloadBackup(options: DownloadOptions): Promise<DownloadedBackup> {
  const partial = `${options.out}.partial`;
  const agent = new Agent(options.ca === undefined ? {} : { connect: { ca: options.ca } });
  try {
    const { url, body } = await openDownload(options, agent);
    try {
      await writeDurably(body, partial);
      const verified = await verifyBackup(createReadStream(partial), `the backup downloaded from ${url}`);
      await rename(partial, options.out);
      await syncDirectory(dirname(options.out));
      return { ...verified, url };
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    } finally {
      // A body left unread (the file could not be opened) is dropped, which ends the service's
      // snapshot; undici reports that as an error nobody needs.
      if (!body.destroyed) {
        body.on('error', () => undefined);
        body.destroy();
      }
    }
  } finally {
    await agent.close();
  }
}

async function openDownload(options: DownloadOptions, agent: Agent): Promise<{ url: string; body: Dispatcher.ResponseData['body'] }> {
  const errors: string[] = [];
  let last: GranaryError | undefined;
  for (const url of options.urls) {
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(`${url}/v1/admin/backup`, {
        dispatcher: agent,
        headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      });
    } catch (error) {
      last = transportError(error, `metadata backup from ${url}`, url);
      errors.push(last.message);
      continue;
    }
    if (answer.statusCode === 200) return { url, body: answer.body };
    const text = await answer.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: errorFromAnswer quotes the text.
    }
    last = errorFromAnswer(answer.statusCode, parsed);
    if (answer.statusCode !== TRY_NEXT_STATUS) throw last;
    errors.push(`${url}: ${last.message}`);
  }
  if (last !== undefined && options.urls.length === 1) throw last;
  throw new GranaryError(last?.code ?? 'GRN_UNAVAILABLE', `no metadata replica served a backup: ${errors.join('; ')}`, { cause: last });
}

/** Writes the stream to `file` with mode 0600 and fsyncs it before resolving. */
async function writeDurably(body: AsyncIterable<Uint8Array> & NodeJS.ReadableStream, file: string): Promise<void> {
  const out = createWriteStream(file, { mode: 0o600 });
  try {
    await once(out, 'open');
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `cannot write the backup to ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  try {
    await pipeline(body, out);
  } catch (error) {
    // The file's own errors carry the system call that failed; anything else is the download.
    const { code, syscall } = error as NodeJS.ErrnoException;
    if (syscall !== undefined) {
      throw new GranaryError(code === 'ENOSPC' ? 'GRN_DISK_FULL' : 'GRN_INTERNAL', `writing the backup to ${file} failed (${code ?? syscall}); nothing was kept`, { cause: error });
    }
    throw new GranaryError('GRN_UNAVAILABLE', `the backup download was cut off (${(error as Error).message}); nothing was kept, take the backup again`, { cause: error });
  }
  // A .partial left by an earlier run keeps its old mode through the write.
  await chmod(file, 0o600);
  // fsync reaches the file's data through any descriptor of it.
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
