/** Ports for a `granary up` started by a test: the metadata port P, P+30 for its gateway, and P+31.. for its nodes. */
import { createServer } from 'node:net';

/** Where `granary up` puts its first storage node, above the metadata port. */
export const UP_NODE_PORT_OFFSET = 31;
/** Where `granary up` puts its Arrow stream gateway. */
export const UP_GATEWAY_PORT_OFFSET = 30;

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A metadata port P with P+30 (the gateway) and P+31..P+30+nodes free too, and P+offset for each of `extraOffsets`
 * (`up --ha`'s replicas and etcd members: HA_PORT_OFFSETS of deploy/local-ha.ts).
 */
export async function freeUpPortRange(nodes: number, extraOffsets: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // Below Linux's ephemeral range (32768+), so no outgoing connection can take one meanwhile.
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // Each port once: two probes of one port at the same time would fail each other.
    const all = [...new Set([port, port + UP_GATEWAY_PORT_OFFSET, ...extraOffsets.map((offset) => port + offset), ...Array.from({ length: nodes }, (_, i) => port + UP_NODE_PORT_OFFSET + i)])];
    if ((await Promise.all(all.map(portFree))).every(Boolean)) return port;
  }
  throw new Error('no free port range');
}
