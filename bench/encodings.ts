/**
 * Per-stream encodings, one core: for each column type of the bench table (bench/workload.ts)
 * and the flights-like table (bench/flights-table.ts), the plain bytes, the bytes stored with
 * the writer's chooser (client/format/stored-stream.ts), and the speeds of choosing+encoding
 * and of decoding to Arrow, next to plain encode/decode and memcpy measured in the same run.
 * Streams are encoded and decoded one at a time (zstd runs on a libuv pool thread while this
 * one waits), so the MB/s are per core; MB are plain-layout bytes.
 *
 *   npx tsx bench/encodings.ts                 # recsys 1 x 8,192 rows (2 stripes), flights 262,144 rows (4 stripes)
 *   npx tsx bench/encodings.ts --level 3       # another zstd level (default: the tables' default, 1)
 *   npx tsx bench/encodings.ts --flights-rows N --recsys-rows N
 */
import { parseArgs } from 'node:util';
import type * as arrow from 'apache-arrow';
import { type ColumnType, ENCODING_SECTIONS } from '../protocol/index.js';
import { type StoredStream, ZSTD_LEVEL_DEFAULT, decodeStoredStream, decodeStream, encodeStream, storePlain } from '../client/format/index.js';
import { readContainer } from '../client/format/encodings/container.js';
import { positive } from './flags.js';
import { FLIGHTS_COLUMNS, flightsBatches } from './flights-table.js';
import { machineInfo, mbps, mib, printTable } from './measure.js';
import { COLUMNS, partitionBatches } from './workload.js';

const TRANSFORM_NAMES = ['raw', 'for', 'delta', 'dict', 'split', 'lengths', 'sdict', 'sdict-values'];

interface Column {
  readonly type: ColumnType;
  readonly data: arrow.Data;
}

interface TypeFigures {
  columns: number;
  streams: number;
  rawBytes: number;
  storedBytes: number;
  plainEncodeSeconds: number;
  storeSeconds: number;
  plainDecodeSeconds: number;
  decodeSeconds: number;
  sections: Map<string, number>;
}

