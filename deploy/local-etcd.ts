/**
 * A local etcd cluster of one or three members on loopback, as child processes: the store of the
 * metadata replicas under `granary up --ha`, and of the tests of the etcd-backed catalog. Members
 * keep their data under one directory, with the ports and cluster token recorded beside them
 * (cluster.json), because an etcd member's peer URL is part of the cluster's membership: a restart
 * on other ports would no longer find its peers. So a second start on the same directory reuses
 * the same cluster, its data and its ports.
 *
 * The members are plain `etcd` processes (Debian's etcd-server 3.4), not an embedded server: the
 * same binary an operator runs, with the same flags (deploy/etcd-flags.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, existsSync, openSync, writeSync } from 'node:fs';
import { access, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { GranaryError } from '../protocol/index.js';
import { type ServerTls, loadServerTls, loadTlsCa } from '../protocol/tls.js';
import {
  ETCD_HOST,
  ETCD_MEMBERS_ALLOWED,
  type EtcdMemberCount,
  type EtcdMemberLayout,
  type EtcdMemberTls,
  etcdClientUrl,
  etcdMemberArgs,
} from './etcd-flags.js';
import { describeExit } from './restart-backoff.js';

export interface LocalEtcdOptions {
  /** Root directory: one data directory per member (etcd-0, ..) and cluster.json. Created if missing. */
  readonly dir: string;
  readonly members: EtcdMemberCount;
  /** Client ports, one per member; default: the recorded ones, or free ones on a fresh directory. */
  readonly clientPorts?: readonly number[];
  /** Peer ports, one per member; as clientPorts. */
  readonly peerPorts?: readonly number[];
  /** Where each member's stdout and stderr go (`etcd-0.log`, ..); default `dir`. */
  readonly logDir?: string;
  /** The etcd binary; default `etcd` on the PATH. */
  readonly binary?: string;
  /** How long start and restart wait for members to report healthy. */
  readonly readyTimeoutMs?: number;
  /**
   * How long stop waits after SIGTERM before it sends SIGKILL. A member that is asked to stop
   * while its peers stop too waits for them (three take ~9 s), so tests, which keep no data,
   * pass a short grace.
   */
  readonly stopGraceMs?: number;
  /**
   * A member exited without being asked to (crash, OOM kill, a signal from outside). The caller
   * decides whether to restart it (`granary up` backs off as for its other children).
   */
  readonly onExit?: (member: number, how: string) => void;
  /**
   * Serve the client URLs over TLS (https://), optionally refusing clients without a certificate
   * of the CA. Every member serves the same certificate, which must name 127.0.0.1.
   */
  readonly tls?: EtcdMemberTls;
}

export interface LocalEtcd {
  readonly members: readonly EtcdMemberLayout[];
  /** Each member's client URL, in member order. */
  readonly clientUrls: readonly string[];
  /** The client URLs comma-separated: what `granary metadata --etcd` takes. */
  readonly endpoints: string;
  /** The TLS the members serve (options.tls); undefined: plain HTTP. */
  readonly tls: EtcdMemberTls | undefined;
  /** Whether the directory held a cluster already (this start reused it). */
  readonly reused: boolean;
  /** A member's process id; undefined while it is down. */
  pid(member: number): number | undefined;
  /** Every member's process id, in member order. */
  pids(): readonly (number | undefined)[];
  logFile(member: number): string;
  /** Sends `signal` to a member and resolves when it has exited; not reported to onExit. */
  kill(member: number, signal: NodeJS.Signals): Promise<void>;
  /** Stops a member if it runs (as stop does), starts it again and waits until it is healthy. */
  restart(member: number): Promise<void>;
  /** Stops every member: SIGTERM, then SIGKILL after stopGraceMs. Idempotent. */
  stop(): Promise<void>;
}

