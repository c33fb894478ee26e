/**
 * Operator routes over the whole service: an online backup of the catalog
 * (`granary metadata backup`), streamed from one store snapshot while the service keeps serving.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { CAPABILITY_KEY_ENTRY, backupChunks } from '../backup/index.js';
import type { MetadataService } from '../service.js';

export const BACKUP_CONTENT_TYPE = 'application/octet-stream';

export async function adminRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { service } = options;

  // Admin only (metadata/auth-rules.ts): the backup holds every token hash and the capability
  // signing key, so it is as secret as the data directory.
  app.get('/v1/admin/backup', async (request, reply) => {
    reply.type(BACKUP_CONTENT_TYPE).header('cache-control', 'no-store').header('content-disposition', 'attachment; filename="granary-metadata.backup"');
    // A HEAD (fastify adds one for every GET) must not walk the catalog for nothing.
    if (request.method === 'HEAD') return reply.send();
    const serviceFiles = new Map([[CAPABILITY_KEY_ENTRY, Buffer.from(service.capabilities.privateKeyPem(), 'utf8')]]);
    const startedMs = Date.now();
    const body = Readable.from(
      backupChunks(service.state.db.store, { serviceFiles }, (summary) => {
        request.log.info({ ...summary, ms: Date.now() - startedMs }, 'metadata backup sent');
      }),
    );
    // fastify destroys the body when the client goes away, which ends the generator and closes
    // the store snapshot; a failure mid-stream cuts the answer short, and the client's check of
    // the trailer says so.
    body.on('error', (error) => request.log.error({ err: error }, 'metadata backup failed'));
    return reply.send(body);
  });
}
