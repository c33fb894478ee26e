/** JSON schemas of the metadata API's request bodies (fastify validates before handlers run). */
import { COLUMN_TYPES, STATS_OPS } from '../../protocol/index.js';

const name = { type: 'string', minLength: 1, maxLength: 128 } as const;

export const columnSpecSchema = {
  type: 'object',
  required: ['name', 'type'],
  additionalProperties: false,
  properties: {
    name,
    type: { type: 'string', enum: COLUMN_TYPES },
    featureId: { type: 'integer', minimum: 0 },
  },
} as const;

export const tableSpecSchema = {
  type: 'object',
  required: ['name', 'columns'],
  additionalProperties: false,
  properties: {
    name,
    columns: { type: 'array', minItems: 1, items: columnSpecSchema },
    partitionBy: { type: 'array', minItems: 1, maxItems: 8, items: name },
    ec: { type: 'string', maxLength: 8 },
    blockBytes: { type: 'integer' },
    stripeRows: { type: 'integer' },
    stripeBytes: { type: 'integer' },
    retention: { type: 'string', maxLength: 16 },
  },
} as const;

export const alterSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    addColumns: { type: 'array', items: columnSpecSchema },
    dropColumns: { type: 'array', items: name },
  },
} as const;

export const openSessionSchema = {
  type: 'object',
  required: ['partition'],
  additionalProperties: false,
  properties: {
    partition: { type: 'string', minLength: 1, maxLength: 1024 },
    leaseMs: { type: 'integer' },
  },
} as const;

const statsValue = { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 24 }] } as const;

export const commitSchema = {
  type: 'object',
  required: ['files', 'blocks'],
  additionalProperties: false,
  properties: {
    files: {
      type: 'array',
      items: {
        type: 'object',
        required: ['columns', 'stripes'],
        additionalProperties: false,
        properties: {
          columns: { type: 'array', items: name },
          stripes: {
            type: 'array',
            items: {
              type: 'object',
              required: ['rows', 'streams'],
              additionalProperties: false,
              properties: {
                rows: { type: 'integer', minimum: 1 },
                streams: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['block', 'offset', 'length', 'checksum', 'encoding'],
                    additionalProperties: false,
                    properties: {
                      block: { type: 'string', maxLength: 64 },
                      offset: { type: 'integer', minimum: 0 },
                      length: { type: 'integer', minimum: 0 },
                      checksum: { type: 'string', minLength: 16, maxLength: 16 },
                      encoding: { type: 'integer', minimum: 0, maximum: 65535 },
                      stats: {
                        type: 'object',
                        required: ['nulls'],
                        additionalProperties: false,
                        properties: { nulls: { type: 'integer', minimum: 0 }, min: statsValue, max: statsValue },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    blocks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['blockId', 'blockBytes', 'shardBytes', 'codec', 'shardChecksums'],
        additionalProperties: false,
        properties: {
          blockId: { type: 'string', maxLength: 64 },
          blockBytes: { type: 'integer', minimum: 1 },
          shardBytes: { type: 'integer', minimum: 1 },
          codec: { type: 'string', maxLength: 64 },
          shardChecksums: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 16, maxLength: 16 } },
        },
      },
    },
  },
} as const;

const partitionPredicate = {
  type: 'object',
  additionalProperties: false,
  properties: {
    eq: { type: 'string' },
    in: { type: 'array', items: { type: 'string' } },
    gt: { type: 'string' },
    gte: { type: 'string' },
    lt: { type: 'string' },
    lte: { type: 'string' },
  },
} as const;

export const scanSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    partitions: { type: 'object', additionalProperties: partitionPredicate },
    columns: { type: 'array', items: name },
    stripes: {
      type: 'object',
      additionalProperties: false,
      properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
    },
    where: {
      type: 'array',
      items: {
        type: 'object',
        required: ['column', 'op', 'value'],
        additionalProperties: false,
        properties: {
          column: name,
          op: { type: 'string', enum: STATS_OPS },
          value: { anyOf: [statsValue, { type: 'array', minItems: 2, maxItems: 2, items: statsValue }] },
        },
      },
    },
  },
} as const;

export const registrationSchema = {
  type: 'object',
  required: ['nodeId', 'url', 'domain', 'capacityBytes', 'freeBytes', 'usedBytes', 'chunkCount'],
  additionalProperties: false,
  properties: {
    nodeId: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    url: { type: 'string', pattern: '^https?://', maxLength: 512 },
    domain: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' },
    capacityBytes: { type: 'number', minimum: 0 },
    freeBytes: { type: 'number', minimum: 0 },
    usedBytes: { type: 'number', minimum: 0 },
    chunkCount: { type: 'integer', minimum: 0 },
  },
} as const;

export const heartbeatSchema = {
  type: 'object',
  required: ['capacityBytes', 'freeBytes', 'usedBytes', 'chunkCount'],
  additionalProperties: false,
  properties: {
    capacityBytes: { type: 'number', minimum: 0 },
    freeBytes: { type: 'number', minimum: 0 },
    usedBytes: { type: 'number', minimum: 0 },
    chunkCount: { type: 'integer', minimum: 0 },
    repairSlotsFree: { type: 'integer', minimum: 0, maximum: 64 },
    repairsRunning: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
  },
} as const;

export const repairReportSchema = {
  type: 'object',
  required: ['nodeId', 'results', 'bytesRead', 'bytesWritten'],
  additionalProperties: false,
  properties: {
    nodeId: { type: 'string', maxLength: 64 },
    results: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['shard', 'ok'],
        additionalProperties: false,
        properties: { shard: { type: 'integer', minimum: 0, maximum: 63 }, ok: { type: 'boolean' }, error: { type: 'string', maxLength: 2048 } },
      },
    },
    bytesRead: { type: 'number', minimum: 0 },
    bytesWritten: { type: 'number', minimum: 0 },
  },
} as const;

export const inventoryPageSchema = {
  type: 'object',
  required: ['round', 'chunks', 'done'],
  additionalProperties: false,
  properties: {
    round: { type: 'string', maxLength: 64 },
    chunks: { type: 'array', maxItems: 10_000, items: { type: 'string', maxLength: 128 } },
    done: { type: 'boolean' },
  },
} as const;

export const corruptReportSchema = {
  type: 'object',
  required: ['chunks'],
  additionalProperties: false,
  properties: {
    chunks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['chunkId', 'reason'],
        additionalProperties: false,
        properties: { chunkId: { type: 'string', maxLength: 128 }, reason: { type: 'string', maxLength: 1024 }, missing: { type: 'boolean' } },
      },
    },
  },
} as const;
