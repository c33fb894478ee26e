/**
 * Parquet files of the conformance corpus made at test time (never checked in):
 *
 * - one Arrow table holding a column of every type Granary takes from a file (and the narrower and
 *   unsigned types ingest widens), each four times over for the null patterns none, all,
 *   alternating and random, with the values that break readers first: int64 extremes, NaNs with
 *   payloads and signs, -0.0, subnormals, infinities, empty and multibyte strings, empty lists;
 * - that table written by parquet-wasm's writer (arrow-rs) with every compression, data page v1
 *   and v2, dictionary on and off, every encoding it offers per column type, every statistics
 *   level and tiny pages;
 * - the same table written again by DuckDB (read from a plain parquet-wasm copy) with every
 *   compression DuckDB writes, PARQUET_VERSION V1 and V2, dictionary on and off, small row groups;
 * - damaged files: truncated, a footer length or magic broken, a page header claiming more bytes
 *   than its column chunk, a bit flipped in a data page of a file with page CRCs.
 *
 * Values come from a seeded generator: every run writes the same files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { writeParquetFile } from '../../bench/parquet-file.js';
import { seededRandom } from './seeded-random.js';

export const CORPUS_ROWS = 600;
const SEED = 16_2026;

const NULL_PATTERNS = ['none', 'all', 'alt', 'rand'] as const;
type NullPattern = (typeof NULL_PATTERNS)[number];

// ---------------------------------------------------------------- values

const F32_SPECIALS = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fc12345, 0xff812345, 0x80000000, 0x00000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7f7fffff, 0x00800000, 0xff7fffff];
const F64_SPECIALS = [
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff0000000000001n, 0x7ff8deadbeef0001n, 0xfff0000000000123n, 0x8000000000000000n, 0n, 1n,
  0x800fffffffffffffn, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7fefffffffffffffn, 0x0010000000000000n, 0xffefffffffffffffn,
];
const F16_SPECIALS = [0x7e00, 0xfe00, 0x7c01, 0xfd23, 0x8000, 0x0000, 0x0001, 0x83ff, 0x7c00, 0xfc00, 0x7bff, 0xfbff, 0x0400];
const INT64_SPECIALS = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 1n];
const STRING_SPECIALS = ['', 'a', 'é', '日本語', '🙂 emoji', 'ascii and ü', 'x'.repeat(300), '\u0000nul inside', 'tab\tnew\nline'];
const ALPHABET = ['a', 'b', 'z', ' ', 'é', 'ß', 'Ж', '日', '本', '🙂', '€', '_', '0'];

class Values {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom(seed);
  }

  u32(): number {
    return Math.floor(this.next() * 2 ** 32) >>> 0;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bigint(bits: number): bigint {
    let value = 0n;
    for (let b = 0; b < bits; b += 32) value = (value << 32n) | BigInt(this.u32());
    return BigInt.asIntN(bits, value);
  }

  bool(): boolean {
    return this.next() < 0.5;
  }

  string(): string {
    const length = this.int(0, 12);
    let text = '';
    for (let i = 0; i < length; i++) text += ALPHABET[this.int(0, ALPHABET.length - 1)];
    return text;
  }

  bytes(length = this.int(0, 16)): Uint8Array {
    return Uint8Array.from({ length }, () => this.int(0, 255));
  }
}

/** Row r of a column of `pattern`: null or not. */
function isNull(pattern: NullPattern, row: number, coin: boolean): boolean {
  return pattern === 'all' || (pattern === 'alt' && row % 2 === 0) || (pattern === 'rand' && coin);
}

function validity(pattern: NullPattern, coins: readonly boolean[]): { readonly bitmap: Uint8Array; readonly nulls: number } {
  const bitmap = new Uint8Array(Math.ceil(coins.length / 8));
  let nulls = 0;
  coins.forEach((coin, row) => {
    if (isNull(pattern, row, coin)) nulls++;
    else bitmap[row >> 3] = (bitmap[row >> 3] as number) | (1 << (row & 7));
  });
  return { bitmap, nulls };
}