function stripesOf(batches: Iterable<arrow.RecordBatch>, columns: readonly { name: string; type: ColumnType }[]): Column[][] {
  const stripes: Column[][] = [];
  for (const batch of batches) {
    stripes.push(columns.map((column) => ({ type: column.type, data: (batch.getChild(column.name) as arrow.Vector).data[0] as arrow.Data })));
  }
  return stripes;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function measure(stripes: readonly Column[][], level: number): Promise<Map<string, TypeFigures>> {
  const byType = new Map<string, TypeFigures>();
  const figuresOf = (type: string): TypeFigures => {
    let figures = byType.get(type);
    if (figures === undefined) {
      figures = { columns: 0, streams: 0, rawBytes: 0, storedBytes: 0, plainEncodeSeconds: 0, storeSeconds: 0, plainDecodeSeconds: 0, decodeSeconds: 0, sections: new Map() };
      byType.set(type, figures);
    }
    return figures;
  };
  for (const [s, stripe] of stripes.entries()) {
    for (const column of stripe) {
      const rows = column.data.length;
      for (const figures of [figuresOf(column.type), figuresOf('total')]) {
        if (s === 0) figures.columns++;
      }
      let start = process.hrtime.bigint();
      const plain = encodeStream(column.type, column.data);
      const plainEncode = seconds(start);
      start = process.hrtime.bigint();
      const stored: StoredStream = await storePlain(column.type, plain, { compressionLevel: level });
      const store = seconds(start);
      start = process.hrtime.bigint();
      decodeStream(column.type, plain.bytes, rows);
      const plainDecode = seconds(start);
      start = process.hrtime.bigint();
      await decodeStoredStream(column.type, stored.encoding, stored.bytes, rows);
      const decode = seconds(start);
      const kinds: string[] = [];
      if (stored.encoding === ENCODING_SECTIONS) {
        for (const section of readContainer(column.type, stored.bytes, rows).sections) kinds.push(`${TRANSFORM_NAMES[section.transform]}${section.codec === 1 ? '+zstd' : ''}`);
      } else {
        kinds.push('plain');
      }
      for (const figures of [figuresOf(column.type), figuresOf('total')]) {
        figures.streams++;
        figures.rawBytes += plain.bytes.length;
        figures.storedBytes += stored.bytes.length;
        figures.plainEncodeSeconds += plainEncode;
        figures.storeSeconds += store;
        figures.plainDecodeSeconds += plainDecode;
        figures.decodeSeconds += decode;
        for (const kind of kinds) figures.sections.set(kind, (figures.sections.get(kind) ?? 0) + 1);
      }
    }
  }
  return byType;
}

/** Passes over the stripes; each timing is the fastest pass's, so one descheduling does not count. */
const PASSES = 3;

async function bestOf(stripes: readonly Column[][], level: number): Promise<Map<string, TypeFigures>> {
  let best: Map<string, TypeFigures> | undefined;
  for (let pass = 0; pass < PASSES; pass++) {
    const figures = await measure(stripes, level);
    if (best === undefined) {
      best = figures;
      continue;
    }
    for (const [type, f] of figures) {
      const b = best.get(type) as TypeFigures;
      b.plainEncodeSeconds = Math.min(b.plainEncodeSeconds, f.plainEncodeSeconds);
      b.storeSeconds = Math.min(b.storeSeconds, f.storeSeconds);
      b.plainDecodeSeconds = Math.min(b.plainDecodeSeconds, f.plainDecodeSeconds);
      b.decodeSeconds = Math.min(b.decodeSeconds, f.decodeSeconds);
    }
  }
  return best as Map<string, TypeFigures>;
}

/** memcpy of `bytes` within memory already touched: the ceiling the codec figures are read against. */
function memcpyBytesPerSecond(bytes: number): number {
  const from = Buffer.alloc(bytes, 1);
  const to = Buffer.alloc(bytes);
  to.set(from);
  const start = process.hrtime.bigint();
  let moved = 0;
  while (seconds(start) < 0.5) {
    to.set(from);
    moved += bytes;
  }
  return moved / seconds(start);
}

function report(title: string, figures: Map<string, TypeFigures>, memcpy: number): void {
  const rows: string[][] = [['type', 'columns', 'plain', 'stored', 'plain/stored', 'choose+encode', 'decode', 'plain decode', 'decode/memcpy', 'sections (transform+codec: count)']];
  for (const [type, f] of [...figures].sort(([a], [b]) => (a === 'total' ? 1 : b === 'total' ? -1 : a.localeCompare(b)))) {
    const sections = [...f.sections].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
    rows.push([
      type,
      String(f.columns),
      mib(f.rawBytes),
      mib(f.storedBytes),
      `${(f.rawBytes / f.storedBytes).toFixed(2)}x`,
      mbps(f.rawBytes / (f.plainEncodeSeconds + f.storeSeconds)),
      mbps(f.rawBytes / f.decodeSeconds),
      mbps(f.rawBytes / f.plainDecodeSeconds),
      `${(f.rawBytes / f.decodeSeconds / memcpy).toFixed(3)}x`,
      sections,
    ]);
  }
  printTable(title, rows);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { level: { type: 'string' }, 'flights-rows': { type: 'string' }, 'recsys-rows': { type: 'string' } } });
  const level = positive('level', values.level, ZSTD_LEVEL_DEFAULT, true);
  const flightsRows = positive('flights-rows', values['flights-rows'], 262_144, true);
  const recsysRows = positive('recsys-rows', values['recsys-rows'], 8192, true);
  const machine = machineInfo();
  console.log(`Granary encodings bench: zstd level ${level}; node ${machine.node}, ${machine.cpus} x ${machine.cpuModel}`);
  const memcpy = memcpyBytesPerSecond(64 * 1024 * 1024);
  console.log(`memcpy (64 MiB, warm): ${mbps(memcpy)}`);
  const recsys = stripesOf(partitionBatches(0, recsysRows), COLUMNS);
  const flights = stripesOf(flightsBatches(flightsRows, 65_536), FLIGHTS_COLUMNS);
  // One pass to warm the JIT on every path, then the measured one.
  await measure(recsys.slice(0, 1), level);
  await measure(flights.slice(0, 1), level);
  report(`recsys: ${recsysRows} rows in ${recsys.length} stripes (best of ${PASSES} passes)`, await bestOf(recsys, level), memcpy);
  report(`flights: ${flightsRows} rows in ${flights.length} stripes (best of ${PASSES} passes)`, await bestOf(flights, level), memcpy);
}

await main();
