/**
 * A fuzzer for every route of a fastify app, through `app.inject()`. Routes come from the app
 * itself (printRoutes), so a route added tomorrow is fuzzed without anyone listing it. Each case
 * is a random or mutated body (JSON or msgpack, with shared references, extension bytes, lying
 * lengths, deep nesting, prototype keys, trailing bytes), a content type that may not match it,
 * and random path parameters and query strings. A valid body per route, where the caller gives
 * one, is the seed that mutations start from, so cases reach handlers and not only parsers.
 *
 * Bad input must never get a 5xx; every batch of cases is followed by a /health probe that must
 * answer within HEALTH_MS_MAX.
 */
import type { FastifyInstance, HTTPMethods, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { Packr, pack } from 'msgpackr';
import { EXTENSION_PIECES, HUGE_DECLARATIONS, deepArrays, deepMaps, sharedReferenceTrailingBomb } from './evil-msgpack.js';

export interface FuzzRoute {
  readonly method: HTTPMethods;
  /** The route's pattern, as registered (`/v1/tables/:name`). */
  readonly url: string;
  readonly params: readonly string[];
}

/** `METHOD url`, the key of templates and of the report. */
export function routeKey(route: Pick<FuzzRoute, 'method' | 'url'>): string {
  return `${route.method} ${route.url}`;
}

/**
 * Every route of `app` but HEAD (fastify adds one per GET; it runs the GET's handler). Read from
 * printRoutes' tree: each line is a path segment indented four columns per level, with the
 * methods that answer there.
 */
export function routesOf(app: FastifyInstance): FuzzRoute[] {
  const routes: FuzzRoute[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([^)]*)\))?$/u.exec(line);
    if (match === null) continue;
    const depth = (match[1] as string).length / 4;
    const path = (prefixes[depth - 1] ?? '') + (match[2] as string);
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method === '' || method === 'HEAD') continue;
      routes.push({ method: method as HTTPMethods, url: path, params: [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string) });
    }
  }
  for (const route of routes) {
    if (!app.hasRoute({ method: route.method, url: route.url })) throw new Error(`printRoutes parsed into ${routeKey(route)}, which the app does not have`);
  }
  return routes;
}

export interface FuzzTarget {
  readonly name: string;
  readonly app: FastifyInstance;
  /** Sent with every case (a token, when the service checks them). */
  readonly headers: Readonly<Record<string, string>>;
  /** A valid body per route key, the seed of mutated bodies. */
  readonly templates: Readonly<Record<string, unknown>>;
  /** Values per path parameter name that name real objects, so cases get past lookups. */
  readonly knownParams: Readonly<Record<string, readonly string[]>>;
  /** Query keys the service reads. */
  readonly queryKeys: readonly string[];
  /**
   * Runs before each route's cases: puts back what earlier routes' cases destroyed (a dropped
   * table, a closed session, drained nodes), updating `knownParams` and `templates` in place, so
   * late routes are not fuzzed only against 404s.
   */
  readonly beforeRoute?: () => Promise<void>;
}

export interface FuzzCase {
  readonly params: readonly string[];
  readonly query: string;
  readonly contentType: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  /** How the body was made, for the report and for reading a failure. */
  readonly kind: string;
}

export interface RouteReport {
  readonly route: string;
  cases: number;
  /** Answers by status class. */
  readonly statuses: Record<string, number>;
  /** The most CPU time one case took (the process's, so a case that blocks shows; a busy machine does not). */
  slowestCpuMs: number;
  /** That case, described. */
  slowestCase: string;
  /** Wall-clock time spent on the route. */
  elapsedMs: number;
}

export interface FuzzReport {
  readonly routes: RouteReport[];
  /** One line per case that answered 5xx, threw, or was slow; empty when all is well. */
  readonly failures: string[];
  healthMsMax: number;
}

/** A case taking more CPU than this is a failure: the bombs took seconds to minutes. */
export const CASE_CPU_MS_MAX = 2_000;
/** /health after each batch must answer within this. */
export const HEALTH_MS_MAX = 1_000;
/** Cases between two /health probes. */
const BATCH_CASES = 25;
/** Failures printed in full (the rest are counted). */
const FAILURES_KEPT = 50;

