// A preprocessing worker: reads two columns of the sample table as Arrow batches and computes the
// positive rate and the mean of f_0 over positives, without per-value objects.
//   node examples/reader-job.mjs
import { GranaryClient, newScanStats } from '../dist/client/index.js';

const granary = new GranaryClient({ metadataUrl: process.env.GRANARY_METADATA ?? 'http://127.0.0.1:7070' });
const stats = newScanStats();
let rows = 0;
let positives = 0;
let sum = 0;
for await (const batch of granary.scan('samples', { columns: ['label', 'f_0'], stats })) {
  rows += batch.numRows;
  const label = batch.getChild('label');
  const f0 = batch.getChild('f_0');
  for (let i = 0; i < batch.numRows; i++) {
    if (label.get(i) === 1) {
      positives++;
      sum += f0.get(i) ?? 0;
    }
  }
}
console.log(`${rows} rows, positive rate ${(positives / Math.max(rows, 1)).toFixed(3)}, mean f_0 of positives ${(sum / Math.max(positives, 1)).toFixed(4)}`);
console.log(`read ${stats.bytesNeeded} stream bytes in ${stats.requests} requests over ${stats.stripes} stripes`);
await granary.close();
