/**
 * The block uploader against tiny in-process chunk servers: every shard lands, and a shard whose
 * node refuses is placed again on the replacement the metadata service names.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPools } from '../../../protocol/index.js';
import type { MetadataClient } from '../../../client/metadata-client.js';
import { uploadBlock } from '../../../client/writer/block-uploader.js';
import { checksumToHex, contiguousLayout, reconstructShards, xxh64 } from '../../../erasure/index.js';
import type { BlockPlacement } from '../../../protocol/index.js';

const servers: FastifyInstance[] = [];
const http = new HttpPools();
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A chunk server that keeps what it is sent, or answers 507 to everything. */
async function chunkServer(full: boolean): Promise<{ url: string; chunks: Map<string, Buffer> }> {
  const chunks = new Map<string, Buffer>();
  const app = Fastify();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1 << 30 }, (_request, body, done) => done(null, body));
  app.put<{ Params: { id: string } }>('/v1/chunks/:id', async (request, reply) => {
    if (full) return reply.code(507).send({ code: 'GRN_DISK_FULL', message: 'disk full' });
    const body = request.body as Buffer;
    expect(request.headers['x-granary-checksum']).toBe(xxh64(body).toString(16).padStart(16, '0'));
    chunks.set(request.params.id, body);
    return reply.code(201).send({});
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  const address = app.server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`, chunks };
}

describe('uploadBlock', () => {
  it('stores k+m chunks, replacing a node that refuses', async () => {
    const nodes = await Promise.all(Array.from({ length: 4 }, (_, i) => chunkServer(i === 1)));
    const spare = await chunkServer(false);
    const placement = (urls: string[]): BlockPlacement => ({
      blockId: 'bx',
      dataShards: 2,
      parityShards: 1,
      codec: 'rs-wasm-v1',
      chunks: urls.map((url, shard) => ({ shard, chunkId: `bx.${shard}`, nodeId: `n${shard}`, url })),
    });
    const replaced: number[] = [];
    const metadata = {
      allocateBlock: async () => placement([nodes[0]?.url, nodes[1]?.url, nodes[2]?.url] as string[]),
      replaceShard: async (_session: string, _block: string, shard: number) => {
        replaced.push(shard);
        return placement([nodes[0]?.url, spare.url, nodes[2]?.url] as string[]);
      },
    } as unknown as MetadataClient;
    const block = new Uint8Array(10_001).map((_, i) => (i * 7) & 255);
    const manifest = await uploadBlock(http, metadata, 's1', block);
    expect(replaced).toEqual([1]);
    const stored = [nodes[0]?.chunks.get('bx.0'), spare.chunks.get('bx.1'), nodes[2]?.chunks.get('bx.2')];
    expect(stored.every((chunk) => chunk !== undefined)).toBe(true);
    // Each shard's checksum goes into the manifest: repair checks a rebuilt chunk against it.
    expect(manifest).toEqual({
      blockId: 'bx',
      blockBytes: 10_001,
      shardBytes: contiguousLayout({ dataShards: 2, parityShards: 1 }, 10_001).shardBytes,
      codec: 'rs-wasm-v1',
      shardChecksums: stored.map((chunk) => checksumToHex(xxh64(chunk as Buffer))),
    });
    // The parity really protects the data: rebuild shard 0 from shards 1 and 2.
    const [rebuilt] = await reconstructShards({ dataShards: 2, parityShards: 1 }, [null, stored[1], stored[2]], [0]);
    expect(Buffer.from(rebuilt as Uint8Array).equals(stored[0] as Buffer)).toBe(true);
  });

  it('codes a block with the codec it was placed for, refusing one it does not have', async () => {
    const node = await chunkServer(false);
    const placement: BlockPlacement = {
      blockId: 'bz',
      dataShards: 1,
      parityShards: 1,
      codec: 'rs-imaginary-v9',
      chunks: [0, 1].map((shard) => ({ shard, chunkId: `bz.${shard}`, nodeId: `n${shard}`, url: node.url })),
    };
    const metadata = { allocateBlock: async () => placement, replaceShard: async () => placement } as unknown as MetadataClient;
    await expect(uploadBlock(http, metadata, 's1', new Uint8Array(100))).rejects.toThrow(/unknown erasure codec "rs-imaginary-v9"/);
    expect(node.chunks.size).toBe(0);
  });

  it('gives up with a clear error when no replacement takes the shard', async () => {
    const full = await chunkServer(true);
    const ok = await chunkServer(false);
    const placement: BlockPlacement = {
      blockId: 'by',
      dataShards: 1,
      parityShards: 1,
      codec: 'rs-wasm-v1',
      chunks: [
        { shard: 0, chunkId: 'by.0', nodeId: 'a', url: ok.url },
        { shard: 1, chunkId: 'by.1', nodeId: 'b', url: full.url },
      ],
    };
    const metadata = { allocateBlock: async () => placement, replaceShard: async () => placement } as unknown as MetadataClient;
    await expect(uploadBlock(http, metadata, 's1', new Uint8Array(100))).rejects.toThrow(/could not store shard 1 of block by after 4 nodes/);
  });
});
