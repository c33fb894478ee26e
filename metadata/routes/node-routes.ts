/** Storage node registration, heartbeats, draining, corrupt reports, repair and GC listings. */
import type { FastifyInstance } from 'fastify';
import type { CorruptChunkReport, NodeHeartbeat, NodeRegistration } from '../../protocol/index.js';
import type { MetadataService } from '../service.js';
import { corruptReportSchema, heartbeatSchema, registrationSchema } from './schemas.js';

type Node = { Params: { id: string } };

export async function nodeRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { service } = options;
  const { nodes } = service;

  app.post<{ Body: NodeRegistration }>('/v1/nodes/register', { schema: { body: registrationSchema } }, async (request) =>
    nodes.register(request.body),
  );
  app.post<Node & { Body: NodeHeartbeat }>('/v1/nodes/:id/heartbeat', { schema: { body: heartbeatSchema } }, async (request) =>
    nodes.heartbeat(request.params.id, request.body),
  );
  app.post<Node & { Body: CorruptChunkReport }>('/v1/nodes/:id/corrupt', { schema: { body: corruptReportSchema } }, async (request) =>
    nodes.reportCorrupt(request.params.id, request.body),
  );
  app.post<Node>('/v1/nodes/:id/drain', async (request) => nodes.setDraining(request.params.id, true));
  app.post<Node>('/v1/nodes/:id/undrain', async (request) => nodes.setDraining(request.params.id, false));
  app.get('/v1/nodes', async () => ({ nodes: nodes.list() }));
  app.get('/v1/repair', async () => ({ blocks: nodes.repairList(service.tableNamesById()) }));
  app.get('/v1/gc', async () => ({
    blocks: [...service.state.gcQueue.values()].map((record) => ({ ...record, queuedAt: new Date(record.queuedAt).toISOString() })),
  }));
}
