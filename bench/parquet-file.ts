/**
 * Writes Arrow batches to a Parquet file through parquet-wasm, for the benchmarks that hand
 * DuckDB the same rows Granary stores.
 */
import { open } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';

/** apache-arrow batch -> parquet-wasm batches (through Arrow IPC: the two share no memory). */
function toWasmBatches(batch: arrow.RecordBatch): parquet.RecordBatch[] {
  const table = parquet.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
  try {
    return table.recordBatches();
  } finally {
    table.free();
  }
}

/** Streams `batches` into a Parquet file; the encoder pulls, so at most about a row group is in memory. */
export async function writeParquetFile(path: string, batches: Iterator<arrow.RecordBatch>, properties: parquet.WriterProperties): Promise<void> {
  const source = new ReadableStream<parquet.RecordBatch>(
    {
      pull(controller) {
        const next = batches.next();
        if (next.done === true) controller.close();
        else for (const wasmBatch of toWasmBatches(next.value)) controller.enqueue(wasmBatch);
      },
    },
    { highWaterMark: 0 },
  );
  const output = (await parquet.transformParquetStream(source, properties)) as ReadableStream<Uint8Array>;
  const reader = output.getReader();
  const file = await open(path, 'w');
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) await file.write(next.value);
  } finally {
    await file.close();
  }
}