const CONTENT_TYPES = [
  'application/json',
  'application/msgpack',
  'application/json; charset=utf-8',
  'application/msgpack; charset=binary',
  'APPLICATION/JSON',
  'application/jsonx',
  'application/x-msgpack',
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '*/*',
  ';',
] as const;

/** Values that have broken parsers, validators or arithmetic somewhere. */
const WILD_CONSTANTS: readonly unknown[] = [
  -1, 0, -0, 0.5, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53), 1e308, Number.MIN_VALUE,
  '', ' ', '..', '../../etc/passwd', '%00', '\u0000', 'node-0', 'ds=2026-01-01', '0123456789abcdef', 'x'.repeat(5_000),
  true, false, null, [], {}, [[]], { '': null },
];

const wildValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...WILD_CONSTANTS) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 80, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
);

type Op = 'replace' | 'delete' | 'add' | 'repeat' | 'nest' | 'evil' | 'proto';

interface Mutation {
  readonly at: number;
  readonly op: Op;
  readonly value: unknown;
  readonly times: number;
  readonly key: string;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom<Op>('replace', 'replace', 'delete', 'add', 'repeat', 'nest', 'evil', 'evil', 'proto'),
  value: wildValue,
  times: fc.oneof(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 100, max: 3_000 })),
  key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'extra'), fc.string({ maxLength: 12 })),
});

/** Pieces spliced into msgpack where an `evil` mutation left a marker. */
const EVIL_PIECES: readonly Buffer[] = [...EXTENSION_PIECES, ...HUGE_DECLARATIONS, deepArrays(40), deepMaps(40), deepArrays(3_000), Buffer.from([0xc1])];
const MARKER = '\u0001evil:';

type Path = readonly (string | number)[];

/** Paths to the values of `root`, breadth first, the first PATHS_MAX of them (bodies may be huge or deep). */
function pathsOf(root: unknown): Path[] {
  const out: Path[] = [];
  const queue: { readonly value: unknown; readonly path: Path }[] = [{ value: root, path: [] }];
  for (let next = 0; next < queue.length && out.length < PATHS_MAX; next++) {
    const { value, path } = queue[next] as { readonly value: unknown; readonly path: Path };
    out.push(path);
    if (Array.isArray(value)) value.slice(0, PATHS_MAX).forEach((item, i) => queue.push({ value: item, path: [...path, i] }));
    else if (typeof value === 'object' && value !== null) for (const [key, item] of Object.entries(value)) queue.push({ value: item, path: [...path, key] });
  }
  return out;
}
const PATHS_MAX = 2_000;
/** Arrays one `nest` mutation wraps a value in; msgpackr's pack recurses, so a few thousand at most in all. */
const NEST_DEPTH_MAX = 300;

