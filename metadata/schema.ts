/**
 * Validation of table specs and schema changes. Pure: answers a new record or a GRN_BAD_REQUEST
 * that says exactly what to fix, so a rejected request changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { SHARD_BYTES_MAX, parsePolicy } from '../erasure/index.js';
import {
  type ColumnInfo,
  type ColumnType,
  type ColumnSpec,
  GranaryError,
  NAME_PATTERN,
  COMPRESSION_LEVEL_RANGE,
  TABLE_DEFAULTS,
  TABLE_ENCODINGS,
  readColumnType,
  type TableAlteration,
  type TableEncoding,
  type TableInfo,
  type TableSpec,
} from '../protocol/index.js';
import type { ColumnRecord, TableRecord } from './records.js';

export const COLUMNS_MAX = 100_000;
const BLOCK_BYTES_RANGE = [1024 * 1024, 1024 * 1024 * 1024] as const;
const STRIPE_ROWS_RANGE = [1, 10_000_000] as const;
const STRIPE_BYTES_RANGE = [64 * 1024, 1024 * 1024 * 1024] as const;

function bad(message: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', message);
}

export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw bad(`${kind} name ${JSON.stringify(name)} must match [a-z_][a-z0-9_]{0,127} (lowercase letters, digits, _; not starting with a digit)`);
  }
  return name;
}

/** Checks a column spec; answers its type in canonical form (`DECIMAL(12, 2)` is stored as `decimal(12,2)`). */
function checkColumn(spec: ColumnSpec): ColumnType {
  checkName('column', spec.name);
  const type = typeof spec.type === 'string' ? readColumnType(spec.type) : undefined;
  if (type === undefined || !type.ok) {
    throw bad(`column ${spec.name}: ${type?.reason ?? `type must be a string, got ${JSON.stringify(spec.type)}`}`);
  }
  if (spec.featureId !== undefined && (!Number.isSafeInteger(spec.featureId) || spec.featureId < 0)) {
    throw bad(`column ${spec.name}: featureId must be a non-negative integer, got ${JSON.stringify(spec.featureId)}`);
  }
  return type.type;
}

function inRange(what: string, value: number | undefined, fallback: number, [min, max]: readonly [number, number]): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < min || chosen > max) throw bad(`${what} must be an integer in ${min}..${max}, got ${chosen}`);
  return chosen;
}

