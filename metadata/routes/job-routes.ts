/** Per-job read accounting: readers' reports in, the recent jobs out (protocol/job-types.ts). */
import type { FastifyInstance } from 'fastify';
import { GranaryError } from '../../protocol/index.js';
import { JOBS_LIST_MAX, type JobDetail, type JobList, type JobReadReport } from '../../protocol/job-types.js';
import type { MetadataService } from '../service.js';
import { BODY_BYTES_MAX, jobDeclarationSchema, jobReadReportSchema } from './schemas.js';
import type { DeclaredJob, Declarations, JobDeclaration } from '../../protocol/hot-cache-types.js';

export async function jobRoutes(app: FastifyInstance, options: { readonly service: MetadataService }): Promise<void> {
  const { service } = options;

  app.post<{ Params: { name: string }; Body: JobReadReport }>(
    '/v1/tables/:name/reads',
    { schema: { body: jobReadReportSchema }, bodyLimit: BODY_BYTES_MAX.jobReport },
    async (request, reply) => {
      service.reportJob(request.params.name, request.body);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { name: string }; Body: Omit<JobDeclaration, 'table'> }>(
    '/v1/tables/:name/declarations',
    { schema: { body: jobDeclarationSchema }, bodyLimit: BODY_BYTES_MAX.scan },
    async (request, reply): Promise<DeclaredJob> => {
      const declared = service.hotSets.declare({ ...request.body, table: request.params.name }, 'register', Date.now());
      reply.code(201);
      return declared;
    },
  );

  app.get('/v1/declarations', async (): Promise<Declarations> => {
    const declarations = service.hotSets.list(Date.now());
    const { version, pending } = service.hotSets.state();
    return { declarations, hotVersion: version, hotPending: pending };
  });

  app.get<{ Querystring: { limit?: number } }>(
    '/v1/jobs',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: JOBS_LIST_MAX } } } } },
    async (request): Promise<JobList> => ({ jobs: service.jobs.list(Date.now(), request.query.limit ?? JOBS_LIST_MAX), retentionMs: service.jobs.retentionMs }),
  );

  app.get<{ Params: { job: string } }>('/v1/jobs/:job', async (request): Promise<JobDetail> => {
    const detail = service.jobs.detail(request.params.job, Date.now());
    if (detail === undefined) {
      throw new GranaryError('GRN_JOB_NOT_FOUND', `no job "${request.params.job.slice(0, 200)}" read anything in the last ${Math.round(service.jobs.retentionMs / 3600_000)} h (granary jobs lists the recent ones)`);
    }
    return detail;
  });
}
