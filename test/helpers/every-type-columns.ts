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
