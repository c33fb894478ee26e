/**
 * GET /ui and its two assets: the read-only web console (metadata/console/). Public routes
 * (metadata/auth-rules.ts): the files hold no data, and the page sends the token the operator
 * pastes with each API call it makes, which the API checks as it checks the CLI's.
 */
import type { FastifyInstance } from 'fastify';
import { GranaryError } from '../../protocol/index.js';
import { CONSOLE_FILES, type ConsoleAssets, ConsoleFilesMissingError } from '../console/console-assets.js';

/**
 * The page may load only its own script and style, call only this service's API, and not be
 * framed: user data it shows (table, column and job names) can then never run as code, even if a
 * future change let one into the markup.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function consoleRoutes(app: FastifyInstance, options: { readonly assets: ConsoleAssets | ConsoleFilesMissingError }): Promise<void> {
  const { assets } = options;
  for (const route of CONSOLE_FILES.flatMap((file) => file.routes)) {
    app.get(route, async (_request, reply) => {
      if (assets instanceof ConsoleFilesMissingError) throw new GranaryError('GRN_UNAVAILABLE', assets.message, { cause: assets });
      const asset = assets.get(route);
      // Every route registered here comes from the same list the assets were loaded from.
      if (asset === undefined) throw new GranaryError('GRN_INTERNAL', `console asset for ${route} was not loaded`);
      return reply
        .type(asset.contentType)
        // Revalidated on each load, so a browser never keeps a page of an older service.
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .send(asset.body);
    });
  }
}