/** A fixed-width column from raw values and a null pattern (floats keep their bits). */
function fixedData<T extends arrow.DataType>(type: T, values: ArrayBufferView, pattern: NullPattern, coins: readonly boolean[]): arrow.Data<T> {
  const { bitmap, nulls } = validity(pattern, coins);
  return arrow.makeData({ type, length: coins.length, nullCount: nulls, nullBitmap: bitmap, data: values } as never) as arrow.Data<T>;
}

/** A column from JS values (null where the pattern says). */
function valuesData(type: arrow.DataType, values: readonly unknown[], pattern: NullPattern, coins: readonly boolean[]): arrow.Data {
  const withNulls = values.map((value, row) => (isNull(pattern, row, coins[row] as boolean) ? null : value));
  return arrow.vectorFromArray(withNulls, type).data[0] as arrow.Data;
}

/** The raw little-endian words of `bits` values: the given specials first, then random bits. */
function floatBits32(values: Values, rows: number): Float32Array {
  const words = Uint32Array.from({ length: rows }, (_, r) => F32_SPECIALS[r] ?? (r % 3 === 0 ? values.u32() : 0));
  const floats = new Float32Array(words.buffer);
  // Two rows in three are ordinary numbers, written through a Float32Array (no NaN among them).
  for (let r = F32_SPECIALS.length; r < rows; r++) if (r % 3 !== 0) floats[r] = (values.int(-1e6, 1e6) / 7) * 10 ** values.int(-20, 20);
  return floats;
}

function floatBits64(values: Values, rows: number): Float64Array {
  const words = BigUint64Array.from({ length: rows }, (_, r) => F64_SPECIALS[r] ?? (r % 3 === 0 ? BigInt.asUintN(64, values.bigint(64)) : 0n));
  const floats = new Float64Array(words.buffer);
  for (let r = F64_SPECIALS.length; r < rows; r++) if (r % 3 !== 0) floats[r] = (values.int(-1e9, 1e9) / 7) * 10 ** values.int(-200, 200);
  return floats;
}

function decimalWords(unscaled: readonly bigint[]): Uint32Array {
  const words = new Uint32Array(unscaled.length * 4);
  unscaled.forEach((value, r) => {
    const wide = BigInt.asUintN(128, value);
    for (let w = 0; w < 4; w++) words[4 * r + w] = Number((wide >> BigInt(32 * w)) & 0xffffffffn);
  });
  return words;
}

const field = (name: string, type: arrow.DataType, nullable = true): arrow.Field => new arrow.Field(name, type, nullable);
const listType = (type: arrow.DataType): arrow.List => new arrow.List(field('item', type));
const pairType = new arrow.Struct([field('id', new arrow.Int64()), field('score', new arrow.Float32())]);

/** One column of the corpus table: its type and how to make its data for a null pattern. */
interface ColumnMaker {
  readonly name: string;
  readonly make: (pattern: NullPattern, coins: readonly boolean[]) => arrow.Data;
}

