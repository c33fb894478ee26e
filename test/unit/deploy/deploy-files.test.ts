/**
 * Static checks of deploy/: there is no Docker engine or cluster here, so every file is parsed and
 * checked against the code it configures. Settings come from bin/*-command.ts (read as text, and
 * cross-checked with the commander objects for defaults and value parsers), the entry point from
 * package.json, and the probe ports from each service's GRANARY_PORT.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseByteSize, parseDurationMs } from '../../../bin/cli-values.js';
import { cliCommands } from '../../../client/cli/index.js';
import { etcdMemberArgs } from '../../../deploy/etcd-flags.js';
import { NODE_ID_PATTERN } from '../../../protocol/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const K8S_HA = join(DEPLOY, 'kubernetes-ha');
const SYSTEMD = join(DEPLOY, 'systemd');

const read = (path: string): string => readFileSync(path, 'utf8');

// ---------------------------------------------------------------------------------------------
// What the code accepts, from bin/*-command.ts: read as text (the regexes below), and as the
// commander objects the files export (for defaults and value parsers).

interface CodeOption {
  readonly flags: string; // "--data <dir>"
  readonly description: string;
  readonly env: string | undefined;
}

/** The services the deploy files run (`granary up` is a development launcher); the gateway is a client of them. */
type ServiceName = 'metadata' | 'storage-node' | 'gateway';

const BIN = join(ROOT, 'bin');
const COMMAND_FILES = readdirSync(BIN)
  .filter((file) => file.endsWith('-command.ts'))
  .sort();

// The description is a single-quoted literal that may hold escaped quotes (service\'s) and be
// followed by a trailing comma.
const OPTION_PATTERN = /new Option\('(--[a-z][a-z-]*(?: <[^>]+>)?)',\s*'((?:[^'\\]|\\.)*)'\s*,?\s*\)(?:\s*\.env\('(GRANARY_[A-Z0-9_]+)'\))?/g;
const ENV_CALL_PATTERN = /\.env\('(GRANARY_[A-Z0-9_]+)'\)/g;
const GRANARY_TOKEN = /\bGRANARY_[A-Z0-9_]+\b/g;

function codeOptions(file: string): CodeOption[] {
  return [...read(join(BIN, file)).matchAll(OPTION_PATTERN)].map((m) => ({
    flags: m[1] ?? '',
    description: (m[2] ?? '').replace(/\\(.)/g, '$1'),
    env: m[3],
  }));
}

/** Each bin/*-command.ts exports one factory, e.g. metadataCommand(). */
async function loadCommand(file: string): Promise<Command> {
  const module = (await import(pathToFileURL(join(BIN, file)).href)) as Record<string, unknown>;
  const factories = Object.entries(module).filter(([name, value]) => name.endsWith('Command') && typeof value === 'function');
  expect(factories.map(([name]) => name), file).toHaveLength(1);
  return (factories[0]?.[1] as () => Command)();
}

const COMMANDS = new Map<string, { file: string; command: Command; options: CodeOption[] }>();
for (const file of COMMAND_FILES) {
  const command = await loadCommand(file);
  COMMANDS.set(command.name(), { file, command, options: codeOptions(file) });
}

function commandOf(name: string): { file: string; command: Command; options: CodeOption[] } {
  const found = COMMANDS.get(name);
  if (found === undefined) throw new Error(`no bin/*-command.ts defines \`granary ${name}\``);
  return found;
}

const envsOf = (name: string): Set<string> =>
  new Set(commandOf(name).options.flatMap((o) => (o.env === undefined ? [] : [o.env])));