export const LOCAL_ETCD_READY_TIMEOUT_MS = 30_000;
export const LOCAL_ETCD_STOP_GRACE_MS = 15_000;
/** The package that has the binary on Debian and Ubuntu; named in the error when it is missing. */
export const ETCD_PACKAGE = 'etcd-server';
const LAYOUT_FILE = 'cluster.json';
const LAYOUT_VERSION = 1;
const HEALTH_POLL_MS = 100;
/** One /health probe; a member that takes longer is not healthy yet. */
const HEALTH_PROBE_TIMEOUT_MS = 1_000;
/** Lines of a member's log quoted when it fails to start. */
const LOG_TAIL_LINES = 6;
const LOG_TAIL_BYTES = 64 * 1024;
/**
 * Free ports are picked below Linux's ephemeral range (32768 and up), so an outgoing connection
 * cannot take one between the check and etcd's bind.
 */
const PORT_PICK_MIN = 20_000;
const PORT_PICK_SPAN = 12_000;
const PORT_PICK_ATTEMPTS = 1_000;
/** Written to a member's log before each start, so a failure quotes only its own start. */
const START_MARKER = '--- granary: etcd starting ---';

/** One member's process, if it runs. */
interface MemberProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Set before a kill or stop of ours, so the exit is not reported to onExit. */
  expected: boolean;
}

/** What cluster.json holds. */
interface RecordedLayout {
  readonly version: number;
  readonly token: string;
  readonly members: readonly { readonly name: string; readonly clientPort: number; readonly peerPort: number }[];
}

