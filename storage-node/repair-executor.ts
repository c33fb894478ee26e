/**
 * Runs one repair task on a storage node: restores shards of a block onto their target nodes,
 * window by window, so memory stays bounded whatever the shard size. A `copy` restore reads the
 * shard from the node that still serves it (a draining node, or a node holding two shards of the
 * block); a `rebuild` restore reads the same window of k healthy shards, page-checked by their
 * nodes, and decodes the missing shards from them (whole-shard reconstruction). Each restored
 * shard is streamed to its target with its length and the checksum the writer committed, and the
 * target stores it only if the bytes match: a restore from bad inputs is refused, never used.
 *
 * Reads are paced to the task's share of the cluster's repair rate, so repair cannot starve the
 * reads of training jobs.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { checksumFromHex, reconstructShards, threadedCodecById, xxh64 } from '../erasure/index.js';
import {
  GranaryError,
  type HttpPools,
  type RangeRequest,
  type RepairShardResult,
  type RepairSource,
  type RepairTask,
  type ShardRestore,
  putChunk,
  putRestoredChunk,
  type ReadRangesOptions,
  readRanges,
} from '../protocol/index.js';

/** Bytes of each shard handled per step: k such windows are read for a rebuild. */
export const REPAIR_WINDOW_BYTES = 4 * 1024 * 1024;