const ENVS: Record<ServiceName, Set<string>> = { metadata: envsOf('metadata'), 'storage-node': envsOf('storage-node'), gateway: envsOf('gateway') };
/** Variables the libraries read themselves (`env.GRANARY_…`), not through a command's options. */
function libraryEnvs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return libraryEnvs(path);
    if (!entry.name.endsWith('.ts')) return [];
    return [...read(path).matchAll(/\benv\.(GRANARY_[A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
  });
}
const LIBRARY_ENVS = ['erasure', 'client', 'protocol'].flatMap((dir) => libraryEnvs(join(ROOT, dir)));
const ALL_ENVS = new Set([...[...COMMANDS.keys()].flatMap((name) => [...envsOf(name)]), ...LIBRARY_ENVS]);

function commanderOption(service: string, env: string): Option {
  const option = commandOf(service).command.options.find((o) => o.envVar === env);
  if (option === undefined) throw new Error(`${service} has no option with env ${env}`);
  return option;
}

/** The variable belongs to the service, and the option's own parser (the CLI's) accepts the value. */
function expectValidValue(service: ServiceName, env: string, value: string): void {
  expect(ENVS[service], `${service} does not read ${env}`).toContain(env);
  const option = commanderOption(service, env);
  if (option.parseArg !== undefined) {
    const parseArg = option.parseArg;
    expect(() => parseArg(value, undefined), `${env}=${value}`).not.toThrow();
  }
}

function tokens(text: string): string[] {
  return [...new Set(text.match(GRANARY_TOKEN) ?? [])];
}

const PACKAGE = JSON.parse(read(join(ROOT, 'package.json'))) as {
  version: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};
const BIN_PATH = PACKAGE.bin.granary ?? '';
const METADATA_PORT = Number(commanderOption('metadata', 'GRANARY_PORT').defaultValue);
const NODE_PORT = Number(commanderOption('storage-node', 'GRANARY_PORT').defaultValue);
const GATEWAY_PORT = Number(commanderOption('gateway', 'GRANARY_GATEWAY_PORT').defaultValue);

// ---------------------------------------------------------------------------------------------
// Parsed deploy files.

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  entrypoint?: string[];
  restart?: string;
  command?: string[];
  environment?: Record<string, unknown>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  networks?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string; scheme?: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; defaultMode?: number }; emptyDir?: { medium?: string } }[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  affinity?: {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: { topologyKey: string; labelSelector: LabelSelector } }[];
    };
  };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
}
interface StatefulSet extends K8sObject {
  spec: {
    serviceName: string;
    replicas: number;
    selector: LabelSelector;
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }[];
  };
}
interface Deployment extends K8sObject {
  spec: { replicas: number; selector: LabelSelector; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Service extends K8sObject {
  spec: { clusterIP?: string; selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string }[] };
}

function parseCompose(file = 'compose.yaml'): ComposeFile {
  // Compose files use YAML merge keys (<<: *anchor), as docker compose does.
  return parse(read(join(DEPLOY, file)), { merge: true, strict: true }) as ComposeFile;
}

function parseK8s(file: string, dir = K8S): K8sObject[] {
  const documents = parseAllDocuments(read(join(dir, file)));
  if (!Array.isArray(documents)) return [];
  for (const document of documents) {
    expect(document.errors, `${file}: ${document.errors.map((e) => e.message).join('; ')}`).toEqual([]);
    expect(document.warnings, file).toEqual([]);
  }
  return documents.map((document) => document.toJS() as K8sObject).filter((object) => object !== null);
}

function findKind<T extends K8sObject>(objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

function only<T>(items: T[], what: string): T {
  expect(items, what).toHaveLength(1);
  return items[0] as T;
}

function envValue(container: Container, name: string): string {
  const found = container.env?.find((e) => e.name === name);
  expect(found?.value, `${container.name}: ${name}`).toBeTypeOf('string');
  return found?.value ?? '';
}

function fieldRef(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** A systemd unit or env file as [section, key, value] entries in order. */
function parseUnit(text: string): { section: string; key: string; value: string }[] {
  const entries: { section: string; key: string; value: string }[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not a key=value line: ${line}`);
    entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return entries;
}

function unitValues(entries: ReturnType<typeof parseUnit>, key: string, section = 'Service'): string[] {
  return entries.filter((e) => e.section === section && e.key === key).map((e) => e.value);
}

/** Environment= lines of a unit as name -> value (one assignment per line, as written here). */
function unitEnvironment(entries: ReturnType<typeof parseUnit>): Map<string, string> {
  const env = new Map<string, string>();
  for (const assignment of unitValues(entries, 'Environment')) {
    const eq = assignment.indexOf('=');
    expect(eq, assignment).toBeGreaterThan(0);
    env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
  }
  return env;
}

/** KEY=VALUE lines of an env file; commented-out assignments (#KEY=VALUE) too, flagged. */
function envFile(text: string): { key: string; value: string; commented: boolean }[] {
  const out: { key: string; value: string; commented: boolean }[] = [];
  for (const raw of text.split('\n')) {
    const m = /^(#)?([A-Z][A-Z0-9_]*)=(\S*)$/.exec(raw.trim());
    if (m !== null) out.push({ key: m[2] ?? '', value: m[3] ?? '', commented: m[1] === '#' });
  }
  return out;
}

interface DockerInstruction {
  readonly op: string;
  readonly args: string;
}
interface DockerStage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: DockerInstruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: DockerStage[] } {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (m === null) throw new Error(`not a Dockerfile instruction: ${line}`);
    const op = (m[1] ?? '').toUpperCase();
    const rest = (m[2] ?? '').replace(/\s+/g, ' ');
    if (op === 'FROM') {
      const from = /^(\S+)(?: AS (\S+))?$/i.exec(rest);
      if (from === null) throw new Error(`bad FROM: ${rest}`);
      const base = (from[1] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? '') ?? '');
      stages.push({ base, name: from[2], instructions: [] });
    } else if (stages.length === 0) {
      expect(op, 'only ARG may precede the first FROM').toBe('ARG');
      const [name, value] = rest.split('=', 2);
      if (name !== undefined && value !== undefined) args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

/** COPY sources and destination, flags (--from=, --chown=) removed. */
function copyParts(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(' ');
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

const DOCKERFILE = parseDockerfile(read(join(DEPLOY, 'Dockerfile')));

// ---------------------------------------------------------------------------------------------

describe('settings in the code', () => {
  it('finds the service commands, and every option of every bin/*-command.ts (the regex misses none)', () => {
    expect([...COMMANDS.keys()]).toEqual(expect.arrayContaining(['metadata', 'storage-node']));
    for (const [name, { file, command, options }] of COMMANDS) {
      expect(options.length, file).toBeGreaterThan(0);
      const envCalls = [...read(join(BIN, file)).matchAll(ENV_CALL_PATTERN)].map((m) => m[1]);
      expect(options.flatMap((o) => (o.env === undefined ? [] : [o.env])), file).toEqual(envCalls);
      // The text view agrees with commander's own: flags, env vars and descriptions.
      expect(
        command.options.map((o) => ({ flags: o.flags, env: o.envVar, description: o.description })),
        name,
      ).toEqual(options.map((o) => ({ flags: o.flags, env: o.env, description: o.description })));
    }
    expect(ENVS.metadata.size).toBeGreaterThan(5);
    expect(ENVS['storage-node'].size).toBeGreaterThan(10);
  });
});

describe('deploy/README.md', () => {
  const readme = read(join(DEPLOY, 'README.md'));
  // A | inside a cell is written \| (GFM), as in `--auth <on\|off>`.
  const ROW = /^\|\s*`(--[a-z][a-z-]*(?: <(?:[^>|\\]|\\\|)+>)?)`\s*\|\s*(?:`(GRANARY_[A-Z0-9_]+)`|—)\s*\|([^|]*)\|([^|]*)\|\s*$/;

  /** The settings table under "### `granary NAME` settings". */
  function table(name: string): { flags: string; env: string | undefined; defaultText: string; meaning: string }[] {
    const heading = `### \`granary ${name}\` settings`;
    const start = readme.indexOf(heading);
    expect(start, heading).toBeGreaterThanOrEqual(0);
    const next = readme.indexOf('\n#', start + heading.length);
    return readme
      .slice(start, next < 0 ? undefined : next)
      .split('\n')
      .map((line) => ROW.exec(line))
      .filter((m) => m !== null)
      .map((m) => ({ flags: (m[1] ?? '').replaceAll('\\|', '|'), env: m[2], defaultText: (m[3] ?? '').trim(), meaning: (m[4] ?? '').trim() }));
  }

  it('has a settings table for every command, listing exactly its flags and env vars, in order', () => {
    expect(COMMANDS.size).toBeGreaterThanOrEqual(2);
    for (const [name, { options }] of COMMANDS) {
      expect(table(name).map((r) => [r.flags, r.env]), name).toEqual(options.map((o) => [o.flags, o.env]));
    }
  });

  it('gives the meanings verbatim and the defaults the code uses', () => {
    for (const [name, { command, options }] of COMMANDS) {
      for (const row of table(name)) {
        expect(row.meaning, row.flags).toBe(options.find((o) => o.flags === row.flags)?.description);
        const option = command.options.find((o) => o.flags === row.flags);
        expect(option, row.flags).toBeDefined();
        if (option === undefined) continue;
        const text = row.defaultText.replace(/`/g, '');
        if (option.mandatory) {
          expect(text, row.flags).toBe('required');
        } else if (option.negate) {
          expect(text, row.flags).toMatch(/^off\b/);
        } else if (option.defaultValue === undefined) {
          expect(text, row.flags).toMatch(/^none\b/);
        } else if (option.defaultValueDescription !== undefined && typeof option.defaultValue === 'number') {
          const parse = row.flags.includes('<duration>') ? parseDurationMs : parseByteSize;
          expect(parse(text), row.flags).toBe(option.defaultValue);
        } else if (typeof option.defaultValue === 'number') {
          expect(Number(text), row.flags).toBe(option.defaultValue);
        } else {
          expect(text, row.flags).toBe(option.defaultValue);
        }
      }
    }
  });

  it('mentions no GRANARY_* variable that the code does not read', () => {
    expect(LIBRARY_ENVS).toContain('GRANARY_CODEC_THREADS');
    const mentioned = tokens(readme);
    expect(mentioned.length).toBeGreaterThan(10);
    for (const name of mentioned) expect(ALL_ENVS, name).toContain(name);
  });
});

/**
 * The gateway service of a compose file: the CLI's `gateway` command, every GRANARY_* value one
 * its parsers accept, HTTPS with its own certificate and the CA, no token of its own (callers
 * send theirs), its port published on the host loopback only, healthchecked over TLS, started
 * once the metadata services are healthy.
 */
function expectComposeGateway(s: ComposeService | undefined, metadataUrls: string, tlsDir: string, metadataServices: readonly string[]): void {
  expect(s).toBeDefined();
  const env = s?.environment ?? {};
  expect(s?.command).toEqual(['gateway']);
  for (const [key, value] of Object.entries(env)) if (key.startsWith('GRANARY_')) expectValidValue('gateway', key, String(value));
  expect(env.GRANARY_METADATA).toBe(metadataUrls);
  expect(env.GRANARY_GATEWAY_HOST).toBe('0.0.0.0');
  expect(env.GRANARY_TLS_CERT).toBe('/tls/gateway.pem');
  expect(env.GRANARY_TLS_KEY).toBe('/tls/gateway.key');
  expect(env.GRANARY_TLS_CA).toBe('/tls/ca.pem');
  expect(env.GRANARY_TOKEN_FILE, 'a token of its own would serve every caller that sends none').toBeUndefined();
  expect(env.GRANARY_TOKEN).toBeUndefined();
  expect((s?.volumes ?? []).map((v) => v.split(':'))).toEqual([[tlsDir, '/tls', 'ro']]);
  const port = Number(env.GRANARY_GATEWAY_PORT);
  expect(port).toBe(GATEWAY_PORT);
  expect(s?.ports).toEqual([`127.0.0.1:${port}:${port}`]);
  const probe = /require\('https'\)\.get\(\{ host: '127\.0\.0\.1', port: (\d+), path: '\/healthz', ca: require\('fs'\)\.readFileSync\('([^']+)'\) \}/.exec(s?.healthcheck?.test[3] ?? '');
  expect(probe?.[1]).toBe(String(port));
  expect(probe?.[2]).toBe(env.GRANARY_TLS_CA);
  expect(s?.depends_on).toEqual(Object.fromEntries(metadataServices.map((name) => [name, { condition: 'service_healthy' }])));
}

describe('deploy/compose.yaml', () => {
  const compose = parseCompose();
  const text = read(join(DEPLOY, 'compose.yaml'));
  const all = Object.entries(compose.services);
  const storage = all.filter(([, s]) => s.command?.[0] === 'storage-node');
  const metadata = all.filter(([, s]) => s.command?.[0] === 'metadata');
  /** The long-running services: the metadata service and the storage nodes. */
  const services = [...metadata, ...storage];
  const tokenService = compose.services['node-tokens'];
  const relayoutWorker = compose.services.relayout;

  it('parses, with 1 metadata service, 9 storage nodes node-0..node-8, node-tokens, the re-layout worker and the gateway, nothing else', () => {
    expect(metadata.map(([name]) => name)).toEqual(['metadata']);
    expect(storage.map(([name]) => name)).toEqual(Array.from({ length: 9 }, (_, i) => `node-${i}`));
    expect(tokenService).toBeDefined();
    expect(relayoutWorker).toBeDefined();
    expect(all.map(([name]) => name).sort()).toEqual([...services.map(([name]) => name), 'node-tokens', 'relayout', 'gateway'].sort());
  });

  it('runs the gateway over TLS with a certificate of its own, no token, published on the host loopback', () => {
    expectComposeGateway(compose.services.gateway, `https://metadata:${METADATA_PORT}`, './tls', ['metadata']);
  });

  it('runs the re-layout worker as a CLI client with the admin token, read-only, over TLS', () => {
    const s = relayoutWorker ?? {};
    const [command, ...args] = s.command ?? [];
    expect(command).toBe('relayout');
    const relayout = cliCommands().find((c) => c.name() === 'relayout');
    const known = new Set(relayout?.options.map((o) => o.long));
    for (const arg of args.filter((a) => a.startsWith('--'))) expect(known, arg).toContain(arg);
    expect(args).toContain('--watch');
    const value = (flag: string): string => args[args.indexOf(flag) + 1] ?? '';
    expect(parseDurationMs(value('--interval'))).toBeGreaterThan(0);
    expect(parseByteSize(value('--rate'))).toBeGreaterThan(0);
    expect(s.environment?.GRANARY_METADATA).toBe(`https://metadata:${METADATA_PORT}`);
    expect(s.environment?.GRANARY_TLS_CA).toBe('/tls/ca.pem');
    expect(s.volumes).toContain('./tls:/tls:ro');
    // The admin token is the metadata service's own file, in its volume, mounted read-only.
    const metadataEnv = compose.services.metadata?.environment ?? {};
    const [metadataVolume] = (compose.services.metadata?.volumes?.[0] ?? '').split(':');
    const adminMount = (s.volumes ?? []).map((v) => v.split(':')).find(([volume]) => volume === metadataVolume);
    expect(adminMount?.[2], 'the metadata volume is mounted read-only').toBe('ro');
    expect(s.environment?.GRANARY_TOKEN_FILE).toBe(posix.join(adminMount?.[1] ?? '', posix.basename(String(metadataEnv.GRANARY_ADMIN_TOKEN_FILE))));
    expect(s.environment?.GRANARY_TOKEN, 'a token in the environment shows in docker inspect').toBeUndefined();
    expect(s.depends_on).toEqual({ metadata: { condition: 'service_healthy' } });
    expect(s.ports).toBeUndefined();
  });

  it('uses only GRANARY_* variables the code reads, with values its parsers accept', () => {
    for (const [name, service] of services) {
      const kind: ServiceName = service.command?.[0] === 'metadata' ? 'metadata' : 'storage-node';
      const environment = Object.entries(service.environment ?? {});
      expect(environment.length, name).toBeGreaterThan(3);
      for (const [key, value] of environment) {
        expect(value, `${name}: ${key}`).toBeTypeOf('string');
        if (key.startsWith('GRANARY_')) expectValidValue(kind, key, String(value));
      }
    }
    for (const name of tokens(text)) expect(ALL_ENVS, name).toContain(name);
  });

  it('gives every service its own named volume at GRANARY_DATA, and every node its own id', () => {
    const volumes = services.map(([name, s]) => {
      const [mount] = s.volumes ?? [];
      const [volume, path] = (mount ?? '').split(':');
      expect(path, name).toBe(s.environment?.GRANARY_DATA);
      expect(Object.keys(compose.volumes), name).toContain(volume);
      return volume;
    });
    expect(new Set(volumes).size).toBe(10);
    const ids = storage.map(([name, s]) => {
      expect(s.environment?.GRANARY_NODE_ID, name).toBe(name);
      expect(String(s.environment?.GRANARY_NODE_ID)).toMatch(NODE_ID_PATTERN);
      return s.environment?.GRANARY_NODE_ID;
    });
    expect(new Set(ids).size).toBe(9);
  });

  it('spreads the nodes over 3 failure domains rack-0..rack-2, 3 nodes each', () => {
    const perDomain = new Map<string, number>();
    for (const [, s] of storage) {
      const domain = String(s.environment?.GRANARY_DOMAIN);
      perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
    }
    expect([...perDomain.entries()].sort()).toEqual([
      ['rack-0', 3],
      ['rack-1', 3],
      ['rack-2', 3],
    ]);
  });

  it('listens on all interfaces on the default ports, and healthchecks /health on GRANARY_PORT', () => {
    for (const [name, s] of services) {
      const port = Number(s.environment?.GRANARY_PORT);
      expect(port, name).toBe(name === 'metadata' ? METADATA_PORT : NODE_PORT);
      expect(s.environment?.GRANARY_HOST, name).toBe('0.0.0.0');
      const test = s.healthcheck?.test ?? [];
      expect(test.slice(0, 3), name).toEqual(['CMD', 'node', '-e']);
      // Over TLS, trusting the service's own CA file.
      const probe = /require\('https'\)\.get\(\{ host: '127\.0\.0\.1', port: (\d+), path: '\/health', ca: require\('fs'\)\.readFileSync\('([^']+)'\) \}/.exec(test[3] ?? '');
      expect(probe?.[1], name).toBe(String(port));
      expect(probe?.[2], name).toBe(s.environment?.GRANARY_TLS_CA);
      // A $ would be interpolated by compose.
      expect(test.join(' '), name).not.toContain('$');
    }
  });

  it('publishes the metadata and gateway ports only, on the host loopback, and nothing else', () => {
    for (const [name, s] of all) {
      if (name !== 'metadata' && name !== 'gateway') expect(s.ports, name).toBeUndefined();
      // No other way to publish: expose (to linked services only, but still) and host networking.
      expect(Object.keys(s), name).not.toContain('expose');
      expect(Object.keys(s), name).not.toContain('network_mode');
    }
    const published = compose.services.metadata?.ports ?? [];
    expect(published).toEqual([`127.0.0.1:${METADATA_PORT}:${METADATA_PORT}`]);
  });

  it('binds 0.0.0.0 only with authentication: tokens on the metadata service, a node token on each node', () => {
    for (const [name, s] of all) {
      if (s.environment?.GRANARY_HOST !== '0.0.0.0') continue;
      if (s.command?.[0] === 'metadata') {
        expect(s.environment.GRANARY_AUTH, name).toBe('on');
      } else {
        expect(s.command?.[0], name).toBe('storage-node');
        expect(s.environment.GRANARY_TOKEN_FILE, name).toBe(`/secrets/${name}.token`);
        expect(s.environment.GRANARY_TOKEN, `${name}: a token in the environment shows in docker inspect`).toBeUndefined();
      }
    }
    expect(storage.every(([, s]) => s.environment?.GRANARY_HOST === '0.0.0.0')).toBe(true);
    expect(compose.services.metadata?.environment?.GRANARY_HOST).toBe('0.0.0.0');
    // No service turns authentication off.
    expect(text).not.toMatch(/GRANARY_AUTH:\s*"?off/);
  });

  it('mounts each node token read-only, from the volume node-tokens writes', () => {
    for (const [name, s] of storage) {
      const file = String(s.environment?.GRANARY_TOKEN_FILE);
      const mount = (s.volumes ?? []).map((v) => v.split(':')).find(([, path]) => path === posix.dirname(file));
      expect(mount, name).toEqual(['node-tokens', '/secrets', 'ro']);
    }
    expect(Object.keys(compose.volumes)).toContain('node-tokens');
    const writable = (tokenService?.volumes ?? []).map((v) => v.split(':')).find(([volume]) => volume === 'node-tokens');
    expect(writable).toEqual(['node-tokens', '/secrets']);
    // A fresh named volume takes the owner of the image directory it is mounted over: the image
    // makes /secrets its user's, so node-tokens (that user) can write and the nodes can read.
    const runtime = DOCKERFILE.stages.at(-1);
    const user = runtime?.instructions.find((i) => i.op === 'USER')?.args.split(':')[0] ?? '';
    const run = (runtime?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(run).toMatch(/mkdir -p [^&]*\/secrets/);
    expect(run).toMatch(new RegExp(`chown ${user}:${user} [^&]*/secrets`));
  });

  it('provisions the node tokens with a one-shot service, after the metadata service is healthy', () => {
    const s = tokenService ?? {};
    expect(s.image).toBe(compose.services.metadata?.image);
    expect(s.restart, 'a one-shot must not be restarted after it succeeds').toBe('no');
    expect(s.depends_on).toEqual({ metadata: { condition: 'service_healthy' } });
    expect(s.entrypoint?.[0]).toBe('/bin/sh');
    expect(s.entrypoint?.[1]).toMatch(/^-[a-z]*c$/);
    expect(s.healthcheck).toBeUndefined();
    expect(s.ports).toBeUndefined();
    const script = only(s.command ?? [], 'node-tokens command');
    // compose interpolates $NAME: the script's own variables are written $$NAME.
    expect(script.replaceAll('$$', '')).not.toContain('$');
    const sh = script.replaceAll('$$', '$').replace(/\\\n\s*/g, ' ');

    // The loop covers exactly the storage nodes, and writes each one's GRANARY_TOKEN_FILE.
    const loop = /for (\w+) in ([^;]+); do/.exec(sh);
    const variable = loop?.[1] ?? '';
    const values = (loop?.[2] ?? '').trim().split(/\s+/);
    const fileLine = /(\w+)=(\S+)/.exec(sh.slice(sh.indexOf('do')));
    const expand = (template: string, value: string): string => template.replaceAll(`$${variable}`, value).replaceAll(`\${${variable}}`, value);
    expect(values.map((v) => expand(fileLine?.[2] ?? '', v))).toEqual(storage.map(([, n]) => n.environment?.GRANARY_TOKEN_FILE));
    // Only if missing: an existing file is kept, so restarts reuse the token the service knows.
    expect(sh).toContain(`if [ -s "$${fileLine?.[1]}" ]; then`);
    expect(sh).toMatch(/continue/);
    expect(sh).toContain('umask 077');
    expect(sh).toMatch(/mv "\$file\.tmp" "\$file"/);

    // The CLI it runs is the image's own entry point script, and `token create` takes every flag.
    const create = /node (\S+) token create ([^>]+)>/.exec(sh);
    const entrypoint = JSON.parse(DOCKERFILE.stages.at(-1)?.instructions.find((i) => i.op === 'ENTRYPOINT')?.args ?? '[]') as string[];
    expect(create?.[1]).toBe(entrypoint[1]);
    const args = (create?.[2] ?? '').match(/--[a-z-]+ (?:"[^"]*"|\S+)/g) ?? [];
    const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`${name} `))?.slice(name.length + 1).replace(/^"|"$/g, '');
    const tokenCreate = cliCommands()
      .find((c) => c.name() === 'token')
      ?.commands.find((c) => c.name() === 'create');
    const known = new Set(tokenCreate?.options.map((o) => o.long));
    for (const arg of args) expect(known, arg).toContain(arg.split(' ')[0]);
    expect(flag('--role')).toBe('node');
    expect(expand(flag('--node-id') ?? '', '3')).toBe('node-3');
    expect(flag('--metadata')).toBe(storage[0]?.[1].environment?.GRANARY_METADATA);
    expect(flag('--tls-ca')).toBe('/tls/ca.pem');
    expect(s.volumes).toContain('./tls:/tls:ro');

    // The admin token: the metadata service's own file, in its volume, mounted read-only.
    const metadataEnv = compose.services.metadata?.environment ?? {};
    const adminFile = String(metadataEnv.GRANARY_ADMIN_TOKEN_FILE);
    expect(posix.dirname(adminFile)).toBe(metadataEnv.GRANARY_DATA);
    const [metadataVolume] = (compose.services.metadata?.volumes?.[0] ?? '').split(':');
    const adminMount = (s.volumes ?? []).map((v) => v.split(':')).find(([volume]) => volume === metadataVolume);
    expect(adminMount?.[2], 'the metadata volume is mounted read-only').toBe('ro');
    expect(flag('--token-file')).toBe(posix.join(adminMount?.[1] ?? '', posix.basename(adminFile)));
  });

  it('serves every service over TLS with its own certificate, mounted read-only with the CA', () => {
    for (const [name, s] of services) {
      const env = s.environment ?? {};
      const tlsMount = (s.volumes ?? []).map((v) => v.split(':')).find(([, path]) => path === '/tls');
      expect(tlsMount, name).toEqual(['./tls', '/tls', 'ro']);
      expect(env.GRANARY_TLS_CERT, name).toBe(`/tls/${name}.pem`);
      expect(env.GRANARY_TLS_KEY, name).toBe(`/tls/${name}.key`);
      expect(env.GRANARY_TLS_CA, name).toBe('/tls/ca.pem');
    }
    // Keys are mounted at run time, never copied into an image.
    expect(read(join(DEPLOY, 'Dockerfile.dockerignore')).split('\n')).toContain('deploy/tls');
    // `node dist/deploy/local-tls.js deploy/tls <services>` makes exactly the files the services read.
    expect(text).toContain(`node dist/deploy/local-tls.js deploy/tls ${[...metadata, ['gateway'], ...storage].map(([name]) => name).join(' ')}`);
  });

  it('points the nodes at the metadata service and advertises their compose name', () => {
    for (const [name, s] of storage) {
      expect(s.environment?.GRANARY_METADATA, name).toBe(`https://metadata:${METADATA_PORT}`);
      expect(s.environment?.GRANARY_ADVERTISE_URL, name).toBe(`https://${name}:${s.environment?.GRANARY_PORT}`);
      expect(s.depends_on, name).toEqual({
        metadata: { condition: 'service_healthy' },
        'node-tokens': { condition: 'service_completed_successfully' },
      });
    }
  });

  it('builds deploy/Dockerfile from the repository root, tagged with the package version', () => {
    for (const [name, s] of all) {
      expect(s.build, name).toBeDefined();
      const context = resolve(DEPLOY, s.build?.context ?? '');
      expect(context, name).toBe(ROOT);
      expect(existsSync(join(context, s.build?.dockerfile ?? '')), name).toBe(true);
      expect(s.image, name).toBe(`granary:${PACKAGE.version}`);
    }
  });
});

describe('deploy/kubernetes', () => {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml')).sort();
  const metadataObjects = parseK8s('metadata.yaml');
  const storageObjects = parseK8s('storage-nodes.yaml');
  const metadataSet = only(findKind<StatefulSet>(metadataObjects, 'StatefulSet'), 'metadata StatefulSet');
  const metadataService = only(findKind<Service>(metadataObjects, 'Service'), 'metadata Service');
  const storageSet = only(findKind<StatefulSet>(storageObjects, 'StatefulSet'), 'storage StatefulSet');
  const storageService = only(findKind<Service>(storageObjects, 'Service'), 'storage Service');
  const metadataContainer = only(metadataSet.spec.template.spec.containers, 'metadata containers');
  const storageContainer = only(storageSet.spec.template.spec.containers, 'storage containers');

  it('every file parses (multi-document) and the kustomization lists all the others', () => {
    expect(files).toEqual(['gateway.yaml', 'kustomization.yaml', 'metadata.yaml', 'namespace.yaml', 'relayout.yaml', 'storage-nodes.yaml']);
    for (const file of files) expect(parseK8s(file).length, file).toBeGreaterThan(0);
    const kustomization = parse(read(join(K8S, 'kustomization.yaml')), { strict: true }) as {
      kind: string;
      namespace: string;
      resources: string[];
      images: { name: string; newTag: string }[];
    };
    expect(kustomization.kind).toBe('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml'));
    const namespace = only(findKind(parseK8s('namespace.yaml'), 'Namespace'), 'Namespace');
    expect(kustomization.namespace).toBe(namespace.metadata.name);
    const image = only(kustomization.images, 'kustomization images');
    expect(image.name).toBe(metadataContainer.image);
    expect(image.name).toBe(storageContainer.image);
    expect(image.newTag).toBe(PACKAGE.version);
  });

  it('uses only GRANARY_* variables the code reads, with values its parsers accept', () => {
    const check = (service: ServiceName, container: Container): void => {
      const granary = (container.env ?? []).filter((e) => e.name.startsWith('GRANARY_'));
      expect(granary.length, container.name).toBeGreaterThan(3);
      for (const e of granary) {
        if (e.value !== undefined) {
          const expanded = e.value.replace('$(POD_NAME)', `${storageSet.metadata.name}-8`).replace('$(POD_NAMESPACE)', 'granary');
          expectValidValue(service, e.name, expanded);
        } else {
          expect(ENVS[service], e.name).toContain(e.name);
        }
      }
    };
    expect(metadataContainer.args).toEqual([commandOf('metadata').command.name()]);
    expect(storageContainer.args).toEqual([commandOf('storage-node').command.name()]);
    check('metadata', metadataContainer);
    check('storage-node', storageContainer);
    for (const file of files) for (const name of tokens(read(join(K8S, file)))) expect(ALL_ENVS, `${file}: ${name}`).toContain(name);
  });

  it('runs the re-layout worker as one CLI client pod with an admin token from a Secret, read-only, and the CA', () => {
    const relayout = only(findKind<Deployment>(parseK8s('relayout.yaml'), 'Deployment'), 'relayout Deployment');
    expect(relayout.spec.replicas).toBe(1);
    const container = only(relayout.spec.template.spec.containers, 'relayout containers');
    expect(container.image).toBe(metadataContainer.image);
    const [command, ...args] = container.args ?? [];
    expect(command).toBe('relayout');
    const known = new Set(cliCommands().find((c) => c.name() === 'relayout')?.options.map((o) => o.long));
    for (const arg of args.filter((a) => a.startsWith('--'))) expect(known, arg).toContain(arg);
    expect(args).toContain('--watch');
    const env = new Map((container.env ?? []).map((e) => [e.name, e.value]));
    expect(env.get('GRANARY_METADATA')).toBe(`https://${metadataService.metadata.name}:${METADATA_PORT}`);
    expect(env.get('GRANARY_TOKEN')).toBeUndefined();
    const tokenFile = String(env.get('GRANARY_TOKEN_FILE'));
    const mounts = container.volumeMounts ?? [];
    const tokenMount = mounts.find((m) => m.mountPath === posix.dirname(tokenFile));
    expect(tokenMount?.readOnly).toBe(true);
    const volumes = relayout.spec.template.spec.volumes ?? [];
    expect(volumes.find((v) => v.name === tokenMount?.name)?.secret?.secretName).toBe('granary-relayout-token');
    const caMount = mounts.find((m) => m.mountPath === posix.dirname(String(env.get('GRANARY_TLS_CA'))));
    expect(caMount?.readOnly).toBe(true);
    expect(volumes.find((v) => v.name === caMount?.name)?.secret?.secretName).toBe('granary-metadata-tls');
    expect(relayout.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
  });

  it('runs the gateway as 2 stateless pods behind a Service, over HTTPS with its own certificate and no token', () => {
    const objects = parseK8s('gateway.yaml');
    const gateway = only(findKind<Deployment>(objects, 'Deployment'), 'gateway Deployment');
    const service = only(findKind<Service>(objects, 'Service'), 'gateway Service');
    expect(gateway.spec.replicas).toBe(2);
    const container = only(gateway.spec.template.spec.containers, 'gateway containers');
    expect(container.image).toBe(metadataContainer.image);
    expect(container.args).toEqual(['gateway']);
    const env = new Map((container.env ?? []).map((e) => [e.name, e.value]));
    for (const [name, value] of env) if (name.startsWith('GRANARY_')) expectValidValue('gateway', name, String(value));
    expect(env.get('GRANARY_METADATA')).toBe(`https://${metadataService.metadata.name}:${METADATA_PORT}`);
    expect(env.get('GRANARY_GATEWAY_HOST')).toBe('0.0.0.0');
    expect(env.has('GRANARY_TOKEN')).toBe(false);
    expect(env.has('GRANARY_TOKEN_FILE'), 'a token of its own would serve every caller that sends none').toBe(false);
    const port = Number(env.get('GRANARY_GATEWAY_PORT'));
    expect(port).toBe(GATEWAY_PORT);
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port, scheme: 'HTTPS' });
    // Its own certificate (its Service's name), the cluster's CA beside it, read-only.
    const tlsDir = posix.dirname(String(env.get('GRANARY_TLS_CERT')));
    expect(posix.dirname(String(env.get('GRANARY_TLS_KEY')))).toBe(tlsDir);
    expect(posix.dirname(String(env.get('GRANARY_TLS_CA')))).toBe(tlsDir);
    const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === tlsDir);
    expect(mount?.readOnly).toBe(true);
    expect((gateway.spec.template.spec.volumes ?? []).find((v) => v.name === mount?.name)?.secret?.secretName).toBe('granary-gateway-tls');
    expect(gateway.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
    expect(service.spec.selector).toEqual(gateway.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([{ name: 'https', port, targetPort: port, protocol: 'TCP' }]);
  });

  it('runs 1 metadata pod and 9 storage pods, each with a claim mounted at GRANARY_DATA', () => {
    expect(metadataSet.spec.replicas).toBe(1);
    expect(storageSet.spec.replicas).toBe(9);
    for (const [set, container] of [
      [metadataSet, metadataContainer],
      [storageSet, storageContainer],
    ] as const) {
      const mount = container.volumeMounts?.find((m) => m.mountPath === envValue(container, 'GRANARY_DATA'));
      expect(mount, set.metadata.name).toBeDefined();
      expect(set.spec.volumeClaimTemplates?.map((t) => t.metadata.name), set.metadata.name).toContain(mount?.name);
      expect(envValue(container, 'GRANARY_HOST')).toBe('0.0.0.0');
      expect(selects(set.spec.selector.matchLabels, set.spec.template.metadata.labels), set.metadata.name).toBe(true);
      expect(set.spec.template.spec.securityContext?.runAsNonRoot, set.metadata.name).toBe(true);
    }
  });

  it('probes /health and exposes GRANARY_PORT on the container and its Service', () => {
    for (const [set, service, container, port] of [
      [metadataSet, metadataService, metadataContainer, METADATA_PORT],
      [storageSet, storageService, storageContainer, NODE_PORT],
    ] as const) {
      expect(Number(envValue(container, 'GRANARY_PORT')), set.metadata.name).toBe(port);
      expect(container.ports?.map((p) => p.containerPort), set.metadata.name).toEqual([port]);
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect(probe?.httpGet, set.metadata.name).toEqual({ path: '/health', port, scheme: 'HTTPS' });
      }
      expect(selects(service.spec.selector, set.spec.template.metadata.labels), service.metadata.name).toBe(true);
      expect(service.spec.ports.map((p) => [p.port, p.targetPort]), service.metadata.name).toEqual([[port, port]]);
      expect(set.spec.serviceName).toBe(service.metadata.name);
    }
  });

  it('gives each storage pod a stable name through a headless Service, and advertises it', () => {
    expect(storageService.spec.clusterIP).toBe('None');
    const env = storageContainer.env ?? [];
    const index = (name: string): number => env.findIndex((e) => e.name === name);
    expect(fieldRef(storageContainer, 'POD_NAME')).toBe('metadata.name');
    expect(fieldRef(storageContainer, 'POD_NAMESPACE')).toBe('metadata.namespace');
    // $(VAR) only expands variables defined earlier in the list.
    expect(index('POD_NAME')).toBeLessThan(index('GRANARY_ADVERTISE_URL'));
    expect(index('POD_NAMESPACE')).toBeLessThan(index('GRANARY_ADVERTISE_URL'));
    expect(envValue(storageContainer, 'GRANARY_ADVERTISE_URL')).toBe(
      `https://$(POD_NAME).${storageService.metadata.name}.$(POD_NAMESPACE).svc:${NODE_PORT}`,
    );
    expect(fieldRef(storageContainer, 'GRANARY_NODE_ID')).toBe('metadata.name');
    for (let i = 0; i < storageSet.spec.replicas; i++) expect(`${storageSet.metadata.name}-${i}`).toMatch(NODE_ID_PATTERN);
    expect(fieldRef(storageContainer, 'GRANARY_DOMAIN')).toBe('spec.nodeName');
    const metadataUrl = new URL(envValue(storageContainer, 'GRANARY_METADATA'));
    expect(metadataUrl.protocol).toBe('https:');
    expect(metadataUrl.hostname).toBe(metadataService.metadata.name);
    expect(Number(metadataUrl.port)).toBe(metadataService.spec.ports[0]?.port);
  });

  it('serves both over TLS from a Secret mounted read-only, certificate, key and CA', () => {
    for (const [set, secretName] of [
      [metadataSet, 'granary-metadata-tls'],
      [storageSet, 'granary-storage-tls'],
    ] as const) {
      const container = only(set.spec.template.spec.containers, set.metadata.name);
      const files = ['GRANARY_TLS_CERT', 'GRANARY_TLS_KEY', 'GRANARY_TLS_CA'].map((name) => envValue(container, name));
      expect(files.map((file) => posix.basename(file)), set.metadata.name).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
      const mount = container.volumeMounts?.find((m) => m.mountPath === posix.dirname(files[0] ?? ''));
      expect(mount?.readOnly, set.metadata.name).toBe(true);
      for (const file of files) expect(posix.dirname(file)).toBe(mount?.mountPath);
      const volume = set.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.secret?.secretName, set.metadata.name).toBe(secretName);
      // 0440: not readable by others, readable by the pod's fsGroup.
      expect(volume?.secret?.defaultMode, set.metadata.name).toBe(0o440);
    }
  });

  it('binds 0.0.0.0 only with authentication: tokens on the metadata service, a node token on each node', () => {
    for (const container of [metadataContainer, storageContainer]) expect(envValue(container, 'GRANARY_HOST')).toBe('0.0.0.0');
    expect(envValue(metadataContainer, 'GRANARY_AUTH')).toBe('on');
    // The admin token the README's kubectl exec commands use: on the claim, at this path.
    const adminFile = envValue(metadataContainer, 'GRANARY_ADMIN_TOKEN_FILE');
    expect(posix.dirname(adminFile)).toBe(envValue(metadataContainer, 'GRANARY_DATA'));
    expect(read(join(DEPLOY, 'README.md'))).toContain(`--token-file ${adminFile}`);
    expect(envValue(storageContainer, 'GRANARY_TOKEN_FILE')).toMatch(/^\//);
    expect(storageContainer.env?.find((e) => e.name === 'GRANARY_TOKEN'), 'a token in the pod spec').toBeUndefined();
    for (const file of files) expect(read(join(K8S, file)), file).not.toMatch(/GRANARY_AUTH\s+value:\s*"?off/);
  });

  it('gives each storage pod its own node token from the Secret granary-node-tokens, read-only', () => {
    const pod = storageSet.spec.template.spec;
    const volume = (name: string | undefined): NonNullable<PodSpec['volumes']>[number] | undefined => pod.volumes?.find((v) => v.name === name);
    // The node container: the token file's directory is a read-only mount of a memory emptyDir.
    const tokenFile = envValue(storageContainer, 'GRANARY_TOKEN_FILE');
    const mount = storageContainer.volumeMounts?.find((m) => m.mountPath === posix.dirname(tokenFile));
    expect(mount?.readOnly).toBe(true);
    expect(volume(mount?.name)?.emptyDir?.medium).toBe('Memory');
    // ... which the init container fills with the key named after the pod (the node id) only.
    const init = only(pod.initContainers ?? [], 'storage init containers');
    expect(init.image).toBe(storageContainer.image);
    expect(fieldRef(init, 'POD_NAME')).toBe('metadata.name');
    expect(fieldRef(storageContainer, 'GRANARY_NODE_ID')).toBe('metadata.name');
    const secretMount = init.volumeMounts?.find((m) => volume(m.name)?.secret !== undefined);
    expect(secretMount?.readOnly).toBe(true);
    const secret = volume(secretMount?.name)?.secret;
    expect(secret?.secretName).toBe('granary-node-tokens');
    expect(secret?.defaultMode, '0440: readable by the pod group (fsGroup) only').toBe(0o440);
    expect(init.command).toEqual(['install', '-m', '0400', posix.join(secretMount?.mountPath ?? '', '$(POD_NAME)'), tokenFile]);
    const target = init.volumeMounts?.find((m) => m.mountPath === posix.dirname(tokenFile));
    expect(target?.name).toBe(mount?.name);
    // Only the init container sees every node's token.
    expect(storageContainer.volumeMounts?.map((m) => m.name)).not.toContain(secretMount?.name);
    // The README's bootstrap makes exactly that Secret, one key per pod name.
    const readme = read(join(DEPLOY, 'README.md'));
    expect(readme).toContain(`create secret generic ${secret?.secretName ?? ''} --from-file=`);
    expect(readme).toContain(`--role node --node-id ${storageSet.metadata.name}-$i`);
    expect(readme).toContain(`for i in ${Array.from({ length: storageSet.spec.replicas }, (_, i) => i).join(' ')}; do`);
  });

  it('prefers to put storage pods on distinct Kubernetes nodes', () => {
    const terms = storageSet.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const term = only(terms, 'anti-affinity terms');
    expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(selects(term.podAffinityTerm.labelSelector.matchLabels, storageSet.spec.template.metadata.labels)).toBe(true);
    expect(selects(term.podAffinityTerm.labelSelector.matchLabels, metadataSet.spec.template.metadata.labels)).toBe(false);
  });
});

describe('deploy/systemd', () => {
  const metadataUnit = parseUnit(read(join(SYSTEMD, 'granary-metadata.service')));
  const nodeUnit = parseUnit(read(join(SYSTEMD, 'granary-storage-node@.service')));

  it('both units run the package bin with the right subcommand, as a dedicated user', () => {
    for (const [unit, service] of [
      [metadataUnit, 'metadata'],
      [nodeUnit, 'storage-node'],
    ] as const) {
      const [execStart] = unitValues(unit, 'ExecStart');
      const words = (execStart ?? '').split(/\s+/);
      expect(words[0], service).toMatch(/^\/.*\/node$/);
      expect(words[1], service).toBe(posix.join('/opt/granary', BIN_PATH));
      expect(words.slice(2), service).toEqual([commandOf(service).command.name()]);
      const [user] = unitValues(unit, 'User');
      expect(user, service).toBe('granary');
      expect(unitValues(unit, 'WantedBy', 'Install'), service).toEqual(['multi-user.target']);
    }
  });

  it('restart on failure, a high LimitNOFILE, and hardening with only the data directory writable', () => {
    for (const [unit, instance] of [
      [metadataUnit, 'metadata'],
      [nodeUnit, 'node-0'],
    ] as const) {
      expect(unitValues(unit, 'Restart')).toEqual(['on-failure']);
      expect(Number(unitValues(unit, 'LimitNOFILE')[0])).toBeGreaterThanOrEqual(65_536);
      expect(unitValues(unit, 'NoNewPrivileges')).toEqual(['yes']);
      expect(unitValues(unit, 'ProtectSystem')).toEqual(['strict']);
      // V8's JIT needs W+X memory: this setting would crash node.
      expect(unitValues(unit, 'MemoryDenyWriteExecute')).toEqual([]);
      const data = unitEnvironment(unit).get('GRANARY_DATA');
      expect(data, instance).toMatch(/^\/var\/lib\/granary\//);
      expect(unitValues(unit, 'ReadWritePaths')).toEqual([data]);
      expect(unitValues(unit, 'StateDirectory').map((d) => `/var/lib/${d}`)).toEqual([data]);
    }
  });

  it('both units serve HTTPS with their own certificate and verify peers against the CA', () => {
    const expected = [
      [metadataUnit, 'metadata'],
      [nodeUnit, '%i'],
    ] as const;
    for (const [unit, name] of expected) {
      const env = unitEnvironment(unit);
      expect(env.get('GRANARY_TLS_CERT'), name).toBe(`/etc/granary/tls/${name}.pem`);
      expect(env.get('GRANARY_TLS_KEY'), name).toBe(`/etc/granary/tls/${name}.key`);
      expect(env.get('GRANARY_TLS_CA'), name).toBe('/etc/granary/tls/ca.pem');
    }
    const nodeExample = new Map(envFile(read(join(SYSTEMD, 'storage-node.env.example'))).filter((e) => !e.commented).map((e) => [e.key, e.value]));
    expect(nodeExample.get('GRANARY_METADATA')).toMatch(/^https:\/\//);
    expect(nodeExample.get('GRANARY_ADVERTISE_URL')).toMatch(/^https:\/\//);
  });

  it('binds 0.0.0.0 only with authentication: tokens on the metadata service, a node token file per instance', () => {
    const metadataEnv = unitEnvironment(metadataUnit);
    expect(metadataEnv.get('GRANARY_HOST')).toBe('0.0.0.0');
    expect(metadataEnv.get('GRANARY_AUTH')).toBe('on');
    expect(metadataEnv.get('GRANARY_ADMIN_TOKEN_FILE')).toBe(`${metadataEnv.get('GRANARY_DATA') ?? ''}/admin.token`);
    // The node's address is in its env file; the token, one file per node id, in the unit.
    const nodeExample = new Map(envFile(read(join(SYSTEMD, 'storage-node.env.example'))).filter((e) => !e.commented).map((e) => [e.key, e.value]));
    expect(nodeExample.get('GRANARY_HOST')).toBe('0.0.0.0');
    expect(nodeExample.has('GRANARY_TOKEN')).toBe(false);
    expect(unitEnvironment(nodeUnit).get('GRANARY_TOKEN_FILE')).toBe('/etc/granary/%i.token');
    for (const file of readdirSync(SYSTEMD)) {
      const entries = envFile(read(join(SYSTEMD, file)));
      expect(entries.filter((e) => e.key === 'GRANARY_AUTH' && e.value !== 'on'), file).toEqual([]);
    }
    // The README shows how to make it: owned by the service user, mode 0600.
    expect(read(join(DEPLOY, 'README.md'))).toContain('install -m 0600 -o granary -g granary /dev/stdin /etc/granary/node-0.token');
  });

  it('runs the re-layout worker as the CLI with an admin token file and the CA, stateless and hardened', () => {
    const unit = parseUnit(read(join(SYSTEMD, 'granary-relayout.service')));
    const words = (unitValues(unit, 'ExecStart')[0] ?? '').split(/\s+/);
    expect(words[0]).toMatch(/^\/.*\/node$/);
    expect(words[1]).toBe(posix.join('/opt/granary', BIN_PATH));
    expect(words[2]).toBe('relayout');
    const known = new Set(cliCommands().find((c) => c.name() === 'relayout')?.options.map((o) => o.long));
    for (const arg of words.slice(3).filter((a) => a.startsWith('--'))) expect(known, arg).toContain(arg);
    expect(words).toContain('--watch');
    expect(unitValues(unit, 'User')).toEqual(['granary']);
    expect(unitValues(unit, 'Restart')).toEqual(['on-failure']);
    expect(unitValues(unit, 'ProtectSystem')).toEqual(['strict']);
    expect(unitValues(unit, 'MemoryDenyWriteExecute')).toEqual([]);
    const env = unitEnvironment(unit);
    expect(env.get('GRANARY_TOKEN_FILE')).toBe('/etc/granary/relayout.token');
    expect(env.get('GRANARY_TLS_CA')).toBe('/etc/granary/tls/ca.pem');
    expect(env.has('GRANARY_TOKEN')).toBe(false);
    // The env file is required (no leading -): without GRANARY_METADATA the worker has no cluster.
    expect(unitValues(unit, 'EnvironmentFile')).toEqual(['/etc/granary/relayout.env']);
    const example = envFile(read(join(SYSTEMD, 'relayout.env.example'))).filter((e) => !e.commented);
    expect(example.map((e) => e.key)).toEqual(['GRANARY_METADATA']);
    expect(example[0]?.value).toMatch(/^https:\/\//);
    for (const name of [...tokens(read(join(SYSTEMD, 'granary-relayout.service'))), ...tokens(read(join(SYSTEMD, 'relayout.env.example')))]) {
      expect(ALL_ENVS, name).toContain(name);
    }
  });

  it('runs the gateway as the CLI over HTTPS with its own certificate, no token, stateless and hardened', () => {
    const unit = parseUnit(read(join(SYSTEMD, 'granary-gateway.service')));
    const words = (unitValues(unit, 'ExecStart')[0] ?? '').split(/\s+/);
    expect(words[0]).toMatch(/^\/.*\/node$/);
    expect(words[1]).toBe(posix.join('/opt/granary', BIN_PATH));
    expect(words.slice(2)).toEqual(['gateway']);
    expect(unitValues(unit, 'User')).toEqual(['granary']);
    expect(unitValues(unit, 'Restart')).toEqual(['on-failure']);
    expect(unitValues(unit, 'ProtectSystem')).toEqual(['strict']);
    const env = unitEnvironment(unit);
    for (const [name, value] of env) if (name.startsWith('GRANARY_')) expectValidValue('gateway', name, value);
    expect(env.get('GRANARY_GATEWAY_HOST')).toBe('0.0.0.0');
    expect(env.get('GRANARY_TLS_CERT')).toBe('/etc/granary/tls/gateway.pem');
    expect(env.get('GRANARY_TLS_KEY')).toBe('/etc/granary/tls/gateway.key');
    expect(env.get('GRANARY_TLS_CA')).toBe('/etc/granary/tls/ca.pem');
    expect(env.has('GRANARY_TOKEN')).toBe(false);
    expect(env.has('GRANARY_TOKEN_FILE'), 'a token of its own would serve every caller that sends none').toBe(false);
    expect(unitValues(unit, 'EnvironmentFile')).toEqual(['/etc/granary/gateway.env']);
    const example = envFile(read(join(SYSTEMD, 'gateway.env.example'))).filter((e) => !e.commented);
    expect(example.map((e) => e.key)).toEqual(['GRANARY_METADATA']);
    expectValidValue('gateway', 'GRANARY_METADATA', example[0]?.value ?? '');
    expect(example[0]?.value).toMatch(/^https:\/\//);
  });

  it('the storage node template is instanced by node id and reads /etc/granary/%i.env', () => {
    expect(unitValues(nodeUnit, 'EnvironmentFile')).toEqual(['/etc/granary/%i.env']);
    const env = unitEnvironment(nodeUnit);
    expect(env.get('GRANARY_NODE_ID')).toBe('%i');
    expect(env.get('GRANARY_DATA')).toBe('/var/lib/granary/%i');
  });

  it('units and env examples use only GRANARY_* variables their service reads, with valid values', () => {
    const check = (service: ServiceName, key: string, value: string): void => {
      expectValidValue(service, key, value.replaceAll('%i', 'node-0'));
    };
    for (const [key, value] of unitEnvironment(metadataUnit)) if (key.startsWith('GRANARY_')) check('metadata', key, value);
    for (const [key, value] of unitEnvironment(nodeUnit)) if (key.startsWith('GRANARY_')) check('storage-node', key, value);
    const examples: [string, ServiceName][] = [
      ['storage-node.env.example', 'storage-node'],
      ['metadata.env.example', 'metadata'],
    ];
    for (const [file, service] of examples) {
      const entries = envFile(read(join(SYSTEMD, file)));
      expect(entries.filter((e) => !e.commented).length, file).toBeGreaterThan(0);
      for (const entry of entries) check(service, entry.key, entry.value);
      for (const name of tokens(read(join(SYSTEMD, file)))) expect(ENVS[service], `${file}: ${name}`).toContain(name);
    }
    const nodeExample = new Map(envFile(read(join(SYSTEMD, 'storage-node.env.example'))).filter((e) => !e.commented).map((e) => [e.key, e.value]));
    for (const needed of ['GRANARY_HOST', 'GRANARY_PORT', 'GRANARY_METADATA', 'GRANARY_ADVERTISE_URL', 'GRANARY_DOMAIN']) {
      expect(nodeExample.has(needed), needed).toBe(true);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const { stages } = DOCKERFILE;
  const build = stages[0];
  const runtime = stages.at(-1);
  const ops = (stage: DockerStage | undefined, op: string): string[] =>
    (stage?.instructions ?? []).filter((i) => i.op === op).map((i) => i.args);

  it('is multi-stage on node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.base).toBe('node:20-bookworm-slim');
    expect(build?.name).toBeDefined();
  });

  it('builds with npm ci (running the prepare build) and then prunes dev dependencies', () => {
    expect(PACKAGE.scripts.prepare).toMatch(/\btsc\b/);
    const run = ops(build, 'RUN').join(' && ');
    const ci = run.indexOf('npm ci');
    const prune = run.indexOf('npm prune --omit=dev');
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(prune).toBeGreaterThan(ci);
  });

  it('copies everything the tsc build includes into the build stage, and nothing the context ignores', () => {
    const copied = ops(build, 'COPY')
      .map(copyParts)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources);
    for (const source of copied) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const tsconfig = JSON.parse(read(join(ROOT, 'tsconfig.build.json'))) as { extends?: string; include: string[] };
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.build.json', ...(tsconfig.extends === undefined ? [] : [posix.normalize(tsconfig.extends)]), ...tsconfig.include]) {
      expect(copied, needed).toContain(needed);
    }
    const ignored = read(join(DEPLOY, 'Dockerfile.dockerignore'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const source of copied) expect(ignored, source).not.toContain(source);
  });

  it('runs the package bin as a non-root user, with /data as a volume and both ports exposed', () => {
    const entrypoint = JSON.parse(ops(runtime, 'ENTRYPOINT')[0] ?? 'null') as unknown;
    expect(entrypoint).toEqual(['node', '/app/dist/bin/granary.js']);
    expect((entrypoint as string[])[1]).toBe(posix.join('/app', BIN_PATH));
    expect(ops(runtime, 'WORKDIR')).toEqual(['/app']);
    const users = ops(runtime, 'USER');
    expect(users).toHaveLength(1);
    expect(users[0]?.split(':')[0]).not.toMatch(/^(root|0)$/);
    const instructions = runtime?.instructions ?? [];
    expect(instructions.findIndex((i) => i.op === 'USER')).toBeLessThan(instructions.findIndex((i) => i.op === 'ENTRYPOINT'));
    expect(ops(runtime, 'VOLUME').map((v) => JSON.parse(v) as string[])).toEqual([['/data']]);
    const exposed = ops(runtime, 'EXPOSE').flatMap((e) => e.split(' ')).map(Number);
    expect(exposed.sort()).toEqual([METADATA_PORT, NODE_PORT].sort());
  });

  it('ships package.json next to dist/ (bin/granary.ts reads ../../package.json) and production node_modules', () => {
    expect(read(join(ROOT, 'bin/granary.ts'))).toContain("'../../package.json'");
    const copies = ops(runtime, 'COPY').map(copyParts);
    const fromBuild = (dest: string): boolean => copies.some((c) => c.from === build?.name && posix.resolve('/app', c.dest) === dest);
    expect(fromBuild('/app/package.json')).toBe(true);
    expect(fromBuild('/app/dist')).toBe(true);
    expect(fromBuild('/app/node_modules')).toBe(true);
  });

  it('sets only GRANARY_* variables the code reads', () => {
    const text = read(join(DEPLOY, 'Dockerfile'));
    const names = tokens(text);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(ENVS.metadata, name).toContain(name);
      expect(ENVS['storage-node'], name).toContain(name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Replicated metadata: etcd, metadata replicas on it, nodes with every replica's URL.

/** Flags of a local member that only say who and where it is; the rest are what any etcd needs. */
const ETCD_MEMBER_FLAGS = new Set([
  '--name',
  '--data-dir',
  '--listen-client-urls',
  '--advertise-client-urls',
  '--listen-peer-urls',
  '--initial-advertise-peer-urls',
  '--initial-cluster',
  '--initial-cluster-state',
  '--initial-cluster-token',
  '--logger',
  '--log-outputs',
]);

/** deploy/etcd-flags.ts's limits, as `granary up --ha` passes them: [flag, value]. */
const ETCD_LIMITS: [string, string][] = (() => {
  const member = { name: 'm', dataDir: '/d', clientPort: 1, peerPort: 2 };
  const args = etcdMemberArgs(member, [member], 't', 'new');
  const pairs: [string, string][] = [];
  for (let i = 0; i < args.length; i += 2) pairs.push([args[i] ?? '', args[i + 1] ?? '']);
  return pairs.filter(([flag]) => !ETCD_MEMBER_FLAGS.has(flag));
})();

/** `--flag=value` words as a map; every word must be one. */
function etcdFlags(words: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const word of words) {
    const m = /^(--[a-z-]+)=(.+)$/.exec(word);
    expect(m, word).not.toBeNull();
    expect(flags.has(m?.[1] ?? ''), `${word} given twice`).toBe(false);
    flags.set(m?.[1] ?? '', m?.[2] ?? '');
  }
  return flags;
}

function expectEtcdLimits(flags: ReadonlyMap<string, string>, what: string): void {
  for (const [flag, value] of ETCD_LIMITS) expect(flags.get(flag), `${what}: ${flag}`).toBe(value);
}

/** `name1=url1,name2=url2` as [name, url] pairs. */
function initialCluster(text: string): [string, string][] {
  return text.split(',').map((entry) => {
    const eq = entry.indexOf('=');
    return [entry.slice(0, eq), entry.slice(eq + 1)];
  });
}

/** Expands $(NAME) the way Kubernetes does in env values and args. */
function expandK8s(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, name: string) => vars[name] ?? whole);
}

describe('etcd limits (deploy/etcd-flags.ts)', () => {
  it('are the five the metadata store needs, with their documented values', () => {
    expect(Object.fromEntries(ETCD_LIMITS)).toEqual({
      '--quota-backend-bytes': String(8 * 1024 ** 3),
      '--max-txn-ops': '16384',
      '--max-request-bytes': String(8 * 1024 ** 2),
      '--auto-compaction-mode': 'periodic',
      '--auto-compaction-retention': '1h',
    });
  });
});

/**
 * The kustomize overlay rendered the way `kubectl kustomize` does it for the fields it patches:
 * a strategic merge in which lists of containers, env entries, volumes and mounts merge by key
 * with the patch's entries first, in the patch's order (then the base's others), and every other
 * list is replaced. Checked against kubectl itself below when it is installed.
 */
const MERGE_KEYS: Record<string, string> = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strategicMerge(base: unknown, patch: unknown, field?: string): unknown {
  if (Array.isArray(patch)) {
    const key = field === undefined ? undefined : MERGE_KEYS[field];
    if (key === undefined || !Array.isArray(base)) return patch;
    const keyOf = (item: unknown): unknown => (isRecord(item) ? item[key] : undefined);
    const patched = patch.map((item) => {
      const old = base.find((b) => keyOf(b) === keyOf(item));
      return old === undefined ? item : strategicMerge(old, item);
    });
    const rest = base.filter((b) => !patch.some((p) => keyOf(p) === keyOf(b)));
    return [...patched, ...rest];
  }
  if (isRecord(patch) && isRecord(base)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(patch)) merged[k] = strategicMerge(base[k], v, k);
    return merged;
  }
  return patch;
}

interface Kustomization {
  kind: string;
  namespace: string;
  resources: string[];
  patches?: { path: string }[];
}

function kustomization(dir: string): Kustomization {
  return parse(read(join(dir, 'kustomization.yaml')), { strict: true }) as Kustomization;
}

/** Every object of a kustomization (resources that are directories are kustomizations too), patched. */
function renderKustomization(dir: string): K8sObject[] {
  const k = kustomization(dir);
  const objects = k.resources.flatMap((resource) => {
    const path = resolve(dir, resource);
    return existsSync(join(path, 'kustomization.yaml')) ? renderKustomization(path) : parseK8s(resource, dir);
  });
  for (const { path } of k.patches ?? []) {
    const patch = only(parseK8s(path, dir), `patch ${path}`);
    const index = objects.findIndex((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
    expect(index, `${path} patches ${patch.kind} ${patch.metadata.name}, which the resources hold`).toBeGreaterThanOrEqual(0);
    objects[index] = strategicMerge(objects[index], patch) as K8sObject;
  }
  return objects;
}

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

interface PodDisruptionBudget extends K8sObject {
  spec: { maxUnavailable?: number; minAvailable?: number; selector: LabelSelector };
}
interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
}
interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes: string[];
    ingress: { from: NetworkPolicyPeer[]; ports: { port: number; protocol: string }[] }[];
  };
}
type EtcdContainer = Container & { command: string[]; args: string[] };
type HaStatefulSet = StatefulSet & { spec: StatefulSet['spec'] & { podManagementPolicy?: string } };

describe('deploy/kubernetes-ha', () => {
  const own = readdirSync(K8S_HA).filter((f) => f.endsWith('.yaml')).sort();
  const k = kustomization(K8S_HA);
  const objects = renderKustomization(K8S_HA);
  const named = <T extends K8sObject>(kind: string, name: string): T => only(objects.filter((o) => o.kind === kind && o.metadata.name === name), `${kind} ${name}`) as T;
  const baseMetadataSet = only(findKind<StatefulSet>(parseK8s('metadata.yaml'), 'StatefulSet'), 'base metadata StatefulSet');
  const baseStorageSet = only(findKind<StatefulSet>(parseK8s('storage-nodes.yaml'), 'StatefulSet'), 'base storage StatefulSet');
  const metadataSet = named<HaStatefulSet>('StatefulSet', baseMetadataSet.metadata.name);
  const storageSet = named<StatefulSet>('StatefulSet', baseStorageSet.metadata.name);
  const etcdSets = findKind<HaStatefulSet>(objects, 'StatefulSet').filter((s) => s.spec.template.spec.containers.some((c) => c.image.includes('etcd')));
  const etcdSet = only(etcdSets, 'etcd StatefulSet');
  const metadataContainer = only(metadataSet.spec.template.spec.containers, 'metadata containers');
  const storageContainer = only(storageSet.spec.template.spec.containers, 'storage containers');
  const etcdContainer = only(etcdSet.spec.template.spec.containers, 'etcd containers') as EtcdContainer;
  const etcdArgs = etcdFlags(etcdContainer.args);
  const services = findKind<Service>(objects, 'Service');
  const serviceOf = (set: StatefulSet): Service => only(services.filter((s) => s.metadata.name === set.spec.serviceName), `${set.metadata.name}'s Service`);
  const podNames = (set: StatefulSet): string[] => Array.from({ length: set.spec.replicas }, (_, i) => `${set.metadata.name}-${i}`);
  const NAMESPACE = 'granary';
  /** A container's env value with $(POD_NAME) and $(POD_NAMESPACE) as in the pod `pod`. */
  const podValue = (container: Container, name: string, pod: string): string => expandK8s(envValue(container, name), { POD_NAME: pod, POD_NAMESPACE: NAMESPACE });
  const advertised = (pod: string): string => podValue(metadataContainer, 'GRANARY_ADVERTISE_URL', pod);

  it('is an overlay of deploy/kubernetes: its files parse, and the kustomization lists them all', () => {
    expect(k.kind).toBe('Kustomization');
    expect(k.namespace).toBe(kustomization(K8S).namespace);
    expect(k.resources[0]).toBe('../kubernetes');
    const listed = [...k.resources.slice(1), ...(k.patches ?? []).map((p) => p.path)].sort();
    expect(listed).toEqual(own.filter((f) => f !== 'kustomization.yaml'));
    for (const file of own) expect(parseK8s(file, K8S_HA).length, file).toBeGreaterThan(0);
    // The base's objects, plus etcd's and the replicas' own, nothing dropped.
    for (const base of renderKustomization(K8S)) expect(objects.filter((o) => o.kind === base.kind && o.metadata.name === base.metadata.name), base.metadata.name).toHaveLength(1);
  });

  it.skipIf(!hasKubectl())('renders as kubectl kustomize renders it (the env order included)', () => {
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', K8S_HA], { encoding: 'utf8', timeout: 60_000 })).map((d) => d.toJS() as K8sObject);
    const pick = (set: StatefulSet): unknown => ({
      replicas: set.spec.replicas,
      serviceName: set.spec.serviceName,
      claims: set.spec.volumeClaimTemplates,
      affinity: set.spec.template.spec.affinity,
      // The base's images transformer tags the granary image; the rest is the patches' doing.
      containers: set.spec.template.spec.containers.map((c) => ({ ...c, image: c.image.split(':')[0] })),
    });
    for (const set of findKind<StatefulSet>(objects, 'StatefulSet')) {
      const theirs = only(findKind<StatefulSet>(rendered, 'StatefulSet').filter((s) => s.metadata.name === set.metadata.name), set.metadata.name);
      expect(pick(theirs), set.metadata.name).toEqual(pick(set));
    }
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort());
  });

  it('runs 3 etcd members from a headless Service, all at once, on the claims, with the limits of deploy/etcd-flags.ts', () => {
    expect(etcdSet.spec.replicas).toBe(3);
    expect(etcdSet.spec.podManagementPolicy, 'one member alone is never ready').toBe('Parallel');
    expect(etcdContainer.image).toMatch(/^(quay\.io\/coreos\/etcd|registry\.k8s\.io\/etcd):v?3\.5\.\d+/);
    expect(etcdContainer.command).toEqual(['/usr/local/bin/etcd']);
    expectEtcdLimits(etcdArgs, etcdSet.metadata.name);
    const service = serviceOf(etcdSet);
    expect(service.spec.clusterIP).toBe('None');
    expect(selects(service.spec.selector, etcdSet.spec.template.metadata.labels)).toBe(true);
    expect(selects(etcdSet.spec.selector.matchLabels, etcdSet.spec.template.metadata.labels)).toBe(true);
    expect(service.spec.ports.map((p) => p.port).sort()).toEqual([2379, 2380]);
    const dataDir = etcdArgs.get('--data-dir') ?? '';
    const mount = etcdContainer.volumeMounts?.find((m) => dataDir.startsWith(`${m.mountPath}/`));
    expect(etcdSet.spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toContain(mount?.name);
    expect(etcdSet.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
  });

  it('bootstraps etcd statically: --initial-cluster names every pod at its own peer URL', () => {
    expect(fieldRef(etcdContainer, 'POD_NAME')).toBe('metadata.name');
    expect(fieldRef(etcdContainer, 'POD_NAMESPACE')).toBe('metadata.namespace');
    expect(etcdArgs.get('--name')).toBe('$(POD_NAME)');
    const cluster = initialCluster(etcdArgs.get('--initial-cluster') ?? '');
    expect(cluster.map(([name]) => name)).toEqual(podNames(etcdSet));
    const service = serviceOf(etcdSet).metadata.name;
    for (const [pod, url] of cluster) {
      const vars = { POD_NAME: pod, POD_NAMESPACE: NAMESPACE };
      expect(expandK8s(etcdArgs.get('--initial-advertise-peer-urls') ?? '', vars), pod).toBe(expandK8s(url, vars));
      expect(new URL(expandK8s(url, vars)).hostname, pod).toBe(`${pod}.${service}.${NAMESPACE}.svc`);
    }
    expect(etcdArgs.get('--initial-cluster-state')).toBe('new');
    expect(etcdArgs.get('--initial-cluster-token')).toBeDefined();
  });

  it('probes etcd /health on its metrics port: ready with a quorum, alive without one', () => {
    const metrics = new URL(etcdArgs.get('--listen-metrics-urls') ?? '');
    const port = Number(metrics.port);
    expect(etcdContainer.readinessProbe?.httpGet).toEqual({ path: '/health', port });
    expect(etcdContainer.livenessProbe?.httpGet?.port).toBe(port);
    expect(etcdContainer.livenessProbe?.httpGet?.path).toMatch(/^\/health\?.*serializable=true/);
  });

  it('runs 3 metadata replicas in --store etcd mode, on every etcd member', () => {
    expect(metadataSet.spec.replicas).toBe(3);
    expect(envValue(metadataContainer, 'GRANARY_STORE')).toBe('etcd');
    expectValidValue('metadata', 'GRANARY_LEADER_TTL', envValue(metadataContainer, 'GRANARY_LEADER_TTL'));
    expect(envValue(metadataContainer, 'GRANARY_ETCD_PREFIX')).toMatch(/^[A-Za-z0-9._-]+$/);
    // Every member's advertised client URL, in pod order.
    const members = podNames(etcdSet).map((pod) => expandK8s(etcdArgs.get('--advertise-client-urls') ?? '', { POD_NAME: pod, POD_NAMESPACE: NAMESPACE }));
    expect(podValue(metadataContainer, 'GRANARY_ETCD', metadataSet.metadata.name).split(',')).toEqual(members);
    // The claim keeps only the admin token now, next to GRANARY_DATA.
    const mount = metadataContainer.volumeMounts?.find((m) => m.mountPath === envValue(metadataContainer, 'GRANARY_DATA'));
    expect(metadataSet.spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toContain(mount?.name);
    expect(posix.dirname(envValue(metadataContainer, 'GRANARY_ADMIN_TOKEN_FILE'))).toBe(envValue(metadataContainer, 'GRANARY_DATA'));
  });

  it('advertises each replica at its own pod DNS name, through a headless Service', () => {
    const service = serviceOf(metadataSet);
    expect(service.spec.clusterIP).toBe('None');
    expect(selects(service.spec.selector, metadataSet.spec.template.metadata.labels)).toBe(true);
    expect(service.spec.ports.map((p) => [p.port, p.targetPort])).toEqual([[METADATA_PORT, METADATA_PORT]]);
    const env = metadataContainer.env ?? [];
    const index = (name: string): number => env.findIndex((e) => e.name === name);
    expect(fieldRef(metadataContainer, 'POD_NAME')).toBe('metadata.name');
    expect(fieldRef(metadataContainer, 'POD_NAMESPACE')).toBe('metadata.namespace');
    // $(VAR) only expands variables defined earlier in the list.
    for (const later of ['GRANARY_ADVERTISE_URL', 'GRANARY_ETCD']) {
      expect(index('POD_NAME'), later).toBeLessThan(index(later));
      expect(index('POD_NAMESPACE'), later).toBeLessThan(index(later));
    }
    for (const pod of podNames(metadataSet)) {
      const url = new URL(advertised(pod));
      expect(url.protocol, pod).toBe('https:');
      expect(url.hostname, pod).toBe(`${pod}.${service.metadata.name}.${NAMESPACE}.svc`);
      expect(Number(url.port), pod).toBe(METADATA_PORT);
    }
    // Clients may keep the base's ClusterIP Service: it selects every replica too.
    const clientService = named<Service>('Service', only(findKind<Service>(parseK8s('metadata.yaml'), 'Service'), 'base metadata Service').metadata.name);
    expect(clientService.spec.clusterIP).toBeUndefined();
    expect(selects(clientService.spec.selector, metadataSet.spec.template.metadata.labels)).toBe(true);
  });

  it('gives every storage node all three replica URLs, in order', () => {
    const env = storageContainer.env ?? [];
    const index = (name: string): number => env.findIndex((e) => e.name === name);
    expect(index('POD_NAMESPACE')).toBeLessThan(index('GRANARY_METADATA'));
    expect(index('POD_NAME')).toBeLessThan(index('GRANARY_ADVERTISE_URL'));
    expect(fieldRef(storageContainer, 'POD_NAMESPACE')).toBe('metadata.namespace');
    for (const pod of podNames(storageSet)) {
      expect(podValue(storageContainer, 'GRANARY_METADATA', pod).split(','), pod).toEqual(podNames(metadataSet).map(advertised));
    }
    // Nothing else of the base's storage nodes changed.
    const rest = (set: StatefulSet): unknown => strategicMerge(set.spec, { template: { spec: { containers: [{ name: storageContainer.name, env: [{ name: 'GRANARY_METADATA', value: 'x' }] }] } } });
    const sorted = (spec: unknown): unknown => {
      const c = (spec as StatefulSet['spec']).template.spec.containers[0];
      c?.env?.sort((a, b) => a.name.localeCompare(b.name));
      return spec;
    };
    expect(sorted(rest(storageSet))).toEqual(sorted(rest(baseStorageSet)));
  });

  it('uses only GRANARY_* variables the code reads, with values its parsers accept', () => {
    for (const [service, container, pod] of [
      ['metadata', metadataContainer, `${metadataSet.metadata.name}-2`],
      ['storage-node', storageContainer, `${storageSet.metadata.name}-8`],
    ] as const) {
      for (const e of (container.env ?? []).filter((v) => v.name.startsWith('GRANARY_'))) {
        if (e.value === undefined) expect(ENVS[service], e.name).toContain(e.name);
        else expectValidValue(service, e.name, podValue(container, e.name, pod));
      }
    }
    for (const file of own) for (const name of tokens(read(join(K8S_HA, file)))) expect(ALL_ENVS, `${file}: ${name}`).toContain(name);
  });

  it('points the re-layout worker and the gateway at every replica, in order', () => {
    for (const name of ['granary-relayout', 'granary-gateway']) {
      const container = only(named<Deployment>('Deployment', name).spec.template.spec.containers, `${name} containers`);
      expect(fieldRef(container, 'POD_NAMESPACE'), name).toBe('metadata.namespace');
      const urls = expandK8s(envValue(container, 'GRANARY_METADATA'), { POD_NAMESPACE: NAMESPACE }).split(',');
      expect(urls, name).toEqual(podNames(metadataSet).map(advertised));
    }
  });

  it('probes /health over HTTPS on every replica (200 for leader and followers)', () => {
    for (const probe of [metadataContainer.readinessProbe, metadataContainer.livenessProbe]) {
      expect(probe?.httpGet).toEqual({ path: '/health', port: METADATA_PORT, scheme: 'HTTPS' });
    }
  });

  it('keeps authentication on, and the admin token on each replica claim, not in a Secret', () => {
    expect(envValue(metadataContainer, 'GRANARY_AUTH')).toBe('on');
    const adminDir = posix.dirname(envValue(metadataContainer, 'GRANARY_ADMIN_TOKEN_FILE'));
    const mount = metadataContainer.volumeMounts?.find((m) => m.mountPath === adminDir);
    expect(mount?.readOnly, 'the service writes the admin token file').not.toBe(true);
    expect(metadataSet.spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toContain(mount?.name);
    for (const file of own) expect(read(join(K8S_HA, file)), file).not.toMatch(/GRANARY_AUTH\s+value:\s*"?off/);
  });

  it('has a PodDisruptionBudget of maxUnavailable 1 for etcd and for the replicas', () => {
    const budgets = findKind<PodDisruptionBudget>(objects, 'PodDisruptionBudget');
    for (const set of [etcdSet, metadataSet]) {
      const budget = only(budgets.filter((b) => selects(b.spec.selector.matchLabels, set.spec.template.metadata.labels)), `${set.metadata.name} budget`);
      expect(budget.apiVersion).toBe('policy/v1');
      expect(budget.spec.maxUnavailable).toBe(1);
      expect(budget.spec.minAvailable).toBeUndefined();
    }
    expect(budgets).toHaveLength(2);
  });

  it('prefers distinct Kubernetes nodes for etcd members and for replicas', () => {
    for (const set of [etcdSet, metadataSet]) {
      const terms = set.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
      const term = only(terms, `${set.metadata.name} anti-affinity terms`);
      expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
      expect(selects(term.podAffinityTerm.labelSelector.matchLabels, set.spec.template.metadata.labels), set.metadata.name).toBe(true);
      expect(selects(term.podAffinityTerm.labelSelector.matchLabels, storageSet.spec.template.metadata.labels), set.metadata.name).toBe(false);
    }
  });

  it('lets only the replicas reach etcd clients, and only members its peers (a NetworkPolicy)', () => {
    const policy = only(findKind<NetworkPolicy>(objects, 'NetworkPolicy'), 'NetworkPolicy');
    expect(selects(policy.spec.podSelector.matchLabels, etcdSet.spec.template.metadata.labels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const allowed = (port: number): NetworkPolicyPeer[] => policy.spec.ingress.filter((rule) => rule.ports.some((p) => p.port === port)).flatMap((rule) => rule.from);
    const admits = (peers: NetworkPolicyPeer[], labels: Record<string, string>): boolean =>
      peers.some((p) => p.namespaceSelector === undefined && selects(p.podSelector?.matchLabels, labels));
    for (const peer of [...allowed(2379), ...allowed(2380)]) expect(peer.podSelector?.matchLabels, 'every peer is a labelled pod of the namespace').toBeDefined();
    expect(admits(allowed(2379), metadataSet.spec.template.metadata.labels)).toBe(true);
    expect(admits(allowed(2379), storageSet.spec.template.metadata.labels)).toBe(false);
    expect(admits(allowed(2380), etcdSet.spec.template.metadata.labels)).toBe(true);
    expect(admits(allowed(2380), metadataSet.spec.template.metadata.labels)).toBe(false);
  });
});

describe('deploy/compose.ha.yaml', () => {
  const compose = parseCompose('compose.ha.yaml');
  const text = read(join(DEPLOY, 'compose.ha.yaml'));
  const all = Object.entries(compose.services);
  const etcd = all.filter(([, s]) => (s.image ?? '').includes('/etcd:'));
  const metadata = all.filter(([, s]) => s.command?.[0] === 'metadata');
  const storage = all.filter(([, s]) => s.command?.[0] === 'storage-node');
  const granary = [...metadata, ...storage];
  const tokenService = compose.services['node-tokens'] ?? {};
  const flagsOf = (s: ComposeService): Map<string, string> => etcdFlags((s.command ?? []).slice(1));
  const volumeAt = (s: ComposeService, path: string): string[] | undefined => (s.volumes ?? []).map((v) => v.split(':')).find(([, p]) => p === path);
  const advertised = metadata.map(([, s]) => String(s.environment?.GRANARY_ADVERTISE_URL));

  it('parses, with 3 etcd members, 3 metadata replicas, 9 storage nodes and node-tokens, nothing else', () => {
    expect(etcd.map(([name]) => name)).toEqual(['etcd-0', 'etcd-1', 'etcd-2']);
    expect(metadata.map(([name]) => name)).toEqual(['metadata-0', 'metadata-1', 'metadata-2']);
    expect(storage.map(([name]) => name)).toEqual(Array.from({ length: 9 }, (_, i) => `node-${i}`));
    expect(all.map(([name]) => name).sort()).toEqual([...etcd, ...granary].map(([name]) => name).concat('node-tokens', 'relayout', 'gateway').sort());
    // A project apart from compose.yaml's: volumes of the same names do not meet.
    expect((parse(text, { merge: true }) as { name: string }).name).not.toBe((parse(read(join(DEPLOY, 'compose.yaml')), { merge: true }) as { name: string }).name);
  });

  it('runs etcd with the limits of deploy/etcd-flags.ts, bootstrapped from the three member names', () => {
    const names = etcd.map(([name]) => name);
    const volumes = new Set<string>();
    for (const [name, s] of etcd) {
      expect(s.image, name).toMatch(/^quay\.io\/coreos\/etcd:v3\.5\.\d+$/);
      expect(s.command?.[0], name).toBe('/usr/local/bin/etcd');
      const flags = flagsOf(s);
      expectEtcdLimits(flags, name);
      expect(flags.get('--name'), name).toBe(name);
      const cluster = initialCluster(flags.get('--initial-cluster') ?? '');
      expect(cluster.map(([member]) => member), name).toEqual(names);
      expect(cluster.find(([member]) => member === name)?.[1], name).toBe(flags.get('--initial-advertise-peer-urls'));
      expect(flags.get('--initial-advertise-peer-urls'), name).toBe(`http://${name}:2380`);
      expect(flags.get('--advertise-client-urls'), name).toBe(`http://${name}:2379`);
      expect(flags.get('--initial-cluster-state'), name).toBe('new');
      // Its own named volume, holding the data directory.
      const [volume, path] = (s.volumes ?? [])[0]?.split(':') ?? [];
      expect(Object.keys(compose.volumes), name).toContain(volume);
      expect(flags.get('--data-dir')?.startsWith(`${path ?? ''}/`), name).toBe(true);
      volumes.add(volume ?? '');
      expect(s.healthcheck?.test, name).toEqual(['CMD', '/usr/local/bin/etcdctl', 'endpoint', 'health']);
    }
    expect(volumes.size).toBe(3);
    expect(new Set(etcd.map(([, s]) => flagsOf(s).get('--initial-cluster-token'))).size).toBe(1);
  });

  it('keeps etcd on an internal network with the replicas only, and publishes nothing but the replicas', () => {
    expect(compose.networks?.etcd?.internal).toBe(true);
    for (const [name, s] of etcd) {
      expect(s.networks, name).toEqual(['etcd']);
      expect(s.ports, name).toBeUndefined();
    }
    for (const [name, s] of metadata) expect(s.networks, name).toEqual(['default', 'etcd']);
    for (const [name, s] of [...storage, ['node-tokens', tokenService] as const]) expect(s.networks, name).toBeUndefined();
    for (const [name, s] of all) {
      expect(Object.keys(s), name).not.toContain('expose');
      expect(Object.keys(s), name).not.toContain('network_mode');
      if (!name.startsWith('metadata-') && name !== 'gateway') expect(s.ports, name).toBeUndefined();
    }
    expect(metadata.map(([, s]) => s.ports)).toEqual([0, 1, 2].map((i) => [`127.0.0.1:${METADATA_PORT + i}:${METADATA_PORT}`]));
    expect(compose.services.gateway?.networks, 'the gateway never reaches etcd').toBeUndefined();
  });

  it('runs the gateway over TLS with a certificate of its own, no token, every replica named, published on the host loopback', () => {
    expectComposeGateway(compose.services.gateway, metadata.map(([, s]) => String(s.environment?.GRANARY_ADVERTISE_URL)).join(','), './tls/ha', metadata.map(([name]) => name));
  });

  it('runs the replicas in --store etcd mode on every member, each advertising its compose name', () => {
    const members = etcd.map(([, s]) => flagsOf(s).get('--advertise-client-urls'));
    for (const [name, s] of metadata) {
      const env = s.environment ?? {};
      expect(env.GRANARY_STORE, name).toBe('etcd');
      expect(String(env.GRANARY_ETCD).split(','), name).toEqual(members);
      expect(env.GRANARY_ADVERTISE_URL, name).toBe(`https://${name}:${METADATA_PORT}`);
      expect(env.GRANARY_PORT, name).toBe(String(METADATA_PORT));
      expect(env.GRANARY_LEADER_TTL, name).toBeDefined();
      expect(env.GRANARY_AUTH, name).toBe('on');
      expect(Object.keys(s.depends_on ?? {}).sort(), name).toEqual(etcd.map(([n]) => n));
    }
    expect(new Set(metadata.map(([, s]) => s.environment?.GRANARY_ETCD_PREFIX)).size).toBe(1);
  });

  it('uses only GRANARY_* variables the code reads, with values its parsers accept', () => {
    for (const [name, s] of granary) {
      const kind: ServiceName = s.command?.[0] === 'metadata' ? 'metadata' : 'storage-node';
      const environment = Object.entries(s.environment ?? {});
      expect(environment.length, name).toBeGreaterThan(3);
      for (const [key, value] of environment) {
        expect(value, `${name}: ${key}`).toBeTypeOf('string');
        if (key.startsWith('GRANARY_')) expectValidValue(kind, key, String(value));
      }
    }
    for (const name of tokens(text)) expect(ALL_ENVS, name).toContain(name);
    expect(text).not.toMatch(/GRANARY_AUTH:\s*"?off/);
  });

  it('gives every replica and node its own data volume, and the replicas one shared, writable admin token volume', () => {
    const dataVolumes = granary.map(([name, s]) => {
      const mount = volumeAt(s, String(s.environment?.GRANARY_DATA));
      expect(Object.keys(compose.volumes), name).toContain(mount?.[0]);
      return mount?.[0];
    });
    expect(new Set(dataVolumes).size).toBe(12);
    const adminFiles = new Set(metadata.map(([, s]) => s.environment?.GRANARY_ADMIN_TOKEN_FILE));
    const adminFile = String(only([...adminFiles], 'one admin token file'));
    const adminMounts = metadata.map(([, s]) => volumeAt(s, posix.dirname(adminFile)));
    expect(new Set(adminMounts.map((m) => m?.join(':'))).size, 'the same volume, at the same path').toBe(1);
    expect(adminMounts[0]?.[2], 'replicas write the file').toBeUndefined();
    expect(dataVolumes).not.toContain(adminMounts[0]?.[0]);
    // A new named volume takes the owner of the image directory it covers: /secrets is the image user's.
    expect(posix.dirname(adminFile)).toBe('/secrets');
    const run = (DOCKERFILE.stages.at(-1)?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(run).toMatch(/chown \S+ [^&]*\/secrets/);
  });

  it('gives every storage node all three replica URLs and its own token, after node-tokens', () => {
    for (const [name, s] of storage) {
      const env = s.environment ?? {};
      expect(String(env.GRANARY_METADATA).split(','), name).toEqual(advertised);
      expect(env.GRANARY_ADVERTISE_URL, name).toBe(`https://${name}:${NODE_PORT}`);
      expect(env.GRANARY_NODE_ID, name).toBe(name);
      expect(env.GRANARY_TOKEN_FILE, name).toBe(`/secrets/${name}.token`);
      expect(volumeAt(s, '/secrets'), name).toEqual(['node-tokens', '/secrets', 'ro']);
      expect(s.depends_on, name).toEqual({
        ...Object.fromEntries(metadata.map(([n]) => [n, { condition: 'service_healthy' }])),
        'node-tokens': { condition: 'service_completed_successfully' },
      });
    }
    const perDomain = new Map<string, number>();
    for (const [, s] of storage) perDomain.set(String(s.environment?.GRANARY_DOMAIN), (perDomain.get(String(s.environment?.GRANARY_DOMAIN)) ?? 0) + 1);
    expect([...perDomain.entries()].sort()).toEqual([['rack-0', 3], ['rack-1', 3], ['rack-2', 3]]);
  });

  it('makes the node tokens with the shared admin token, once a leader has written it', () => {
    expect(tokenService.restart).toBe('no');
    expect(tokenService.depends_on).toEqual(Object.fromEntries(metadata.map(([n]) => [n, { condition: 'service_healthy' }])));
    const script = only(tokenService.command ?? [], 'node-tokens command');
    expect(script.replaceAll('$$', '')).not.toContain('$');
    const sh = script.replaceAll('$$', '$').replace(/\\\n\s*/g, ' ');
    const loop = /for (\w+) in ([^;]+); do/.exec(sh);
    const values = (loop?.[2] ?? '').trim().split(/\s+/);
    expect(values.map((v) => `/secrets/node-${v}.token`)).toEqual(storage.map(([, s]) => s.environment?.GRANARY_TOKEN_FILE));
    expect(sh).toContain('umask 077');
    expect(sh).toMatch(/mv "\$file\.tmp" "\$file"/);
    const create = /node (\S+) token create ([^>]+)>/.exec(sh);
    const args = (create?.[2] ?? '').match(/--[a-z-]+ (?:"[^"]*"|\S+)/g) ?? [];
    const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`${name} `))?.slice(name.length + 1).replace(/^"|"$/g, '');
    expect(flag('--metadata')).toBe(storage[0]?.[1].environment?.GRANARY_METADATA);
    expect(flag('--tls-ca')).toBe('/tls/ca.pem');
    // The admin token: the replicas' shared volume, mounted read-only; waited for, with a bound.
    const adminFile = String(metadata[0]?.[1].environment?.GRANARY_ADMIN_TOKEN_FILE);
    const [adminVolume] = volumeAt(metadata[0]?.[1] ?? {}, posix.dirname(adminFile)) ?? [];
    const mount = (tokenService.volumes ?? []).map((v) => v.split(':')).find(([volume]) => volume === adminVolume);
    expect(mount?.[2]).toBe('ro');
    const tokenFile = posix.join(mount?.[1] ?? '', posix.basename(adminFile));
    expect(flag('--token-file')).toBe(tokenFile);
    expect(sh).toContain(`while [ ! -s ${tokenFile} ]; do`);
    expect(sh).toMatch(/if \[ "\$waited" -ge \d+ \]; then/);
    expect(sh.indexOf('while')).toBeLessThan(sh.indexOf('token create'));
  });

  it('serves every replica and node over TLS with its own certificate from deploy/tls/ha, and healthchecks /health', () => {
    for (const [name, s] of granary) {
      const env = s.environment ?? {};
      expect(volumeAt(s, '/tls'), name).toEqual(['./tls/ha', '/tls', 'ro']);
      expect(env.GRANARY_TLS_CERT, name).toBe(`/tls/${name}.pem`);
      expect(env.GRANARY_TLS_KEY, name).toBe(`/tls/${name}.key`);
      expect(env.GRANARY_TLS_CA, name).toBe('/tls/ca.pem');
      const probe = /require\('https'\)\.get\(\{ host: '127\.0\.0\.1', port: (\d+), path: '\/health', ca: require\('fs'\)\.readFileSync\('([^']+)'\) \}/.exec(s.healthcheck?.test[3] ?? '');
      expect(probe?.[1], name).toBe(String(env.GRANARY_PORT));
      expect(probe?.[2], name).toBe(env.GRANARY_TLS_CA);
    }
    expect(text).toContain(`node dist/deploy/local-tls.js deploy/tls/ha ${[...metadata, ['gateway'], ...storage].map(([name]) => name).join(' ')}`);
  });

  it('builds deploy/Dockerfile from the repository root, tagged with the package version', () => {
    for (const [name, s] of [...granary, ['node-tokens', tokenService] as const]) {
      expect(resolve(DEPLOY, s.build?.context ?? ''), name).toBe(ROOT);
      expect(s.image, name).toBe(`granary:${PACKAGE.version}`);
    }
  });
});

describe('deploy/systemd: replicated metadata', () => {
  const replicaEnv = envFile(read(join(SYSTEMD, 'metadata-replica.env.example')));
  const etcdEnv = envFile(read(join(SYSTEMD, 'etcd.env.example')));
  const active = (entries: typeof replicaEnv): Map<string, string> => new Map(entries.filter((e) => !e.commented).map((e) => [e.key, e.value]));

  it('metadata-replica.env.example sets the etcd store with valid values, for the existing unit', () => {
    for (const entry of replicaEnv) expectValidValue('metadata', entry.key, entry.value);
    const env = active(replicaEnv);
    expect(env.get('GRANARY_STORE')).toBe('etcd');
    expect(env.get('GRANARY_ETCD')?.split(',')).toHaveLength(3);
    expect(env.get('GRANARY_ADVERTISE_URL')).toMatch(/^https:\/\//);
    expect(env.has('GRANARY_LEADER_TTL')).toBe(true);
    // The unit reads it as its env file.
    expect(unitValues(parseUnit(read(join(SYSTEMD, 'granary-metadata.service'))), 'EnvironmentFile')).toEqual(['-/etc/granary/metadata.env']);
    expect(read(join(SYSTEMD, 'metadata-replica.env.example'))).toContain('/etc/granary/metadata.env');
  });

  it('etcd.env.example gives Debian etcd the limits of deploy/etcd-flags.ts and a 3-member cluster', () => {
    const env = active(etcdEnv);
    const asEnv = (flag: string): string => `ETCD_${flag.slice(2).toUpperCase().replaceAll('-', '_')}`;
    for (const [flag, value] of ETCD_LIMITS) expect(env.get(asEnv(flag)), flag).toBe(value);
    const cluster = initialCluster(env.get('ETCD_INITIAL_CLUSTER') ?? '');
    expect(cluster).toHaveLength(3);
    expect(cluster.find(([name]) => name === env.get('ETCD_NAME'))?.[1]).toBe(env.get('ETCD_INITIAL_ADVERTISE_PEER_URLS'));
    // The members' client URLs are what the replicas list.
    const clientUrl = new URL(env.get('ETCD_ADVERTISE_CLIENT_URLS') ?? '');
    expect(active(replicaEnv).get('GRANARY_ETCD')?.split(',')).toContain(`${clientUrl.protocol}//${clientUrl.host}`);
  });
});

describe('deploy/README.md: replicated metadata', () => {
  const readme = read(join(DEPLOY, 'README.md'));
  const start = readme.indexOf('\n## Replicated metadata (etcd)\n');
  // Words as they read: a flag and its value may wrap onto two lines.
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1)).replace(/\s+/g, ' ');

  it('has the section, with the etcd limits as deploy/etcd-flags.ts sets them', () => {
    expect(start).toBeGreaterThan(0);
    for (const [flag, value] of ETCD_LIMITS) expect(section, flag).toContain(`${flag} ${value}`);
    expect(section).toContain('granary metadata backup --out');
    expect(section).toContain('etcd-server');
  });

  it('lists the new files in the table at the top', () => {
    const table = readme.slice(0, readme.indexOf('\n## '));
    for (const file of ['compose.ha.yaml', 'kubernetes-ha/', 'etcd.env.example', 'metadata-replica.env.example']) expect(table, file).toContain(`\`${file}\``);
  });
});
