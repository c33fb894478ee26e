/**
 * Entry of a read worker thread (scan-workers.ts): reads whole groups of stripes with its own HTTP
 * connections (fetch, checksum, repair from parity, decode, row filter), and hands the finished
 * batches' buffers to the scan's thread by transfer. Counts and damaged-chunk reports go with them.
 */
import { parentPort } from 'node:worker_threads';
import type * as arrow from 'apache-arrow';
import { codecById } from '../../erasure/index.js';
import { type HttpOptions, HttpPools, type PlannedChunk, type ScanPlan } from '../../protocol/index.js';
import { arrowSchemaOf } from '../format/index.js';
import { packBatches } from './batch-transfer.js';
import { Fetcher } from './fetcher.js';
import { outputBatches, outputColumns, readGroup } from './group-read.js';
import { type FromWorker, type ScanSettings, type ToWorker, toRemoteError } from './read-worker-protocol.js';
import { type ScanStats, newScanStats, takeScanStats } from './scan-stats.js';

/** Recycled arenas kept, at most (a scan returns them as fast as its consumer moves on). */
const SPARE_ARENAS_BYTES_MAX = 256 * 1024 * 1024;
const ARENA_ROUNDING_BYTES = 1024 * 1024;

interface PageState {
  readonly page: ScanPlan;
  readonly settings: ScanSettings;
  readonly fetcher: Fetcher;
  readonly schema: arrow.Schema;
  readonly columns: number[] | undefined;
  readonly httpKey: string;
  /** Counts not yet sent; sent with the next result of this page. */
  readonly stats: ScanStats;
}

const port = parentPort;
if (port === null) throw new Error('read-worker runs as a worker thread only');
/** Connections by the scan's HTTP options (one set per client, in practice). */
const httpPools = new Map<string, { readonly http: HttpPools; pages: number; idle?: NodeJS.Timeout }>();
/**
 * Connections outlive a scan by this long, so that back-to-back scans (a training loop, splits)
 * reuse them, and are closed after: an idle worker holds no sockets to nodes that may go away.
 */
const CONNECTIONS_IDLE_MS = 1000;
const pages = new Map<string, PageState>();
const spareArenas: ArrayBuffer[] = [];

const send = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
const keyOf = (scanId: number, pageId: number): string => `${scanId}/${pageId}`;

function arenaOf(bytes: number): ArrayBuffer {
  let best = -1;
  spareArenas.forEach((arena, i) => {
    if (arena.byteLength >= bytes && (best < 0 || arena.byteLength < (spareArenas[best] as ArrayBuffer).byteLength)) best = i;
  });
  if (best >= 0) return spareArenas.splice(best, 1)[0] as ArrayBuffer;
  return new ArrayBuffer(Math.ceil(bytes / ARENA_ROUNDING_BYTES) * ARENA_ROUNDING_BYTES);
}

function recycle(arena: ArrayBuffer): void {
  spareArenas.push(arena);
  let kept = spareArenas.reduce((sum, spare) => sum + spare.byteLength, 0);
  // The smallest go first: a larger arena serves any group a smaller one would.
  spareArenas.sort((a, b) => b.byteLength - a.byteLength);
  while (kept > SPARE_ARENAS_BYTES_MAX) kept -= (spareArenas.pop() as ArrayBuffer).byteLength;
}

function openPage(scanId: number, pageId: number, page: ScanPlan, settings: ScanSettings, httpOf: { key: string; options: HttpOptions }): void {
  let connections = httpPools.get(httpOf.key);
  if (connections === undefined) {
    connections = { http: new HttpPools(httpOf.options), pages: 0 };
    httpPools.set(httpOf.key, connections);
  }
  clearTimeout(connections.idle);
  connections.pages++;
  const http = connections.http;
  const stats = newScanStats();
  const report = (chunk: PlannedChunk, reason: string, missing: boolean): void => send({ type: 'corrupt', scanId, chunk, reason, missing });
  const fetchOptions = {
    concurrency: settings.concurrency,
    codecOf: codecById,
    ...(settings.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: settings.hedgeAfterMs }),
    ...(settings.job === undefined ? {} : { job: settings.job }),
  };
  const schema = arrowSchemaOf(page.columns);
  const fetcher = new Fetcher(http, page.blocks, fetchOptions, stats, report);
  pages.set(keyOf(scanId, pageId), { page, settings, stats, fetcher, schema, columns: outputColumns(schema, settings.outputNames), httpKey: httpOf.key });
}

function closePage(key: string): void {
  const state = pages.get(key);
  if (state === undefined) return;
  pages.delete(key);
  const connections = httpPools.get(state.httpKey);
  if (connections === undefined || --connections.pages > 0) return;
  connections.idle = setTimeout(() => {
    httpPools.delete(state.httpKey);
    // Idle pools: a close that fails leaves nothing a scan waits for.
    connections.http.close().catch(() => undefined);
  }, CONNECTIONS_IDLE_MS);
  connections.idle.unref();
}

async function readJob(state: PageState, from: number, to: number): Promise<arrow.RecordBatch[]> {
  const { page, settings } = state;
  const decoded = await readGroup({ page, fetcher: state.fetcher, stripes: page.stripes.slice(from, to) }, settings.coalescing, state.schema, state.stats);
  return decoded.flatMap((batch) => outputBatches(batch, settings.where, state.columns));
}

function answer(jobId: number, state: PageState, batches: readonly arrow.RecordBatch[]): void {
  const stats = takeScanStats(state.stats);
  const packed = packBatches(batches, state.settings.reuse, arenaOf);
  try {
    send({ type: 'done', jobId, packed, stats }, [...packed.buffers]);
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'DataCloneError') throw error;
    // A buffer that cannot be transferred (wasm memory a decoder hands out, say; nothing was
    // moved): every byte is copied to the arena instead.
    if (packed.arena >= 0) recycle(packed.buffers[packed.arena] as ArrayBuffer);
    const copied = packBatches(batches, true, arenaOf);
    send({ type: 'done', jobId, packed: copied, stats }, [...copied.buffers]);
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'page':
      openPage(message.scanId, message.pageId, message.page, message.settings, message.http);
      return;
    case 'drop':
      closePage(keyOf(message.scanId, message.pageId));
      return;
    case 'cancel':
      for (const key of [...pages.keys()]) if (key.startsWith(`${message.scanId}/`)) closePage(key);
      return;
    case 'recycle':
      recycle(message.arena);
      return;
    case 'group': {
      const { jobId } = message;
      const state = pages.get(keyOf(message.scanId, message.pageId));
      if (state === undefined) return;
      const key = keyOf(message.scanId, message.pageId);
      readJob(state, message.from, message.to)
        .then((batches) => {
          // A scan its consumer stopped wants nothing more: the batches are garbage now.
          if (pages.has(key)) answer(jobId, state, batches);
        })
        .catch((error: unknown) => send({ type: 'failed', jobId, error: toRemoteError(error), stats: takeScanStats(state.stats) }));
      return;
    }
  }
});
send({ type: 'ready' });
