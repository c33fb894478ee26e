/**
 * Batches handed between threads (client/reader/batch-transfer.ts): every column type, sliced and
 * with nulls, through a real MessageChannel with the transfer list, must read back value for value;
 * large buffers move (the sender's copy is detached), small ones are copied, and with `copyAll`
 * (reuse) everything lies in one arena.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { type PackedBatches, TRANSFER_WHOLE_MIN_BYTES, packBatches, unpackBatches } from '../../../client/reader/batch-transfer.js';
import { decodeStoredStream, encodeStream, recordBatchToRows, rowsToRecordBatch } from '../../../client/format/index.js';
import { EVERY_TYPE_COLUMNS } from '../../helpers/every-type-columns.js';

const COLUMNS = EVERY_TYPE_COLUMNS;

function makeRows(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => {
    const row: Record<string, unknown> = {
      label: Math.fround(i / 7),
      weight: i * 1.5,
      age: i % 100,
      user_id: String(9_007_199_254_740_993n + BigInt(i)),
      clicked: i % 3 === 0,
      country: ['se', 'fr', 'ünïcödé', ''][i % 4],
      blob: Buffer.from([i & 255]).toString('base64'),
      ids: Array.from({ length: i % 5 }, (_, j) => i * 10 + j),
      scored: Array.from({ length: i % 3 }, (_, j) => [j + i, Math.fround(j / 3)]),
      embedding: i % 4 === 0 ? [] : [Math.fround(i), Math.fround(-i)],
    };
    COLUMNS.forEach((column, c) => {
      if ((i + c) % 9 === 0) row[column.name] = null;
    });
    return row;
  });
}

/** The batch as a reader decodes it: every column a view of its stored stream's bytes. */
async function decodedBatch(rows: readonly Record<string, unknown>[]): Promise<arrow.RecordBatch> {
  const built = rowsToRecordBatch(COLUMNS, rows);
  const children = await Promise.all(
    COLUMNS.map((column, c) => {
      const stream = encodeStream(column.type, (built.getChildAt(c) as arrow.Vector).data[0] as arrow.Data);
      // A copy, as bytes come off the network: its own buffer, not the encoder's.
      return decodeStoredStream(column.type, stream.encoding, Buffer.from(stream.bytes), rows.length);
    }),
  );
  return new arrow.RecordBatch(built.schema, arrow.makeData({ type: new arrow.Struct(built.schema.fields), length: rows.length, nullCount: 0, children }));
}

/** Sends `packed` over a real channel (moving the transfer list) and returns what arrives. */
async function sendOver(packed: PackedBatches): Promise<PackedBatches> {
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<PackedBatches>((resolve) => (port2 as MessagePort).once('message', resolve));
  port1.postMessage(packed, [...packed.buffers]);
  const answer = await received;
  port1.close();
  return answer;
}

describe('batch transfer between threads', () => {
  it('hands slices of every column type over value for value, moving large buffers and copying small ones', async () => {
    // Large enough that the int64 and double columns' buffers pass TRANSFER_WHOLE_MIN_BYTES.
    const rows = makeRows(40_000);
    const batch = await decodedBatch(rows);
    const slices = [batch.slice(0, 10_000), batch.slice(10_000, 10_001), batch.slice(15_000, 40_000)];
    const expected = slices.map((slice) => recordBatchToRows(slice));
    const packed = packBatches(slices, false, (bytes) => new ArrayBuffer(bytes));
    const whole = packed.buffers.filter((_, i) => i !== packed.arena);
    const arrived = await sendOver(packed);
    // Large buffers were moved (gone from this side), not copied.
    expect(whole.length).toBeGreaterThan(0);
    for (const buffer of whole) expect(buffer.byteLength).toBe(0);
    expect(arrived.buffers.filter((b, i) => i !== arrived.arena && b.byteLength >= TRANSFER_WHOLE_MIN_BYTES).length).toBe(whole.length);
    unpackBatches(arrived, batch.schema).forEach((got, i) => expect(recordBatchToRows(got)).toEqual(expected[i]));
  });

  it('hands over a subset of the columns in the order asked', async () => {
    const batch = await decodedBatch(makeRows(300));
    const subset = batch.selectAt([7, 0, 5]).slice(10, 200);
    const expected = recordBatchToRows(subset);
    const [got] = unpackBatches(await sendOver(packBatches([subset], false, (bytes) => new ArrayBuffer(bytes))), subset.schema);
    expect(got?.schema.fields.map((f) => f.name)).toEqual(['ids', 'label', 'country']);
    expect(recordBatchToRows(got as arrow.RecordBatch)).toEqual(expected);
  });

  it('with copyAll puts every byte in one arena from the source given, aligned for every element type', async () => {
    const rows = makeRows(500);
    const batch = await decodedBatch(rows);
    const expected = recordBatchToRows(batch.slice(3, 400));
    let asked = 0;
    const packed = packBatches([batch.slice(3, 400)], true, (bytes) => {
      asked = bytes;
      return new ArrayBuffer(bytes + 5);
    });
    expect(packed.buffers.length).toBe(1);
    expect(packed.arena).toBe(0);
    expect(asked).toBeGreaterThan(0);
    const arrived = await sendOver(packed);
    expect(recordBatchToRows(unpackBatches(arrived, batch.schema)[0] as arrow.RecordBatch)).toEqual(expected);
  });

  it('hands over an empty batch and a column of nulls only', async () => {
    const rows = makeRows(20).map((row) => ({ ...row, ids: null }));
    const batch = await decodedBatch(rows);
    const packed = packBatches([batch.slice(0, 0), batch], false, (bytes) => new ArrayBuffer(bytes));
    const [empty, full] = unpackBatches(await sendOver(packed), batch.schema);
    expect(empty?.numRows).toBe(0);
    expect(recordBatchToRows(full as arrow.RecordBatch)).toEqual(recordBatchToRows(await decodedBatch(rows)));
  });
});
