/**
 * The gateway's JSON bodies, checked strictly: a typo in a key ("column" for "columns") would
 * otherwise scan the whole table and look like a success, so an unknown key is a 400, not ignored.
 */
import { GranaryError, type PartitionPredicate, STATS_OPS, type StatsOp, type StatsPredicate } from '../protocol/index.js';
import type { ScanOptions } from '../client/index.js';

/** Scan options a caller may set over HTTP; the rest (threads, reuse, stats) are the gateway's. */
export type GatewayScanOptions = Pick<ScanOptions, 'columns' | 'partitions' | 'where' | 'stripes'>;

export interface SplitsRequest {
  readonly workers: number;
  readonly selection: Pick<ScanOptions, 'partitions' | 'where' | 'stripes'>;
}

/** Most workers a splits request may name: each gets at least one split, so this bounds the answer. */
export const WORKERS_MAX = 100_000;

const PARTITION_RANGE_KEYS = ['gt', 'gte', 'lt', 'lte'] as const;

function bad(message: string): GranaryError {
  return new GranaryError('GRN_BAD_REQUEST', message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw bad(`${where}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${allowed.join(', ')}`);
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (!isRecord(value)) throw bad(`${where} must be a JSON object`);
  return value;
}

function columnsOf(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((c) => typeof c !== 'string' || c === '')) throw bad('columns must be an array of column names, e.g. ["label", "f_1"]');
  return value as string[];
}

function partitionPredicate(key: string, value: unknown): PartitionPredicate {
  const predicate = record(value, `partitions.${key}`);
  if ('eq' in predicate) {
    onlyKeys(predicate, ['eq'], `partitions.${key}`);
    if (typeof predicate.eq !== 'string') throw bad(`partitions.${key}.eq must be a string, e.g. {"eq": "2026-11-01"}`);
    return { eq: predicate.eq };
  }
  if ('in' in predicate) {
    onlyKeys(predicate, ['in'], `partitions.${key}`);
    const values = predicate.in;
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) throw bad(`partitions.${key}.in must be an array of strings`);
    return { in: values as string[] };
  }
  onlyKeys(predicate, [...PARTITION_RANGE_KEYS], `partitions.${key}`);
  const range: { gt?: string; gte?: string; lt?: string; lte?: string } = {};
  for (const bound of PARTITION_RANGE_KEYS) {
    const v = predicate[bound];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw bad(`partitions.${key}.${bound} must be a string`);
    range[bound] = v;
  }
  if (Object.keys(range).length === 0) throw bad(`partitions.${key} must be {"eq": v}, {"in": [...]} or a range of gt/gte/lt/lte`);
  return range;
}

function partitionsOf(value: unknown): Record<string, PartitionPredicate> {
  const partitions = record(value, 'partitions');
  return Object.fromEntries(Object.entries(partitions).map(([key, predicate]) => [key, partitionPredicate(key, predicate)]));
}

function scalar(value: unknown): value is number | string {
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string';
}

function whereOf(value: unknown): StatsPredicate[] {
  if (!Array.isArray(value)) throw bad('where must be an array of {"column", "op", "value"}');
  return value.map((item, i) => {
    const condition = record(item, `where[${i}]`);
    onlyKeys(condition, ['column', 'op', 'value'], `where[${i}]`);
    const { column, op, value: operand } = condition;
    if (typeof column !== 'string' || column === '') throw bad(`where[${i}].column must be a column name`);
    if (typeof op !== 'string' || !(STATS_OPS as readonly string[]).includes(op)) throw bad(`where[${i}].op must be one of ${STATS_OPS.join(' ')}`);
    if (op === 'between') {
      if (!Array.isArray(operand) || operand.length !== 2 || !scalar(operand[0]) || !scalar(operand[1])) throw bad(`where[${i}].value must be [low, high] for between`);
      return { column, op: 'between', value: [operand[0], operand[1]] as const };
    }
    if (!scalar(operand)) throw bad(`where[${i}].value must be a number or a string`);
    return { column, op: op as StatsOp, value: operand };
  });
}

function stripeBound(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw bad(`${where} must be a whole number >= 0`);
  return value;
}

function stripesOf(value: unknown, where = 'stripes'): { from?: number; to?: number } {
  const stripes = record(value, where);
  onlyKeys(stripes, ['from', 'to'], where);
  return {
    ...(stripes.from === undefined ? {} : { from: stripeBound(stripes.from, `${where}.from`) }),
    ...(stripes.to === undefined ? {} : { to: stripeBound(stripes.to, `${where}.to`) }),
  };
}

/** A split as POST /splits answered it: one partition's predicates and a stripe range. */
function splitOf(value: unknown): GatewayScanOptions {
  const split = record(value, 'split');
  onlyKeys(split, ['partitions', 'stripes'], 'split');
  if (split.partitions === undefined || split.stripes === undefined) throw bad('split must be one element of the splits answer: {"partitions": ..., "stripes": {"from", "to"}}');
  return { partitions: partitionsOf(split.partitions), stripes: stripesOf(split.stripes, 'split.stripes') };
}

function selectionOf(body: Record<string, unknown>): Pick<ScanOptions, 'partitions' | 'where' | 'stripes'> {
  return {
    ...(body.partitions === undefined ? {} : { partitions: partitionsOf(body.partitions) }),
    ...(body.where === undefined ? {} : { where: whereOf(body.where) }),
    ...(body.stripes === undefined ? {} : { stripes: stripesOf(body.stripes) }),
  };
}

/** POST /v1/tables/:name/scan's body; a split is merged over the rest as the TS client does. */
export function parseScanBody(value: unknown): GatewayScanOptions {
  // No body at all is a scan of everything, as `client.scan(table)` is.
  const body = value === undefined || value === null ? {} : record(value, 'the request body');
  onlyKeys(body, ['columns', 'partitions', 'where', 'stripes', 'split'], 'the scan body');
  const options: GatewayScanOptions = {
    ...(body.columns === undefined ? {} : { columns: columnsOf(body.columns) }),
    ...selectionOf(body),
  };
  return body.split === undefined ? options : { ...options, ...splitOf(body.split) };
}

/** POST /v1/tables/:name/splits's body. */
export function parseSplitsBody(value: unknown): SplitsRequest {
  const body = record(value, 'the request body');
  onlyKeys(body, ['workers', 'partitions', 'where', 'stripes'], 'the splits body');
  const workers = body.workers;
  if (typeof workers !== 'number' || !Number.isSafeInteger(workers) || workers < 1 || workers > WORKERS_MAX) {
    throw bad(`workers must be a whole number from 1 to ${WORKERS_MAX}, the number of readers to share the scan`);
  }
  return { workers, selection: selectionOf(body) };
}
