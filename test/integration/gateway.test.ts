/**
 * The Arrow stream gateway as a process in front of a real cluster (1 metadata service, 9
 * storage nodes, RS 6+3), read with apache-arrow's stream reader and compared value for value
 * with the TypeScript client: every column type with nulls, a where filter, splits covering every
 * row once, errors as JSON before the first batch, a node killed mid-stream, a client that stops
 * reading, and a stream cut after its first batch that the reader must not take as complete.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as arrow from 'apache-arrow';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, type ScanOptions, recordBatchToRows } from '../../client/index.js';
import type { GatewayStatus } from '../../gateway/server.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { EVERY_TYPE_COLUMNS, everyTypeRow } from '../helpers/every-type-columns.js';
import { type GranaryProcess, startGranaryProcess } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';
import { lcgRandom } from '../helpers/seeded-random.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const COLUMNS = [
  ...EVERY_TYPE_COLUMNS,
  { name: 'ts', type: 'timestamp' },
  { name: 'day', type: 'date' },
  { name: 'price', type: 'decimal(12,2)' },
  { name: 'tags', type: 'string_list' },
] as const;
const TABLE = 'events';
const BIG_ROWS = 30_000;
const SMALL_ROWS = 2_000;
/**
 * What a paused reader's connection can hold outside the gateway's control: the kernel's
 * receive and send buffers at their autotuning maximum (Linux: the last figure of tcp_rmem and
 * tcp_wmem; 32 MiB + 4 MiB here), plus 8 MiB for the reader's own buffer, one batch in the
 * socket's writable and the scan's read-ahead groups (64 KiB each, --scan-group-bytes below).
 */
const HELD_BYTES_MAX = ['/proc/sys/net/ipv4/tcp_rmem', '/proc/sys/net/ipv4/tcp_wmem'].reduce((sum, file) => sum + Number(readFileSync(file, 'utf8').trim().split(/\s+/).at(-1)), 8 * 1024 * 1024);
/**
 * A table larger than that by 16 MiB, so a scan whose reader stops after one batch still has
 * stripes to read when nodes are killed, and a gateway that ignored backpressure would show it.
 */
const WIDE_TABLE = 'wide';
const WIDE_BLOB_BYTES = 1000;
const WIDE_WRITE_ROWS = 4000;
const WIDE_ROWS = Math.ceil((HELD_BYTES_MAX + 16 * 1024 * 1024) / WIDE_BLOB_BYTES / WIDE_WRITE_ROWS) * WIDE_WRITE_ROWS;

let cluster: Cluster;
let client: GranaryClient;
let gateway: GranaryProcess;
let tokenDir: { path: string; remove: () => Promise<void> };

function makeRows(count: number, seed: number): Record<string, unknown>[] {
  const rand = lcgRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const row: Record<string, unknown> = {
      ...everyTypeRow(i, rand),
      ts: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
      day: `2026-11-${String((i % 28) + 1).padStart(2, '0')}`,
      price: `${i}.${String(i % 100).padStart(2, '0')}`,
      tags: i % 5 === 0 ? [] : ['a', `t${i % 9}`],
    };
    COLUMNS.forEach((column, c) => {
      if ((i + c) % 11 === 0) row[column.name] = null;
    });
    return row;
  });
}

