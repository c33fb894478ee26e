/**
 * Parquet INT96 timestamps into `timestamp` (int64 microseconds UTC), exactly (issue 16): the
 * conversion of the 12 bytes (edge cases of the day, the epoch, Spark's negative and wrapped
 * Julian forms, refusals), the footer the decoder is given, and whole files read through
 * readInput: Spark's int96_from_spark.parquet against the values its documentation lists (one is
 * past the 64-bit nanosecond range, one past Spark's own int64 Julian microseconds), Impala's
 * dictionary-encoded alltypes_dictionary.parquet and a file with nulls over several row groups
 * against DuckDB.
 */
import { openSync, closeSync, fstatSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferColumns } from '../../../client/cli/formats/infer-columns.js';
import { readInput } from '../../../client/cli/formats/input.js';
import { readParquetSchema } from '../../../client/cli/formats/parquet-input.js';
import { readFooter } from '../../../client/cli/formats/parquet/footer.js';
import { JULIAN_DAY_OF_EPOCH, NANOS_OF_DAY_MAX, int96Micros, int96ToTimestamp } from '../../../client/cli/formats/parquet/int96.js';
import { type ThriftList, type ThriftStruct, fieldOf, readThriftStruct, writeThriftStruct } from '../../../client/cli/formats/parquet/thrift-tree.js';
import { FormatError, arrowTypeOf } from '../../../client/format/index.js';

const TYPES = fileURLToPath(new URL('../../fixtures/parquet-testing-types/', import.meta.url));
const SPARK = join(TYPES, 'int96_from_spark.parquet');
const IMPALA_DICTIONARY = join(TYPES, 'alltypes_dictionary.parquet');
const MICROS_PER_DAY = 86_400_000_000n;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'granary-int96-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function int96(nanos: bigint, julianDay: number): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setBigInt64(0, nanos, true);
  view.setInt32(8, julianDay, true);
  return bytes;
}

function micros(nanos: bigint, julianDay: number): bigint {
  const bytes = int96(nanos, julianDay);
  return int96Micros(new DataView(bytes.buffer), 0, () => 'f: row 7, column t');
}

/** Spark's own writer (DateTimeUtils.toJulianDay): int64 Julian microseconds, wrapping, truncating division. */
function sparkWrites(instant: bigint): { nanos: bigint; julianDay: number } {
  const julian = BigInt.asIntN(64, instant + BigInt(JULIAN_DAY_OF_EPOCH) * MICROS_PER_DAY);
  return { julianDay: Number(julian / MICROS_PER_DAY), nanos: (julian % MICROS_PER_DAY) * 1000n };
}

