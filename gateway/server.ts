/**
 * The Arrow stream gateway: an HTTP service that scans Granary tables for callers that cannot
 * link the TypeScript client (Python, anything with an Arrow reader). It is a client of the
 * cluster like the CLI: each request runs the client's own scan (planning, degraded reads,
 * checksums) with the caller's token, and streams the batches as they come.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type GranaryClient, type ScanOptions, type ScanStats, newScanStats } from '../client/index.js';
import { selectedSchema } from '../client/format/index.js';
import { GranaryError } from '../protocol/index.js';
import type { ServerTls } from '../protocol/tls.js';
import { streamBatches } from './arrow-response.js';
import { errorAnswer } from './error-answer.js';
import { parseScanBody, parseSplitsBody } from './request-body.js';

/** A scan body names columns and predicates, never data: 1 MiB is generous. */
export const GATEWAY_BODY_LIMIT = 1024 * 1024;
export const JOB_HEADER = 'granary-job';

export interface GatewayAppOptions {
  /** The gateway's client of the cluster; callers' tokens ride on its connections. */
  readonly client: GranaryClient;
  /** Used for a caller that sends no Authorization header (--token-file); none: such calls go unauthenticated. */
  readonly defaultToken: string | undefined;
  /** Scan settings for every scan (--scan-group-bytes): what bounds a scan's memory here. */
  readonly scanDefaults?: Pick<ScanOptions, 'groupBytes' | 'prefetchGroups'>;
  /** pino's level (the services' --log-level); default: no log. */
  readonly logLevel?: string;
  /** Serve HTTPS (--tls-cert, --tls-key): callers' bearer tokens cross the network in it. */
  readonly https?: ServerTls;
}

export interface GatewayStatus {
  activeScans: number;
  scansStarted: number;
  scansCompleted: number;
  scansFailed: number;
  scansAbandoned: number;
  /** Rows of finished scans (complete, failed or abandoned). */
  rowsServed: number;
  /** Shards rebuilt from parity by finished scans because a node did not answer. */
  degradedReads: number;
  /** Arrow buffer bytes of the batches handed to callers' sockets, counted as they go. */
  batchBytesSent: number;
}

/** The caller's bearer token, else the gateway's own; an Authorization that is not Bearer is refused, not ignored. */
function tokenOf(request: FastifyRequest, defaultToken: string | undefined): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return defaultToken;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) throw new GranaryError('GRN_UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>" (granary token create makes one)');
  return match[1];
}

function jobOf(request: FastifyRequest): string | undefined {
  const job = request.headers[JOB_HEADER];
  if (Array.isArray(job)) throw new GranaryError('GRN_BAD_REQUEST', 'send one Granary-Job header');
  return job === undefined || job === '' ? undefined : job;
}

function tableOf(request: FastifyRequest): string {
  return (request.params as { name: string }).name;
}

export function buildGatewayApp(options: GatewayAppOptions): { app: FastifyInstance; status: () => GatewayStatus } {
  const app = Fastify({
    logger: options.logLevel === undefined ? false : { level: options.logLevel },
    ...(options.https === undefined ? {} : { https: options.https }),
    disableRequestLogging: true,
    bodyLimit: GATEWAY_BODY_LIMIT,
    // Stop must not wait for an idle keep-alive connection; scans in flight are cut by close.
    forceCloseConnections: true,
  });
  const status: GatewayStatus = { activeScans: 0, scansStarted: 0, scansCompleted: 0, scansFailed: 0, scansAbandoned: 0, rowsServed: 0, degradedReads: 0, batchBytesSent: 0 };
  const account = (stats: ScanStats): void => {
    status.rowsServed += stats.rows;
    status.degradedReads += stats.degradedReads;
  };
  const clientFor = (request: FastifyRequest): GranaryClient => options.client.withToken(tokenOf(request, options.defaultToken));

  app.setErrorHandler((error, request, reply) => {
    const answer = errorAnswer(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'gateway request failed');
    void reply.status(answer.status).type('application/json').send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 'GRN_NO_ROUTE', message: `no route ${request.method} ${request.url}; the gateway serves POST /v1/tables/:name/scan, POST /v1/tables/:name/splits, GET /v1/status` });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/v1/status', async () => ({ ...status }));

  app.post('/v1/tables/:name/splits', async (request) => {
    const { workers, selection } = parseSplitsBody(request.body);
    return { splits: await clientFor(request).splitsForWorkers(tableOf(request), selection, workers) };
  });

  app.post('/v1/tables/:name/scan', async (request: FastifyRequest, reply: FastifyReply) => {
    const body = parseScanBody(request.body);
    const job = jobOf(request);
    const client = clientFor(request);
    const table = tableOf(request);
    // The table's columns give the stream's schema, so a scan with no rows is still a valid
    // stream; and an unknown table or a refused token is answered before any byte of it.
    const { names, schema } = selectedSchema(table, (await client.metadata.describeTable(table)).columns, body.columns);
    const stats = newScanStats();
    const batches = client.scan(table, { ...options.scanDefaults, ...body, columns: names, stats, ...(job === undefined ? {} : { job }) });
    status.activeScans++;
    status.scansStarted++;
    try {
      // Planning and the first read happen here: their errors are still a JSON answer.
      const first = await batches.next();
      void reply.hijack();
      const end = await streamBatches(reply.raw, schema, first, batches, (bytes) => {
        status.batchBytesSent += bytes;
      });
      if (end === 'complete') status.scansCompleted++;
      else status.scansAbandoned++;
    } catch (error) {
      status.scansFailed++;
      if (reply.sent) {
        // After the first batch there is no answer left to give: the socket is already cut.
        request.log.error({ err: error }, `scan of ${table} failed after its first batch; the stream was cut`);
        return;
      }
      throw error;
    } finally {
      // Ends the scan's reads and frees its connections when the caller went away or it failed;
      // only then is the scan no longer active.
      try {
        await batches.return(undefined);
      } finally {
        account(stats);
        status.activeScans--;
      }
    }
  });
  return { app, status: () => ({ ...status }) };
}