/** An own, enumerable property, even for `__proto__` (plain assignment would set the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function mutate(root: unknown, original: Mutation): unknown {
  // A fresh copy: WILD_CONSTANTS' objects are shared by every case, and a mutation that lands
  // inside one would change it for all later cases (and can close a cycle).
  const mutation = { ...original, value: structuredClone(original.value) };
  const paths = pathsOf(root);
  const path = paths[mutation.at % paths.length] as Path;
  const replaceAt = (make: (old: unknown) => unknown): unknown => {
    if (path.length === 0) {
      const next = make(root);
      return next === DELETE ? {} : next;
    }
    let parent = root as Record<string | number, unknown>;
    for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    const next = make(parent[last]);
    if (next === DELETE) {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
    } else if (typeof last === 'string') setOwn(parent, last, next);
    else parent[last] = next;
    return root;
  };
  switch (mutation.op) {
    case 'replace':
      return replaceAt(() => mutation.value);
    case 'delete':
      return replaceAt(() => DELETE);
    case 'add':
      return replaceAt((old) => {
        if (Array.isArray(old)) return [...old, mutation.value];
        if (typeof old === 'object' && old !== null) {
          const copy = { ...old } as Record<string, unknown>;
          setOwn(copy, mutation.key, mutation.value);
          return copy;
        }
        return mutation.value;
      });
    case 'repeat':
      // One object many times over: msgpackr's structured clone writes it as shared references.
      return replaceAt((old) => new Array<unknown>(mutation.times).fill(Array.isArray(old) ? (old[0] ?? old) : old));
    case 'nest':
      return replaceAt((old) => {
        let nested = old;
        for (let i = 0; i < Math.min(mutation.times, NEST_DEPTH_MAX); i++) nested = [nested];
        return nested;
      });
    case 'evil':
      return replaceAt(() => `${MARKER}${mutation.times % EVIL_PIECES.length}`);
    case 'proto':
      return replaceAt((old) => {
        const polluted = typeof old === 'object' && old !== null && !Array.isArray(old) ? { ...old } : {};
        setOwn(polluted, mutation.key === 'constructor' ? 'constructor' : '__proto__', mutation.key === 'constructor' ? { prototype: { polluted: true } } : { polluted: true });
        return polluted;
      });
  }
}
const DELETE = Symbol('delete');

const sharedPackr = new Packr({ structuredClone: true });

/** Replaces each packed marker string with its evil piece. */
function spliceEvil(bytes: Buffer): Buffer {
  let out = bytes;
  for (let i = 0; i < EVIL_PIECES.length; i++) {
    const marker = pack(`${MARKER}${i}`);
    for (let at = out.indexOf(marker); at >= 0; at = out.indexOf(marker, at + 1)) {
      out = Buffer.concat([out.subarray(0, at), EVIL_PIECES[i] as Buffer, out.subarray(at + marker.length)]);
    }
  }
  return out;
}

interface Body {
  readonly bytes: Buffer | undefined;
  readonly type: 'json' | 'msgpack' | 'raw' | 'none';
  readonly kind: string;
}