function columnMakers(rows: number): ColumnMaker[] {
  const values = new Values(SEED);
  const i64 = Array.from({ length: rows }, (_, r) => INT64_SPECIALS[r] ?? values.bigint(64));
  const small = (bits: number, signed: boolean): number[] => {
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    return Array.from({ length: rows }, (_, r) => (r === 0 ? min : r === 1 ? max : values.int(min, max)));
  };
  const f16 = Uint16Array.from({ length: rows }, (_, r) => F16_SPECIALS[r] ?? values.int(0, 0xffff));
  const f32 = floatBits32(values, rows);
  const f64 = floatBits64(values, rows);
  const strings = Array.from({ length: rows }, (_, r) => STRING_SPECIALS[r] ?? values.string());
  const blobs = Array.from({ length: rows }, (_, r) => (r === 0 ? new Uint8Array(0) : values.bytes()));
  const fixed = Array.from({ length: rows }, () => values.bytes(6));
  const bools = Array.from({ length: rows }, () => values.bool());
  const idLists = Array.from({ length: rows }, (_, r) => (r === 0 ? [] : Array.from({ length: values.int(0, 5) }, () => (values.int(0, 9) === 0 ? (INT64_SPECIALS[values.int(0, 1)] as bigint) : values.bigint(64)))));
  const id32Lists = Array.from({ length: rows }, (_, r) => (r === 0 ? [] : Array.from({ length: values.int(0, 5) }, () => values.int(-(2 ** 31), 2 ** 31 - 1))));
  const floatLists = Array.from({ length: rows }, (_, r) => (r === 0 ? [] : Array.from({ length: values.int(0, 4) }, () => values.int(0, F32_SPECIALS.length * 2))));
  const pairLists = Array.from({ length: rows }, (_, r) => (r === 0 ? [] : Array.from({ length: values.int(0, 3) }, () => [values.bigint(64), values.int(0, F32_SPECIALS.length * 2)] as const)));
  const tagLists = Array.from({ length: rows }, (_, r) => (r === 0 ? [] : Array.from({ length: values.int(0, 3) }, () => values.string())));
  // Within +-190 years of 1970, so every unit down to nanoseconds holds them.
  const micros = Array.from({ length: rows }, (_, r) => (r === 0 ? 0n : BigInt(values.int(-6e9, 6e9)) * 1_000_000n + BigInt(values.int(0, 999_999))));
  const days = Array.from({ length: rows }, (_, r) => (r === 0 ? 0 : r === 1 ? -719_162 : values.int(-100_000, 2_900_000)));
  const decimal = (precision: number): bigint[] => {
    const max = 10n ** BigInt(precision) - 1n;
    return Array.from({ length: rows }, (_, r) => (r === 0 ? max : r === 1 ? -max : BigInt.asIntN(128, values.bigint(128)) % (max + 1n)));
  };
  const dec38 = decimal(38);
  const dec18 = decimal(18);
  const dec9 = decimal(9);

  // Lists of floats carry their specials as bits too: built from a Float32Array child.
  const floatListData = (pattern: NullPattern, coins: readonly boolean[]): arrow.Data => {
    const { bitmap, nulls } = validity(pattern, coins);
    const offsets = new Int32Array(rows + 1);
    const words: number[] = [];
    floatLists.forEach((list, r) => {
      if (!isNull(pattern, r, coins[r] as boolean)) for (const k of list) words.push(F32_SPECIALS[k] ?? 0x3fc00000 + k);
      offsets[r + 1] = words.length;
    });
    const child = arrow.makeData({ type: new arrow.Float32(), length: words.length, nullCount: 0, data: new Float32Array(Uint32Array.from(words).buffer) });
    return arrow.makeData({ type: listType(new arrow.Float32()), length: rows, nullCount: nulls, nullBitmap: bitmap, valueOffsets: offsets, child });
  };
  const pairListData = (pattern: NullPattern, coins: readonly boolean[]): arrow.Data => {
    const { bitmap, nulls } = validity(pattern, coins);
    const offsets = new Int32Array(rows + 1);
    const ids: bigint[] = [];
    const scores: number[] = [];
    pairLists.forEach((list, r) => {
      if (!isNull(pattern, r, coins[r] as boolean)) {
        for (const [id, k] of list) {
          ids.push(id);
          scores.push(F32_SPECIALS[k] ?? 0x3f000000 + k);
        }
      }
      offsets[r + 1] = ids.length;
    });
    const idData = arrow.makeData({ type: new arrow.Int64(), length: ids.length, nullCount: 0, data: BigInt64Array.from(ids) });
    const scoreData = arrow.makeData({ type: new arrow.Float32(), length: scores.length, nullCount: 0, data: new Float32Array(Uint32Array.from(scores).buffer) });
    const struct = arrow.makeData({ type: pairType, length: ids.length, nullCount: 0, children: [idData, scoreData] });
    return arrow.makeData({ type: listType(pairType), length: rows, nullCount: nulls, nullBitmap: bitmap, valueOffsets: offsets, child: struct });
  };

  return [
    { name: 'i8', make: (p, c) => valuesData(new arrow.Int8(), small(8, true), p, c) },
    { name: 'i16', make: (p, c) => valuesData(new arrow.Int16(), small(16, true), p, c) },
    { name: 'i32', make: (p, c) => valuesData(new arrow.Int32(), small(32, true), p, c) },
    { name: 'i64', make: (p, c) => fixedData(new arrow.Int64(), BigInt64Array.from(i64), p, c) },
    { name: 'u8', make: (p, c) => valuesData(new arrow.Uint8(), small(8, false), p, c) },
    { name: 'u16', make: (p, c) => valuesData(new arrow.Uint16(), small(16, false), p, c) },
    { name: 'u32', make: (p, c) => valuesData(new arrow.Uint32(), small(32, false), p, c) },
    // Unsigned 64-bit values an int64 holds (the ones beyond it are a refusal case of their own).
    { name: 'u64', make: (p, c) => fixedData(new arrow.Uint64(), BigUint64Array.from(i64, (v) => BigInt.asUintN(63, v)), p, c) },
    { name: 'f16', make: (p, c) => fixedData(new arrow.Float16(), f16, p, c) },
    { name: 'f32', make: (p, c) => fixedData(new arrow.Float32(), f32, p, c) },
    { name: 'f64', make: (p, c) => fixedData(new arrow.Float64(), f64, p, c) },
    { name: 'flag', make: (p, c) => valuesData(new arrow.Bool(), bools, p, c) },
    { name: 'text', make: (p, c) => valuesData(new arrow.Utf8(), strings, p, c) },
    { name: 'large_text', make: (p, c) => valuesData(new arrow.LargeUtf8(), strings, p, c) },
    { name: 'dict_text', make: (p, c) => valuesData(new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), strings.map((s, r) => (r % 5 === 0 ? s : STRING_SPECIALS[r % 4])), p, c) },
    { name: 'blob', make: (p, c) => valuesData(new arrow.Binary(), blobs, p, c) },
    { name: 'fixed_blob', make: (p, c) => valuesData(new arrow.FixedSizeBinary(6), fixed, p, c) },
    { name: 'ids', make: (p, c) => valuesData(listType(new arrow.Int64()), idLists, p, c) },
    { name: 'ids32', make: (p, c) => valuesData(listType(new arrow.Int32()), id32Lists, p, c) },
    { name: 'floats', make: floatListData },
    { name: 'pairs', make: pairListData },
    { name: 'tags', make: (p, c) => valuesData(listType(new arrow.Utf8()), tagLists, p, c) },
    { name: 'ts_s', make: (p, c) => fixedData(new arrow.TimestampSecond(), BigInt64Array.from(micros, (m) => m / 1_000_000n), p, c) },
    { name: 'ts_ms', make: (p, c) => fixedData(new arrow.TimestampMillisecond(), BigInt64Array.from(micros, (m) => m / 1000n), p, c) },
    { name: 'ts_us', make: (p, c) => fixedData(new arrow.TimestampMicrosecond('UTC'), BigInt64Array.from(micros), p, c) },
    { name: 'ts_ns', make: (p, c) => fixedData(new arrow.TimestampNanosecond(), BigInt64Array.from(micros, (m) => m * 1000n), p, c) },
    { name: 'day', make: (p, c) => fixedData(new arrow.DateDay(), Int32Array.from(days), p, c) },
    { name: 'day_ms', make: (p, c) => fixedData(new arrow.DateMillisecond(), BigInt64Array.from(days, (d) => BigInt(d) * 86_400_000n), p, c) },
    { name: 'dec38', make: (p, c) => fixedData(new arrow.Decimal(10, 38, 128), decimalWords(dec38), p, c) },
    { name: 'dec18', make: (p, c) => fixedData(new arrow.Decimal(4, 18, 128), decimalWords(dec18), p, c) },
    { name: 'dec9', make: (p, c) => fixedData(new arrow.Decimal(2, 9, 128), decimalWords(dec9), p, c) },
  ];
}

