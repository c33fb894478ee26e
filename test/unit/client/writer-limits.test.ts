/**
 * A write bigger than one commit may hold stops as soon as it passes the service's limit (the
 * session's `limits`), and gives its session up, instead of uploading everything first and being
 * refused at commit (issue 11). An in-process metadata service on loopback with six in-memory
 * storage nodes.
 */
import { afterEach, expect, it } from 'vitest';
import { GranaryClient } from '../../../client/index.js';
import { GranaryError } from '../../../protocol/index.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { type MemoryNodes, startMemoryNodes } from '../../helpers/memory-nodes.js';

const STRIPES_PER_COMMIT_MAX = 3;

let meta: MetadataApp | undefined;
let nodes: MemoryNodes | undefined;
let client: GranaryClient | undefined;
afterEach(async () => {
  await client?.close();
  await meta?.close();
  await nodes?.close();
  client = undefined;
  meta = undefined;
  nodes = undefined;
});

it('stops a write that passes the stripes one commit may add, and gives its session up', async () => {
  meta = await makeMetadataApp({ quotas: { stripesPerCommitMax: STRIPES_PER_COMMIT_MAX } });
  nodes = await startMemoryNodes(6);
  for (const [i, url] of nodes.urls.entries()) {
    const registered = await meta.app.inject({
      method: 'POST',
      url: '/v1/nodes/register',
      payload: { nodeId: `mem-${i}`, url, domain: `rack-${i % 3}`, capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0 },
    });
    expect(registered.statusCode, registered.payload).toBe(200);
  }
  const metadataUrl = await meta.app.listen({ host: '127.0.0.1', port: 0 });
  client = new GranaryClient({ metadataUrl });
  await client.metadata.createTable({ name: 'wide', columns: [{ name: 'x', type: 'int64' }], ec: '4+2' });

  // One stripe of 10 rows per block: the fourth block passes the limit of three stripes.
  const writer = await client.openWriter('wide', 'ds=2026-12-01', { stripeRows: 10, blockBytes: 1 });
  let refused: unknown;
  try {
    for (let batch = 0; batch < 20 && refused === undefined; batch++) {
      await writer.write(Array.from({ length: 10 }, (_, i) => ({ x: batch * 10 + i }))).catch((error: unknown) => {
        refused = error;
      });
    }
    if (refused === undefined) await writer.commit().catch((error: unknown) => (refused = error));
  } finally {
    await writer.close();
  }
  expect(refused).toBeInstanceOf(GranaryError);
  expect((refused as GranaryError).code).toBe('GRN_QUOTA_EXCEEDED');
  expect((refused as GranaryError).message).toContain('--stripes-per-commit-max');
  // Refused after the limit, long before the 20 stripes offered were all uploaded.
  const session = [...meta.service.state.sessions.values()][0];
  expect(session?.state).toBe('aborted');
  expect(session?.blocksAtClose).toBeGreaterThanOrEqual(STRIPES_PER_COMMIT_MAX);
  expect(session?.blocksAtClose).toBeLessThanOrEqual(STRIPES_PER_COMMIT_MAX + 1);
  expect(await client.metadata.listPartitions('wide')).toEqual([]);
});