/** `arbitrary` once in `every` cases, else null. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

function tail(bytes: Buffer, trailing: Uint8Array | null, cut: number | null): Buffer {
  let out = bytes;
  if (cut !== null && out.length > 1) out = out.subarray(0, cut % out.length);
  if (trailing !== null) out = Buffer.concat([out, trailing]);
  return out;
}

function bodyArb(template: unknown): fc.Arbitrary<Body> {
  const base = template ?? {};
  const mutated = fc.array(mutationArb, { minLength: 0, maxLength: 3 }).map((mutations) => {
    let value: unknown = structuredClone(base);
    for (const mutation of mutations) value = mutate(value, mutation);
    return { value, ops: mutations.map((m) => m.op).join('+') || 'valid' };
  });
  const edges = { trailing: rarely(fc.uint8Array({ minLength: 1, maxLength: 8 }), 6), cut: rarely(fc.nat(), 8) };

  const jsonTemplate = fc.record({ m: mutated, ...edges }).map(({ m, trailing, cut }): Body => ({
    bytes: tail(Buffer.from(JSON.stringify(m.value) ?? 'null'), trailing, cut),
    type: 'json',
    kind: `json:${m.ops}${trailing === null ? '' : '+trailing'}${cut === null ? '' : '+cut'}`,
  }));
  const msgpackTemplate = fc.record({ m: mutated, shared: fc.boolean(), ...edges }).map(({ m, shared, trailing, cut }): Body => ({
    bytes: tail(spliceEvil(shared ? sharedPackr.pack(m.value) : pack(m.value)), trailing, cut),
    type: 'msgpack',
    kind: `msgpack${shared ? '-shared' : ''}:${m.ops}${trailing === null ? '' : '+trailing'}${cut === null ? '' : '+cut'}`,
  }));
  const jsonText = fc
    .oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v), kind: 'json:random' })),
      fc.integer({ min: 1, max: 30_000 }).map((n) => ({ text: '['.repeat(n) + ']'.repeat(n), kind: 'json:deep-arrays' })),
      fc.integer({ min: 1, max: 8_000 }).map((n) => ({ text: '{"a":'.repeat(n) + '1' + '}'.repeat(n), kind: 'json:deep-objects' })),
      fc.constantFrom('{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"a":{"__proto__":{"x":1}}}').map((text) => ({
        text,
        kind: 'json:proto',
      })),
      fc.constantFrom('', ' ', '{', '[1,', '"\\ud800"', '1e999999', '-', '{"a":1}{"a":2}', '\ufeff{}', 'null', 'nul').map((text) => ({ text, kind: 'json:odd' })),
    )
    .map(({ text, kind }): Body => ({ bytes: Buffer.from(text), type: 'json', kind }));
  const protoTemplate = fc.constantFrom('__proto__', 'constructor').map((key): Body => {
    const text = JSON.stringify(base);
    const injected = key === '__proto__' ? '"__proto__":{"polluted":true}' : '"constructor":{"prototype":{"polluted":true}}';
    const bytes = text.startsWith('{') ? `{${injected}${text.length > 2 ? ',' : ''}${text.slice(1)}` : `{${injected}}`;
    return { bytes: Buffer.from(bytes), type: 'json', kind: `json:template+${key}` };
  });
  const msgpackRaw = fc
    .oneof(
      fc.constantFrom(...EVIL_PIECES).map((bytes) => ({ bytes, kind: 'msgpack:evil-piece' })),
      fc.constant({ bytes: sharedReferenceTrailingBomb(), kind: 'msgpack:trailing-bomb' }),
      fc.integer({ min: 1, max: 60_000 }).map((n) => ({ bytes: deepArrays(n), kind: 'msgpack:deep' })),
      fc.jsonValue({ maxDepth: 4 }).map((v) => ({ bytes: pack(v), kind: 'msgpack:random' })),
      fc.uint8Array({ minLength: 1, maxLength: 256 }).map((b) => ({ bytes: Buffer.concat([Buffer.from([0x80 | (b[0] ?? 0) % 16]), b]), kind: 'msgpack:random-bytes' })),
    )
    .map(({ bytes, kind }): Body => ({ bytes, type: 'msgpack', kind }));
  const raw = fc.uint8Array({ maxLength: 512 }).map((b): Body => ({ bytes: Buffer.from(b), type: 'raw', kind: 'raw' }));
  return fc.oneof(
    { weight: 6, arbitrary: jsonTemplate },
    { weight: 7, arbitrary: msgpackTemplate },
    { weight: 2, arbitrary: protoTemplate },
    { weight: 3, arbitrary: jsonText },
    { weight: 3, arbitrary: msgpackRaw },
    { weight: 1, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant<Body>({ bytes: undefined, type: 'none', kind: 'none' }) },
  );
}

function paramArb(name: string, known: readonly string[]): fc.Arbitrary<string> {
  const odd = fc.constantFrom('..', '%2e%2e', '%00', '%ff', '%zz', 'a%2Fb', '%20', 'x'.repeat(2_000), '__proto__', 'constructor', '0', '-1', 'A', 'node-0');
  const random = fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }).map(encodeURIComponent);
  const arbitraries = [
    { weight: 3, arbitrary: random },
    { weight: 2, arbitrary: odd },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._=-]{0,40}$/) },
  ];
  if (known.length > 0) arbitraries.push({ weight: 4, arbitrary: fc.constantFrom(...known).map(encodeURIComponent) });
  void name;
  return fc.oneof(...arbitraries);
}

function queryArb(keys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(fc.constantFrom(...keys, '__proto__', 'constructor[prototype][x]', 'a[b][c]'), fc.string({ maxLength: 10 }));
  const value = fc.oneof(fc.constantFrom('msgpack', 'json', 'true', 'false', '0', '-1', '1e309', '9007199254740993', '', 'x'.repeat(5_000)), fc.string({ maxLength: 20 }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    { weight: 4, arbitrary: fc.array(fc.tuple(key, value), { maxLength: 4 }).map((pairs) => new URLSearchParams(pairs).toString()) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz=1', '&&&', '=', 'a=1&a=2&a=3', 'limit=1&limit=2', '__proto__[polluted]=1') },
  );
}

function headersArb(): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          'x-granary-checksum': fc.oneof(fc.constant('0123456789abcdef'), fc.stringMatching(/^[0-9a-f]{16}$/), fc.string({ maxLength: 20, unit: 'binary-ascii' }).map((s) => s.replace(/[^ -~]/g, ''))),
          'x-granary-replace': fc.constantFrom('1', 'true', 'yes', ''),
          'content-encoding': fc.constantFrom('gzip', 'identity', 'br'),
        },
        { requiredKeys: [] },
      ),
    },
  );
}

export function caseArb(route: FuzzRoute, target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      params: fc.tuple(...route.params.map((name) => paramArb(name, target.knownParams[name] ?? []))),
      query: queryArb(target.queryKeys),
      body: bodyArb(target.templates[routeKey(route)]),
      matchType: fc.nat({ max: 9 }),
      otherType: fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 10 }),
      headers: headersArb(),
    })
    .map(({ params, query, body, matchType, otherType, headers }): FuzzCase => {
      // Mostly the type that matches the body, so bodies reach their parser; else any.
      const matching = body.type === 'json' ? 'application/json' : body.type === 'msgpack' ? 'application/msgpack' : body.type === 'raw' ? 'application/octet-stream' : undefined;
      const contentType = matchType < 8 ? matching : (otherType ?? undefined);
      return { params, query, contentType, headers, body: body.bytes, kind: body.kind };
    });
}

export function pathOf(route: FuzzRoute, params: readonly string[]): string {
  let i = 0;
  return route.url.replace(/:([A-Za-z0-9_]+)/g, () => params[i++] as string);
}

export function describeCase(route: FuzzRoute, fuzzCase: FuzzCase): string {
  const url = pathOf(route, fuzzCase.params) + (fuzzCase.query === '' ? '' : `?${fuzzCase.query}`);
  const body = fuzzCase.body;
  const preview =
    body === undefined ? 'none' : fuzzCase.kind.startsWith('json') ? JSON.stringify(body.subarray(0, 300).toString('utf8')) : `0x${body.subarray(0, 160).toString('hex')}`;
  return `${route.method} ${url.slice(0, 300)} content-type=${fuzzCase.contentType ?? '(none)'} headers=${JSON.stringify(fuzzCase.headers)} body[${fuzzCase.kind}, ${body?.length ?? 0} B]=${preview}`;
}

export async function inject(target: FuzzTarget, route: FuzzRoute, fuzzCase: FuzzCase): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...fuzzCase.headers, ...target.headers };
  if (fuzzCase.contentType !== undefined) headers['content-type'] = fuzzCase.contentType;
  const url = pathOf(route, fuzzCase.params) + (fuzzCase.query === '' ? '' : `?${fuzzCase.query}`);
  return target.app.inject({ method: route.method, url, headers, ...(fuzzCase.body === undefined ? {} : { payload: fuzzCase.body }) });
}

async function probeHealth(target: FuzzTarget, report: FuzzReport, after: string): Promise<void> {
  const started = performance.now();
  const health = await target.app.inject({ method: 'GET', url: '/health', headers: { ...target.headers } });
  const ms = performance.now() - started;
  report.healthMsMax = Math.max(report.healthMsMax, ms);
  if (health.statusCode !== 200 || ms > HEALTH_MS_MAX) report.failures.push(`${target.name}: /health answered ${health.statusCode} in ${ms.toFixed(0)} ms after ${after}`);
}

function recordFailure(report: FuzzReport, line: string): void {
  if (report.failures.length < FAILURES_KEPT) report.failures.push(line);
  else if (report.failures.length === FAILURES_KEPT) report.failures.push('... more failures not shown');
}

/**
 * Fuzzes every route of `target` for about `msTotal` in all, an equal share each, from `seed`
 * (each route its own seed, so one route's cases do not shift when another is added).
 */
