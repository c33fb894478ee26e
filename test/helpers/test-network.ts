/**
 * Private multi-host networks for network fault tests, built from Linux network namespaces.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2 (`ip`, `tc`).
 *
 * Topology of network <id> with N hosts (one /24 in 10.0.0.0/8, chosen per network):
 *
 *   root namespace (vitest)       grn<id>-sw (the switch)              grn<id>-h<i>
 *   grn<id>-r  10.a.b.1 <─veth─> root ─┐
 *                                      br0 ─ h<i> <─────────veth─────> eth0  10.a.b.(10+i), lo
 *
 * The only thing added to the root namespace is the veth `grn<id>-r` (plus its connected route),
 * so the test process reaches every host directly while the hosts, having no default route,
 * reach nothing but each other and the test process. IPv4 only: IPv6 address generation is off
 * on every interface made here, so there is no duplicate address detection to wait for.
 *
 * Processes run inside a host with `spawnIn` or `startGranary`. Servers there must bind to the
 * host's address (`host(i).address`), the only one the others can reach; never 0.0.0.0.
 *
 *   const network = await createTestNetwork({ hosts: 3 });       // in beforeAll
 *   const metadata = await network.startGranary(0, ['metadata', '--data', dir, '--port', '0'], 'metadata ready');
 *   const node = await network.startGranary(1, ['storage-node', ..., '--metadata', metadata.url], 'storage node ready');
 *   await network.linkDown(1);  ...  await network.linkUp(1);
 *   await network.setDelay(2, 300);  ...  await network.clearDelay(2);
 *   await network.destroy();                                      // in afterAll, before removing dirs
 *
 * Faults (all per host, all undone by `destroy`):
 *
 * - `linkDown(i)` sets the switch end of the host's veth down: a cable pulled at the switch. The
 *   host keeps its address and routes (its eth0 only shows NO-CARRIER), nothing inside it is told,
 *   and no RST or FIN is sent anywhere, so established TCP connections, in both directions, hang
 *   and retransmit instead of failing, which is what a partition looks like to a process. New
 *   connections hang too, until the connecting side's ARP entry for the host gives up; then
 *   connect() fails with EHOSTUNREACH. Measured on Linux 6.x: ~3 s when the ARP entry was absent
 *   or failed, ~35-40 s when it was fresh (REACHABLE). So bound every request by a timeout.
 *   `linkUp(i)` reconnects it and waits until the test process reaches the host again; hung
 *   connections resume on their next retransmission, which TCP backoff may delay by seconds.
 * - `setDelay(i, ms)` delays every packet the host sends by `ms` (one way), so each round trip
 *   with that host grows by `ms`: a request on an open connection takes >= ms, one on a new
 *   connection >= 2 * ms (the SYN-ACK is delayed too). `setLoss(i, percent)` drops that share of
 *   the packets the host sends. Delay and loss combine.
 *
 * How delay and loss are made: with `tc ... netem` on the host's eth0 where the kernel has
 * sch_netem; otherwise (some VM and CI kernels are built without it, with no module to load) with
 * a "delay line": a small python3 program in the switch namespace that takes the host's port off
 * the bridge and forwards its frames through AF_PACKET sockets, holding back (or dropping) the
 * ones the host sent. Both behave the same to the processes; `impairmentBackend()` says which one
 * is in use. The delay line costs some CPU per packet and briefly duplicates frames while it
 * is spliced in; TCP does not mind either.
 *
 * Cleanup: `destroy()` SIGKILLs every process inside the network (by pid, found with
 * `ip netns pids`, including ones this module did not start), waits for them to exit (a
 * namespace a process still lives in would outlive `ip netns del`, with its interfaces), then
 * deletes the root veth and the namespaces. It is idempotent, tolerates half-built networks, and
 * runs (synchronously, best effort) on process exit too. Leftovers of a test process that was
 * SIGKILLed, namespaces, veth and the processes inside, are removed by the next
 * `createTestNetwork` (names carry the creating pid, so it can tell they are orphans).
 */
