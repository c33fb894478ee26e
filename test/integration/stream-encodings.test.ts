/**
 * Per-stream encodings through the real writer, metadata service and reader: a flights-like
 * table (timestamps, low-cardinality strings, skewed integers, lists) written with the table's
 * `auto` encoding reads back value for value, its stream entries record the sections encoding,
 * and `granary stats --json` reports stored bytes below the plain bytes; a `plain` table stores
 * exactly the plain layout. Table settings are validated and can be altered, by the client and
 * by the CLI's create/alter flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GranaryClient, float32Number, recordBatchToRows } from '../../client/index.js';
import { ENCODING_PLAIN, ENCODING_SECTIONS, GranaryError, decodeStreamEntry } from '../../protocol/index.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { runGranary } from '../helpers/up-process.js';

let cluster: Cluster;
let client: GranaryClient;

const COLUMNS = [
  { name: 'ts', type: 'int64' },
  { name: 'origin', type: 'string' },
  { name: 'carrier', type: 'bytes' },
  { name: 'delay', type: 'int32' },
  { name: 'distance', type: 'double' },
  { name: 'score', type: 'float' },
  { name: 'cancelled', type: 'bool' },
  { name: 'ids', type: 'id_list' },
  { name: 'pairs', type: 'id_score_list' },
  { name: 'embedding', type: 'float_list' },
] as const;

const AIRPORTS = ['ATL', 'ORD', 'DFW', 'DEN', 'LAX', 'SFO', 'SEA', 'JFK', 'BOS', 'MIA', 'ünï'];

function makeRows(count: number): Record<string, unknown>[] {
  let x = 11;
  const rand = (): number => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  let ts = 1_764_633_600_000_000;
  return Array.from({ length: count }, (_, i) => {
    ts += Math.floor(rand() * 2_000_000);
    return {
      ts: i % 17 === 0 ? null : ts,
      origin: AIRPORTS[Math.floor(rand() ** 2 * AIRPORTS.length)],
      carrier: Buffer.from([0xff, Math.floor(rand() * 4)]).toString('base64'),
      delay: Math.floor(rand() ** 4 * 600) - 20,
      distance: [200.5, 733, 1024.25][i % 3],
      score: i % 5 === 0 ? Number.NaN : Math.fround(rand()),
      cancelled: rand() < 0.02,
      ids: Array.from({ length: i % 6 }, (_, j) => 1_000_000 + ((i * 31 + j) % 500)),
      pairs: i % 9 === 0 ? null : Array.from({ length: i % 3 }, (_, j) => [j, 0.5]),
      embedding: i % 4 === 0 ? [] : [0.25, -0, Math.fround(rand())],
    };
  });
}

function expected(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const f32 = (value: unknown) => (typeof value === 'number' ? float32Number(value) : value);
  return rows.map((row) => ({
    ...row,
    score: f32(row.score),
    embedding: (row.embedding as number[]).map(f32),
    pairs: (row.pairs as [number, number][] | null)?.map(([id, s]) => [id, f32(s)]) ?? null,
  }));
}

async function readAll(table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan(table)) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function encodingsOf(table: string): Promise<number[]> {
  const plan = await client.metadata.plan(table, {});
  return plan.stripes.flatMap((stripe) => COLUMNS.map((_, c) => decodeStreamEntry(stripe.streams, c).encoding));
}

async function granary(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, GRANARY_METADATA: cluster.metadata.url, GRANARY_TOKEN: cluster.adminToken };
  return runGranary(args, { cwd: dirname(cluster.root), env, maxBuffer: 16 * 1024 * 1024 });
}

async function statsOf(table: string): Promise<{ bytes: number; rawBytes: number; rows: number }> {
  const result = await granary(['stats', table, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as { bytes: number; rawBytes: number; rows: number };
}

const ROWS = makeRows(12_000);

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
  client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
  for (const [name, encoding] of [['flights', 'auto'], ['flights_plain', 'plain']] as const) {
    await client.metadata.createTable({ name, columns: COLUMNS, ec: '2+1', stripeRows: 5000, blockBytes: 1024 * 1024, encoding, compressionLevel: 3 });
    const writer = await client.openWriter(name, 'ds=2026-12-02', { columnOrder: 'schema' });
    await writer.write(ROWS);
    expect((await writer.commit()).rows).toBe(ROWS.length);
  }
});

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

describe('per-stream encodings on a cluster', () => {
  it('reads back an auto-encoded table value for value, its streams in the sections encoding', async () => {
    expect(await readAll('flights')).toEqual(expected(ROWS));
    const encodings = await encodingsOf('flights');
    expect(encodings.length).toBe(3 * COLUMNS.length);
    // The sorted times, low-cardinality strings and bytes, skewed ints, repeated doubles and
    // narrow ids all shrink by far more than the eighth the writer asks of a container; random
    // float scores may stay plain.
    for (const name of ['ts', 'origin', 'carrier', 'delay', 'distance', 'ids']) {
      const c = COLUMNS.findIndex((column) => column.name === name);
      expect([0, 1, 2].map((s) => encodings[s * COLUMNS.length + c]), name).toEqual([ENCODING_SECTIONS, ENCODING_SECTIONS, ENCODING_SECTIONS]);
    }
  });

  it('reports stored bytes below the plain bytes, and a plain table at exactly its plain bytes', async () => {
    const auto = await statsOf('flights');
    const plain = await statsOf('flights_plain');
    expect(auto.rows).toBe(ROWS.length);
    expect(plain.bytes).toBe(plain.rawBytes);
    expect(auto.rawBytes).toBe(plain.rawBytes);
    expect(auto.bytes * 3).toBeLessThan(auto.rawBytes);
    expect(await readAll('flights_plain')).toEqual(expected(ROWS));
    expect(new Set(await encodingsOf('flights_plain'))).toEqual(new Set([ENCODING_PLAIN]));
  });

  it('validates and alters the stream settings', async () => {
    const info = await client.metadata.describeTable('flights');
    expect([info.encoding, info.compressionLevel]).toEqual(['auto', 3]);
    const altered = await client.metadata.alterTable('flights', { encoding: 'plain', compressionLevel: 9 });
    expect([altered.encoding, altered.compressionLevel, altered.schemaVersion]).toEqual(['plain', 9, info.schemaVersion]);
    await expect(client.metadata.alterTable('flights', { compressionLevel: 20 })).rejects.toThrow(/compressionLevel must be an integer in 1..19/);
    await expect(client.metadata.createTable({ name: 'bad', columns: COLUMNS, encoding: 'zip' as 'auto' })).rejects.toBeInstanceOf(GranaryError);
  });

  it('takes the settings as CLI flags and shows them', async () => {
    const schema = join(cluster.root, 'encodings-schema.json');
    await writeFile(schema, JSON.stringify({ columns: [{ name: 'x', type: 'int64' }], ec: '2+1' }));
    const created = await granary(['table', 'create', 'cli_table', '--schema', schema, '--encoding', 'plain', '--compression-level', '5', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ encoding: 'plain', compressionLevel: 5 });
    expect((await granary(['table', 'describe', 'cli_table'])).stdout).toMatch(/encoding plain\)/);
    expect((await granary(['table', 'alter', 'cli_table', '--encoding', 'auto', '--compression-level', '7'])).code).toBe(0);
    expect((await granary(['table', 'describe', 'cli_table'])).stdout).toMatch(/encoding auto \(zstd level 7\)/);
    const refused = await granary(['table', 'alter', 'cli_table', '--compression-level', '25']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--compression-level takes an integer in 1..19/);
    expect((await granary(['table', 'create', 'cli_bad', '--schema', schema, '--encoding', 'zip'])).stderr).toMatch(/--encoding takes auto or plain/);
  });
});