export async function fuzzRoutes(
  target: FuzzTarget,
  options: { readonly seed: number; readonly msTotal: number; readonly onProgress?: (line: string) => void },
): Promise<FuzzReport> {
  const routes = routesOf(target.app);
  const report: FuzzReport = { routes: [], failures: [], healthMsMax: 0 };
  const msPerRoute = Math.max(50, options.msTotal / routes.length);
  for (const route of routes) {
    const key = routeKey(route);
    await target.beforeRoute?.();
    const routeStarted = performance.now();
    const line: RouteReport = { route: key, cases: 0, statuses: {}, slowestCpuMs: 0, slowestCase: '', elapsedMs: 0 };
    report.routes.push(line);
    const seed = options.seed ^ hash(key);
    const property = fc.asyncProperty(caseArb(route, target), async (fuzzCase) => {
      const cpuBefore = process.cpuUsage();
      let status: string;
      try {
        const response = await inject(target, route, fuzzCase);
        status = `${Math.floor(response.statusCode / 100)}xx`;
        if (response.statusCode >= 500) recordFailure(report, `${target.name}: ${response.statusCode} ${response.payload.slice(0, 300)} <- ${describeCase(route, fuzzCase)} (seed ${seed})`);
      } catch (error) {
        status = 'threw';
        recordFailure(report, `${target.name}: inject threw ${(error as Error).message} <- ${describeCase(route, fuzzCase)} (seed ${seed})`);
      }
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (cpuMs > CASE_CPU_MS_MAX) recordFailure(report, `${target.name}: took ${cpuMs.toFixed(0)} ms of CPU <- ${describeCase(route, fuzzCase)} (seed ${seed})`);
      if (cpuMs > line.slowestCpuMs) {
        line.slowestCpuMs = cpuMs;
        line.slowestCase = describeCase(route, fuzzCase);
      }
      line.statuses[status] = (line.statuses[status] ?? 0) + 1;
      line.cases++;
      if (line.cases % BATCH_CASES === 0) await probeHealth(target, report, `case ${line.cases} of ${key}`);
    });
    const details = await fc.check(property, { seed, numRuns: 1_000_000_000, interruptAfterTimeLimit: msPerRoute, markInterruptAsFailure: false, endOnFailure: true });
    // On a loaded machine a route's share of time can pass before its first case ends, which
    // fast-check counts as a failure: every route still gets at least one case, without a limit.
    if (details.interrupted && details.numRuns === 0) await fc.assert(property, { seed, numRuns: 1 });
    else if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `fuzzing ${key} failed (seed ${seed})`);
    await probeHealth(target, report, `the last case of ${key}`);
    line.elapsedMs = performance.now() - routeStarted;
    options.onProgress?.(`${target.name}: ${key}: ${line.cases} cases in ${line.elapsedMs.toFixed(0)} ms`);
  }
  return report;
}