export async function startLocalEtcd(options: LocalEtcdOptions): Promise<LocalEtcd> {
  if (!ETCD_MEMBERS_ALLOWED.includes(options.members)) {
    throw new GranaryError('GRN_BAD_REQUEST', `a local etcd cluster has ${ETCD_MEMBERS_ALLOWED.join(' or ')} members, not ${options.members}`);
  }
  const binary = options.binary ?? (await findEtcdBinary());
  // Read before anything starts: a bad file is an error naming it, not a member that never gets healthy.
  const probeTls = options.tls === undefined ? undefined : loadProbeTls(options.tls);
  const dir = resolve(options.dir);
  const logDir = resolve(options.logDir ?? dir);
  await mkdir(dir, { recursive: true });
  await mkdir(logDir, { recursive: true });
  const { layout, token, reused } = await loadOrCreateLayout(dir, options);
  const readyTimeoutMs = options.readyTimeoutMs ?? LOCAL_ETCD_READY_TIMEOUT_MS;
  const stopGraceMs = options.stopGraceMs ?? LOCAL_ETCD_STOP_GRACE_MS;
  const running: (MemberProcess | undefined)[] = layout.map(() => undefined);
  const logFile = (member: number): string => join(logDir, `${memberAt(layout, member).name}.log`);
  let stopped = false;

  // `existing` once any member holds data: etcd ignores --initial-cluster where there is data,
  // and a member whose data is gone joins its peers instead of founding a second cluster.
  const clusterState = (): 'new' | 'existing' => (layout.some((m) => existsSync(join(m.dataDir, 'member'))) ? 'existing' : 'new');
  const spawnMember = (member: number, state: 'new' | 'existing'): void => {
    const layoutOf = memberAt(layout, member);
    // The log is the child's own stdout and stderr (no pipe through this process), so a member
    // keeps logging however busy or blocked its parent is.
    const fd = openSync(logFile(member), 'a');
    let child: ChildProcess;
    try {
      writeSync(fd, `${START_MARKER} ${new Date().toISOString()} ${layoutOf.name} (${state})\n`);
      child = spawn(binary, etcdMemberArgs(layoutOf, layout, token, state, options.tls), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const entry: MemberProcess = {
      child,
      expected: false,
      exited: new Promise<void>((done) => {
        let finished = false;
        const finish = (how: string): void => {
          if (finished) return;
          finished = true;
          if (running[member] === entry) running[member] = undefined;
          if (!entry.expected && !stopped) options.onExit?.(member, how);
          done();
        };
        child.once('exit', (code, signal) => finish(`exited with ${describeExit(code, signal)}`));
        // A process that never started (the binary vanished since the PATH lookup) emits no exit.
        child.once('error', (error) => {
          if (child.pid === undefined) finish(`did not start: ${error.message}`);
        });
      }),
    };
    running[member] = entry;
  };

  /** Signals a running member and waits for it to exit, with SIGKILL after `graceMs`. */
  const stopMember = async (member: number, signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const entry = running[member];
    if (entry === undefined) return;
    entry.expected = true;
    entry.child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    await entry.exited;
    clearTimeout(timer);
  };

  const stop = async (): Promise<void> => {
    stopped = true;
    // One at a time: a leader that stops hands its leadership to a live peer, which is quick
    // while that peer runs, but waits out a ~7 s timeout when its peers stop at the same moment.
    // The last member has no peer left and stops at once.
    for (let member = 0; member < layout.length; member++) await stopMember(member, 'SIGTERM', stopGraceMs);
  };

  const waitHealthy = async (members: readonly number[]): Promise<void> => {
    const deadline = Date.now() + readyTimeoutMs;
    const pending = new Set(members);
    while (pending.size > 0) {
      for (const member of [...pending]) {
        if (running[member] === undefined) {
          throw new GranaryError('GRN_UNAVAILABLE', `etcd member ${memberAt(layout, member).name} exited while starting; the end of ${logFile(member)}:\n${await logTail(logFile(member))}`);
        }
        if (await healthy(etcdClientUrl(memberAt(layout, member), probeTls !== undefined), probeTls)) pending.delete(member);
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        const names = [...pending].map((member) => memberAt(layout, member).name);
        const first = [...pending][0] as number;
        throw new GranaryError(
          'GRN_UNAVAILABLE',
          `etcd member${names.length > 1 ? 's' : ''} ${names.join(', ')} not healthy within ${readyTimeoutMs / 1000} s (a cluster needs a majority of its members up to elect a leader); the end of ${logFile(first)}:\n${await logTail(logFile(first))}`,
        );
      }
      await new Promise((done) => setTimeout(done, HEALTH_POLL_MS));
    }
  };

  try {
    // One state for all: the first member may write its data before the last is spawned, and a
    // founding member started as `existing` finds no decided cluster to join and exits.
    const state = clusterState();
    for (let member = 0; member < layout.length; member++) spawnMember(member, state);
    await waitHealthy(layout.map((_, member) => member));
  } catch (error) {
    stopped = true;
    // Nothing worth a clean shutdown yet.
    await Promise.all(layout.map((_, member) => stopMember(member, 'SIGKILL', 0)));
    throw error;
  }

  const clientUrls = layout.map((member) => etcdClientUrl(member, options.tls !== undefined));
  return {
    members: layout,
    clientUrls,
    endpoints: clientUrls.join(','),
    tls: options.tls,
    reused,
    pid: (member) => running[checkMember(layout, member)]?.child.pid,
    pids: () => running.map((entry) => entry?.child.pid),
    logFile: (member) => logFile(checkMember(layout, member)),
    kill: (member, signal) => stopMember(checkMember(layout, member), signal, stopGraceMs),
    restart: async (member) => {
      checkMember(layout, member);
      if (stopped) throw new GranaryError('GRN_UNAVAILABLE', `the local etcd cluster in ${dir} was stopped; start it again instead of restarting a member`);
      await stopMember(member, 'SIGTERM', stopGraceMs);
      // stop() may have run meanwhile: a member started now would outlive it.
      if (stopped) throw new GranaryError('GRN_UNAVAILABLE', `the local etcd cluster in ${dir} was stopped while member ${member} restarted`);
      spawnMember(member, clusterState());
      await waitHealthy([member]);
    },
    stop,
  };
}

/** The etcd binary on the PATH, or an error that says how to install it. */
export async function findEtcdBinary(pathVariable = process.env.PATH ?? ''): Promise<string> {
  for (const entry of pathVariable.split(delimiter)) {
    if (entry === '') continue;
    const candidate = join(entry, 'etcd');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  throw new GranaryError(
    'GRN_UNAVAILABLE',
    `etcd was not found on the PATH; it is needed for a replicated metadata store. Install it (Debian/Ubuntu: apt-get install ${ETCD_PACKAGE}; elsewhere an etcd 3.4 or newer release binary on the PATH)`,
  );
}

function memberAt(layout: readonly EtcdMemberLayout[], member: number): EtcdMemberLayout {
  const found = layout[member];
  if (found === undefined) throw new GranaryError('GRN_BAD_REQUEST', `no etcd member ${member}; the cluster has members 0..${layout.length - 1}`);
  return found;
}

function checkMember(layout: readonly EtcdMemberLayout[], member: number): number {
  memberAt(layout, member);
  return member;
}

/** The recorded layout of `dir`, checked against the options; or a new one, recorded. */
async function loadOrCreateLayout(
  dir: string,
  options: LocalEtcdOptions,
): Promise<{ layout: EtcdMemberLayout[]; token: string; reused: boolean }> {
  const file = join(dir, LAYOUT_FILE);
  const count = options.members;
  for (const [what, ports] of [['clientPorts', options.clientPorts], ['peerPorts', options.peerPorts]] as const) {
    if (ports === undefined) continue;
    if (ports.length !== count || !ports.every((port) => Number.isInteger(port) && port >= 1 && port <= 65_535)) {
      throw new GranaryError('GRN_BAD_REQUEST', `${what} must be ${count} ports in 1..65535, got ${JSON.stringify(ports)}`);
    }
  }
  const toLayout = (members: RecordedLayout['members']): EtcdMemberLayout[] =>
    members.map((m) => ({ name: m.name, dataDir: join(dir, m.name), clientPort: m.clientPort, peerPort: m.peerPort }));
  if (existsSync(file)) {
    const recorded = parseLayout(await readFile(file, 'utf8'), file);
    if (recorded.members.length !== count) {
      throw new GranaryError('GRN_BAD_REQUEST', `${dir} holds an etcd cluster of ${recorded.members.length} members, not ${count}; start it with ${recorded.members.length}, or remove ${dir} (its data goes with it) for a new cluster`);
    }
    for (const [what, ports, key] of [['client', options.clientPorts, 'clientPort'], ['peer', options.peerPorts, 'peerPort']] as const) {
      const recordedPorts = recorded.members.map((m) => m[key]);
      if (ports !== undefined && ports.some((port, i) => port !== recordedPorts[i])) {
        throw new GranaryError(
          'GRN_BAD_REQUEST',
          `the etcd cluster in ${dir} runs on ${what} ports ${recordedPorts.join(',')}, not ${ports.join(',')}: members find each other by their recorded addresses. Use the recorded ports, or remove ${dir} (its data goes with it) for a new cluster`,
        );
      }
    }
    return { layout: toLayout(recorded.members), token: recorded.token, reused: true };
  }
  const picked = options.clientPorts !== undefined && options.peerPorts !== undefined ? [] : await freeLoopbackPorts(count * 2);
  const clientPorts = options.clientPorts ?? picked.slice(0, count);
  const peerPorts = options.peerPorts ?? picked.slice(count);
  const all = [...clientPorts, ...peerPorts];
  if (new Set(all).size !== all.length) throw new GranaryError('GRN_BAD_REQUEST', `etcd client and peer ports must all differ, got ${all.join(',')}`);
  const recorded: RecordedLayout = {
    version: LAYOUT_VERSION,
    token: `granary-${randomBytes(8).toString('hex')}`,
    members: Array.from({ length: count }, (_, i) => ({ name: `etcd-${i}`, clientPort: clientPorts[i] as number, peerPort: peerPorts[i] as number })),
  };
  await writeFile(file, `${JSON.stringify(recorded, null, 2)}\n`);
  return { layout: toLayout(recorded.members), token: recorded.token, reused: false };
}

function parseLayout(text: string, file: string): RecordedLayout {
  const broken = (why: string): GranaryError =>
    new GranaryError('GRN_BAD_REQUEST', `${file} is not a local etcd cluster layout (${why}); restore it, or remove its directory (the cluster's data goes with it)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw broken(`not JSON: ${(error as Error).message}`);
  }
  const layout = value as Partial<RecordedLayout> | null;
  if (layout === null || typeof layout !== 'object' || layout.version !== LAYOUT_VERSION) throw broken(`version is not ${LAYOUT_VERSION}`);
  if (typeof layout.token !== 'string' || layout.token === '') throw broken('no token');
  const members = layout.members;
  const port = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65_535;
  if (!Array.isArray(members) || !ETCD_MEMBERS_ALLOWED.includes(members.length as EtcdMemberCount)) throw broken('members is not a list of 1 or 3');
  for (const m of members as unknown[]) {
    const member = m as Record<string, unknown>;
    if (typeof member?.name !== 'string' || !/^etcd-\d$/.test(member.name) || !port(member.clientPort) || !port(member.peerPort)) {
      throw broken(`a member is not { name, clientPort, peerPort }: ${JSON.stringify(m)}`);
    }
  }
  return layout as RecordedLayout;
}

/** `count` distinct free ports on loopback. */
async function freeLoopbackPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; attempt < PORT_PICK_ATTEMPTS && ports.size < count; attempt++) {
    const port = PORT_PICK_MIN + Math.floor(Math.random() * PORT_PICK_SPAN);
    if (!ports.has(port) && (await portFree(port))) ports.add(port);
  }
  if (ports.size < count) throw new GranaryError('GRN_UNAVAILABLE', `found only ${ports.size} of ${count} free ports on ${ETCD_HOST} for etcd; pass the ports instead`);
  return [...ports];
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, ETCD_HOST, () => server.close(() => done(true)));
  });
}

/** What a health probe of a TLS member verifies it with, and presents when it asks for a client certificate. */
interface ProbeTls {
  readonly ca: Buffer;
  /** The members' own certificate (it allows client auth: etcd's gateway uses it the same way). */
  readonly client: ServerTls;
}

function loadProbeTls(tls: EtcdMemberTls): ProbeTls {
  const settings = { cert: 'etcd tls.certFile', key: 'etcd tls.keyFile', ca: 'etcd tls.caFile' };
  const client = loadServerTls(tls.certFile, tls.keyFile, settings);
  const ca = loadTlsCa(tls.caFile, settings);
  if (client === undefined || ca === undefined) throw new Error('unreachable: TLS files were given');
  return { ca, client };
}

/**
 * Whether a member answers `GET /health` with `{"health":"true"}`: it is up and its cluster has a
 * leader (a member cut off from the majority answers false).
 */
async function healthy(clientUrl: string, tls: ProbeTls | undefined): Promise<boolean> {
  return new Promise((done) => {
    // No agent: one connection per probe, nothing left open after the last.
    const settings = { agent: false as const, timeout: HEALTH_PROBE_TIMEOUT_MS };
    const onResponse = (response: IncomingMessage): void => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        body += text;
      });
      response.on('end', () => {
        try {
          done(response.statusCode === 200 && (JSON.parse(body) as { health?: unknown }).health === 'true');
        } catch {
          done(false);
        }
      });
      response.on('error', () => done(false));
    };
    const probe =
      tls === undefined
        ? httpRequest(`${clientUrl}/health`, settings, onResponse)
        : httpsRequest(`${clientUrl}/health`, { ...settings, ca: tls.ca, cert: tls.client.cert, key: tls.client.key }, onResponse);
    probe.on('timeout', () => probe.destroy());
    probe.on('error', () => done(false));
    probe.end();
  });
}

/**
 * The last lines a member logged since its last start, for an error message: zap's JSON lines
 * shortened to level, message and error.
 */
async function logTail(file: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, LOG_TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `(cannot read it: ${(error as Error).message})`;
  }
  const sinceStart = text.slice(text.lastIndexOf(START_MARKER) + 1);
  const lines = sinceStart.split('\n').slice(1).filter((line) => line.trim() !== '');
  const shown = lines.slice(-LOG_TAIL_LINES).map((line) => {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      const error = record.error ?? record.err;
      return `  ${String(record.level ?? '')} ${String(record.msg ?? '')}${error === undefined ? '' : `: ${String(error)}`}`;
    } catch {
      return `  ${line}`;
    }
  });
  return shown.length === 0 ? '  (nothing logged)' : shown.join('\n');
}
