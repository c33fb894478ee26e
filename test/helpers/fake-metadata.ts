/**
 * A stand-in for the metadata service's node endpoints (protocol/node-types.ts) on a loopback
 * port: it records every call, and can be told to fail calls or to forget the nodes it knows, so
 * tests can drive a storage node's registration and heartbeats through those cases. Like a real
 * service with auth on, it answers registrations with its own capability key, so the node then
 * wants capabilities on chunk requests; `capability` signs them. It checks no bearer tokens.
 */
import { generateKeyPairSync } from 'node:crypto';
import Fastify from 'fastify';
import { type CapabilityOp, publicKeyToText, signCapability } from '../../protocol/capability.js';
import type { NodeInfo, NodeRegistration, RegistrationAnswer } from '../../protocol/index.js';

export interface RecordedCall {
  readonly kind: 'register' | 'heartbeat' | 'corrupt';
  /** From the path, or for a registration from the body. */
  readonly nodeId: string;
  readonly body: unknown;
  /** The status the fake answered with. */
  readonly status: number;
}

export interface FakeMetadata {
  readonly url: string;
  /** Every call so far, in arrival order. */
  readonly calls: readonly RecordedCall[];
  /** The calls of one kind that were answered 2xx. */
  accepted(kind: RecordedCall['kind']): readonly RecordedCall[];
  /** Answers the next `count` calls (of `kind`, or of any kind) with 503 GRN_UNAVAILABLE. */
  failNext(count: number, kind?: RecordedCall['kind']): void;
  /** Forgets every registered node, as after a metadata restart on an empty database. */
  forgetNodes(): void;
  /** A capability signed with the fake's key, valid ten minutes: `op` on `scope` (a chunk id, a block id, a node id or `*`). */
  capability(op: CapabilityOp, scope: string): string;
  close(): Promise<void>;
}

export async function startFakeMetadata(port = 0): Promise<FakeMetadata> {
  const calls: RecordedCall[] = [];
  const nodes = new Map<string, NodeInfo>();
  let failuresLeft = 0;
  let failKind: RecordedCall['kind'] | undefined;
  const app = Fastify({ logger: false });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const capabilityKey = publicKeyToText(publicKey);

  app.addHook('preHandler', async (request, reply) => {
    const kind = request.url.endsWith('/register') ? 'register' : request.url.endsWith('/corrupt') ? 'corrupt' : 'heartbeat';
    if (failuresLeft <= 0 || (failKind !== undefined && failKind !== kind)) return;
    failuresLeft--;
    const nodeId = (request.params as { id?: string }).id ?? (request.body as { nodeId?: string } | undefined)?.nodeId ?? '';
    calls.push({ kind, nodeId, body: request.body, status: 503 });
    return reply.code(503).send({ code: 'GRN_UNAVAILABLE', message: 'fake metadata service told to fail' });
  });

  app.post<{ Body: NodeRegistration }>('/v1/nodes/register', async (request): Promise<RegistrationAnswer> => {
    const now = new Date().toISOString();
    const info: NodeInfo = { ...request.body, state: 'alive', draining: false, chunksHeld: 0, registeredAt: now, lastHeartbeatAt: now };
    nodes.set(request.body.nodeId, info);
    calls.push({ kind: 'register', nodeId: request.body.nodeId, body: request.body, status: 200 });
    return { ...info, capabilityKey };
  });

  for (const kind of ['heartbeat', 'corrupt'] as const) {
    app.post<{ Params: { id: string } }>(`/v1/nodes/:id/${kind}`, async (request, reply) => {
      const node = nodes.get(request.params.id);
      if (node === undefined) {
        calls.push({ kind, nodeId: request.params.id, body: request.body, status: 404 });
        return reply.code(404).send({ code: 'GRN_NODE_NOT_FOUND', message: `no node ${request.params.id} is registered` });
      }
      calls.push({ kind, nodeId: request.params.id, body: request.body, status: 200 });
      if (kind === 'corrupt') return { accepted: (request.body as { chunks: unknown[] }).chunks.length };
      return { ...node, lastHeartbeatAt: new Date().toISOString() };
    });
  }

  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('fake metadata service has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls,
    accepted: (kind) => calls.filter((call) => call.kind === kind && call.status === 200),
    failNext(count, kind) {
      failuresLeft = count;
      failKind = kind;
    },
    forgetNodes() {
      nodes.clear();
    },
    capability: (op, scope) => signCapability({ op, scope, expiresAtMs: Date.now() + 600_000 }, privateKey),
    close: () => app.close(),
  };
}
