// An ingest job: writes one day of rows into the sample table of `npm start` (granary up).
//   node examples/ingest-job.mjs [ds]
// Run `npm ci` first (it builds dist/). The partition becomes visible only at commit.
import { GranaryClient } from '../dist/client/index.js';

const ds = process.argv[2] ?? '2030-01-01';
const granary = new GranaryClient({ metadataUrl: process.env.GRANARY_METADATA ?? 'http://127.0.0.1:7070' });
const writer = await granary.openWriter('samples', `ds=${ds}`);
try {
  for (let chunk = 0; chunk < 10; chunk++) {
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      label: (chunk + i) % 5 === 0 ? 1 : 0,
      ts: Date.parse(`${ds}T00:00:00Z`) + (chunk * 1000 + i) * 1000,
      f_0: Math.random(),
      f_1: Math.random(),
      ids_0: Array.from({ length: i % 20 }, (_, j) => j * 7 + i),
    }));
    await writer.write(rows); // columns left out are null
  }
  const result = await writer.commit();
  console.log(`committed ${result.rows} rows (${result.bytes} bytes) into samples ds=${ds}`);
} finally {
  await writer.close(); // aborts if the commit did not happen: nothing half-written is visible
  await granary.close();
}
