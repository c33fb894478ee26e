/**
 * Backup and restore of the catalog with real processes (issue 12): partitions are ingested while
 * `granary metadata backup` downloads a backup from the serving metadata service; the service is
 * stopped, `granary metadata restore` puts the backup into an empty new data directory, and a
 * metadata service started on it, with the same storage nodes, reads back every partition whose
 * commit was acknowledged before the backup started, row for row. Partitions committed while the
 * backup ran may be in it or not, but whatever the restored catalog lists reads back whole.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient, recordBatchToRows } from '../../client/index.js';
import { type Cluster, listNodes, startCluster, startMetadataProcess } from '../helpers/cluster.js';
import { GRANARY_BIN } from '../helpers/granary-process.js';
import { pollUntil } from '../helpers/poll.js';

const run = promisify(execFile);
const NODES = 5;
const COLUMNS = [
  { name: 'id', type: 'int32' },
  { name: 'label', type: 'double' },
  { name: 'country', type: 'string' },
] as const;
const ROWS_PER_PARTITION = 3_000;

let cluster: Cluster;

function rowsOf(partition: string): Record<string, unknown>[] {
  const seed = [...partition].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 7) % 1_000_003;
  return Array.from({ length: ROWS_PER_PARTITION }, (_, i) => ({
    id: i,
    label: ((seed + i * 7919) % 10_007) / 10_007,
    country: ['se', 'fr', 'jp', 'ünï', ''][(seed + i) % 5] as string,
  }));
}

async function ingest(client: GranaryClient, partition: string): Promise<void> {
  const writer = await client.openWriter('events', partition);
  try {
    await writer.write(rowsOf(partition));
    await writer.commit();
  } finally {
    await writer.close();
  }
}

async function readPartition(client: GranaryClient, partition: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of client.scan('events', { partitions: { ds: { eq: partition.slice('ds='.length) } } })) rows.push(...recordBatchToRows(batch));
  return rows;
}

async function granary(args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [GRANARY_BIN, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: NODES, domains: 3, metadataArgs: ['--suspect-after-ms', '3000', '--dead-after-ms', '600000'] });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('metadata backup and restore', () => {
  it('restores a backup taken while ingesting: every partition committed before it reads back exactly', async () => {
    const client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    await client.metadata.createTable({ name: 'events', columns: COLUMNS, ec: '3+2', stripeRows: 1_000, blockBytes: 1024 * 1024 });
    const acknowledged: string[] = [];
    for (let day = 1; day <= 3; day++) {
      await ingest(client, `ds=2026-12-0${day}`);
      acknowledged.push(`ds=2026-12-0${day}`);
    }

    // Ingest goes on, one partition after another, while the backup is taken.
    let ingesting = true;
    let next = 10;
    const ingestLoop = (async () => {
      while (ingesting) {
        const partition = `ds=2026-12-${next++}`;
        await ingest(client, partition);
        acknowledged.push(partition);
      }
    })();
    await pollUntil('the ingest loop to commit a partition', () => (acknowledged.length > 3 ? true : undefined), 60_000);
    const committedBeforeBackup = [...acknowledged];
    const file = join(cluster.root, 'catalog.backup');
    const backup = JSON.parse(
      await granary(['metadata', 'backup', '--out', file, '--metadata', cluster.metadata.url, '--token', cluster.adminToken, '--json']),
    ) as { entries: number; bytes: number; signingKey: boolean };
    const committedDuringBackup = acknowledged.length - committedBeforeBackup.length;
    ingesting = false;
    await ingestLoop;
    await client.close();
    expect(backup.signingKey).toBe(true);
    expect(backup.entries).toBeGreaterThan(committedBeforeBackup.length);
    expect((await stat(file)).mode & 0o777, 'the backup holds the signing key: owner only').toBe(0o600);

    // The old service goes away; a new one starts on the restored catalog, on the same port the
    // storage nodes know.
    await cluster.metadata.kill('SIGTERM');
    const restoredDir = join(cluster.root, 'metadata-restored');
    const restored = await granary(['metadata', 'restore', file, '--data', restoredDir]);
    expect(restored).toMatch(/capability signing key restored to .*capability-signing\.key/);
    cluster.metadata = await startMetadataProcess(restoredDir, cluster.metadataArgs, cluster.metadata.port);
    // The backup's admin token is in the restored catalog: the old token still works.
    await pollUntil('every storage node heartbeating the restored service', async () => {
      const nodes = await listNodes(cluster.metadata.url, undefined, cluster.adminToken);
      return nodes.filter((node) => node.state === 'alive').length === NODES ? true : undefined;
    });

    const reader = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    try {
      const listed = (await reader.metadata.listPartitions('events')).map((p) => p.partition);
      for (const partition of committedBeforeBackup) {
        expect(listed, `${partition} was committed before the backup`).toContain(partition);
        expect(await readPartition(reader, partition), partition).toEqual(rowsOf(partition));
      }
      // Commits that raced the backup are in it whole, or not at all.
      for (const partition of listed) {
        expect(acknowledged, `${partition} was committed`).toContain(partition);
        expect(await readPartition(reader, partition), partition).toEqual(rowsOf(partition));
      }
      // The test saw what it is about: a partition was being written while the backup ran (the
      // loop stops only after it, so its partition is acknowledged after the backup began).
      expect(acknowledged.length, 'ingest went on during the backup').toBeGreaterThan(committedBeforeBackup.length);
      console.info(`backup: ${committedBeforeBackup.length} partitions before, ${committedDuringBackup} during, ${acknowledged.length} in all, ${listed.length} restored`);
    } finally {
      await reader.close();
    }
  }, 300_000);
});
