/**
 * JSON schemas of the metadata API's request bodies (fastify validates before handlers run), and
 * the body limit of each route. Every array and string has a bound, so validation's work and the
 * memory a request takes are bounded before a handler sees it; the bounds match the catalog's own
 * ceilings (metadata/schema.ts, metadata/manifest.ts), and each route's body limit is sized to
 * carry the largest body those ceilings allow in practice.
 */
import { RECEIPT_TEXT_BYTES } from '../../protocol/receipt.js';
import { DATA_SHARDS_MAX, PARITY_SHARDS_MAX, SHARD_BYTES_MAX } from '../../erasure/index.js';
import { NODE_JOB_COUNTS_MAX, READ_SIZE_BUCKETS } from '../../protocol/job-types.js';
import { JOB_DECLARATION_TTL_MS_MAX } from '../../protocol/hot-cache-types.js';
import { EPOCH_MAX, JOB_ID_PATTERN, SCAN_PURPOSES, STATS_OPS, TABLE_ENCODINGS } from '../../protocol/index.js';
import {
  FILES_PER_COMMIT_MAX,
  STREAM_BYTES_MAX,
  STREAMS_PER_COMMIT_MAX,
  STRIPES_PER_COMMIT_MAX,
  STRIPE_ROWS_MAX,
} from '../manifest.js';
import { CORRUPT_REPORT_CHUNKS_MAX } from '../nodes.js';
import { COLUMNS_MAX } from '../schema.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Body limits per route. A commit of a 64 MiB-block partition written by one writer fits: a
 * writer's stream entry is about 130 bytes of msgpack, so 64 MiB carries about 500,000 streams,
 * e.g. 500 blocks of a 1,000-column table at one stripe per block (32 GB), or the 250,000-stripe
 * quota of a one-column table. Bigger partitions are written by several sessions, each a file.
 */
export const BODY_BYTES_MAX = {
  /** Routes that read no body (renew, allocate, abort, drops): room for `{}` and no more. */
  empty: 1 * KiB,
  /** A table of COLUMNS_MAX columns with 100-character names. */
  table: 16 * MiB,
  openSession: 4 * KiB,
  replaceShard: 1 * KiB,
  commit: 64 * MiB,
  scan: 4 * MiB,
  node: 64 * KiB,
  /** A heartbeat with NODE_JOB_COUNTS_MAX jobs of the longest ids. */
  heartbeat: 256 * KiB,
  jobReport: 4 * KiB,
  /** INVENTORY_CHUNKS_PER_PAGE chunk ids of up to 128 characters. */
  inventory: 2 * MiB,
  /** CORRUPT_REPORT_CHUNKS_MAX chunks with their longest ids and reasons. */
  corruptReport: 12 * MiB,
} as const;

/** Partition-key conditions of one scan: values listed by `in`. */
export const PARTITION_VALUES_PER_PREDICATE_MAX = 10_000;
/** Stats conditions of one scan. */
export const WHERE_CONDITIONS_MAX = 1_024;
/** Partition keys of a table (metadata/schema.ts checks the same). */
export const PARTITION_KEYS_MAX = 8;
/** Chunk ids of one inventory page. */
export const INVENTORY_CHUNKS_PER_PAGE = 10_000;
/** Stripes of one file: a commit's files share STRIPES_PER_COMMIT_MAX. */
const STRIPES_PER_FILE_MAX = STRIPES_PER_COMMIT_MAX;
/** Blocks one commit names: no more than a session may hold. */
export const BLOCKS_PER_COMMIT_MAX = 100_000;
/** Ids the service makes (`b` + 20 hex) and codec names are short; 64 leaves room. */
const ID_CHARS_MAX = 64;
/** A partition value: protocol/partition-spec.ts allows 128 characters. */
const PARTITION_VALUE_CHARS_MAX = 128;

const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
/** A count a client or node reports: a whole number a double holds exactly. */
const COUNT = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
/** A column type's text as written (`DECIMAL( 38 , 10 )` with some spaces to spare). */
const DECIMAL_TYPE_CHARS_MAX = 32;
const partitionValue = { type: 'string', maxLength: PARTITION_VALUE_CHARS_MAX } as const;