/** FNV-1a: a stable per-route seed offset. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function formatReport(target: string, report: FuzzReport): string {
  const width = Math.max(...report.routes.map((r) => r.route.length), 5);
  const lines = [
    `${target}: fuzz cases per route (/health answered within ${report.healthMsMax.toFixed(0)} ms at worst)`,
    `${'route'.padEnd(width)}  cases    2xx    4xx  5xx  max case CPU ms  route ms`,
  ];
  for (const r of report.routes) {
    const s = r.statuses;
    const cells = [String(r.cases).padStart(5), String(s['2xx'] ?? 0).padStart(5), String(s['4xx'] ?? 0).padStart(5), String(s['5xx'] ?? 0).padStart(3)];
    lines.push(`${r.route.padEnd(width)}  ${cells.join('  ')}  ${r.slowestCpuMs.toFixed(0).padStart(15)}  ${r.elapsedMs.toFixed(0).padStart(8)}`);
  }
  lines.push(`${'total'.padEnd(width)}  ${String(report.routes.reduce((n, r) => n + r.cases, 0)).padStart(5)}`);
  const slowest = [...report.routes].sort((a, b) => b.slowestCpuMs - a.slowestCpuMs).slice(0, 3);
  lines.push('costliest cases:', ...slowest.map((r) => `  ${r.slowestCpuMs.toFixed(0)} ms CPU: ${r.slowestCase.slice(0, 400)}`));
  return lines.join('\n');
}
