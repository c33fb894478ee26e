/**
 * The web console's routes (metadata/routes/console-routes.ts): the page and its two assets are
 * served without a token, with their content types and a policy that keeps user data inert,
 * while every API route the page calls still wants one; the page calls GET routes only; and a
 * package whose console files are missing still serves its API and says why at /ui.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_AUTH_RULES } from '../../../metadata/auth-rules.js';
import { CONSOLE_FILES, CONSOLE_STATIC_DIR, ConsoleFilesMissingError, loadConsoleAssets } from '../../../metadata/console/console-assets.js';
import { consoleRoutes } from '../../../metadata/routes/console-routes.js';
import { installErrorHandlers } from '../../../protocol/http-errors.js';
import { type MetadataApp, makeMetadataApp } from '../../helpers/metadata-app.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

let meta: MetadataApp;

beforeAll(async () => {
  meta = await makeMetadataApp({ auth: 'on' });
});

afterAll(async () => {
  await meta?.close();
});

describe('web console routes', () => {
  it('serves the page at /ui and /ui/, and its script and stylesheet, without a token', async () => {
    const expected: Record<string, string> = {
      '/ui': 'text/html; charset=utf-8',
      '/ui/': 'text/html; charset=utf-8',
      '/ui/console.js': 'text/javascript; charset=utf-8',
      '/ui/console.css': 'text/css; charset=utf-8',
    };
    expect(CONSOLE_FILES.flatMap((file) => file.routes).sort()).toEqual(Object.keys(expected).sort());
    for (const [url, type] of Object.entries(expected)) {
      const answer = await meta.app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(200);
      expect(answer.headers['content-type'], url).toBe(type);
      expect(answer.headers['x-content-type-options'], url).toBe('nosniff');
      expect(answer.headers['cache-control'], url).toBe('no-cache');
      expect(String(answer.headers['content-security-policy']), url).toContain("script-src 'self'");
      const file = CONSOLE_FILES.find((f) => f.routes.includes(url))?.file as string;
      expect(answer.rawPayload.equals(await readFile(join(CONSOLE_STATIC_DIR, file))), url).toBe(true);
      const head = await meta.app.inject({ method: 'HEAD', url });
      expect(head.statusCode, `HEAD ${url}`).toBe(200);
    }
    const page = (await meta.app.inject({ method: 'GET', url: '/ui' })).payload;
    expect(page).toContain('<script type="module" src="/ui/console.js"></script>');
    expect(page).toContain('href="/ui/console.css"');
  });

  it('answers 404 for any other path under /ui (no file is looked up by request path)', async () => {
    for (const url of ['/ui/index.html', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/console.js.map']) {
      const answer = await meta.app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json(), url).toMatchObject({ code: 'GRN_NO_ROUTE' });
    }
  });

  it('still guards every API route the page calls: 401 without a token, 200 with the admin token', async () => {
    for (const url of ['/v1/nodes', '/v1/tables', '/v1/repair?limit=10', '/v1/gc?limit=5', '/v1/jobs?limit=50']) {
      const refused = await meta.app.inject({ method: 'GET', url });
      expect(refused.statusCode, url).toBe(401);
      expect(refused.json(), url).toMatchObject({ code: 'GRN_UNAUTHENTICATED' });
      const allowed = await meta.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${meta.adminToken}` } });
      expect(allowed.statusCode, `${url}: ${allowed.payload.slice(0, 200)}`).toBe(200);
    }
  });

  it('is read-only: the script fetches with GET only, and only routes whose rule is a GET', async () => {
    const script = await readFile(join(CONSOLE_STATIC_DIR, 'console.js'), 'utf8');
    expect(script).not.toMatch(/\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write/);
    const methods = [...script.matchAll(/method:\s*'([A-Z]+)'/g)].map((m) => m[1]);
    expect(methods).toEqual(['GET']);
    expect(script.match(/\bfetch\(/g)).toHaveLength(1);
    // Every path literal the script passes to api(), with each ${…} read as a route parameter.
    const called = [...script.matchAll(/api\(\s*[`']([^`'?]+)/g)].map((m) => (m[1] as string).replace(/\$\{[^}]*\}/g, ':param'));
    expect(called.length).toBeGreaterThanOrEqual(7);
    const getRoutes = Object.keys(METADATA_AUTH_RULES)
      .filter((key) => key.startsWith('GET '))
      .map((key) => key.slice(4).replace(/:[a-z]+/gi, ':param'));
    for (const path of called) {
      // `${path}/partitions` starts from the table's own path: the template's head is a parameter.
      const resolved = path.startsWith(':param') ? `/v1/tables/:param${path.slice(':param'.length)}` : path;
      expect(getRoutes, path).toContain(resolved);
    }
  });

  it('serves the API and explains at /ui when the console files are missing from the package', async () => {
    const empty = await makeTempDir('console-missing');
    try {
      const missing = await loadConsoleAssets(empty.path).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(missing).toBeInstanceOf(ConsoleFilesMissingError);
      const app = Fastify();
      installErrorHandlers(app);
      await app.register(consoleRoutes, { assets: missing as ConsoleFilesMissingError });
      const answer = await app.inject({ method: 'GET', url: '/ui' });
      expect(answer.statusCode).toBe(503);
      expect(answer.json()).toMatchObject({ code: 'GRN_UNAVAILABLE' });
      expect(answer.json().message).toContain('npm run build copies metadata/console/static');
      await app.close();
    } finally {
      await empty.remove();
    }
  });
});