function checkEncoding(value: unknown): TableEncoding {
  if (!(TABLE_ENCODINGS as readonly unknown[]).includes(value)) throw bad(`encoding must be one of ${TABLE_ENCODINGS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as TableEncoding;
}

/** The stream settings of a new table, or of an altered one (only those given change). */
function streamSettings(given: { encoding?: TableEncoding; compressionLevel?: number }, current: Pick<TableRecord, 'encoding' | 'compressionLevel'>): Pick<TableRecord, 'encoding' | 'compressionLevel'> {
  return {
    encoding: checkEncoding(given.encoding ?? current.encoding ?? TABLE_DEFAULTS.encoding),
    compressionLevel: inRange('compressionLevel', given.compressionLevel ?? current.compressionLevel, TABLE_DEFAULTS.compressionLevel, COMPRESSION_LEVEL_RANGE),
  };
}

export function parseRetentionDays(text: string | undefined): number | null {
  if (text === undefined) return null;
  const match = /^(\d{1,5})d$/.exec(text);
  if (match === null || Number(match[1]) < 1) throw bad(`retention must look like "90d" (days, at least 1), got ${JSON.stringify(text)}`);
  return Number(match[1]);
}

/** Builds a new table record from a spec, or explains what is wrong with it. */
export function newTableRecord(spec: TableSpec, now: number): TableRecord {
  const name = checkName('table', spec.name);
  if (!Array.isArray(spec.columns) || spec.columns.length === 0) throw bad(`table ${name} needs at least one column`);
  if (spec.columns.length > COLUMNS_MAX) throw bad(`table ${name} has ${spec.columns.length} columns; the limit is ${COLUMNS_MAX}`);
  const seen = new Set<string>();
  const featureIds = new Map<number, string>();
  const types: ColumnType[] = [];
  for (const column of spec.columns) {
    types.push(checkColumn(column));
    if (seen.has(column.name)) throw bad(`column ${column.name} is declared twice`);
    seen.add(column.name);
    if (column.featureId !== undefined) {
      const other = featureIds.get(column.featureId);
      if (other !== undefined) throw bad(`columns ${other} and ${column.name} share featureId ${column.featureId}`);
      featureIds.set(column.featureId, column.name);
    }
  }
  const partitionBy = spec.partitionBy ?? TABLE_DEFAULTS.partitionBy;
  if (!Array.isArray(partitionBy) || partitionBy.length === 0 || partitionBy.length > 8) {
    throw bad('partitionBy must list 1 to 8 partition keys, e.g. ["ds"]');
  }
  const keys = new Set<string>();
  for (const key of partitionBy) {
    checkName('partition key', key);
    if (keys.has(key)) throw bad(`partition key ${key} is listed twice`);
    if (seen.has(key)) throw bad(`partition key ${key} is also a column; partition values are not stored as columns, rename one`);
    keys.add(key);
  }
  let policy;
  try {
    policy = parsePolicy(spec.ec ?? TABLE_DEFAULTS.ec);
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (policy.parityShards === 0 && policy.dataShards > 1) {
    throw bad(`erasure policy ${spec.ec}: with no parity shards a single lost node loses data; use at least 1 parity shard (or 1+0 for a one-node test cluster)`);
  }
  const blockBytes = inRange('blockBytes', spec.blockBytes, TABLE_DEFAULTS.blockBytes, BLOCK_BYTES_RANGE);
  const shardBytes = Math.ceil(blockBytes / policy.dataShards);
  if (shardBytes > SHARD_BYTES_MAX) {
    throw bad(`blockBytes ${blockBytes} under RS ${policy.dataShards}+${policy.parityShards} makes ${shardBytes}-byte shards; the maximum is ${SHARD_BYTES_MAX}: use smaller blocks or more data shards`);
  }
  return {
    id: `t${randomBytes(8).toString('hex')}`,
    name,
    columns: spec.columns.map((column, cid) => ({
      cid,
      name: column.name,
      type: types[cid] as ColumnType,
      ...(column.featureId === undefined ? {} : { featureId: column.featureId }),
      addedInVersion: 1,
    })),
    nextCid: spec.columns.length,
    partitionBy: [...partitionBy],
    dataShards: policy.dataShards,
    parityShards: policy.parityShards,
    blockBytes,
    stripeRows: inRange('stripeRows', spec.stripeRows, TABLE_DEFAULTS.stripeRows, STRIPE_ROWS_RANGE),
    stripeBytes: inRange('stripeBytes', spec.stripeBytes, TABLE_DEFAULTS.stripeBytes, STRIPE_BYTES_RANGE),
    retentionDays: parseRetentionDays(spec.retention),
    ...streamSettings(spec, {}),
    schemaVersion: 1,
    createdAt: now,
  };
}

export function visibleColumns(table: TableRecord): ColumnRecord[] {
  return table.columns.filter((column) => column.droppedInVersion === undefined);
}

/** Applies additions and drops as one new schema version. */
export function alterTable(table: TableRecord, change: TableAlteration): TableRecord {
  const adds = change.addColumns ?? [];
  const drops = change.dropColumns ?? [];
  const settingsChange = change.encoding !== undefined || change.compressionLevel !== undefined;
  if (adds.length === 0 && drops.length === 0) {
    if (!settingsChange) throw bad('nothing to change: give addColumns, dropColumns, encoding and/or compressionLevel');
    // Settings alone are no new schema: readers of older versions are unaffected.
    return { ...table, ...streamSettings(change, table) };
  }
  const version = table.schemaVersion + 1;
  const visible = new Map(visibleColumns(table).map((column) => [column.name, column]));
  const columns: ColumnRecord[] = [...table.columns];
  for (const name of drops) {
    const column = visible.get(name);
    if (column === undefined) throw bad(`cannot drop column ${name}: table ${table.name} has no such column`);
    visible.delete(name);
    columns[columns.findIndex((c) => c.cid === column.cid)] = { ...column, droppedInVersion: version };
  }
  if (visible.size === 0 && adds.length === 0) throw bad(`cannot drop every column of table ${table.name}`);
  const featureIds = new Map([...visible.values()].flatMap((c) => (c.featureId === undefined ? [] : [[c.featureId, c.name] as const])));
  let nextCid = table.nextCid;
  for (const spec of adds) {
    const type = checkColumn(spec);
    if (visible.has(spec.name)) throw bad(`column ${spec.name} already exists in table ${table.name}`);
    if (table.partitionBy.includes(spec.name)) throw bad(`${spec.name} is a partition key of table ${table.name}`);
    if (spec.featureId !== undefined && featureIds.has(spec.featureId)) {
      throw bad(`featureId ${spec.featureId} is already used by column ${featureIds.get(spec.featureId)}`);
    }
    const column: ColumnRecord = {
      cid: nextCid++,
      name: spec.name,
      type,
      ...(spec.featureId === undefined ? {} : { featureId: spec.featureId }),
      addedInVersion: version,
    };
    columns.push(column);
    visible.set(column.name, column);
    if (spec.featureId !== undefined) featureIds.set(spec.featureId, spec.name);
  }
  if (columns.length > COLUMNS_MAX) throw bad(`table ${table.name} would have ${columns.length} columns; the limit is ${COLUMNS_MAX}`);
  return { ...table, ...(settingsChange ? streamSettings(change, table) : {}), columns, nextCid, schemaVersion: version };
}

export function columnInfo(column: ColumnRecord): ColumnInfo {
  return {
    name: column.name,
    type: column.type,
    ...(column.featureId === undefined ? {} : { featureId: column.featureId }),
    addedInVersion: column.addedInVersion,
  };
}

export function tableInfo(table: TableRecord): TableInfo {
  return {
    name: table.name,
    id: table.id,
    columns: visibleColumns(table).map(columnInfo),
    partitionBy: table.partitionBy,
    ec: `${table.dataShards}+${table.parityShards}`,
    blockBytes: table.blockBytes,
    stripeRows: table.stripeRows,
    stripeBytes: table.stripeBytes,
    retentionDays: table.retentionDays,
    encoding: table.encoding ?? TABLE_DEFAULTS.encoding,
    compressionLevel: table.compressionLevel ?? TABLE_DEFAULTS.compressionLevel,
    schemaVersion: table.schemaVersion,
    createdAt: new Date(table.createdAt).toISOString(),
  };
}
