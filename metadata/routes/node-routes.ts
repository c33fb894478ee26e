/** Storage node registration, heartbeats, draining and removal, damage reports, inventory, repair and GC. */
import { confirmReaderReport } from '../report-verifier.js';
import type { FastifyInstance } from 'fastify';
import type { CorruptChunkReport, InventoryPage, NodeHeartbeat, NodeRegistration, RepairReport } from '../../protocol/index.js';
import { gcStatus } from '../gc.js';
import { CURSORS, type PageQuery, pageQuerySchema, pageRequest } from '../paging.js';
import { BLOCKS_PAGE_MAX, type MetadataService } from '../service.js';
import { BODY_BYTES_MAX, corruptReportSchema, heartbeatSchema, inventoryPageSchema, registrationSchema, repairReportSchema } from './schemas.js';

type Node = { Params: { id: string } };

/** Blocks listed by `GET /v1/repair` unless `limit` says otherwise (0 asks for the counts alone). */
const REPAIR_ITEMS_DEFAULT = 100;
/** Nodes per page of `GET /v1/nodes` without `limit`: every node of most clusters in one answer. */
const NODES_PAGE_DEFAULT = 1_000;
/** GC records per page of `GET /v1/gc` without `limit`, as before it paged. */
const GC_PAGE_DEFAULT = 100;

export async function nodeRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { service } = options;
  const { nodes } = service;

  app.post<{ Body: NodeRegistration }>('/v1/nodes/register', { schema: { body: registrationSchema }, bodyLimit: BODY_BYTES_MAX.node }, async (request) =>
    service.register(request.body),
  );
  app.post<Node & { Body: NodeHeartbeat }>('/v1/nodes/:id/heartbeat', { schema: { body: heartbeatSchema }, bodyLimit: BODY_BYTES_MAX.heartbeat }, async (request) =>
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
  app.get<{ Querystring: PageQuery }>('/v1/nodes', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    nodes.list(pageRequest(request.query, CURSORS.nodes, NODES_PAGE_DEFAULT)),
  );
  app.post<{ Params: { task: string }; Body: RepairReport }>(
    '/v1/repairs/:task/report',
    { schema: { body: repairReportSchema }, bodyLimit: BODY_BYTES_MAX.node },
    async (request) => service.repair.report(request.params.task, request.body),
  );
  app.get<{ Querystring: PageQuery }>('/v1/repair', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    service.repair.status(pageRequest(request.query, CURSORS.repair, REPAIR_ITEMS_DEFAULT, 0), service.tableNamesById()),
  );
  app.get<{ Querystring: PageQuery & { table?: string } }>(
    '/v1/blocks',
    { schema: { querystring: pageQuerySchema({ table: { type: 'string', maxLength: 128 } }) } },
    async (request) => service.listBlocks({ ...pageRequest(request.query, CURSORS.blocks, BLOCKS_PAGE_MAX), ...(request.query.table === undefined ? {} : { table: request.query.table }) }),
  );
  app.get<{ Querystring: PageQuery }>('/v1/gc', { schema: { querystring: pageQuerySchema() } }, async (request) =>
    gcStatus(service.state, pageRequest(request.query, CURSORS.gc, GC_PAGE_DEFAULT)),
  );
}
