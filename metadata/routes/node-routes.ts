/** Storage node registration, heartbeats, draining and removal, damage reports, inventory, repair and GC. */
import { confirmReaderReport } from '../report-verifier.js';
import type { FastifyInstance } from 'fastify';
import type { CorruptChunkReport, InventoryPage, NodeHeartbeat, NodeRegistration, RepairReport } from '../../protocol/index.js';
import { BLOCKS_PAGE_MAX, type MetadataService } from '../service.js';
import { BODY_BYTES_MAX, corruptReportSchema, heartbeatSchema, inventoryPageSchema, registrationSchema, repairReportSchema } from './schemas.js';

type Node = { Params: { id: string } };

/** Blocks listed by `GET /v1/repair` unless `limit` says otherwise. */
const REPAIR_ITEMS_DEFAULT = 100;
const REPAIR_ITEMS_MAX = 10_000;

export async function nodeRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { service } = options;
  const { nodes } = service;

  app.post<{ Body: NodeRegistration }>('/v1/nodes/register', { schema: { body: registrationSchema }, bodyLimit: BODY_BYTES_MAX.node }, async (request) =>
    service.register(request.body),
  );
  app.post<Node & { Body: NodeHeartbeat }>('/v1/nodes/:id/heartbeat', { schema: { body: heartbeatSchema }, bodyLimit: BODY_BYTES_MAX.node }, async (request) =>
    service.heartbeat(request.params.id, request.body),
  );
  app.post<Node & { Body: CorruptChunkReport }>('/v1/nodes/:id/corrupt', { schema: { body: corruptReportSchema }, bodyLimit: BODY_BYTES_MAX.corruptReport }, async (request) => {
    // A node speaks for its own chunks; anyone else's claim is checked with the node first.
    const trusted = service.auth === 'off' || request.principal.role === 'node';
    const report = trusted
      ? request.body
      : await confirmReaderReport(
          { state: service.state, capabilities: service.capabilities, ...(service.nodeDispatcher === undefined ? {} : { dispatcher: service.nodeDispatcher }) },
          request.params.id,
          request.body,
          request.principal.tables,
        );
    return nodes.reportCorrupt(request.params.id, report);
  });
  app.post<Node & { Body: InventoryPage }>('/v1/nodes/:id/inventory', { schema: { body: inventoryPageSchema }, bodyLimit: BODY_BYTES_MAX.inventory }, async (request) => {
    nodes.get(request.params.id);
    return service.inventory.page(request.params.id, request.body);
  });
  app.post<Node>('/v1/nodes/:id/drain', async (request) => nodes.setDraining(request.params.id, true));
  app.post<Node>('/v1/nodes/:id/undrain', async (request) => nodes.setDraining(request.params.id, false));
  app.post<Node>('/v1/nodes/:id/remove', async (request) => nodes.remove(request.params.id));
  app.get('/v1/nodes', async () => ({ nodes: nodes.list() }));
  app.post<{ Params: { task: string }; Body: RepairReport }>(
    '/v1/repairs/:task/report',
    { schema: { body: repairReportSchema }, bodyLimit: BODY_BYTES_MAX.node },
    async (request) => service.repair.report(request.params.task, request.body),
  );
  app.get<{ Querystring: { limit?: number } }>(
    '/v1/repair',
    { schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 0, maximum: REPAIR_ITEMS_MAX } } } } },
    async (request) => service.repair.status(request.query.limit ?? REPAIR_ITEMS_DEFAULT, service.tableNamesById()),
  );
  app.get<{ Querystring: { table?: string; after?: string; limit?: number } }>(
    '/v1/blocks',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            table: { type: 'string', maxLength: 128 },
            after: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: BLOCKS_PAGE_MAX },
          },
        },
      },
    },
    async (request) => service.listBlocks({ ...request.query, limit: request.query.limit ?? BLOCKS_PAGE_MAX }),
  );
  app.get('/v1/gc', async () => ({
    ...service.gcBacklog(),
    blocks: [...service.state.gcQueue.values()].slice(0, REPAIR_ITEMS_DEFAULT).map((record) => ({
      ...record,
      queuedAt: new Date(record.queuedAt).toISOString(),
      ...(record.nextAttemptAt === undefined ? {} : { nextAttemptAt: new Date(record.nextAttemptAt).toISOString() }),
    })),
  }));
}