describe('one INT96 value', () => {
  it('reads the epoch, days before it, the last microsecond of a day and the int64 ends', () => {
    expect(micros(0n, JULIAN_DAY_OF_EPOCH)).toBe(0n);
    expect(micros(1000n, JULIAN_DAY_OF_EPOCH)).toBe(1n);
    expect(micros(BigInt(NANOS_OF_DAY_MAX) - 999n, JULIAN_DAY_OF_EPOCH - 1)).toBe(-1n);
    expect(micros(BigInt(NANOS_OF_DAY_MAX) - 999n, JULIAN_DAY_OF_EPOCH)).toBe(MICROS_PER_DAY - 1n);
    expect(micros(0n, JULIAN_DAY_OF_EPOCH - 1)).toBe(-MICROS_PER_DAY);
    // 2024-01-01T12:34:56.123456Z, as Spark wrote it.
    expect(micros(45_296_123_456_000n, 2_460_311)).toBe(1_704_112_496_123_456n);
    for (const instant of [2n ** 63n - 1n, -(2n ** 63n), -1n, 253_402_225_200_000_000n, 9_089_380_393_200_000_000n, -210_866_803_200_000_001n]) {
      const { nanos, julianDay } = sparkWrites(instant);
      expect(micros(nanos, julianDay)).toBe(instant);
    }
  });

  it('reads the forms only Spark writes: before Julian day 0, and past its int64 Julian microseconds', () => {
    expect(micros(-1000n, 0)).toBe(-BigInt(JULIAN_DAY_OF_EPOCH) * MICROS_PER_DAY - 1n);
    // Row 5 of int96_from_spark.parquet, 290000-12-30T23:00:00Z.
    expect(micros(-32_509_551_616_000n, -105_862_232)).toBe(9_089_380_393_200_000_000n);
  });

  it('refuses nanoseconds outside the day, negative ones after Julian day 0, and a sub-microsecond', () => {
    expect(() => micros(BigInt(NANOS_OF_DAY_MAX) + 1n, JULIAN_DAY_OF_EPOCH)).toThrow(/f: row 7, column t: .*86400000000000 nanoseconds of the day, outside/);
    expect(() => micros(-1n << 62n, JULIAN_DAY_OF_EPOCH)).toThrow(FormatError);
    expect(() => micros(2n ** 63n - 1n, JULIAN_DAY_OF_EPOCH)).toThrow(FormatError);
    expect(() => micros(-1000n, 1)).toThrow(/negative only on or before Julian day 0/);
    expect(() => micros(1n, JULIAN_DAY_OF_EPOCH)).toThrow(/f: row 7, column t: INT96 timestamp .* is not a whole number of microseconds/);
    expect(() => micros(999_999n, JULIAN_DAY_OF_EPOCH)).toThrow(/not a whole number of microseconds/);
  });

  it('refuses an instant beyond int64 microseconds', () => {
    expect(() => micros(0n, 2_147_483_647)).toThrow(/f: row 7, column t: INT96 timestamp .* is beyond the timestamp range/);
    const last = sparkWrites(2n ** 63n - 1n);
    // One microsecond past int64 on either end, with the exact arithmetic.
    expect(() => micros(BigInt(NANOS_OF_DAY_MAX) - 999n, 106_751_991 + JULIAN_DAY_OF_EPOCH)).toThrow(/beyond the timestamp range/);
    expect(() => micros(0n, -2_147_483_648)).toThrow(/beyond the timestamp range/);
    expect(micros(last.nanos, last.julianDay)).toBe(2n ** 63n - 1n);
  });
});

describe('a column of INT96 bytes', () => {
  it('converts buffer to buffer, keeps nulls, honours a slice and names the row of a refusal', () => {
    const values = [int96(0n, JULIAN_DAY_OF_EPOCH), int96(0n, 0), int96(5000n, JULIAN_DAY_OF_EPOCH + 1), int96(1n, JULIAN_DAY_OF_EPOCH)];
    const bytes = new Uint8Array(48);
    values.forEach((value, i) => bytes.set(value, i * 12));
    const validity = new Uint8Array([0b1101]);
    const data = arrow.makeData({ type: new arrow.FixedSizeBinary(12), length: 4, nullCount: 1, nullBitmap: validity, data: bytes });
    const head = int96ToTimestamp(data.slice(0, 3), (i) => `row ${i}`);
    expect(String(head.type)).toBe(String(arrowTypeOf('timestamp')));
    expect(head.nullCount).toBe(1);
    const vector = arrow.makeVector(head);
    expect([0, 1, 2].map((i) => vector.isValid(i))).toEqual([true, false, true]);
    expect([(head.values as BigInt64Array)[0], (head.values as BigInt64Array)[2]]).toEqual([0n, MICROS_PER_DAY + 5n]);
    const tail = int96ToTimestamp(data.slice(2, 1), (i) => `row ${i}`);
    expect((tail.values as BigInt64Array)[0]).toBe(MICROS_PER_DAY + 5n);
    expect(() => int96ToTimestamp(data, (i) => `f: row ${100 + i}, column t`)).toThrow(/^f: row 103, column t: INT96 timestamp .*whole number of microseconds/);
  });
});