/** The corpus table: every maker's column once per null pattern, `name_pattern`. */
export function corpusTable(rows = CORPUS_ROWS): arrow.Table {
  const coinSource = new Values(SEED + 1);
  const coins = Array.from({ length: rows }, () => coinSource.int(0, 2) === 0);
  const fields: arrow.Field[] = [];
  const children: arrow.Data[] = [];
  for (const maker of columnMakers(rows)) {
    for (const pattern of NULL_PATTERNS) {
      const data = maker.make(pattern, coins);
      fields.push(field(`${maker.name}_${pattern}`, data.type));
      children.push(data);
    }
  }
  const schema = new arrow.Schema(fields);
  const struct = arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children });
  return new arrow.Table(schema, new arrow.RecordBatch(schema, struct));
}

// ---------------------------------------------------------------- parquet-wasm

/** One way parquet-wasm's writer is set up, and the file name that says it. */
interface WasmVariant {
  readonly name: string;
  readonly build: (builder: parquet.WriterPropertiesBuilder, table: arrow.Table) => parquet.WriterPropertiesBuilder;
}

const COMPRESSIONS: readonly (readonly [string, parquet.Compression])[] = [
  ['uncompressed', parquet.Compression.UNCOMPRESSED],
  ['snappy', parquet.Compression.SNAPPY],
  ['gzip', parquet.Compression.GZIP],
  ['brotli', parquet.Compression.BROTLI],
  ['lz4', parquet.Compression.LZ4],
  ['zstd', parquet.Compression.ZSTD],
  ['lz4_raw', parquet.Compression.LZ4_RAW],
];
const VERSIONS: readonly (readonly [string, parquet.WriterVersion])[] = [
  ['v1', parquet.WriterVersion.V1],
  ['v2', parquet.WriterVersion.V2],
];

