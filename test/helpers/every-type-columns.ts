/** One column of every type a table had before timestamp and date, for tests that round-trip all of them. */
export const EVERY_TYPE_COLUMNS = [
  { name: 'label', type: 'float' },
  { name: 'weight', type: 'double' },
  { name: 'age', type: 'int32' },
  { name: 'user_id', type: 'int64' },
  { name: 'clicked', type: 'bool' },
  { name: 'country', type: 'string' },
  { name: 'blob', type: 'bytes' },
  { name: 'ids', type: 'id_list', featureId: 2001 },
  { name: 'scored', type: 'id_score_list', featureId: 3001 },
  { name: 'embedding', type: 'float_list', featureId: 4001 },
] as const;

/** Row `i` of EVERY_TYPE_COLUMNS in the JSON Lines shapes, drawn from `rand` (no nulls: tests add their own). */
export function everyTypeRow(i: number, rand: () => number): Record<string, unknown> {
  return {
    label: Math.fround(rand()),
    weight: rand() * 1000,
    age: Math.floor(rand() * 100),
    user_id: i % 7 === 0 ? '9007199254740993' : Math.floor(rand() * 1e12),
    clicked: rand() < 0.5,
    country: ['se', 'fr', 'jp', 'ünïcödé', ''][i % 5],
    blob: Buffer.from([i & 255, (i >> 8) & 255]).toString('base64'),
    ids: Array.from({ length: Math.floor(rand() * 30) }, () => Math.floor(rand() * 1e9)),
    scored: Array.from({ length: i % 4 }, (_, j) => [j * 10 + i, Math.fround(rand())]),
    embedding: i % 3 === 0 ? [] : Array.from({ length: 8 }, () => Math.fround(rand())),
  };
}
