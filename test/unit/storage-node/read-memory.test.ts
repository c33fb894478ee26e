/**
 * The node-wide budget of batch-read memory (issue 11): readers that open batch reads and never
 * consume the answers once took a node from 117 MiB to 1.1 GiB, each request reading 32 MiB
 * ahead of its socket on its own. Here an in-process node with a small budget is given such
 * readers over real sockets (raw TCP, paused, so the kernel's buffers fill and the node's writes
 * stall): its read memory stays within the budget, its process memory does not grow past it,
 * /health still answers at once, and the memory comes back when the sockets close or stall too
 * long. Readers that do read still get correct answers, and a reader that cannot get memory is
 * told so (503, or `error` frames for the ranges left) instead of waiting without end.
 */
import { randomBytes } from 'node:crypto';
import { type Socket, connect } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import { type Frame, HttpPools, readRanges } from '../../../protocol/index.js';
import type { MemoryChunkStore } from '../../../storage-node/index.js';
import { ReadBudget } from '../../../storage-node/read-buffers.js';
import type { ReadMemoryOptions } from '../../../storage-node/routes/batch-read-route.js';
import { type MemoryNode, type MemoryNodes, startMemoryNodes } from '../../helpers/memory-nodes.js';
import { pollUntil } from '../../helpers/poll.js';

const MIB = 1024 * 1024;
const BUDGET_BYTES = 8 * MIB;
const RANGE_BYTES = MIB;
/** Each stalled reader asks this many 1 MiB ranges: far more than the kernel's socket buffers hold. */
const STALLED_RANGES = 64;
const STALLED_READERS = 8;
const CHUNK_BYTES = 4 * MIB;
/** /health must answer within this while the budget is spent. */
const HEALTH_MS_MAX = 1_000;
/**
 * Growth of the process's ArrayBuffer bytes allowed while the stalled readers hold the budget:
 * the budget, the free buffers the pool keeps (at most the budget), and slack for the test's own
 * garbage. Without a node-wide budget, 8 readers each read 32 MiB ahead: 256 MiB.
 */
const ARRAY_BUFFER_GROWTH_MAX = 3 * BUDGET_BYTES + 8 * MIB;
const POLL_MS = 10_000;

interface TestNode {
  readonly store: MemoryChunkStore;
  readonly url: string;
  readonly port: number;
  readonly chunks: ReadonlyMap<string, Buffer>;
}

const opened: { nodes?: MemoryNodes; sockets: Socket[]; http?: HttpPools } = { sockets: [] };

afterEach(async () => {
  for (const socket of opened.sockets.splice(0)) socket.destroy();
  await opened.http?.close();
  await opened.nodes?.close();
  delete opened.nodes;
  delete opened.http;
});

async function startNode(readMemory: Partial<ReadMemoryOptions>, chunkIds: readonly string[] = ['blk.0']): Promise<TestNode> {
  const nodes = await startMemoryNodes(1, { pageBytes: 64 * 1024, chunkBytesMax: CHUNK_BYTES }, { readMemory });
  opened.nodes = nodes;
  const { store, url } = nodes.nodes[0] as MemoryNode;
  const chunks = new Map<string, Buffer>();
  for (const id of chunkIds) {
    const bytes = randomBytes(CHUNK_BYTES);
    await store.put(id, (async function* () {
      yield bytes;
    })(), { expectedChecksum: xxh64(bytes), expectedBytes: bytes.length });
    chunks.set(id, bytes);
  }
  return { store, url, port: Number(new URL(url).port), chunks };
}

/** Ranges of 1 MiB cycling through a chunk. */
function ranges(count: number, chunk = 'blk.0'): { chunk: string; offset: number; length: number }[] {
  return Array.from({ length: count }, (_, i) => ({ chunk, offset: (i * RANGE_BYTES) % CHUNK_BYTES, length: RANGE_BYTES }));
}

