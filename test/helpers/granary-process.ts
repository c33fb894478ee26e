/**
 * Starts a real `granary` service process (the built dist/ bin) on a free loopback port and
 * waits for its ready log line (JSON, pino), which carries the port it bound. With a placement it
 * runs inside a network namespace instead (see test-network.ts) and is reached at that host.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const GRANARY_BIN = fileURLToPath(new URL('../../dist/bin/granary.js', import.meta.url));

export interface GranaryProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  /** The network namespace it runs in; undefined: the test process's own. */
  readonly namespace?: string;
  /** The ready log record. */
  readonly ready: Readonly<Record<string, unknown>>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

/** Where a process runs and how the test process reaches it. */
export interface GranaryPlacement {
  /**
   * Network namespace to run in, via `ip netns exec` (needs root). `ip netns exec` execs the
   * command in place, so `pid` and `kill` still address the granary process itself.
   */
  readonly namespace?: string;
  /** Address `url` points at; default 127.0.0.1. Pass the same address as `--host` in `args`. */
  readonly host?: string;
}

const READY_TIMEOUT_MS = 60_000;
const DEFAULT_HOST = '127.0.0.1';

export async function startGranaryProcess(
  args: readonly string[],
  readyMessage: string,
  nodeArgs: readonly string[] = [],
  placement: GranaryPlacement = {},
): Promise<GranaryProcess> {
  const nodeCommand = [...nodeArgs, GRANARY_BIN, ...args];
  const [file, fileArgs] =
    placement.namespace === undefined
      ? [process.execPath, nodeCommand]
      : ['ip', ['netns', 'exec', placement.namespace, process.execPath, ...nodeCommand]];
  const child = spawn(file, fileArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let pendingLine = '';
  let ready: Record<string, unknown> | undefined;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    output += text;
    const lines = (pendingLine + text).split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) {
      if (ready === undefined && line.includes(readyMessage)) ready = JSON.parse(line) as Record<string, unknown>;
    }
  });
  child.stderr.on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const record = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output}`));
    }, READY_TIMEOUT_MS);
    const poll = setInterval(() => {
      if (ready === undefined) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve(ready);
    }, 10);
    void exited.then((result) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited (${result}) before it was ready:\n${output}`));
    });
  });
  const port = record.port as number;
  const host = placement.host ?? DEFAULT_HOST;
  return {
    child,
    pid: child.pid as number,
    // The ready record says whether the service serves HTTPS (--tls-cert).
    url: `${record.tls === true ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    namespace: placement.namespace,
    ready: record,
    output: () => output,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
