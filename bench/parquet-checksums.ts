/**
 * What checking Parquet page CRCs costs at ingest: rows/s of `readInput` (the path `granary
 * ingest` reads with) on one large file with the checks on, as a ratio to the same read with
 * `verifyPageChecksums: false`, in the same run.
 *
 * The file: ROWS rows written by DuckDB (int64 id, int32 key, double, string; Snappy, DuckDB's row
 * groups). DuckDB writes no page CRCs, so the bench copies it with a CRC in every page header
 * (the pages' bytes unchanged, offsets in the footer moved to where the longer headers put them),
 * which parquet-wasm reads as it reads the original. Both files are measured: the original shows
 * the cost of walking the page headers alone, the copy the cost of hashing every page too.
 *
 *   npx tsx bench/parquet-checksums.ts [rows]
 */
import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { readInput } from '../client/cli/formats/input.js';
import { readAt, readFooter } from '../client/cli/formats/parquet/footer.js';
import { type ThriftField, type ThriftList, type ThriftStruct, ThriftType, fieldOf, readThriftStruct, writeThriftStruct } from '../client/cli/formats/parquet/thrift-tree.js';
import type { NamedColumn } from '../client/format/index.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { printTable, secondsSince } from './measure.js';

const ROWS = Number(process.argv[2] ?? 3_000_000);
const RUNS = 3;
const COLUMNS: readonly NamedColumn[] = [
  { name: 'id', type: 'int64' },
  { name: 'k', type: 'int32' },
  { name: 'v', type: 'double' },
  { name: 's', type: 'string' },
];

async function writeWithDuckdb(path: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(
      `COPY (SELECT range::BIGINT AS id, (range * 7919 % 100000)::INTEGER AS k, (range * 0.001)::DOUBLE AS v, 'user_' || (range % 50000)::VARCHAR AS s FROM range(${ROWS})) TO '${path}' (FORMAT parquet)`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** `struct` with field `id` set to `value` (replaced, or added in id order). */
function withField(struct: ThriftStruct, id: number, type: number, value: ThriftField['value']): ThriftStruct {
  const fields = struct.fields.filter((field) => field.id !== id);
  fields.push({ id, type, value });
  fields.sort((a, b) => a.id - b.id);
  return { kind: 'struct', fields };
}

function without(struct: ThriftStruct, ids: readonly number[]): ThriftStruct {
  return { kind: 'struct', fields: struct.fields.filter((field) => !ids.includes(field.id)) };
}

/** Copies `source` to `target` with a CRC in every page header; returns the pages written. */
function addPageCrcs(source: string, target: string): number {
  const input = openSync(source, 'r');
  const output = openSync(target, 'w');
  try {
    const footer = readFooter(input, fstatSync(input).size, source);
    let position = writeSync(output, Buffer.from('PAR1'));
    let pages = 0;
    const groups = (fieldOf(footer.tree, 4)?.value as ThriftList).items.map((item, g) => {
      let group = item as ThriftStruct;
      const groupStart = position;
      const chunks = (fieldOf(group, 1)?.value as ThriftList).items.map((chunkItem, c) => {
        const info = footer.rowGroups[g]?.columns[c];
        if (info === undefined) throw new Error(`row group ${g} has no column chunk ${c}`);
        const chunkStart = position;
        let dictionaryOffset: number | undefined;
        let dataOffset: number | undefined;
        for (let at = info.firstPageOffset; at < info.firstPageOffset + info.totalCompressedBytes; ) {
          const { struct: header, bytesRead } = readThriftStruct(readAt(input, at, Math.min(64 * 1024, info.firstPageOffset + info.totalCompressedBytes - at)));
          const pageBytes = fieldOf(header, 3)?.value as number;
          const page = readAt(input, at + bytesRead, pageBytes);
          const type = fieldOf(header, 1)?.value as number;
          if (type === 2) dictionaryOffset ??= position;
          else dataOffset ??= position;
          const withCrc = writeThriftStruct(withField(header, 4, ThriftType.I32, crc32(page) | 0));
          position += writeSync(output, withCrc) + writeSync(output, page);
          at += bytesRead + pageBytes;
          pages++;
        }
        let meta = fieldOf(chunkItem as ThriftStruct, 3)?.value as ThriftStruct;
        meta = withField(meta, 7, ThriftType.I64, BigInt(position - chunkStart));
        meta = withField(meta, 9, ThriftType.I64, BigInt(dataOffset ?? chunkStart));
        if (dictionaryOffset !== undefined) meta = withField(meta, 11, ThriftType.I64, BigInt(dictionaryOffset));
        // The page indexes are not copied: their offsets would point at the old file.
        const chunk = without(withField(chunkItem as ThriftStruct, 2, ThriftType.I64, BigInt(chunkStart)), [4, 5, 6, 7]);
        return withField(chunk, 3, ThriftType.STRUCT, meta);
      });
      group = withField(group, 1, ThriftType.LIST, { kind: 'list', elementType: ThriftType.STRUCT, items: chunks });
      group = withField(group, 5, ThriftType.I64, BigInt(groupStart));
      return withField(group, 6, ThriftType.I64, BigInt(position - groupStart));
    });
    const tree = withField(footer.tree, 4, ThriftType.LIST, { kind: 'list', elementType: ThriftType.STRUCT, items: groups });
    const bytes = writeThriftStruct(tree);
    const tail = Buffer.alloc(8);
    tail.writeUInt32LE(bytes.length, 0);
    tail.write('PAR1', 4);
    writeSync(output, bytes);
    writeSync(output, tail);
    return pages;
  } finally {
    closeSync(input);
    closeSync(output);
  }
}

async function rowsPerSecond(path: string, verifyPageChecksums: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  let rows = 0;
  for await (const batch of readInput(path, 'parquet', COLUMNS, 8192, { verifyPageChecksums })) rows += batch.numRows;
  if (rows !== ROWS) throw new Error(`${path}: read ${rows} rows, wrote ${ROWS}`);
  return rows / secondsSince(start);
}

async function main(): Promise<void> {
  const temp = await makeTempDir('granary-bench-parquet-crc-');
  try {
    const plain = join(temp.path, 'duckdb.parquet');
    const withCrcs = join(temp.path, 'duckdb-crc.parquet');
    await writeWithDuckdb(plain);
    const pages = addPageCrcs(plain, withCrcs);
    const rows: string[][] = [];
    for (const [name, path] of [
      ['DuckDB file (no CRCs: headers walked)', plain],
      [`same pages, ${pages} with CRCs (every page hashed)`, withCrcs],
    ] as const) {
      // Best of RUNS each, alternating, so a noisy neighbour hits both sides alike.
      let on = 0;
      let off = 0;
      for (let run = 0; run < RUNS; run++) {
        off = Math.max(off, await rowsPerSecond(path, false));
        on = Math.max(on, await rowsPerSecond(path, true));
      }
      const bytes = statSync(path).size;
      rows.push([name, `${(bytes / 2 ** 20).toFixed(1)} MiB`, `${(off / 1e6).toFixed(2)} M rows/s`, `${(on / 1e6).toFixed(2)} M rows/s`, (on / off).toFixed(3)]);
    }
    printTable(`Parquet ingest read (readInput), ${ROWS} rows, checks on vs off (best of ${RUNS})`, [
      ['file', 'size', 'checks off', 'checks on', 'on/off'],
      ...rows,
    ]);
  } finally {
    await temp.remove();
  }
}

await main();