/**
 * Encodings by the Parquet physical type a column's values have (what arrow-rs accepts for it:
 * another combination makes its writer trap); `second` picks the alternative.
 */
function encodingOf(type: arrow.DataType, second: boolean): parquet.Encoding | undefined {
  const integers = second ? parquet.Encoding.BYTE_STREAM_SPLIT : parquet.Encoding.DELTA_BINARY_PACKED;
  const fixedBytes = second ? parquet.Encoding.BYTE_STREAM_SPLIT : parquet.Encoding.DELTA_BYTE_ARRAY;
  if (arrow.DataType.isInt(type) || arrow.DataType.isTimestamp(type) || arrow.DataType.isDate(type)) return integers;
  // Decimals of up to 18 digits are INT32 / INT64 in Parquet, wider ones FIXED_LEN_BYTE_ARRAY.
  if (arrow.DataType.isDecimal(type)) return type.precision <= 18 ? integers : fixedBytes;
  if (arrow.DataType.isFloat(type)) return type.precision === arrow.Precision.HALF ? fixedBytes : parquet.Encoding.BYTE_STREAM_SPLIT;
  if (arrow.DataType.isBool(type)) return parquet.Encoding.RLE;
  if (arrow.DataType.isFixedSizeBinary(type)) return fixedBytes;
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type) || arrow.DataType.isBinary(type) || arrow.DataType.isDictionary(type)) {
    return second ? parquet.Encoding.DELTA_LENGTH_BYTE_ARRAY : parquet.Encoding.DELTA_BYTE_ARRAY;
  }
  return undefined;
}

function withEncodings(second: boolean): WasmVariant['build'] {
  return (builder, table) => {
    let b = builder.setDictionaryEnabled(false);
    for (const f of table.schema.fields) {
      const encoding = encodingOf(f.type, second);
      if (encoding !== undefined) b = b.setColumnEncoding(f.name, encoding);
    }
    return b;
  };
}

function wasmVariants(): WasmVariant[] {
  const variants: WasmVariant[] = [];
  for (const [compression, value] of COMPRESSIONS) {
    for (const [version, writer] of VERSIONS) {
      variants.push({ name: `${compression}-${version}-dict`, build: (b) => b.setCompression(value).setWriterVersion(writer) });
    }
  }
  for (const [version, writer] of VERSIONS) {
    variants.push({ name: `plain-${version}`, build: (b) => b.setWriterVersion(writer).setDictionaryEnabled(false).setEncoding(parquet.Encoding.PLAIN) });
    variants.push({ name: `encodings-a-${version}`, build: (b, t) => withEncodings(false)(b.setWriterVersion(writer).setCompression(parquet.Compression.SNAPPY), t) });
    variants.push({ name: `encodings-b-${version}`, build: (b, t) => withEncodings(true)(b.setWriterVersion(writer).setCompression(parquet.Compression.ZSTD), t) });
  }
  const statistics: readonly (readonly [string, parquet.EnabledStatistics])[] = [
    ['none', parquet.EnabledStatistics.None],
    ['chunk', parquet.EnabledStatistics.Chunk],
    ['page', parquet.EnabledStatistics.Page],
  ];
  for (const [name, level] of statistics) variants.push({ name: `stats-${name}`, build: (b) => b.setStatisticsEnabled(level).setCompression(parquet.Compression.ZSTD) });
  variants.push({ name: 'tiny-pages', build: (b) => b.setDataPageSizeLimit(64).setWriteBatchSize(16).setDictionaryPageSizeLimit(64) });
  return variants;
}

