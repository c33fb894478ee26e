/**
 * The loopback HTTP ceiling: a bare node:http server that answers every request with the same
 * in-memory bytes (size from the `size` query parameter). No disk, no checksums, no framing.
 * Prints its port on stdout, then serves until killed.
 */
import { createServer } from 'node:http';

const cache = new Map<number, Buffer>();
const server = createServer((request, response) => {
  const size = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('size') ?? 0);
  let body = cache.get(size);
  if (body === undefined) {
    body = Buffer.alloc(size, 7);
    cache.set(size, body);
  }
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }));
});
