/**
 * A table's stream settings (encoding auto|plain, zstd compressionLevel) as the service keeps
 * them: defaults, validation, alteration without a new schema version, handed to writers with
 * their session; and a commit's rawBytes (plain-layout bytes) checked and counted per partition,
 * with stream entries in the sections encoding accepted.
 */
import { unpack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { contiguousLayout } from '../../../erasure/index.js';
import { type BlockPlacement, type CommitManifest, ENCODING_SECTIONS, type PartitionInfo, type SessionInfo, type TableInfo } from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const SCHEMA = { name: 'events', columns: [{ name: 'age', type: 'int64' }], partitionBy: ['ds'], ec: '6+3' };
const PARTITION = 'ds=2026-12-02';

let meta: MetadataApp | undefined;
afterEach(async () => {
  await meta?.close();
  meta = undefined;
});

async function call<T = Record<string, unknown>>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  if (meta === undefined) throw new Error('no app');
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  const msgpack = String(response.headers['content-type'] ?? '').includes('msgpack');
  return { status: response.statusCode, body: (msgpack ? unpack(response.rawPayload) : response.json()) as T };
}

async function start(): Promise<void> {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 9, 3);
}

function manifest(block: BlockPlacement, rawBytes: number | undefined): CommitManifest {
  const blockBytes = 4096;
  return {
    files: [
      {
        columns: ['age'],
        stripes: [{ rows: 100, streams: [{ block: block.blockId, offset: 0, length: 1000, checksum: '00000000000000aa', encoding: ENCODING_SECTIONS, stats: { nulls: 0 } }] }],
        ...(rawBytes === undefined ? {} : { rawBytes }),
      },
    ],
    blocks: [
      {
        blockId: block.blockId,
        blockBytes,
        shardBytes: contiguousLayout({ dataShards: 6, parityShards: 3 }, blockBytes).shardBytes,
        codec: block.codec,
        shardChecksums: Array.from({ length: 9 }, (_, shard) => shard.toString(16).padStart(16, '0')),
      },
    ],
  };
}

describe('table stream settings', () => {
  it('defaults to auto at zstd level 1, refuses unknown encodings and levels outside 1..19', async () => {
    await start();
    const created = await call<TableInfo>('POST', '/v1/tables', SCHEMA);
    expect(created.status).toBe(201);
    expect([created.body.encoding, created.body.compressionLevel]).toEqual(['auto', 1]);
    for (const bad of [{ encoding: 'zip' }, { compressionLevel: 0 }, { compressionLevel: 20 }, { compressionLevel: 2.5 }]) {
      const refused = await call<{ error: { message: string } }>('POST', '/v1/tables', { ...SCHEMA, name: 'other', ...bad });
      expect(refused.status, JSON.stringify(bad)).toBe(400);
    }
    const plain = await call<TableInfo>('POST', '/v1/tables', { ...SCHEMA, name: 'plain_one', encoding: 'plain', compressionLevel: 19 });
    expect([plain.body.encoding, plain.body.compressionLevel]).toEqual(['plain', 19]);
  });

  it('alters the settings alone without a new schema version, and hands them to writers', async () => {
    await start();
    await call('POST', '/v1/tables', SCHEMA);
    const altered = await call<TableInfo>('PATCH', '/v1/tables/events', { encoding: 'plain', compressionLevel: 7 });
    expect(altered.status, JSON.stringify(altered.body)).toBe(200);
    expect([altered.body.encoding, altered.body.compressionLevel, altered.body.schemaVersion]).toEqual(['plain', 7, 1]);
    expect((await call('PATCH', '/v1/tables/events', { compressionLevel: 99 })).status).toBe(400);
    expect((await call('PATCH', '/v1/tables/events', {})).status).toBe(400);
    const withColumn = await call<TableInfo>('PATCH', '/v1/tables/events', { addColumns: [{ name: 'x', type: 'int32' }], encoding: 'auto' });
    expect([withColumn.body.encoding, withColumn.body.compressionLevel, withColumn.body.schemaVersion]).toEqual(['auto', 7, 2]);
    const session = await call<SessionInfo>('POST', '/v1/tables/events/sessions', { partition: PARTITION });
    expect([session.body.encoding, session.body.compressionLevel]).toEqual(['auto', 7]);
  });

  it('counts a commit\'s rawBytes per partition and refuses a negative or impossible one', async () => {
    await start();
    await call('POST', '/v1/tables', SCHEMA);
    for (const rawBytes of [-1, 2 ** 50]) {
      const sessionId = (await call<SessionInfo>('POST', '/v1/tables/events/sessions', { partition: PARTITION })).body.sessionId;
      const block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
      const refused = await call('POST', `/v1/sessions/${sessionId}/commit`, manifest(block, rawBytes));
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    }
    for (const rawBytes of [5000, undefined]) {
      const sessionId = (await call<SessionInfo>('POST', '/v1/tables/events/sessions', { partition: PARTITION })).body.sessionId;
      const block = (await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`)).body;
      const committed = await call('POST', `/v1/sessions/${sessionId}/commit`, manifest(block, rawBytes));
      expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    }
    const partitions = await call<{ partitions: PartitionInfo[] }>('GET', '/v1/tables/events/partitions');
    // 5000 said by the first file, 1000 (its stream bytes) for the one that did not say.
    expect(partitions.body.partitions.map((p) => [p.bytes, p.rawBytes])).toEqual([[2000, 6000]]);
  });
});