function url(path: string): string {
  return `${gateway.url}${path}`;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return request(url(path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/**
 * The body as a plain async generator: apache-arrow reads it through this, so a body destroyed by
 * the test or cut by the gateway rejects the reader's own read, not an iterator nobody awaits.
 */
async function* bodyChunks(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) yield chunk;
}

/** The gateway's scan as rows, read with apache-arrow from the body as an async iterable (so a cut stream throws). */
async function gatewayRows(body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>[]> {
  const response = await post(`/v1/tables/${TABLE}/scan`, body, headers);
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('application/vnd.apache.arrow.stream');
  const rows: Record<string, unknown>[] = [];
  const reader = await arrow.RecordBatchReader.from(bodyChunks(response.body));
  for await (const batch of reader) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function clientRows(options: ScanOptions = {}, table = TABLE): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan(table, options)) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function gatewayStatus(): Promise<GatewayStatus> {
  const response = await request(url('/v1/status'));
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as GatewayStatus;
}

/** Opens a scan and reads its first batch, leaving the rest of the stream unread. */
async function openScan(body: unknown, table = TABLE): Promise<{ body: Readable; batches: AsyncIterator<arrow.RecordBatch>; firstRows: number }> {
  const response = await post(`/v1/tables/${table}/scan`, body);
  expect(response.statusCode).toBe(200);
  const reader = await arrow.RecordBatchReader.from(bodyChunks(response.body));
  const batches = reader[Symbol.asyncIterator]();
  const first = await batches.next();
  expect(first.done).toBe(false);
  return { body: response.body as unknown as Readable, batches, firstRows: first.done === true ? 0 : first.value.numRows };
}

beforeAll(async () => {
  // Killed nodes are read around, never declared dead (repair would move their shards meanwhile).
  cluster = await startCluster({ nodes: 9, domains: 3, metadataArgs: ['--suspect-after-ms', '1000', '--dead-after-ms', '600000'] });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  await client.metadata.createTable({ name: TABLE, columns: COLUMNS, ec: '6+3', stripeRows: 1000, blockBytes: 1024 * 1024, partitionBy: ['ds'] });
  for (const [partition, count, seed] of [['ds=2026-11-25', BIG_ROWS, 7], ['ds=2026-11-26', SMALL_ROWS, 11]] as const) {
    const writer = await client.openWriter(TABLE, partition);
    const rows = makeRows(count, seed);
    for (let i = 0; i < rows.length; i += 5000) await writer.write(rows.slice(i, i + 5000));
    await writer.commit();
  }
  await client.metadata.createTable({ name: WIDE_TABLE, columns: [{ name: 'id', type: 'int64' }, { name: 'blob', type: 'bytes' }], ec: '6+3', stripeRows: 1000, blockBytes: 4 * 1024 * 1024, partitionBy: ['ds'] });
  const wide = await client.openWriter(WIDE_TABLE, 'ds=2026-11-27');
  // Random bytes: nothing compresses them below the size that matters here.
  for (let i = 0; i < WIDE_ROWS; i += WIDE_WRITE_ROWS) await wide.write(Array.from({ length: WIDE_WRITE_ROWS }, (_, j) => ({ id: i + j, blob: randomBytes(WIDE_BLOB_BYTES) })));
  await wide.commit();
  tokenDir = await makeTempDir('gateway-token');
  const tokenFile = join(tokenDir.path, 'admin.token');
  await writeFile(tokenFile, cluster.adminToken, { mode: 0o600 });
  // Small groups: the scan reads a few stripes ahead of the socket, so a node killed after the
  // first batch is met by reads still to come.
  gateway = await startGranaryProcess(['gateway', '--metadata', cluster.metadata.url, '--port', '0', '--token-file', tokenFile, '--scan-group-bytes', '65536', '--log-level', 'warn'], 'gateway ready');
});

afterAll(async () => {
  await gateway?.kill('SIGTERM');
  await client?.close();
  await cluster?.stop();
  await tokenDir?.remove();
});

describe('Arrow stream gateway', () => {
  it('streams every column type with nulls, value for value as the client reads them', async () => {
    const expected = await clientRows();
    expect(expected.length).toBe(BIG_ROWS + SMALL_ROWS);
    expect(await gatewayRows({})).toEqual(expected);
    const columns = ['tags', 'price', 'label', 'scored'];
    expect(await gatewayRows({ columns, partitions: { ds: { eq: '2026-11-26' } } })).toEqual(await clientRows({ columns, partitions: { ds: { eq: '2026-11-26' } } }));
  });

  it('filters with where as the client does', async () => {
    const where = [{ column: 'age', op: '<', value: 20 }, { column: 'weight', op: 'between', value: [100, 700] }] as const;
    const expected = await clientRows({ columns: ['age', 'weight', 'country'], where });
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(BIG_ROWS);
    expect(await gatewayRows({ columns: ['age', 'weight', 'country'], where })).toEqual(expected);
  });

  it('gives splits for N workers that cover every row exactly once', async () => {
    const response = await post(`/v1/tables/${TABLE}/splits`, { workers: 4 });
    expect(response.statusCode).toBe(200);
    const { splits } = (await response.body.json()) as { splits: unknown[] };
    // 30 stripes in one partition and 2 in the other: about 4, cut at the partition boundary.
    expect(splits.length).toBeGreaterThanOrEqual(4);
    expect(splits.length).toBeLessThanOrEqual(6);
    const columns = ['user_id', 'ts', 'ids'];
    const parts: Record<string, unknown>[] = [];
    for (const split of splits) parts.push(...(await gatewayRows({ columns, split }, { 'granary-job': 'gateway-test:splits' })));
    expect(parts).toEqual(await clientRows({ columns }));
  });

  it('answers errors before the first batch as JSON with a GRN code', async () => {
    const missing = await post('/v1/tables/no_such_table/scan', {});
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/json/);
    expect(await missing.body.json()).toMatchObject({ code: 'GRN_TABLE_NOT_FOUND' });
    const typo = await post(`/v1/tables/${TABLE}/scan`, { column: ['age'] });
    expect(typo.statusCode).toBe(400);
    expect(await typo.body.json()).toMatchObject({ code: 'GRN_BAD_REQUEST', message: expect.stringContaining('"column"') });
    const column = await post(`/v1/tables/${TABLE}/scan`, { columns: ['nope'] });
    expect(column.statusCode).toBe(400);
    expect(await column.body.json()).toMatchObject({ code: 'GRN_BAD_REQUEST' });
    const forged = await post(`/v1/tables/${TABLE}/scan`, {}, { authorization: 'Bearer not-a-token' });
    expect(forged.statusCode).toBe(401);
    expect(await forged.body.json()).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
    const huge = await post(`/v1/tables/${TABLE}/scan`, { columns: ['x'.repeat(2 * 1024 * 1024)] });
    expect(huge.statusCode).toBe(413);
    expect(await huge.body.json()).toMatchObject({ code: 'GRN_PAYLOAD_TOO_LARGE' });
  });

  it('ends the scan when the HTTP client stops reading midway', async () => {
    const before = await gatewayStatus();
    const scan = await openScan({ columns: ['ids', 'embedding', 'scored'] });
    expect((await gatewayStatus()).activeScans).toBeGreaterThanOrEqual(1);
    scan.body.destroy();
    await pollUntil('the gateway to end the abandoned scan', async () => ((await gatewayStatus()).activeScans === 0 ? true : undefined), 30_000, 50);
    const after = await gatewayStatus();
    expect(after.scansAbandoned + after.scansCompleted).toBe(before.scansAbandoned + before.scansCompleted + 1);
  });

  it('holds a paused reader\'s scan at its socket, not in memory, and finishes it when reading resumes', async () => {
    const before = (await gatewayStatus()).batchBytesSent;
    const scan = await openScan({ columns: ['id', 'blob'] }, WIDE_TABLE);
    // The reader takes nothing more: the gateway stops sending once the socket's buffers are full.
    let last = -1;
    const sent = await pollUntil(
      'the gateway to stop sending to a paused reader',
      async () => {
        const now = (await gatewayStatus()).batchBytesSent - before;
        if (now === last) return now;
        last = now;
        return undefined;
      },
      30_000,
      500,
    );
    // What the connection can hold, and no more; without backpressure the whole table would be sent.
    expect(sent).toBeLessThan(HELD_BYTES_MAX);
    expect(sent).toBeLessThan(WIDE_ROWS * WIDE_BLOB_BYTES);
    expect((await gatewayStatus()).activeScans).toBe(1);
    let rows = scan.firstRows;
    for (;;) {
      const next = await scan.batches.next();
      if (next.done === true) break;
      rows += next.value.numRows;
    }
    expect(rows).toBe(WIDE_ROWS);
    await pollUntil('the resumed scan to complete', async () => ((await gatewayStatus()).activeScans === 0 ? true : undefined), 30_000, 50);
  });

  it('reads around a storage node killed mid-stream, value for value', async () => {
    // The wide table: more than the connection holds, so stripes are still to be read after the kill.
    const expected = await clientRows({}, WIDE_TABLE);
    const degradedBefore = (await gatewayStatus()).degradedReads;
    const scan = await openScan({}, WIDE_TABLE);
    await cluster.nodes[0]?.kill('SIGKILL');
    const rows: Record<string, unknown>[] = [];
    for (;;) {
      const next = await scan.batches.next();
      if (next.done === true) break;
      rows.push(...recordBatchToRows(next.value));
    }
    // The first batch was read before the kill; the rest must match the client's from there on.
    expect(rows).toEqual(expected.slice(expected.length - rows.length));
    expect(rows.length).toBeGreaterThan(0);
    await pollUntil('the scan to be accounted', async () => ((await gatewayStatus()).activeScans === 0 ? true : undefined), 30_000, 50);
    expect((await gatewayStatus()).degradedReads).toBeGreaterThan(degradedBefore);
  });

  it('cuts the stream when the scan fails after the first batch, so the reader fails', async () => {
    const failedBefore = (await gatewayStatus()).scansFailed;
    const scan = await openScan({}, WIDE_TABLE);
    // Four (or five) of nine shards gone: RS 6+3 cannot rebuild the stripes still to read.
    await Promise.all(cluster.nodes.slice(1, 5).map((node) => node.kill('SIGKILL')));
    await expect(
      (async () => {
        for (;;) if ((await scan.batches.next()).done === true) return 'complete';
      })(),
    ).rejects.toThrow();
    await pollUntil('the failed scan to be accounted', async () => ((await gatewayStatus()).scansFailed > failedBefore ? true : undefined), 30_000, 50);
  });
});
