/**
 * The sample table `granary up` creates on a fresh cluster, so a new user's next command has
 * something to read: recommendation-style rows (dense float features, id_list features, a label
 * and a timestamp), partitioned by `ds`, generated deterministically.
 */
import type { GranaryClient } from '../client/index.js';
import type { ColumnSpec } from '../protocol/index.js';

export const SAMPLE_TABLE = 'samples';
const DENSE_FEATURES = 32;
const SPARSE_FEATURES = 8;

export function sampleColumns(): ColumnSpec[] {
  return [
    { name: 'label', type: 'float' },
    { name: 'ts', type: 'int64' },
    ...Array.from({ length: DENSE_FEATURES }, (_, i): ColumnSpec => ({ name: `f_${i}`, type: 'float', featureId: 1000 + i })),
    ...Array.from({ length: SPARSE_FEATURES }, (_, i): ColumnSpec => ({ name: `ids_${i}`, type: 'id_list', featureId: 2000 + i })),
  ];
}

export function sampleRows(ds: string, count: number, seed: number): Record<string, unknown>[] {
  let state = seed >>> 0 || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
  const start = Date.parse(`${ds}T00:00:00Z`);
  return Array.from({ length: count }, (_, row) => {
    const out: Record<string, unknown> = { label: random() < 0.2 ? 1 : 0, ts: start + row * 1000 };
    for (let i = 0; i < DENSE_FEATURES; i++) if (random() > 0.05) out[`f_${i}`] = Math.round(random() * 1e4) / 1e4;
    for (let i = 0; i < SPARSE_FEATURES; i++) {
      const length = Math.min(100, Math.floor(-Math.log(1 - random()) * 10));
      out[`ids_${i}`] = Array.from({ length }, () => Math.floor(random() ** 3 * 1e6));
    }
    return out;
  });
}

/** Creates the sample table and writes `days` daily partitions ending today. */
export async function createSampleTable(client: GranaryClient, ec: string, days = 3, rowsPerDay = 5000): Promise<string[]> {
  await client.metadata.createTable({ name: SAMPLE_TABLE, columns: sampleColumns(), partitionBy: ['ds'], ec, retention: '365d' });
  const today = Date.now();
  const written: string[] = [];
  for (let day = days - 1; day >= 0; day--) {
    const ds = new Date(today - day * 86_400_000).toISOString().slice(0, 10);
    const writer = await client.openWriter(SAMPLE_TABLE, `ds=${ds}`);
    try {
      await writer.write(sampleRows(ds, rowsPerDay, day + 1));
      await writer.commit();
    } finally {
      await writer.close();
    }
    written.push(`ds=${ds}`);
  }
  return written;
}