/** Sends a batch read over a raw socket that is never read from: the answer backs up into the node. */
function stalledReader(node: TestNode, count: number, chunk = 'blk.0'): Socket {
  const body = JSON.stringify({ ranges: ranges(count, chunk), verifyPages: false });
  const socket = connect(node.port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(
    `POST /v1/chunks/read HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  opened.sockets.push(socket);
  return socket;
}

/** The sum of a metric's samples (all label sets), from the node's /metrics. */
async function metric(node: TestNode, name: string): Promise<number> {
  const response = await request(`${node.url}/metrics`);
  const text = await response.body.text();
  const pattern = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
  let sum = 0;
  for (const match of text.matchAll(pattern)) sum += Number(match[1]);
  return sum;
}

const inUse = (node: TestNode): Promise<number> => metric(node, 'granary_storage_read_memory_bytes');

function checkFrames(node: TestNode, asked: readonly { chunk: string; offset: number; length: number }[], frames: readonly Frame[]): void {
  expect(frames.length).toBe(asked.length);
  frames.forEach((frame, i) => {
    if (frame.status !== 'ok') return;
    const range = asked[i] as { chunk: string; offset: number; length: number };
    const expected = (node.chunks.get(range.chunk) as Buffer).subarray(range.offset, range.offset + range.length);
    expect(Buffer.from(frame.data).equals(expected), `frame ${i} bytes`).toBe(true);
  });
}

describe('node-wide batch-read memory budget', () => {
  it(`${STALLED_READERS} readers that never read: read memory stays within the budget, /health answers, memory returns when they hang up`, async () => {
    const node = await startNode({ bytesMax: BUDGET_BYTES, waitersMax: 4, waitMsMax: 300, drainMsMax: 60_000 });
    expect(await metric(node, 'granary_storage_read_memory_max_bytes')).toBe(BUDGET_BYTES);
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < STALLED_READERS; i++) stalledReader(node, STALLED_RANGES);
    // Saturated: the stalled answers hold (nearly) the whole budget, and the readers that could
    // not get any were refused (queue full at once, or after the bounded wait).
    await pollUntil('the budget to be spent', async () => ((await inUse(node)) >= BUDGET_BYTES - RANGE_BYTES ? true : undefined), POLL_MS);
    await pollUntil('the waiting readers to be refused', async () => ((await metric(node, 'granary_storage_read_memory_refusals_total')) >= 1 ? true : undefined), POLL_MS);
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) samples.push(await inUse(node));
    expect(Math.max(...samples), `read memory in use (samples ${samples.join(', ')})`).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(ARRAY_BUFFER_GROWTH_MAX);

    const startedMs = performance.now();
    const health = await request(`${node.url}/health`);
    const body = (await health.body.json()) as { status: string };
    expect(health.statusCode).toBe(200);
    expect(body.status).toBe('ok');
    expect(performance.now() - startedMs).toBeLessThan(HEALTH_MS_MAX);

    for (const socket of opened.sockets.splice(0)) socket.destroy();
    await pollUntil('read memory to come back', async () => ((await inUse(node)) === 0 ? true : undefined), POLL_MS);
  });

  it('a new batch read is answered 503 GRN_UNAVAILABLE after the bounded wait while stalled readers hold the budget', async () => {
    const node = await startNode({ bytesMax: BUDGET_BYTES, waitersMax: 4, waitMsMax: 200, drainMsMax: 60_000 });
    stalledReader(node, STALLED_RANGES);
    stalledReader(node, STALLED_RANGES);
    await pollUntil('the budget to be spent', async () => ((await inUse(node)) >= BUDGET_BYTES - RANGE_BYTES ? true : undefined), POLL_MS);
    opened.http = new HttpPools();
    const startedMs = performance.now();
    // Eight ranges fit nowhere once the stalled readers hold the budget, however it is split.
    const error = await readRanges(opened.http, node.url, ranges(1).map((range) => ({ ...range, length: BUDGET_BYTES }))).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ code: 'GRN_UNAVAILABLE', message: expect.stringMatching(/read memory.*--read-memory-max/) });
    expect(performance.now() - startedMs).toBeLessThan(5_000);
  });

  it('a range larger than the whole budget is refused at once, naming the setting', async () => {
    const node = await startNode({ bytesMax: 2 * MIB, waitersMax: 4, waitMsMax: 60_000, drainMsMax: 60_000 });
    opened.http = new HttpPools();
    await expect(readRanges(opened.http, node.url, [{ chunk: 'blk.0', offset: 0, length: 3 * MIB }])).rejects.toMatchObject({
      code: 'GRN_UNAVAILABLE',
      message: expect.stringMatching(/larger than the whole read-memory budget/),
    });
    expect(await metric(node, 'granary_storage_read_memory_refusals_total')).toBe(1);
  });

  it('an answer whose socket takes nothing for drainMsMax is cut off and its memory freed, the socket still open', async () => {
    const node = await startNode({ bytesMax: BUDGET_BYTES, waitersMax: 4, waitMsMax: 60_000, drainMsMax: 200 });
    const socket = stalledReader(node, STALLED_RANGES);
    await pollUntil('the answer to be cut off', async () => ((await metric(node, 'granary_storage_read_stalled_answers_total')) >= 1 ? true : undefined), POLL_MS);
    await pollUntil('read memory to come back', async () => ((await inUse(node)) === 0 ? true : undefined), POLL_MS);
    expect(socket.destroyed, 'the reader never hung up: the node did').toBe(false);
  });

  it('readers that read get every range right through a budget far smaller than their read-ahead, waiting their turn', async () => {
    const node = await startNode({ bytesMax: 2 * MIB, waitersMax: 8, waitMsMax: 10_000, drainMsMax: 60_000 });
    opened.http = new HttpPools();
    const asked = ranges(12);
    const answers = await Promise.all(Array.from({ length: 3 }, () => readRanges(opened.http as HttpPools, node.url, asked, { verifyPages: false })));
    for (const frames of answers) {
      expect(frames.map((frame) => frame.status)).toEqual(asked.map(() => 'ok'));
      checkFrames(node, asked, frames);
    }
    await pollUntil('read memory to come back', async () => ((await inUse(node)) === 0 ? true : undefined), POLL_MS);
    expect(await metric(node, 'granary_storage_read_memory_refusals_total')).toBe(0);
  });

  it('an answer that cannot get memory for its next range answers the rest `error` and keeps the frames it sent', async () => {
    // A slow chunk keeps the reading request busy, so the stalled reader queued behind it takes
    // its turns until its socket is full, then holds the whole budget.
    const node = await startNode({ bytesMax: RANGE_BYTES, waitersMax: 4, waitMsMax: 300, drainMsMax: 60_000 }, ['blk.0', 'blk.slow']);
    node.store.setChunkFaults('blk.slow', { slowMs: 20 });
    opened.http = new HttpPools();
    const asked = ranges(STALLED_RANGES, 'blk.slow');
    const reading = readRanges(opened.http, node.url, asked, { verifyPages: false });
    await pollUntil('the first range to be read', async () => ((await metric(node, 'granary_storage_read_ranges_total')) >= 1 ? true : undefined), POLL_MS);
    stalledReader(node, STALLED_RANGES);
    const frames = await reading;
    checkFrames(node, asked, frames);
    const statuses = frames.map((frame) => frame.status);
    const firstError = statuses.indexOf('error');
    expect(firstError, `statuses: ${statuses.join(' ')}`).toBeGreaterThan(0);
    expect(statuses.slice(firstError).every((status) => status === 'error'), 'every range after the first refused one is refused').toBe(true);
    expect(frames[firstError]?.message).toMatch(/read memory did not come free in time/);
    expect(await metric(node, 'granary_storage_read_memory_refusals_total')).toBeGreaterThanOrEqual(1);
  });
});

describe('ReadBudget', () => {
  it('grants in arrival order, refuses a full queue, a timed-out wait, an abandoned wait and more than the whole budget', async () => {
    const changes: number[] = [];
    const budget = new ReadBudget({ bytesMax: 100, waitersMax: 2, waitMsMax: 50, onChange: (bytes) => changes.push(bytes) });
    expect(budget.tryTake(80)).toBe(true);
    expect(await budget.take(101)).toBe('too_large');
    const big = budget.take(60);
    const small = budget.take(10);
    // A small ask that would fit does not jump the line.
    expect(budget.tryTake(10)).toBe(false);
    expect(await budget.take(1)).toBe('queue_full');
    budget.give(80);
    expect(await big).toBeUndefined();
    expect(await small).toBeUndefined();
    expect(budget.bytesInUse).toBe(70);
    expect(await budget.take(50)).toBe('timed_out');
    const leaving = new AbortController();
    const abandoned = budget.take(50, leaving.signal);
    leaving.abort();
    expect(await abandoned).toBe('abandoned');
    expect(budget.waiting).toBe(0);
    budget.give(70);
    expect(budget.bytesInUse).toBe(0);
    expect(budget.bytesInUseHighest).toBe(80);
    expect(Math.max(...changes)).toBeLessThanOrEqual(100);
    expect(() => budget.give(1)).toThrow(/given back/);
  });
});
