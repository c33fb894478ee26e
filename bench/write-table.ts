/** Writes the bench workload (workload.ts) into a new table, one committed file per partition. */
import type { GranaryClient } from '../client/index.js';
import { COLUMNS, type Scale, partitionBatches, partitionSpec } from './workload.js';

export interface WrittenTable {
  readonly bytes: number;
  readonly rows: number;
  readonly seconds: number;
}

export async function writeWorkloadTable(client: GranaryClient, table: string, scale: Scale, columnOrder: readonly string[] | 'schema', ec: string): Promise<WrittenTable> {
  await client.metadata.createTable({ name: table, columns: COLUMNS, partitionBy: ['ds'], ec });
  const start = Date.now();
  let bytes = 0;
  let rows = 0;
  for (let p = 0; p < scale.partitions; p++) {
    const writer = await client.openWriter(table, partitionSpec(p), { columnOrder });
    try {
      for (const batch of partitionBatches(p, scale.rowsPerPartition)) await writer.write(batch);
      const commit = await writer.commit();
      bytes += commit.bytes;
      rows += commit.rows;
    } finally {
      await writer.close();
    }
  }
  return { bytes, rows, seconds: (Date.now() - start) / 1000 };
}