/** Every value of `column` of a `timestamp` table read from `path` through readInput, as strings. */
async function readTimestamps(path: string, column: string, batchRows: number): Promise<(string | null)[]> {
  const schema = await readParquetSchema(path);
  const columns = schema.fields.map((field) => ({ name: field.name, type: field.name === column ? ('timestamp' as const) : inferColumns(new arrow.Schema([field])).columns[0]!.type }));
  const out: (string | null)[] = [];
  for await (const batch of readInput(path, 'parquet', columns, batchRows)) {
    const vector = batch.getChild(column)!;
    expect(String(vector.type)).toBe(String(arrowTypeOf('timestamp')));
    for (const data of vector.data) {
      const values = data.values as BigInt64Array;
      for (let i = 0; i < data.length; i++) out.push(arrow.makeVector(data).isValid(i) ? String(values[i]) : null);
    }
  }
  return out;
}

async function duckdbMicros(path: string, column: string): Promise<(string | null)[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(`SELECT epoch_us("${column}")::VARCHAR AS v FROM read_parquet('${path}')`);
    return reader.getRowObjects().map((row) => (row.v === null ? null : String(row.v)));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('INT96 files through readInput', () => {
  it("reads Spark's file as its documentation lists, past the 64-bit nanosecond range too", async () => {
    const doc = await readFile(join(TYPES, 'int96_from_spark.md'), 'utf8');
    const listed = /As microseconds since the epoch, they correspond to:\n```\n([^`]+)```/.exec(doc)?.[1];
    const expected = (listed ?? '').trim().split(/,\s*/).map((value) => (value === 'null' ? null : value));
    expect(expected).toEqual(['1704141296123456', '1704070800000000', '253402225200000000', '1735599600000000', null, '9089380393200000000']);
    for (const batchRows of [1, 4, 1024]) expect(await readTimestamps(SPARK, 'a', batchRows)).toEqual(expected);
  });

  it('shows an INT96 column as a timestamp to `table create --like`, and the decoder its bytes', async () => {
    const schema = await readParquetSchema(SPARK);
    expect(inferColumns(schema).columns).toEqual([{ name: 'a', type: 'timestamp' }]);
    const fd = openSync(SPARK, 'r');
    try {
      const footer = readFooter(fd, fstatSync(fd).size, SPARK);
      expect(footer.int96Columns).toEqual([['a']]);
      const elements = (fieldOf(footer.tree, 2)?.value as ThriftList).items as ThriftStruct[];
      expect([fieldOf(elements[1]!, 1)?.value, fieldOf(elements[1]!, 2)?.value]).toEqual([7, 12]);
      const chunk = ((fieldOf((((fieldOf(footer.tree, 4)?.value as ThriftList).items[0] as ThriftStruct)), 1)?.value as ThriftList).items[0]) as ThriftStruct;
      const meta = fieldOf(chunk, 3)?.value as ThriftStruct;
      expect(fieldOf(meta, 1)?.value).toBe(7);
      const statistics = fieldOf(meta, 12)?.value as ThriftStruct | undefined;
      for (const bound of [1, 2, 5, 6]) expect(statistics === undefined ? undefined : fieldOf(statistics, bound)).toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  it("reads Impala's dictionary-encoded INT96 column as DuckDB does", async () => {
    const expected = await duckdbMicros(IMPALA_DICTIONARY, 'timestamp_col');
    expect(expected).toEqual(['1230768000000000', '1230768060000000']);
    expect(await readTimestamps(IMPALA_DICTIONARY, 'timestamp_col', 1)).toEqual(expected);
  });

  it('reads nulls over several row groups and pages as DuckDB does, and names the row group and file row of a refusal', async () => {
    const rows = 1000;
    const instants: (bigint | null)[] = Array.from({ length: rows }, (_, r) =>
      r % 7 === 3 ? null : BigInt(r - 500) * 86_399_999_999n + BigInt(r) * 1_000_003n,
    );
    const path = join(dir, 'int96-nulls.parquet');
    await writeInt96File(path, instants.map((instant) => (instant === null ? null : sparkWrites(instant))), 300);
    const expected = instants.map((instant) => (instant === null ? null : String(instant)));
    expect(await duckdbMicros(path, 't')).toEqual(expected);
    expect(await readTimestamps(path, 't', 128)).toEqual(expected);

    const bad = instants.map((instant, r) => (instant === null ? null : r === 650 ? { nanos: 1n, julianDay: JULIAN_DAY_OF_EPOCH } : sparkWrites(instant)));
    const badPath = join(dir, 'int96-sub-micro.parquet');
    await writeInt96File(badPath, bad, 300);
    await expect(readTimestamps(badPath, 't', 128)).rejects.toThrow(
      new RegExp(`^${badPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: row group 2, row 650, column t: INT96 timestamp .* not a whole number of microseconds`),
    );
  });
});

/**
 * A Parquet file of one INT96 column `t`: parquet-wasm writes the 12 bytes as
 * FIXED_LEN_BYTE_ARRAY(12) (no writer here writes INT96: DuckDB and arrow-rs do not), and the
 * footer is then declared INT96, which is what the pages hold byte for byte.
 */
async function writeInt96File(path: string, values: readonly ({ nanos: bigint; julianDay: number } | null)[], rowGroupRows: number): Promise<void> {
  const bytes = new Uint8Array(values.length * 12);
  const validity = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  values.forEach((value, i) => {
    if (value === null) {
      nulls++;
      return;
    }
    bytes.set(int96(value.nanos, value.julianDay), i * 12);
    validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
  });
  const data = arrow.makeData({ type: new arrow.FixedSizeBinary(12), length: values.length, nullCount: nulls, nullBitmap: validity, data: bytes });
  const table = new arrow.Table({ t: arrow.makeVector(data) });
  const properties = new parquet.WriterPropertiesBuilder().setMaxRowGroupSize(rowGroupRows).setDataPageSizeLimit(1024).setStatisticsEnabled(parquet.EnabledStatistics.None).build();
  const file = Buffer.from(parquet.writeParquet(parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties));
  const footerBytes = file.readUInt32LE(file.length - 8);
  const footerOffset = file.length - 8 - footerBytes;
  const tree = readThriftStruct(file.subarray(footerOffset, file.length - 8)).struct;
  const asInt96 = (struct: ThriftStruct, typeField: number, dropLength: boolean): ThriftStruct => ({
    kind: 'struct',
    fields: struct.fields.filter((field) => !(dropLength && field.id === 2)).map((field) => (field.id === typeField && field.value === 7 ? { ...field, value: 3 } : field)),
  });
  const retyped: ThriftStruct = {
    kind: 'struct',
    fields: tree.fields.map((field) => {
      if (field.id === 2) {
        const list = field.value as ThriftList;
        return { ...field, value: { ...list, items: list.items.map((element, i) => (i === 0 ? element : asInt96(element as ThriftStruct, 1, true))) } };
      }
      if (field.id !== 4) return field;
      const groups = field.value as ThriftList;
      const items = groups.items.map((group) => {
        const g = group as ThriftStruct;
        return {
          ...g,
          fields: g.fields.map((gf) => {
            if (gf.id !== 1) return gf;
            const chunks = gf.value as ThriftList;
            return {
              ...gf,
              value: {
                ...chunks,
                items: chunks.items.map((chunk) => {
                  const c = chunk as ThriftStruct;
                  return { ...c, fields: c.fields.map((cf) => (cf.id === 3 ? { ...cf, value: asInt96(cf.value as ThriftStruct, 1, false) } : cf)) };
                }),
              },
            };
          }),
        };
      });
      return { ...field, value: { ...groups, items } };
    }),
  };
  const footer = writeThriftStruct(retyped);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length, 0);
  await writeFile(path, Buffer.concat([file.subarray(0, footerOffset), footer, length, Buffer.from('PAR1')]));
}
