/** Ports for a `granary up` started by a test: the metadata port P, and P+31.. for its nodes. */
import { createServer } from 'node:net';

/** Where `granary up` puts its first storage node, above the metadata port. */
export const UP_NODE_PORT_OFFSET = 31;

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A metadata port P with P+31..P+30+nodes free too. */
export async function freeUpPortRange(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // Below Linux's ephemeral range (32768+), so no outgoing connection can take one meanwhile.
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const all = [port, ...Array.from({ length: nodes }, (_, i) => port + UP_NODE_PORT_OFFSET + i)];
    if ((await Promise.all(all.map(portFree))).every(Boolean)) return port;
  }
  throw new Error('no free port range');
}
