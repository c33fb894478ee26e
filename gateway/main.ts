/** Starts the gateway: its client of the cluster, the HTTP app, and a stop that closes both. */
import type { FastifyInstance } from 'fastify';
import { GranaryClient } from '../client/index.js';
import type { ServerTls } from '../protocol/tls.js';
import { type GatewayStatus, buildGatewayApp } from './server.js';

export interface GatewayConfig {
  readonly metadataUrls: readonly string[];
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** The gateway's own token, for callers that send none. */
  readonly token: string | undefined;
  /** The cluster's CA (--tls-ca) when its services serve HTTPS. */
  readonly tlsCa: Buffer | undefined;
  readonly logLevel: string;
  /** Serve HTTPS with this certificate and key (--tls-cert, --tls-key); undefined: plain HTTP. */
  readonly https?: ServerTls;
  /** Bytes read per group of each scan (default the client's, 32 MiB); a scan holds about 3 groups. */
  readonly scanGroupBytes?: number;
}

export const GATEWAY_DEFAULTS = { host: '127.0.0.1', port: 7100, logLevel: 'info' } as const;

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  status(): GatewayStatus;
  stop(): Promise<void>;
}

export async function startGateway(config: GatewayConfig): Promise<RunningGateway> {
  const client = new GranaryClient({ metadataUrl: config.metadataUrls, ...(config.tlsCa === undefined ? {} : { http: { ca: config.tlsCa } }) });
  const { app, status } = buildGatewayApp({ client, defaultToken: config.token, logLevel: config.logLevel, ...(config.https === undefined ? {} : { https: config.https }), ...(config.scanGroupBytes === undefined ? {} : { scanDefaults: { groupBytes: config.scanGroupBytes } }) });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    await client.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `${config.https === undefined ? 'http' : 'https'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // Written at any log level: `granary up` and tests wait for this line.
  app.log.child({}, { level: 'info' }).info({ url, port, metadata: config.metadataUrls.join(','), token: config.token === undefined ? 'callers only' : 'a default for callers without one' }, 'gateway ready');
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    status,
    stop: () => {
      stopping ??= (async () => {
        try {
          await app.close();
        } finally {
          await client.close();
        }
      })();
      return stopping;
    },
  };
}
