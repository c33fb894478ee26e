/** Arrow record batches and map columns for the ingest-shaping tests (shape-*.test.ts). */
import * as arrow from 'apache-arrow';

/** A record batch of single-chunk vectors, under their names, every field nullable. */
export function batchOf(columns: Readonly<Record<string, arrow.Vector>>): arrow.RecordBatch {
  const entries = Object.entries(columns);
  const fields = entries.map(([name, vector]) => new arrow.Field(name, vector.type as arrow.DataType, true));
  const children = entries.map(([name, vector]) => {
    if (vector.data.length !== 1) throw new Error(`column ${name}: ${vector.data.length} chunks, one expected`);
    return vector.data[0] as arrow.Data;
  });
  const length = children[0]?.length ?? 0;
  return new arrow.RecordBatch(new arrow.Schema(fields), arrow.makeData({ type: new arrow.Struct(fields), length, nullCount: 0, children }));
}

/** Arrow `Map<key, value>`. */
export function mapType(key: arrow.DataType, value: arrow.DataType): arrow.Map_ {
  const entries = new arrow.Struct([new arrow.Field('key', key, false), new arrow.Field('value', value, true)]);
  return new arrow.Map_(new arrow.Field('entries', entries, false), false);
}

/** A map column: each row a JS Map (keys as the key type takes them) or null. */
export function mapVector<K, V>(rows: readonly (ReadonlyMap<K, V> | null)[], key: arrow.DataType, value: arrow.DataType): arrow.Vector {
  return arrow.vectorFromArray(rows as unknown[], mapType(key, value) as arrow.DataType);
}