export const columnSpecSchema = {
  type: 'object',
  required: ['name', 'type'],
  additionalProperties: false,
  properties: {
    name,
    // The closed list and decimal(p,s): schema.ts reads the type and says what is wrong with it.
    type: { type: 'string', minLength: 1, maxLength: DECIMAL_TYPE_CHARS_MAX },
    featureId: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

export const tableSpecSchema = {
  type: 'object',
  required: ['name', 'columns'],
  additionalProperties: false,
  properties: {
    name,
    columns: { type: 'array', minItems: 1, maxItems: COLUMNS_MAX, items: columnSpecSchema },
    partitionBy: { type: 'array', minItems: 1, maxItems: PARTITION_KEYS_MAX, items: name },
    ec: { type: 'string', maxLength: 8 },
    blockBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    stripeRows: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    stripeBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    retention: { type: 'string', maxLength: 16 },
    encoding: { type: 'string', enum: TABLE_ENCODINGS },
    compressionLevel: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

export const alterSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    addColumns: { type: 'array', maxItems: COLUMNS_MAX, items: columnSpecSchema },
    dropColumns: { type: 'array', maxItems: COLUMNS_MAX, items: name },
    encoding: { type: 'string', enum: TABLE_ENCODINGS },
    compressionLevel: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

export const openSessionSchema = {
  type: 'object',
  required: ['partition'],
  additionalProperties: false,
  properties: {
    partition: { type: 'string', minLength: 1, maxLength: 1024 },
    leaseMs: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

const statsValue = { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 21, pattern: '^-?[0-9]{1,20}$' }] } as const;
/**
 * A where value: a stats value, or the text of a timestamp or date (protocol/temporal.ts; the
 * longest is an expanded-year timestamp with an 18-digit fraction and an offset). pruning.ts
 * reads it against the column's type.
 */
const whereValue = {
  anyOf: [{ type: 'number' }, { type: 'string', maxLength: 64, pattern: '^[-+0-9][-+0-9:.TtZz ]*$' }],
} as const;

/** A block as a commit names it (protocol/write-types.ts BlockManifest). */
const blockManifestSchema = {
  type: 'object',
  required: ['blockId', 'blockBytes', 'shardBytes', 'codec', 'shardChecksums'],
  additionalProperties: false,
  properties: {
    blockId: { type: 'string', maxLength: ID_CHARS_MAX },
    blockBytes: { type: 'integer', minimum: 1, maximum: SHARD_BYTES_MAX * DATA_SHARDS_MAX },
    shardBytes: { type: 'integer', minimum: 1, maximum: SHARD_BYTES_MAX },
    codec: { type: 'string', maxLength: ID_CHARS_MAX },
    shardChecksums: {
      type: 'array',
      maxItems: DATA_SHARDS_MAX + PARITY_SHARDS_MAX,
      items: { type: 'string', minLength: 16, maxLength: 16 },
    },
    // Put receipts (protocol/receipt.ts): one Ed25519 signature per shard.
    receipts: {
      type: 'array',
      maxItems: DATA_SHARDS_MAX + PARITY_SHARDS_MAX,
      items: { type: 'string', minLength: RECEIPT_TEXT_BYTES, maxLength: RECEIPT_TEXT_BYTES },
    },
  },
} as const;

export const commitSchema = {
  type: 'object',
  required: ['files', 'blocks'],
  additionalProperties: false,
  properties: {
    files: {
      type: 'array',
      maxItems: FILES_PER_COMMIT_MAX,
      items: {
        type: 'object',
        required: ['columns', 'stripes'],
        additionalProperties: false,
        properties: {
          columns: { type: 'array', maxItems: COLUMNS_MAX, items: name },
          rawBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
          stripes: {
            type: 'array',
            maxItems: STRIPES_PER_FILE_MAX,
            items: {
              type: 'object',
              required: ['rows', 'streams'],
              additionalProperties: false,
              properties: {
                rows: { type: 'integer', minimum: 1, maximum: STRIPE_ROWS_MAX },
                streams: {
                  type: 'array',
                  maxItems: COLUMNS_MAX,
                  items: {
                    type: 'object',
                    required: ['block', 'offset', 'length', 'checksum', 'encoding'],
                    additionalProperties: false,
                    properties: {
                      block: { type: 'string', maxLength: ID_CHARS_MAX },
                      offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
                      length: { type: 'integer', minimum: 0, maximum: STREAM_BYTES_MAX },
                      checksum: { type: 'string', minLength: 16, maxLength: 16 },
                      encoding: { type: 'integer', minimum: 0, maximum: 65535 },
                      stats: {
                        type: 'object',
                        required: ['nulls'],
                        additionalProperties: false,
                        properties: { nulls: { type: 'integer', minimum: 0, maximum: STRIPE_ROWS_MAX }, min: statsValue, max: statsValue },
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
      maxItems: BLOCKS_PER_COMMIT_MAX,
      items: blockManifestSchema,
    },
  },
} as const;

const partitionPredicate = {
  type: 'object',
  additionalProperties: false,
  properties: {
    eq: partitionValue,
    in: { type: 'array', maxItems: PARTITION_VALUES_PER_PREDICATE_MAX, items: partitionValue },
    gt: partitionValue,
    gte: partitionValue,
    lt: partitionValue,
    lte: partitionValue,
  },
} as const;

/** A job's declaration of what it will read (protocol/hot-cache-types.ts JobDeclaration, the table from the route). */
/** Conditions per partition key, as a scan or a declaration names the partitions it reads. */
const partitionFilter = { type: 'object', maxProperties: PARTITION_KEYS_MAX, propertyNames: name, additionalProperties: partitionPredicate } as const;

/** A re-layout's commit (protocol/relayout-types.ts RelayoutCommit): each old block and the block in its place. */
export const relayoutCommitSchema = {
  type: 'object',
  required: ['fileId', 'blocks'],
  additionalProperties: false,
  properties: {
    fileId: { type: 'string', minLength: 1, maxLength: ID_CHARS_MAX },
    blocks: {
      type: 'array',
      minItems: 1,
      maxItems: BLOCKS_PER_COMMIT_MAX,
      items: {
        type: 'object',
        required: ['replaces', 'block', 'offsets'],
        additionalProperties: false,
        properties: {
          replaces: { type: 'string', minLength: 1, maxLength: ID_CHARS_MAX },
          block: blockManifestSchema,
          offsets: { type: 'array', maxItems: STREAMS_PER_COMMIT_MAX, items: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
        },
      },
    },
  },
} as const;

export const jobDeclarationSchema = {
  type: 'object',
  required: ['job'],
  additionalProperties: false,
  properties: {
    job: { type: 'string', pattern: JOB_ID_PATTERN },
    partitions: partitionFilter,
    columns: { type: 'array', minItems: 1, maxItems: COLUMNS_MAX, items: name },
    ttlMs: { type: 'integer', minimum: 1, maximum: JOB_DECLARATION_TTL_MS_MAX },
  },
} as const;

export const scanSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    partitions: partitionFilter,
    columns: { type: 'array', maxItems: COLUMNS_MAX, items: name },
    job: { type: 'string', pattern: JOB_ID_PATTERN },
    epoch: { type: 'integer', minimum: 0, maximum: EPOCH_MAX },
    purpose: { type: 'string', enum: SCAN_PURPOSES },
    stripes: {
      type: 'object',
      additionalProperties: false,
      properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
    },
    where: {
      type: 'array',
      maxItems: WHERE_CONDITIONS_MAX,
      items: {
        type: 'object',
        required: ['column', 'op', 'value'],
        additionalProperties: false,
        properties: {
          column: name,
          op: { type: 'string', enum: STATS_OPS },
          value: { anyOf: [whereValue, { type: 'array', minItems: 2, maxItems: 2, items: whereValue }] },
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
    receiptKey: { type: 'string', minLength: 1, maxLength: 128 },
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
    hotVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    jobs: {
      type: 'array',
      maxItems: NODE_JOB_COUNTS_MAX,
      items: {
        type: 'object',
        required: ['job', 'requests', 'bytesServed', 'cacheHits', 'cacheBytes'],
        additionalProperties: false,
        properties: {
          job: { type: 'string', pattern: JOB_ID_PATTERN },
          requests: COUNT,
          bytesServed: COUNT,
          cacheHits: COUNT,
          cacheBytes: COUNT,
        },
      },
    },
  },
} as const;

/** A reader's counts since its previous report (protocol/job-types.ts JobReadReport). */
export const jobReadReportSchema = {
  type: 'object',
  required: ['job', 'requests', 'bytesNeeded', 'bytesFetched', 'degradedReads', 'rebuildBytes', 'rows', 'stripes', 'readMs', 'readSizes', 'scansFinished'],
  additionalProperties: false,
  properties: {
    job: { type: 'string', pattern: JOB_ID_PATTERN },
    requests: COUNT,
    bytesNeeded: COUNT,
    bytesFetched: COUNT,
    degradedReads: COUNT,
    rebuildBytes: COUNT,
    rows: COUNT,
    stripes: COUNT,
    readMs: COUNT,
    scansFinished: COUNT,
    readSizes: { type: 'array', minItems: READ_SIZE_BUCKETS, maxItems: READ_SIZE_BUCKETS, items: COUNT },
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
    chunks: { type: 'array', maxItems: INVENTORY_CHUNKS_PER_PAGE, items: { type: 'string', maxLength: 128 } },
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
      maxItems: CORRUPT_REPORT_CHUNKS_MAX,
      items: {
        type: 'object',
        required: ['chunkId', 'reason'],
        additionalProperties: false,
        properties: { chunkId: { type: 'string', maxLength: 128 }, reason: { type: 'string', maxLength: 1024 }, missing: { type: 'boolean' } },
      },
    },
  },
} as const;

export const replaceShardSchema = {
  type: 'object',
  required: ['shard'],
  additionalProperties: false,
  properties: { shard: { type: 'integer', minimum: 0, maximum: DATA_SHARDS_MAX + PARITY_SHARDS_MAX - 1 } },
} as const;
