/**
 * A large catalog written straight into a metadata data directory with the metadata modules (no
 * service, no storage nodes): one wide table, many partitions of files of many stripes, each
 * stripe's streams in fake blocks. Every stream location follows a formula of its stripe and
 * column (see expectedEntry), so a test can check every location of a plan without keeping the
 * catalog in memory. Used by the manifest memory test and bench/manifest-cache.ts.
 */
import { join } from 'node:path';
import { MetadataDb, put } from '../../metadata/db.js';
import { pieceOperations, splitFile } from '../../metadata/manifests/pieces.js';
import type { BlockRecord, FileWithStripes, NodeRecord, PartitionRecord, StripeRecord, TableRecord } from '../../metadata/records.js';
import { newTableRecord } from '../../metadata/schema.js';
import { fileKey, partitionKey } from '../../metadata/state.js';
import { STREAM_ENTRY_BYTES } from '../../protocol/index.js';

export interface WideCatalogShape {
  readonly columns: number;
  readonly partitions: number;
  readonly filesPerPartition: number;
  readonly stripesPerFile: number;
  /** Consecutive stripes of a file that share one block. */
  readonly stripesPerBlock: number;
}

export interface WideCatalog {
  readonly table: TableRecord;
  readonly shape: WideCatalogShape;
  readonly stripes: number;
  readonly locations: number;
  readonly blocks: number;
  /** Bytes of piece bodies written: what holding every manifest decoded in memory costs. */
  readonly manifestBytes: number;
}

const WORDS = STREAM_ENTRY_BYTES / 4;
const ROWS = 65_536;
const NODES = 12;

/** The stream entry words of column `c` of the catalog's stripe number `g` (counted over the whole table, in plan order). */
export function expectedEntry(g: number, c: number): { length: number; offset: number; checksumLow: number; checksumHigh: number; encoding: number; nulls: number } {
  return { length: ((g * 7 + c) % 100_000) + 1, offset: g * 1_000_000 + c * 1000, checksumLow: g, checksumHigh: c, encoding: 1 + (c % 3), nulls: c % 5 };
}

/** Block id of global stripe `g`. */
export function blockIdOf(shape: WideCatalogShape, g: number): string {
  return `bwide${Math.floor(g / shape.stripesPerBlock)}`;
}

function makeStripe(g: number, columns: number, blockRef: number): StripeRecord {
  const streams = new Uint8Array(columns * STREAM_ENTRY_BYTES);
  const words = new Uint32Array(streams.buffer);
  const floats = new Float64Array(streams.buffer);
  const stats = new Float64Array(2 * columns);
  for (let c = 0; c < columns; c++) {
    const entry = expectedEntry(g, c);
    words[c * WORDS] = blockRef;
    words[c * WORDS + 1] = entry.length;
    floats[c * (WORDS / 2) + 1] = entry.offset;
    words[c * WORDS + 4] = entry.checksumLow;
    words[c * WORDS + 5] = entry.checksumHigh;
    words[c * WORDS + 6] = entry.encoding;
    words[c * WORDS + 7] = entry.nulls;
    stats[2 * c] = g;
    stats[2 * c + 1] = g + 1;
  }
  return { rows: ROWS, streams, stats: new Uint8Array(stats.buffer) };
}

/** Writes the catalog into `dataDir` (which the metadata service then opens as `--data`). */
export async function writeWideCatalog(dataDir: string, shape: WideCatalogShape, now = Date.now()): Promise<WideCatalog> {
  const db = new MetadataDb(join(dataDir, 'catalog'));
  await db.open();
  try {
    const table = newTableRecord(
      { name: 'wide', columns: Array.from({ length: shape.columns }, (_, c) => ({ name: `f${c}`, type: 'float' as const })), partitionBy: ['ds'], ec: '6+3' },
      now,
    );
    const cids = table.columns.map((column) => column.cid);
    const nodeIds = Array.from({ length: NODES }, (_, n) => `node-${n}`);
    await db.write([
      put(db.tables, table.name, table),
      ...nodeIds.map((nodeId, n) => {
        const node: NodeRecord = { nodeId, url: `http://127.0.0.1:${30_000 + n}`, domain: `rack-${n % 3}`, capacityBytes: 1e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0, draining: false, registeredAt: now, lastHeartbeatAt: now };
        return put(db.nodes, nodeId, node);
      }),
    ]);
    let g = 0;
    let manifestBytes = 0;
    for (let p = 0; p < shape.partitions; p++) {
      const day = new Date(Date.UTC(2026, 0, 1) + p * 86_400_000).toISOString().slice(0, 10);
      const spec = `ds=${day}`;
      const partition: PartitionRecord = { tableId: table.id, spec, values: { ds: day }, createdAt: now, files: shape.filesPerPartition, stripes: shape.filesPerPartition * shape.stripesPerFile, rows: 0, bytes: 0 };
      await db.write([put(db.partitions, partitionKey(table.id, spec), partition)]);
      for (let f = 0; f < shape.filesPerPartition; f++) {
        const fileId = `fwide${p}x${f}`;
        const blockIds: string[] = [];
        const stripes: StripeRecord[] = [];
        for (let s = 0; s < shape.stripesPerFile; s++, g++) {
          const blockId = blockIdOf(shape, g);
          if (blockIds[blockIds.length - 1] !== blockId) blockIds.push(blockId);
          stripes.push(makeStripe(g, shape.columns, blockIds.length - 1));
        }
        const file: FileWithStripes = { fileId, tableId: table.id, partition: spec, sessionId: `swide${p}x${f}`, committedAt: now, sequence: f, rows: ROWS * shape.stripesPerFile, bytes: 0, columnCids: cids, blockIds, stripes };
        const split = splitFile(file);
        manifestBytes += split.record.manifest.pieceBytes.reduce((sum, bytes) => sum + bytes, 0);
        // A block two files share is written twice, the same both times.
        const blockRecords = blockIds.map((blockId): BlockRecord => ({
          blockId,
          tableId: table.id,
          sessionId: file.sessionId,
          dataShards: 6,
          parityShards: 3,
          codec: 'rs-wasm-v1',
          nodes: Array.from({ length: 9 }, (_, shard) => nodeIds[(Number(blockId.slice(5)) + shard) % NODES] as string),
          state: 'committed',
          blockBytes: 64 << 20,
          shardBytes: Math.ceil((64 << 20) / 6 / 8) * 8,
          createdAt: now,
        }));
        await db.write([...pieceOperations(db.manifests, split), put(db.files, fileKey(table.id, spec, fileId), split.record), ...blockRecords.map((block) => put(db.blocks, block.blockId, block))]);
      }
    }
    return { table, shape, stripes: g, locations: g * shape.columns, blocks: Math.ceil(g / shape.stripesPerBlock), manifestBytes };
  } finally {
    await db.close();
  }
}