function* batchesOf(table: arrow.Table): Iterator<arrow.RecordBatch> {
  yield* table.batches;
}

/** Writes `table` once per parquet-wasm writer variant into `dir`; the file paths, in a fixed order. */
export async function writeWasmFiles(dir: string, table: arrow.Table, rowGroupRows = 256): Promise<string[]> {
  const files: string[] = [];
  for (const variant of wasmVariants()) {
    const path = join(dir, `wasm-${variant.name}.parquet`);
    const builder = variant.build(new parquet.WriterPropertiesBuilder().setMaxRowGroupSize(rowGroupRows).setCreatedBy('granary conformance corpus'), table);
    await writeParquetFile(path, batchesOf(table), builder.build());
    files.push(path);
  }
  return files;
}

// ---------------------------------------------------------------- DuckDB

const DUCKDB_COMPRESSIONS = ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4', 'brotli'] as const;

/**
 * The corpus table written by DuckDB: read from a plain parquet-wasm file, written with every
 * compression x PARQUET_VERSION (dictionary as DuckDB chooses), and without dictionaries, in row
 * groups of `rowGroupRows`.
 */
export async function writeDuckdbFiles(dir: string, table: arrow.Table, rowGroupRows = 200): Promise<string[]> {
  const seed = join(dir, 'duckdb-seed.parquet');
  const plain = new parquet.WriterPropertiesBuilder().setDictionaryEnabled(false).setCompression(parquet.Compression.UNCOMPRESSED).build();
  await writeParquetFile(seed, batchesOf(table), plain);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const files: string[] = [];
  try {
    const write = async (name: string, options: string): Promise<void> => {
      const path = join(dir, `duckdb-${name}.parquet`);
      await connection.run(`COPY (SELECT * FROM read_parquet('${seed}')) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupRows}, ${options})`);
      files.push(path);
    };
    for (const compression of DUCKDB_COMPRESSIONS) {
      for (const version of ['V1', 'V2']) await write(`${compression}-${version.toLowerCase()}`, `COMPRESSION ${compression}, PARQUET_VERSION ${version}`);
    }
    for (const version of ['V1', 'V2']) await write(`zstd-${version.toLowerCase()}-nodict`, `COMPRESSION zstd, PARQUET_VERSION ${version}, DICTIONARY_SIZE_LIMIT 0`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return files;
}

// ---------------------------------------------------------------- damaged files

/** A small intact file the damaged ones are made from: no dictionary, no compression, four row groups. */
export async function writeDamageBase(path: string): Promise<void> {
  const values = new Values(SEED + 2);
  const rows = 2000;
  const ids = BigInt64Array.from({ length: rows }, (_, r) => BigInt(r) * 1_000_003n);
  const xs = Float64Array.from({ length: rows }, () => values.int(-1e6, 1e6) / 8);
  const text = arrow.vectorFromArray(Array.from({ length: rows }, () => values.string()), new arrow.Utf8());
  const table = new arrow.Table({ id: arrow.makeVector(ids), x: arrow.makeVector(xs), s: text });
  const properties = new parquet.WriterPropertiesBuilder().setDictionaryEnabled(false).setCompression(parquet.Compression.UNCOMPRESSED).setMaxRowGroupSize(500).build();
  await writeParquetFile(path, batchesOf(table), properties);
}

/** Where the first data page of the first column chunk starts (from DuckDB's reading of the footer). */
async function firstDataPage(path: string): Promise<{ readonly offset: number; readonly chunkBytes: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll(`SELECT data_page_offset, total_compressed_size FROM parquet_metadata('${path}') WHERE row_group_id = 0 AND column_id = 0`)).getRows();
    const [offset, bytes] = rows[0] as [bigint, bigint];
    return { offset: Number(offset), chunkBytes: Number(bytes) };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Reads an unsigned varint at `at`: its value and length in bytes. */
function readVarint(bytes: Uint8Array, at: number): { readonly value: number; readonly length: number } {
  let value = 0;
  let length = 0;
  for (;;) {
    const byte = bytes[at + length] as number;
    value += (byte & 0x7f) * 2 ** (7 * length);
    length++;
    if ((byte & 0x80) === 0) return { value, length };
  }
}

/**
 * A PageHeader (Thrift compact protocol) whose compressed_page_size (field 3, after type and
 * uncompressed_page_size, all i32) is set to the largest value its varint's length holds: the page
 * then claims more bytes than its column chunk has. The length stays the same, so nothing moves.
 */
function inflatePageSize(bytes: Uint8Array, headerAt: number, chunkBytes: number): void {
  let at = headerAt;
  for (let fieldNumber = 1; fieldNumber <= 3; fieldNumber++) {
    if (bytes[at] !== 0x15) throw new Error(`the page header at ${headerAt} does not start with i32 fields 1, 2, 3`);
    at++;
    const varint = readVarint(bytes, at);
    if (fieldNumber === 3) {
      const claimed = 2 ** (7 * varint.length - 1) - 1;
      if (claimed <= chunkBytes) throw new Error(`a ${varint.length}-byte size cannot claim more than the ${chunkBytes}-byte chunk`);
      let zigzag = claimed * 2;
      for (let i = 0; i < varint.length; i++) {
        bytes[at + i] = (zigzag & 0x7f) | (i < varint.length - 1 ? 0x80 : 0);
        zigzag = Math.floor(zigzag / 128);
      }
      return;
    }
    at += varint.length;
  }
}

/** One hand-damaged file: its name and how it is made from the base bytes. */
export interface DamagedFile {
  readonly name: string;
  readonly path: string;
}

/**
 * The damaged files: from `base` (writeDamageBase) and from `checksummed`, a file whose pages carry
 * CRCs (a bit flipped in the middle of its first data page's values).
 */
export async function writeDamagedFiles(dir: string, base: string, checksummed: string): Promise<DamagedFile[]> {
  const bytes = new Uint8Array(await readFile(base));
  const made: DamagedFile[] = [];
  const write = async (name: string, content: Uint8Array): Promise<void> => {
    const path = join(dir, `damaged-${name}.parquet`);
    await writeFile(path, content);
    made.push({ name, path });
  };
  const copy = (): Uint8Array => bytes.slice();
  await write('truncated-half', bytes.slice(0, Math.floor(bytes.length / 2)));
  await write('truncated-tail', bytes.slice(0, bytes.length - 3));
  const footerTooLong = copy();
  new DataView(footerTooLong.buffer).setUint32(footerTooLong.length - 8, 0x7fffffff, true);
  await write('footer-length-huge', footerTooLong);
  const footerTooShort = copy();
  new DataView(footerTooShort.buffer).setUint32(footerTooShort.length - 8, 12, true);
  await write('footer-length-short', footerTooShort);
  const endMagic = copy();
  endMagic[endMagic.length - 1] = 0x32;
  await write('magic-end', endMagic);
  const startMagic = copy();
  startMagic[3] = 0x32;
  await write('magic-start', startMagic);
  const page = await firstDataPage(base);
  const inflated = copy();
  inflatePageSize(inflated, page.offset, page.chunkBytes);
  await write('page-size-beyond-chunk', inflated);
  await write('empty', new Uint8Array(0));
  await write('not-parquet', new TextEncoder().encode('{"id": 1}\n{"id": 2}\n'));

  const crcBytes = new Uint8Array(await readFile(checksummed));
  const crcPage = await firstDataPage(checksummed);
  // Past the page header (a few dozen bytes), inside the values of the first page.
  const flipAt = crcPage.offset + Math.min(64, Math.floor(crcPage.chunkBytes / 2));
  crcBytes[flipAt] = (crcBytes[flipAt] as number) ^ 0x10;
  await write('crc-bit-flip', crcBytes);
  return made;
}
