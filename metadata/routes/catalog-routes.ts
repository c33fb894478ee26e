/** Tables, partitions, scans and popularity. */
import type { FastifyInstance } from 'fastify';
import { pack } from 'msgpackr';
import {
  SCAN_CURSOR_CHARS_MAX,
  SCAN_PAGE_ENTRIES_MAX,
  type ScanPlan,
  type ScanRequest,
  STREAM_ENTRY_BYTES,
  type TableAlteration,
  type TableSpec,
  decodeStreamEntry,
} from '../../protocol/index.js';
import { checksumToHex } from '../../erasure/index.js';
import type { CapabilityIssuer } from '../capabilities.js';
import { CURSORS, type PageQuery, pageQuerySchema, pageRequest } from '../paging.js';
import type { MetadataService } from '../service.js';
import { BODY_BYTES_MAX, alterSchema, scanSchema, tableSpecSchema } from './schemas.js';

type Named = { Params: { name: string } };
type NamedPartition = { Params: { name: string; partition: string } };
type Paged = { Querystring: PageQuery };

/** Items per page of each catalog listing when `limit` is left out: the catalog's quotas keep most listings within one page. */
const TABLES_PAGE_DEFAULT = 1_000;
const PARTITIONS_PAGE_DEFAULT = 1_000;
const FILES_PAGE_DEFAULT = 1_000;

export async function catalogRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { catalog, scans } = options.service;

  app.post<{ Body: TableSpec }>('/v1/tables', { schema: { body: tableSpecSchema }, bodyLimit: BODY_BYTES_MAX.table }, async (request, reply) =>
    reply.code(201).send(await catalog.create(request.body)),
  );
  // Readers and writers scoped to some tables page through those alone.
  app.get<Paged>('/v1/tables', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    catalog.list(pageRequest(request.query, CURSORS.tables, TABLES_PAGE_DEFAULT), request.principal.tables),
  );
  app.get<Named>('/v1/tables/:name', async (request) => catalog.describe(request.params.name));
  app.patch<Named & { Body: TableAlteration }>('/v1/tables/:name', { schema: { body: alterSchema }, bodyLimit: BODY_BYTES_MAX.table }, async (request) =>
    catalog.alter(request.params.name, request.body),
  );
  app.delete<Named>('/v1/tables/:name', async (request) => catalog.drop(request.params.name));

  app.get<Named & Paged>('/v1/tables/:name/partitions', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    catalog.partitions(request.params.name, pageRequest(request.query, CURSORS.partitions, PARTITIONS_PAGE_DEFAULT)),
  );
  app.get<NamedPartition>('/v1/tables/:name/partitions/:partition', async (request) =>
    catalog.describePartition(request.params.name, request.params.partition),
  );
  app.get<NamedPartition & Paged>('/v1/tables/:name/partitions/:partition/files', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    catalog.files(request.params.name, request.params.partition, pageRequest(request.query, CURSORS.files, FILES_PAGE_DEFAULT)),
  );
  app.delete<NamedPartition>('/v1/tables/:name/partitions/:partition', async (request) =>
    catalog.dropPartition(request.params.name, request.params.partition),
  );
  app.delete<{ Params: { name: string; partition: string; fileId: string } }>(
    '/v1/tables/:name/partitions/:partition/files/:fileId',
    { bodyLimit: BODY_BYTES_MAX.empty },
    async (request) => catalog.dropFile(request.params.name, request.params.partition, request.params.fileId),
  );

  app.get<Named>('/v1/tables/:name/popularity', async (request) => ({ columns: scans.popularity(request.params.name), jobs: scans.jobs(request.params.name) }));

  // One page of the plan per call; a page with `next` is continued with `?after=<next>` and the same body.
  app.post<Named & { Body: ScanRequest; Querystring: { format?: 'msgpack' | 'json'; after?: string; limit?: number } }>(
    '/v1/tables/:name/scan',
    {
      bodyLimit: BODY_BYTES_MAX.scan,
      schema: {
        body: scanSchema,
        querystring: {
          type: 'object',
          properties: {
            format: { type: 'string', enum: ['msgpack', 'json'] },
            after: { type: 'string', minLength: 1, maxLength: SCAN_CURSOR_CHARS_MAX },
            limit: { type: 'integer', minimum: 1, maximum: SCAN_PAGE_ENTRIES_MAX },
          },
        },
      },
    },
    async (request, reply) => {
      const { after, limit } = request.query;
      const plan = withReadCapabilities(
        await scans.plan(request.params.name, request.body ?? {}, { ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) }),
        options.service.capabilities,
      );
      if (request.query.format === 'json') return expandPlan(plan);
      return reply.type('application/msgpack').send(pack(plan));
    },
  );
}

/** Each block of a plan comes with the capability to read its chunks. */
function withReadCapabilities(plan: ScanPlan, capabilities: CapabilityIssuer): ScanPlan {
  const now = Date.now();
  return { ...plan, blocks: plan.blocks.map((block) => ({ ...block, capability: capabilities.read(block.blockId, now) })) };
}

/** The plan with every packed stream spelled out, for people and scripts (not for readers). */
function expandPlan(plan: ScanPlan) {
  return {
    ...plan,
    stripes: plan.stripes.map((stripe) => ({
      ...stripe,
      streams: plan.columns.map((column, index) => {
        const entry = decodeStreamEntry(stripe.streams, index);
        return { column: column.name, ...entry, checksum: checksumToHex(entry.checksum) };
      }),
    })),
    streamEntryBytes: STREAM_ENTRY_BYTES,
  };
}