import { type ChildProcess, type SpawnOptions, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { type GranaryProcess, startGranaryProcess } from './granary-process.js';
import { pollUntil } from './poll.js';

export interface TestHost {
  readonly index: number;
  /** Short name, `h<index>`: the name of its port on the switch. */
  readonly name: string;
  /** Network namespace, `grn<id>-h<index>`; for `ip -n` or `ip netns exec`. */
  readonly namespace: string;
  /** IPv4 address of its eth0, the address its servers bind to. */
  readonly address: string;
}

/** How `setDelay` and `setLoss` are implemented; see the module comment. */
export type ImpairmentBackend = 'netem' | 'delay-line';

export interface TestNetworkOptions {
  /** Number of hosts, 1 to HOSTS_MAX. */
  readonly hosts: number;
  /** Default 'auto': netem where the kernel has it, else the delay line. */
  readonly impairments?: 'auto' | ImpairmentBackend;
}

export interface TestNetwork {
  /** Unique among live networks on this machine; part of every name. */
  readonly id: string;
  /** e.g. 10.37.201.0/24 */
  readonly subnet: string;
  /** The test process's address on the network. */
  readonly rootAddress: string;
  readonly hosts: readonly TestHost[];
  host(index: number): TestHost;
  /**
   * Runs `command` inside the host via `ip netns exec`, which execs it in place (no fork), so
   * `child.pid` is the command's own pid. If the namespace is gone, `ip` exits with 255 and says
   * why on stderr. The process is SIGKILLed by `destroy` if still running.
   */
  spawnIn(index: number, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /**
   * Starts a `granary` service inside the host, bound to its address (`--host` is appended), and
   * waits for `readyMessage`; its `url` is reachable from the test process.
   */
  startGranary(index: number, args: readonly string[], readyMessage: string, nodeArgs?: readonly string[]): Promise<GranaryProcess>;
  /** The index of the host whose network namespace the process is in, undefined if none. */
  hostOfPid(pid: number): number | undefined;
  linkDown(index: number): Promise<void>;
  /** Reconnects the host and waits until the test process reaches it (unless loss is set). */
  linkUp(index: number): Promise<void>;
  setDelay(index: number, ms: number): Promise<void>;
  clearDelay(index: number): Promise<void>;
  setLoss(index: number, percent: number): Promise<void>;
  clearLoss(index: number): Promise<void>;
  /** Which mechanism delay and loss use here; probes the kernel on first call. */
  impairmentBackend(): Promise<ImpairmentBackend>;
  /** Kills every process inside, removes everything created. Idempotent. */
  destroy(): Promise<void>;
}

/** Linux IFNAMSIZ - 1. */
const INTERFACE_NAME_CHARS_MAX = 15;
const NAME_PREFIX = 'grn';
const ID_RADIX = 36;
/** 36^5 > 2^22, the largest pid_max Linux allows, so any pid fits. */
const ID_PID_CHARS = 5;
const SUBNET_PREFIX_LENGTH = 24;
/** Candidate /24s tried when the preferred one overlaps a route or address already there. */
const SUBNET_ATTEMPTS_MAX = 256;
const ROOT_HOST_PART = 1;
const FIRST_HOST_PART = 10;
const LAST_HOST_PART = 254;
export const HOSTS_MAX = LAST_HOST_PART - FIRST_HOST_PART + 1;
const BRIDGE = 'br0';
/** The switch end of the root namespace's veth. */
const ROOT_PORT = 'root';
const HOST_INTERFACE = 'eth0';
const COMMAND_TIMEOUT_MS = 15_000;
const PROCESS_EXIT_TIMEOUT_MS = 10_000;
const REACHABLE_TIMEOUT_MS = 10_000;
/** Nothing listens there: a RST (ECONNREFUSED) proves the host answers as well as a SYN-ACK. */
const PROBE_PORT = 9;
const PROBE_ATTEMPT_TIMEOUT_MS = 1_000;
/** netem's default queue of 1000 packets would drop bulk transfers under a long delay. */
const NETEM_QUEUE_PACKETS = 100_000;
const DELAY_LINE_TIMEOUT_MS = 10_000;
const PYTHON = 'python3';
/** Error text of iproute2 when the thing to remove is already gone. */
const ALREADY_GONE = /Cannot find device|No such file or directory|Cannot delete qdisc with handle of zero/;
const NETEM_MISSING = /Specified qdisc kind is unknown|Unknown qdisc "netem"/;
const HAS_IPV6 = existsSync('/proc/sys/net/ipv6');

/** A failed `ip`/`tc`/`python3` call, with the command line and what it wrote to stderr. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    options: { readonly cause: unknown },
  ) {
    super(`${command} failed${stderr === '' ? '' : `: ${stderr}`}`, options);
    this.name = 'CommandError';
  }
}

/**
 * Runs a command without a shell; resolves with stdout, or '' when stderr matches `tolerated`.
 * `input` goes to its stdin.
 */
function run(file: string, args: readonly string[], tolerated?: RegExp, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else if (tolerated?.test(stderr)) resolve('');
      else {
        const command = [file, ...args].join(' ') + (input === undefined ? '' : ` <<< '${input.trim().replaceAll('\n', '; ')}'`);
        reject(new CommandError(command, stderr.trim(), { cause: error }));
      }
    });
    child.stdin?.end(input);
  });
}