export interface RepairOutcome {
  readonly results: readonly RepairShardResult[];
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

interface RestoreState {
  readonly restore: ShardRestore;
  /** Streamed restores; absent for blocks without a recorded checksum (buffered, then stored). */
  readonly body: PassThrough | undefined;
  readonly buffered: Uint8Array[];
  put: Promise<void> | undefined;
  /** The target answered: stored, or it already held an intact identical copy. */
  done: boolean;
  error: string | undefined;
}

export async function executeRepair(task: RepairTask, http: HttpPools, signal: AbortSignal, windowBytes = REPAIR_WINDOW_BYTES): Promise<RepairOutcome> {
  const k = task.dataShards;
  const policy = { dataShards: k, parityShards: task.parityShards };
  const codec = threadedCodecById(task.codec);
  const states: RestoreState[] = task.restores.map((restore) => ({
    restore,
    body: restore.checksum === undefined ? undefined : new PassThrough({ highWaterMark: windowBytes }),
    buffered: [],
    put: undefined,
    done: false,
    error: undefined,
  }));
  for (const state of states) {
    if (state.body === undefined) continue;
    const { restore, body } = state;
    state.put = putRestoredChunk(http, restore.target.url, restore.chunkId, body, task.shardBytes, checksumFromHex(restore.checksum as string), signal, restore.capability).then(
      () => {
        state.done = true;
      },
      (error: unknown) => {
        state.error ??= `storing on ${restore.target.nodeId}: ${(error as Error).message}`;
        body.destroy();
      },
    );
  }
  const rebuilds = states.filter((state) => state.restore.mode === 'rebuild');
  const wanted = rebuilds.map((state) => state.restore.shard);
  // Sources a rebuild reads: the first k that answer; one that fails is replaced by the next.
  const failedSources = new Set<number>();
  const startedAt = Date.now();
  let bytesRead = 0;
  let bytesWritten = 0;
  /** Reads (and decodes) one window of every live restore; failures land on the restores. */
  const readWindow = async (offset: number): Promise<Map<number, Uint8Array>> => {
    const length = Math.min(windowBytes, task.shardBytes - offset);
    const windows = new Map<number, Uint8Array>();
    await Promise.all(
      states
        .filter((state) => state.error === undefined && state.restore.mode === 'copy')
        .map(async (state) => {
          const from = state.restore.from;
          if (from === undefined) {
            state.error = 'no node to copy from';
            return;
          }
          const answer = await readOne(http, from, offset, length, task.readCapability);
          if (typeof answer === 'string') state.error = `copying from ${from.nodeId}: ${answer}`;
          else {
            windows.set(state.restore.shard, answer);
            bytesRead += answer.length;
          }
        }),
    );
    if (rebuilds.some((state) => state.error === undefined)) {
      const got = await readSources(task, http, offset, length, failedSources);
      bytesRead += got.bytesRead;
      if (got.problem !== undefined) {
        for (const state of rebuilds) state.error ??= got.problem;
      } else {
        const decoded = await reconstructShards(policy, got.ranges, wanted, codec);
        wanted.forEach((shard, index) => windows.set(shard, decoded[index] as Uint8Array));
      }
    }
    return windows;
  };
  try {
    // One window is read (and decoded) ahead while the one before is streamed to the targets.
    let ahead: Promise<Map<number, Uint8Array>> | undefined = readWindow(0);
    for (let offset = 0; ahead !== undefined; offset += windowBytes) {
      const windows: Map<number, Uint8Array> = await ahead;
      signal.throwIfAborted();
      await pace(bytesRead, task.rateBytesPerSecond, startedAt, signal);
      const nextOffset = offset + windowBytes;
      const live = states.some((state) => state.error === undefined);
      ahead = live && nextOffset < task.shardBytes ? readWindow(nextOffset) : undefined;
      // Settled when awaited next; a rejection now must not go unhandled meanwhile.
      ahead?.catch(() => undefined);
      const length = Math.min(windowBytes, task.shardBytes - offset);
      for (const state of states) {
        if (state.error !== undefined) continue;
        const window = windows.get(state.restore.shard);
        if (window === undefined || window.length !== length) {
          state.error = `window at ${offset} came back with ${window?.length ?? 0} of ${length} bytes`;
          continue;
        }
        if (state.body === undefined) state.buffered.push(window);
        else if (state.put !== undefined && !state.done && !state.body.write(window)) {
          // The target may answer before it has read the body (it already holds an intact
          // identical copy): then the put settles and no drain will ever come.
          await Promise.race([once(state.body, 'drain'), once(state.body, 'close'), state.put]);
        }
      }
    }
  } catch (error) {
    for (const state of states) state.error ??= (error as Error).message;
  }
  for (const state of states) {
    if (state.body !== undefined) {
      if (state.error === undefined) state.body.end();
      else state.body.destroy();
    }
  }
  await Promise.all(states.map((state) => state.put));
  // Blocks committed before shard checksums were recorded: the restore is stored with the
  // checksum of what was decoded from page-checked inputs.
  await Promise.all(
    states
      .filter((state) => state.body === undefined && state.error === undefined)
      .map(async (state) => {
        const bytes = Buffer.concat(state.buffered);
        try {
          await putChunk(http, state.restore.target.url, state.restore.chunkId, bytes, xxh64(bytes), true, state.restore.capability);
        } catch (error) {
          state.error = `storing on ${state.restore.target.nodeId}: ${(error as Error).message}`;
        }
      }),
  );
  const results = states.map((state): RepairShardResult =>
    state.error === undefined ? { shard: state.restore.shard, ok: true } : { shard: state.restore.shard, ok: false, error: state.error.slice(0, 2000) },
  );
  for (const result of results) if (result.ok) bytesWritten += task.shardBytes;
  return { results, bytesRead, bytesWritten };
}

/** The same window of k sources, replacing any that fail by the next untried one. */
async function readSources(
  task: RepairTask,
  http: HttpPools,
  offset: number,
  length: number,
  failed: Set<number>,
): Promise<{ ranges: (Uint8Array | undefined)[]; bytesRead: number; problem: string | undefined }> {
  const k = task.dataShards;
  const ranges = new Array<Uint8Array | undefined>(task.dataShards + task.parityShards).fill(undefined);
  let chosen: RepairSource[] = [];
  const problems: string[] = [];
  let bytesRead = 0;
  for (;;) {
    for (const source of task.sources) {
      if (chosen.length >= k) break;
      if (!failed.has(source.shard) && !chosen.includes(source)) chosen.push(source);
    }
    const pending = chosen.filter((source) => ranges[source.shard] === undefined);
    if (pending.length === 0) break;
    if (chosen.length < k) {
      return { ranges, bytesRead, problem: `only ${chosen.length} of the ${k} shards a rebuild needs could be read (${problems.slice(0, 4).join('; ')})` };
    }
    // One batched request per source node (two shards of the block may share a node).
    const byUrl = new Map<string, RepairSource[]>();
    for (const source of pending) byUrl.set(source.url, [...(byUrl.get(source.url) ?? []), source]);
    await Promise.all(
      [...byUrl].map(async ([url, sources]) => {
        const request: RangeRequest[] = sources.map((source) => ({ chunk: source.chunkId, offset, length }));
        try {
          const frames = await readRanges(http, url, request, readOptions(task.readCapability));
          frames.forEach((frame, index) => {
            const source = sources[index] as RepairSource;
            if (frame.status === 'ok' && frame.data.length === length) {
              ranges[source.shard] = frame.data;
              bytesRead += length;
            } else {
              failed.add(source.shard);
              problems.push(`shard ${source.shard} on ${source.nodeId}: ${frame.status} ${frame.message}`);
            }
          });
        } catch (error) {
          for (const source of sources) {
            failed.add(source.shard);
            problems.push(`shard ${source.shard} on ${source.nodeId}: ${(error as Error).message}`);
          }
        }
      }),
    );
    chosen = chosen.filter((source) => !failed.has(source.shard));
  }
  return { ranges, bytesRead, problem: undefined };
}

async function readOne(http: HttpPools, source: RepairSource, offset: number, length: number, capability: string | undefined): Promise<Uint8Array | string> {
  try {
    const [frame] = await readRanges(http, source.url, [{ chunk: source.chunkId, offset, length }], readOptions(capability));
    if (frame === undefined) return 'no answer';
    if (frame.status !== 'ok') return `${frame.status}: ${frame.message}`;
    if (frame.data.length !== length) return `short answer (${frame.data.length} of ${length} bytes)`;
    return frame.data;
  } catch (error) {
    return error instanceof GranaryError ? error.message : String(error);
  }
}

function readOptions(capability: string | undefined): ReadRangesOptions {
  return capability === undefined ? {} : { capabilities: [capability] };
}

/** Waits until `bytes` read since `startedAt` are within the rate. */
async function pace(bytes: number, rateBytesPerSecond: number, startedAt: number, signal: AbortSignal): Promise<void> {
  const aheadMs = (bytes / rateBytesPerSecond) * 1000 - (Date.now() - startedAt);
  if (aheadMs > 1) await sleep(aheadMs, undefined, { signal });
}
