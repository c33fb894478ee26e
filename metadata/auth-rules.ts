/**
 * Who may call each metadata route: one table, keyed by method and route pattern, so the whole
 * policy can be read in one place and a route added without a rule fails to register (and the
 * route-matrix test). See docs/design.md, "Security".
 */
import type { Role } from '../protocol/auth-types.js';

export type AuthRule =
  /**
   * Answered to anyone: probes and scrapers hold no token, and these show only counts (or, for the
   * console's static files, nothing but code).
   */
  | { readonly public: true }
  | {
      readonly roles: readonly Role[];
      /**
       * Where the table a writer or reader token must be scoped to comes from: the `:name`
       * parameter, or the table of the write session `:id` (whose opener alone may use it).
       */
      readonly table?: 'name' | 'session';
      /**
       * For node tokens: the node the request speaks for must be the token's own, taken from the
       * `:id` parameter, the registration body, or the node a repair task `:task` was given to.
       */
      readonly node?: 'id' | 'registration' | 'task';
    };

const ADMIN: readonly Role[] = ['admin'];
const READ: readonly Role[] = ['admin', 'writer', 'reader'];

export const METADATA_AUTH_RULES: Readonly<Record<string, AuthRule>> = {
  'GET /health': { public: true },
  'GET /metrics': { public: true },
  // The web console's page, script and stylesheet hold no data; its API calls carry the token
  // the operator pastes and meet the rules below like any other client's.
  'GET /ui': { public: true },
  'GET /ui/': { public: true },
  'GET /ui/console.js': { public: true },
  'GET /ui/console.css': { public: true },

  'POST /v1/tables': { roles: ADMIN },
  // Readers and writers see only the tables in their scope.
  'GET /v1/tables': { roles: READ },
  'GET /v1/tables/:name': { roles: READ, table: 'name' },
  'PATCH /v1/tables/:name': { roles: ADMIN },
  'DELETE /v1/tables/:name': { roles: ADMIN },
  'GET /v1/tables/:name/partitions': { roles: READ, table: 'name' },
  'GET /v1/tables/:name/partitions/:partition': { roles: READ, table: 'name' },
  'GET /v1/tables/:name/partitions/:partition/files': { roles: READ, table: 'name' },
  'DELETE /v1/tables/:name/partitions/:partition': { roles: ADMIN },
  'DELETE /v1/tables/:name/partitions/:partition/files/:fileId': { roles: ADMIN },
  'GET /v1/tables/:name/popularity': { roles: READ, table: 'name' },
  // Re-layout reads whole files and rewrites them: admins only (the worker runs with an admin token).
  'GET /v1/tables/:name/relayout': { roles: ADMIN },
  'GET /v1/tables/:name/partitions/:partition/files/:fileId/layout': { roles: ADMIN },
  'POST /v1/sessions/:id/relayout': { roles: ADMIN },
  'POST /v1/tables/:name/scan': { roles: ['admin', 'reader'], table: 'name' },
  // Readers report what their scans cost; the figures are advisory, like popularity.
  'POST /v1/tables/:name/reads': { roles: ['admin', 'reader'], table: 'name' },
  // A reader declares what it will read of a table it may read (the hot-column cache).
  'POST /v1/tables/:name/declarations': { roles: ['admin', 'reader'], table: 'name' },
  'GET /v1/declarations': { roles: ADMIN },
  // Jobs span tables: only admins see them all.
  'GET /v1/jobs': { roles: ADMIN },
  'GET /v1/jobs/:job': { roles: ADMIN },

  'POST /v1/tables/:name/sessions': { roles: ['admin', 'writer'], table: 'name' },
  'GET /v1/sessions/:id': { roles: ['admin', 'writer'], table: 'session' },
  'POST /v1/sessions/:id/renew': { roles: ['admin', 'writer'], table: 'session' },
  'POST /v1/sessions/:id/blocks': { roles: ['admin', 'writer'], table: 'session' },
  'POST /v1/sessions/:id/blocks/:blockId/replace': { roles: ['admin', 'writer'], table: 'session' },
  'POST /v1/sessions/:id/commit': { roles: ['admin', 'writer'], table: 'session' },
  'POST /v1/sessions/:id/abort': { roles: ['admin', 'writer'], table: 'session' },

  'POST /v1/nodes/register': { roles: ['node'], node: 'registration' },
  'POST /v1/nodes/:id/heartbeat': { roles: ['node'], node: 'id' },
  // Readers report what they could not read; the claim is checked with the node before it counts.
  'POST /v1/nodes/:id/corrupt': { roles: ['node', 'reader', 'admin'], node: 'id' },
  'POST /v1/nodes/:id/inventory': { roles: ['node'], node: 'id' },
  'POST /v1/nodes/:id/drain': { roles: ADMIN },
  'POST /v1/nodes/:id/undrain': { roles: ADMIN },
  'POST /v1/nodes/:id/remove': { roles: ADMIN },
  'GET /v1/nodes': { roles: ADMIN },
  'POST /v1/repairs/:task/report': { roles: ['node'], node: 'task' },
  'GET /v1/repair': { roles: ADMIN },
  'GET /v1/blocks': { roles: ADMIN },
  'GET /v1/gc': { roles: ADMIN },

  'POST /v1/tokens': { roles: ADMIN },
  'GET /v1/tokens': { roles: ADMIN },
  'DELETE /v1/tokens/:id': { roles: ADMIN },
  'POST /v1/capabilities': { roles: ADMIN },
  // The backup holds token hashes and the capability signing key: admins only.
  'GET /v1/admin/backup': { roles: ADMIN },
};

export function ruleKey(method: string, url: string): string {
  return `${method} ${url}`;
}