function ip(args: readonly string[], tolerated?: RegExp): Promise<string> {
  return run('ip', args, tolerated);
}

/**
 * The command that keeps IPv6 (link-local address, duplicate address detection, router
 * solicitations) off an interface. It must run before the interface goes up, as its own
 * command: in `ip link set ... addrgenmode none up` the kernel brings the link up first.
 */
function withoutIpv6(device: string): string[][] {
  return HAS_IPV6 ? [['link', 'set', 'dev', device, 'addrgenmode', 'none']] : [];
}

/**
 * Runs `ip` commands (argument lists without the leading `ip`) in one process, in `namespace`
 * (undefined: the root one): each `ip` start costs tens of ms on a small VM, and a network needs
 * dozens of commands. Stops at the first failure; the error names the batch and the failed line.
 */
function ipBatch(namespace: string | undefined, commands: readonly (readonly string[])[]): Promise<string> {
  const where = namespace === undefined ? [] : ['-n', namespace];
  return run('ip', [...where, '-batch', '-'], undefined, commands.map((command) => `${command.join(' ')}\n`).join(''));
}

/** Best-effort synchronous `run` for the exit hook, where nothing asynchronous runs any more. */
function runSync(file: string, args: readonly string[]): void {
  try {
    execFileSync(file, args, { timeout: COMMAND_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    // Nothing left to report to.
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What tells network namespaces apart: the nsfs device and inode of a handle to one. */
function namespaceIdentity(path: string): string | undefined {
  try {
    const { dev, ino } = statSync(path);
    return `${dev}:${ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Pids of the processes in any of the named namespaces, what `ip netns pids` finds, in one pass
 * over /proc instead of one `ip` per namespace. Synchronous so the exit hook can use it.
 */
function pidsInNamespaces(namespaces: readonly string[]): number[] {
  const wanted = new Set(namespaces.map((name) => namespaceIdentity(`/run/netns/${name}`)).filter((id) => id !== undefined));
  if (wanted.size === 0) return [];
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const identity = namespaceIdentity(`/proc/${pid}/ns/net`);
      return identity !== undefined && wanted.has(identity);
    })
    .map(Number);
}

async function namespaceNames(): Promise<string[]> {
  const output = (await ip(['-j', 'netns', 'list'])).trim();
  return output === '' ? [] : (JSON.parse(output) as { name: string }[]).map((entry) => entry.name);
}

// ---- IPv4 arithmetic for picking a free subnet ----

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number.parseInt(octet, 10), 0);
}

function prefixesOverlap(a: number, aLength: number, b: number, bLength: number): boolean {
  const length = Math.min(aLength, bLength);
  const block = 2 ** (32 - length);
  return Math.floor(a / block) === Math.floor(b / block);
}

interface Prefix {
  readonly network: number;
  readonly length: number;
  readonly device: string;
}

/** Every IPv4 route and address of the root namespace, except the default route. */
async function rootPrefixes(): Promise<Prefix[]> {
  const routes = JSON.parse(await ip(['-j', '-4', 'route', 'show', 'table', 'main'])) as { dst: string; dev?: string }[];
  const links = JSON.parse(await ip(['-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
  const prefixes: Prefix[] = [];
  for (const route of routes) {
    if (route.dst === 'default') continue;
    const [address = '', length = '32'] = route.dst.split('/');
    prefixes.push({ network: ipv4ToNumber(address), length: Number.parseInt(length, 10), device: route.dev ?? '' });
  }
  for (const link of links) {
    for (const info of link.addr_info ?? []) prefixes.push({ network: ipv4ToNumber(info.local), length: info.prefixlen, device: link.ifname });
  }
  return prefixes;
}

/** FNV-1a: spreads ids that differ in one character over distant subnets. */
function hash16(text: string): number {
  let value = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) value = Math.imul(value ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return (value ^ (value >>> 16)) & 0xffff;
}

/** The first 10.a.b.0/24, starting from one derived from the id, that nothing here uses. */
async function pickSubnet(id: string): Promise<string> {
  const taken = await rootPrefixes();
  const start = hash16(id);
  for (let attempt = 0; attempt < SUBNET_ATTEMPTS_MAX; attempt++) {
    const candidate = (start + attempt) & 0xffff;
    const base = `10.${candidate >> 8}.${candidate & 0xff}`;
    const network = ipv4ToNumber(`${base}.0`);
    if (!taken.some((prefix) => prefixesOverlap(network, SUBNET_PREFIX_LENGTH, prefix.network, prefix.length))) return base;
  }
  throw new Error(`no free 10.x.y.0/${SUBNET_PREFIX_LENGTH} after ${SUBNET_ATTEMPTS_MAX} tries; the root namespace routes most of 10.0.0.0/8`);
}

// ---- names, and leftovers of test processes that died without cleaning up ----

let networksCreated = 0;

function nextId(): string {
  networksCreated++;
  return process.pid.toString(ID_RADIX).padStart(ID_PID_CHARS, '0') + networksCreated.toString(ID_RADIX);
}

/** The root namespace's end of the veth to the switch: the one interface name that must be unique. */
function rootLinkName(id: string): string {
  return `${NAME_PREFIX}${id}-r`;
}

const OWN_NAME = new RegExp(`^${NAME_PREFIX}([0-9a-z]{${ID_PID_CHARS}})[0-9a-z]+-(?:sw|h\\d+|r)$`);

/** The pid that created a network resource with this name, if the name is one of ours. */
function ownerPid(name: string): number | undefined {
  const match = OWN_NAME.exec(name);
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], ID_RADIX);
}

/**
 * Removes what test networks left behind when their creating process was SIGKILLed (no exit hook
 * runs then): their namespaces, the processes still running inside them (orphans of that dead
 * test; SIGKILLed by pid), and their root veths. A network counts as left behind when the pid in
 * its name is no longer alive. Called by `createTestNetwork`; returns the names removed.
 */
export async function sweepStaleTestNetworks(): Promise<string[]> {
  const stale = (name: string): boolean => {
    const pid = ownerPid(name);
    return pid !== undefined && pid !== process.pid && !isAlive(pid);
  };
  const namespaces = (await namespaceNames()).filter(stale);
  const links = (JSON.parse(await ip(['-j', 'link', 'show'])) as { ifname: string }[]).map((link) => link.ifname).filter(stale);
  if (namespaces.length + links.length === 0) return [];
  await pollUntil(
    `the processes left in ${namespaces.join(', ')} to exit`,
    () => {
      const pids = pidsInNamespaces(namespaces);
      for (const pid of pids) killQuietly(pid);
      return pids.length === 0 ? true : undefined;
    },
    PROCESS_EXIT_TIMEOUT_MS,
  );
  for (const link of links) await ip(['link', 'del', 'dev', link], ALREADY_GONE);
  await Promise.all(namespaces.map((namespace) => ip(['netns', 'del', namespace], ALREADY_GONE)));
  return [...links, ...namespaces];
}

// ---- the exit hook ----

const liveNetworks = new Set<NamespaceNetwork>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const network of liveNetworks) network.destroySync();
  });
}

// ---- the delay line ----

/**
 * Forwards frames between the host's switch port (argv[1]) and a veth into the bridge (argv[2]).
 * Frames from the host wait `delay` and are dropped with probability `loss`; stdin lines
 * "<delay ms> <loss percent>" change both (answered "ok"), EOF ends it. PACKET_VNET_HDR makes the
 * kernel hand over GSO super-frames and unfinished checksums with their offload metadata, and take
 * them back the same way, so TCP offloads need not be turned off.
 */
const DELAY_LINE_SCRIPT = String.raw`
import os, random, select, socket, sys, time
from collections import deque
ETH_P_ALL, SOL_PACKET, PACKET_VNET_HDR, PACKET_OUTGOING = 3, 263, 15, 4
FRAME_BYTES_MAX = 262144
def port(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((name, 0))
    s.setblocking(False)
    return s
def send(sock, frame):
    try:
        sock.send(frame)
    except OSError:
        pass  # the port is down (linkDown): the frame is lost, as on a real cable
host, bridge = port(sys.argv[1]), port(sys.argv[2])
stdin = sys.stdin.fileno()
delay, loss, last, pending, queue = 0.0, 0.0, 0.0, b'', deque()
print('ready', flush=True)
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable = select.select([host, bridge, stdin], [], [], timeout)[0]
    if stdin in readable:
        chunk = os.read(stdin, 4096)
        if not chunk:
            sys.exit(0)
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            delay_ms, loss_percent = line.split()
            delay, loss = float(delay_ms) / 1000, float(loss_percent) / 100
            print('ok', flush=True)
    for sock in (host, bridge):
        if sock not in readable:
            continue
        while True:
            try:
                frame, address = sock.recvfrom(FRAME_BYTES_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # ENETDOWN once after linkDown; the socket works again after linkUp
            if address[2] == PACKET_OUTGOING:
                continue
            if sock is bridge:
                send(host, frame)
            elif loss == 0 or random.random() >= loss:
                last = max(last, time.monotonic() + delay)  # never reorder
                queue.append((last, frame))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        send(bridge, queue.popleft()[1])
`;

class DelayLine {
  private readonly lines: string[] = [];
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private stderr = '';
  private closed = false;
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let partial = '';
    // EPIPE if python died; the next awaitLine() reports that, with its stderr.
    child.stdin?.on('error', () => undefined);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        const waiter = this.waiting.shift();
        if (waiter === undefined) this.lines.push(line);
        else waiter(line);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderr += text;
    });
    this.exited = new Promise((resolve) => {
      child.once('close', () => {
        this.closed = true;
        for (const waiter of this.waiting.splice(0)) waiter(undefined);
        resolve();
      });
    });
  }

  /** Waits for the next line on stdout; fails if the process ends or stays silent too long. */
  async awaitLine(line: string, what: string): Promise<void> {
    const next =
      this.lines.shift() ??
      (this.closed
        ? undefined
        : await new Promise<string | undefined>((resolve) => {
            const timer = setTimeout(() => resolve(undefined), DELAY_LINE_TIMEOUT_MS);
            this.waiting.push((value) => {
              clearTimeout(timer);
              resolve(value);
            });
          }));
    if (next !== line) {
      throw new CommandError(`${PYTHON} (delay line)`, `${what}: expected "${line}", got ${next === undefined ? 'nothing' : `"${next}"`}\n${this.stderr.trim()}`, {
        cause: undefined,
      });
    }
  }

  async set(delayMs: number, lossPercent: number): Promise<void> {
    this.child.stdin?.write(`${delayMs} ${lossPercent}\n`);
    await this.awaitLine('ok', `setting delay ${delayMs} ms, loss ${lossPercent}%`);
  }

  async stop(): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), PROCESS_EXIT_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

// ---- the network ----

interface Impairment {
  delayMs: number;
  lossPercent: number;
}

interface TrackedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function track(child: ChildProcess): TrackedProcess {
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          // A spawn that failed (no `ip`) emits 'error' and maybe never 'exit'.
          child.once('error', () => resolve());
        });
  return { child, exited };
}

function checkIndex(index: number, count: number): void {
  if (!(Number.isInteger(index) && index >= 0 && index < count)) throw new RangeError(`host index ${index} is not in 0..${count - 1}`);
}

class NamespaceNetwork implements TestNetwork {
  readonly subnet: string;
  readonly rootAddress: string;
  readonly hosts: readonly TestHost[];
  private readonly switchNamespace: string;
  private readonly rootLink: string;
  /** Namespaces whose creation was attempted, in order: what `destroy` removes. */
  private readonly namespaces: string[] = [];
  private rootLinkAttempted = false;
  private readonly processes: TrackedProcess[] = [];
  private readonly impairments: Impairment[];
  private readonly delayLines = new Map<number, DelayLine>();
  private backend: Promise<ImpairmentBackend> | undefined;
  private destroying: Promise<void> | undefined;
  private destroyed = false;

  constructor(
    readonly id: string,
    subnetBase: string,
    hostCount: number,
    private readonly impairmentChoice: 'auto' | ImpairmentBackend,
  ) {
    this.subnet = `${subnetBase}.0/${SUBNET_PREFIX_LENGTH}`;
    this.rootAddress = `${subnetBase}.${ROOT_HOST_PART}`;
    this.switchNamespace = `${NAME_PREFIX}${id}-sw`;
    this.rootLink = rootLinkName(id);
    this.hosts = Array.from({ length: hostCount }, (_, index) => ({
      index,
      name: `h${index}`,
      namespace: `${NAME_PREFIX}${id}-h${index}`,
      address: `${subnetBase}.${FIRST_HOST_PART + index}`,
    }));
    this.impairments = this.hosts.map(() => ({ delayMs: 0, lossPercent: 0 }));
  }

  async build(): Promise<void> {
    const sw = this.switchNamespace;
    // One after the other (one batch): the first `ip netns add` on a machine sets up /run/netns, racily.
    this.namespaces.push(sw, ...this.hosts.map((host) => host.namespace));
    await ipBatch(undefined, this.namespaces.map((namespace) => ['netns', 'add', namespace]));

    this.rootLinkAttempted = true;
    await ipBatch(undefined, [
      ['link', 'add', this.rootLink, 'type', 'veth', 'peer', 'name', ROOT_PORT, 'netns', sw],
      ...withoutIpv6(this.rootLink),
      ['addr', 'add', `${this.rootAddress}/${SUBNET_PREFIX_LENGTH}`, 'dev', this.rootLink],
      ['link', 'set', 'dev', this.rootLink, 'up'],
    ]);
    await this.checkSubnetIsOurs();

    await ipBatch(sw, [
      ['link', 'add', BRIDGE, 'type', 'bridge'],
      ...withoutIpv6(BRIDGE),
      ['link', 'set', 'dev', BRIDGE, 'up'],
      ...withoutIpv6(ROOT_PORT),
      ['link', 'set', 'dev', ROOT_PORT, 'master', BRIDGE, 'up'],
      ...this.hosts.flatMap((host) => [
        ['link', 'add', host.name, 'type', 'veth', 'peer', 'name', HOST_INTERFACE, 'netns', host.namespace],
        ...withoutIpv6(host.name),
        ['link', 'set', 'dev', host.name, 'master', BRIDGE, 'up'],
      ]),
    ]);
    await settleAll(
      this.hosts.map((host) =>
        ipBatch(host.namespace, [
          ...withoutIpv6(HOST_INTERFACE),
          ['addr', 'add', `${host.address}/${SUBNET_PREFIX_LENGTH}`, 'dev', HOST_INTERFACE],
          ['link', 'set', 'dev', HOST_INTERFACE, 'up'],
          ['link', 'set', 'dev', 'lo', 'up'],
        ]),
      ),
    );
    await Promise.all(this.hosts.map((host) => this.waitReachable(host.index)));
  }

  /** Another network (a concurrent run) that picked the same subnet would make routing ambiguous. */
  private async checkSubnetIsOurs(): Promise<void> {
    const network = ipv4ToNumber(this.rootAddress);
    const others = (await rootPrefixes()).filter(
      (prefix) => prefix.device !== this.rootLink && prefixesOverlap(network, SUBNET_PREFIX_LENGTH, prefix.network, prefix.length),
    );
    if (others.length > 0) {
      throw new Error(`subnet ${this.subnet} was taken meanwhile by ${others.map((prefix) => prefix.device).join(', ')}; try again`);
    }
  }

  host(index: number): TestHost {
    checkIndex(index, this.hosts.length);
    return this.hosts[index] as TestHost;
  }

  spawnIn(index: number, command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.checkUsable();
    const child = spawn('ip', ['netns', 'exec', this.host(index).namespace, command, ...args], options);
    this.processes.push(track(child));
    return child;
  }

  async startGranary(index: number, args: readonly string[], readyMessage: string, nodeArgs: readonly string[] = []): Promise<GranaryProcess> {
    this.checkUsable();
    const host = this.host(index);
    const started = await startGranaryProcess([...args, '--host', host.address], readyMessage, nodeArgs, {
      namespace: host.namespace,
      host: host.address,
    });
    this.processes.push(track(started.child));
    return started;
  }

  hostOfPid(pid: number): number | undefined {
    const own = namespaceIdentity(`/proc/${pid}/ns/net`);
    if (own === undefined) return undefined;
    return this.hosts.find((host) => namespaceIdentity(`/run/netns/${host.namespace}`) === own)?.index;
  }

  async linkDown(index: number): Promise<void> {
    this.checkUsable();
    await ip(['-n', this.switchNamespace, 'link', 'set', 'dev', this.host(index).name, 'down']);
  }

  async linkUp(index: number): Promise<void> {
    this.checkUsable();
    await ip(['-n', this.switchNamespace, 'link', 'set', 'dev', this.host(index).name, 'up']);
    if ((this.impairments[index] as Impairment).lossPercent === 0) await this.waitReachable(index);
  }

  async setDelay(index: number, ms: number): Promise<void> {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`delay must be a non-negative number of ms, got ${ms}`);
    await this.impair(index, { delayMs: ms });
  }

  async clearDelay(index: number): Promise<void> {
    await this.impair(index, { delayMs: 0 });
  }

  async setLoss(index: number, percent: number): Promise<void> {
    if (!(Number.isFinite(percent) && percent >= 0 && percent <= 100)) throw new RangeError(`loss must be a percentage, got ${percent}`);
    await this.impair(index, { lossPercent: percent });
  }

  async clearLoss(index: number): Promise<void> {
    await this.impair(index, { lossPercent: 0 });
  }

  impairmentBackend(): Promise<ImpairmentBackend> {
    this.backend ??= this.detectBackend();
    return this.backend;
  }

  private async detectBackend(): Promise<ImpairmentBackend> {
    if (this.impairmentChoice !== 'auto') return this.impairmentChoice;
    // The switch namespace's lo carries no traffic, so a probe qdisc there disturbs nothing.
    const probe = ['-n', this.switchNamespace, 'qdisc'];
    try {
      await run('tc', [...probe, 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    } catch (error) {
      if (error instanceof CommandError && NETEM_MISSING.test(error.stderr)) return 'delay-line';
      throw error;
    }
    await run('tc', [...probe, 'del', 'dev', 'lo', 'root'], ALREADY_GONE);
    return 'netem';
  }

  private async impair(index: number, change: Partial<Impairment>): Promise<void> {
    this.checkUsable();
    const host = this.host(index);
    const impairment = this.impairments[index] as Impairment;
    Object.assign(impairment, change);
    const { delayMs, lossPercent } = impairment;
    const off = delayMs === 0 && lossPercent === 0;
    if ((await this.impairmentBackend()) === 'netem') {
      const qdisc = ['-n', host.namespace, 'qdisc'];
      if (off) await run('tc', [...qdisc, 'del', 'dev', HOST_INTERFACE, 'root'], ALREADY_GONE);
      else {
        const netem = ['netem', 'limit', String(NETEM_QUEUE_PACKETS), 'delay', `${delayMs}ms`, 'loss', `${lossPercent}%`];
        await run('tc', [...qdisc, 'replace', 'dev', HOST_INTERFACE, 'root', ...netem]);
      }
      return;
    }
    if (off) await this.removeDelayLine(index);
    else await (this.delayLines.get(index) ?? (await this.insertDelayLine(index))).set(delayMs, lossPercent);
  }

  /** Splices a delay line between the host's port and the bridge: h<i> <-> python <-> d<i> <-> b<i> on br0. */
  private async insertDelayLine(index: number): Promise<DelayLine> {
    const sw = this.switchNamespace;
    const { name } = this.host(index);
    const [inner, outer] = [`d${index}`, `b${index}`];
    await ipBatch(sw, [
      ['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer],
      ...withoutIpv6(outer),
      ...withoutIpv6(inner),
      ['link', 'set', 'dev', outer, 'master', BRIDGE, 'up'],
      ['link', 'set', 'dev', inner, 'up'],
    ]);
    const child = spawn('ip', ['netns', 'exec', sw, PYTHON, '-u', '-c', DELAY_LINE_SCRIPT, name, inner], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.processes.push(track(child));
    const line = new DelayLine(child);
    try {
      await line.awaitLine('ready', `starting the delay line for ${name} (the kernel has no sch_netem, so it needs ${PYTHON})`);
      // Off the bridge only once the delay line runs, so no frame is lost; for a moment both
      // paths carry the host's frames, and TCP drops the duplicates.
      await ip(['-n', sw, 'link', 'set', 'dev', name, 'nomaster']);
    } catch (error) {
      await line.stop();
      await ip(['-n', sw, 'link', 'del', 'dev', inner], ALREADY_GONE);
      throw error;
    }
    this.delayLines.set(index, line);
    return line;
  }

  private async removeDelayLine(index: number): Promise<void> {
    const line = this.delayLines.get(index);
    if (line === undefined) return;
    await ip(['-n', this.switchNamespace, 'link', 'set', 'dev', this.host(index).name, 'master', BRIDGE]);
    await line.stop();
    this.delayLines.delete(index);
    await ip(['-n', this.switchNamespace, 'link', 'del', 'dev', `d${index}`], ALREADY_GONE);
  }

  /** A TCP probe from the test process: proves root veth, bridge and the host's veth all work. */
  private async waitReachable(index: number): Promise<void> {
    const { address } = this.host(index);
    const attemptMs = PROBE_ATTEMPT_TIMEOUT_MS + 2 * (this.impairments[index] as Impairment).delayMs;
    await pollUntil(`host ${index} (${address}) to answer the test process`, async () => ((await probe(address, attemptMs)) ? true : undefined), REACHABLE_TIMEOUT_MS);
  }

  private checkUsable(): void {
    if (this.destroyed || this.destroying !== undefined) throw new Error(`test network ${this.id} is destroyed`);
  }

  destroy(): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    this.destroying ??= this.teardown().finally(() => {
      this.destroying = undefined;
    });
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    // child.kill, not process.kill: it does nothing once the child was reaped and its pid may be reused.
    for (const { child } of this.processes) child.kill('SIGKILL');
    await attempt(() => withTimeout(Promise.all(this.processes.map((p) => p.exited)), PROCESS_EXIT_TIMEOUT_MS, 'processes started in the network to exit'));
    // Everything else inside (children of those processes, anything started by hand).
    await attempt(() =>
      pollUntil(
        `every process in test network ${this.id} to exit`,
        () => {
          const pids = pidsInNamespaces(this.namespaces);
          for (const pid of pids) killQuietly(pid);
          return pids.length === 0 ? true : undefined;
        },
        PROCESS_EXIT_TIMEOUT_MS,
      ),
    );
    // Deleting one end of a veth deletes both; the namespaces take the rest with them.
    if (this.rootLinkAttempted) await attempt(() => ip(['link', 'del', 'dev', this.rootLink], ALREADY_GONE));
    await Promise.all(this.namespaces.map((namespace) => attempt(() => ip(['netns', 'del', namespace], ALREADY_GONE))));
    if (failures.length > 0) throw new AggregateError(failures, `removing test network ${this.id} failed; see ip netns list, ip link`);
    this.destroyed = true;
    this.delayLines.clear();
    liveNetworks.delete(this);
  }

  /** For the exit hook: kill, delete, do not wait (the kernel frees a namespace once its last process is gone). */
  destroySync(): void {
    for (const { child } of this.processes) child.kill('SIGKILL');
    for (const pid of pidsInNamespaces(this.namespaces)) killQuietly(pid);
    if (this.rootLinkAttempted) runSync('ip', ['link', 'del', 'dev', this.rootLink]);
    for (const namespace of this.namespaces) runSync('ip', ['netns', 'del', namespace]);
    this.destroyed = true;
  }
}

/** Like Promise.all, but waits for every step, so no command is still running when cleanup starts. */
async function settleAll(steps: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when a TCP connection to the address gets an answer, a refusal included. */
function probe(address: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: PROBE_PORT });
    const done = (reachable: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reachable);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

/**
 * Creates a network of `hosts` hosts plus the test process, every host reachable when it
 * resolves. Call `destroy()` in afterAll; the exit hook is only the safety net.
 */
export async function createTestNetwork(options: TestNetworkOptions): Promise<TestNetwork> {
  if (!(Number.isInteger(options.hosts) && options.hosts >= 1 && options.hosts <= HOSTS_MAX)) {
    throw new RangeError(`hosts must be a whole number in 1..${HOSTS_MAX}, got ${options.hosts}`);
  }
  try {
    const removed = await sweepStaleTestNetworks();
    if (removed.length > 0) console.warn(`test network: removed leftovers of killed test runs: ${removed.join(', ')}`);
  } catch (error) {
    // Leftovers of another run are not worth failing this one for.
    console.warn('test network: removing leftovers of killed test runs failed', error);
  }
  const id = nextId();
  const rootLink = rootLinkName(id);
  if (rootLink.length > INTERFACE_NAME_CHARS_MAX) throw new Error(`interface name ${rootLink} is longer than ${INTERFACE_NAME_CHARS_MAX}`);
  const network = new NamespaceNetwork(id, await pickSubnet(id), options.hosts, options.impairments ?? 'auto');
  liveNetworks.add(network);
  installExitHook();
  try {
    await network.build();
  } catch (error) {
    try {
      await network.destroy();
    } catch (cleanupError) {
      throw new AggregateError([error, cleanupError], `creating test network ${id} failed, and so did removing it`);
    }
    throw error;
  }
  return network;
}
