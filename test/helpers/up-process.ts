/**
 * `granary up` as the integration tests run it: the built bin started with the test's arguments
 * in a directory of the test's, its output kept, its children read from /proc (so a test can
 * SIGKILL one service and see it come back), and a stop that takes down only what this `up`
 * started when `up` itself does not stop in time; `useUpCluster` runs one for a whole test file.
 * Also the CLI runner those tests share.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { GRANARY_BIN } from './granary-process.js';
import { makeTempDir } from './temp-dir.js';
import { freeUpPortRange } from './up-ports.js';

const execFileAsync = promisify(execFile);

/** A child process of `up`, with its command line. */
export interface UpChild {
  readonly pid: number;
  readonly args: string[];
}

export interface UpProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything `up` wrote to stdout and stderr so far, interleaved as it came. */
  output(): string;
  /** Resolves once `up` says 'cluster ready'; rejects if it exits first or `deadlineMs` passes. */
  ready(deadlineMs: number): Promise<void>;
  /** `up`'s children now, with their command lines: only processes this `up` started. */
  children(): Promise<UpChild[]>;
  /** The pid of the child whose command line `matches`, if there is one now. */
  pidOf(matches: (args: readonly string[]) => boolean): Promise<number | undefined>;
  /**
   * SIGTERMs `up` and resolves with its exit code (null: ended by a signal). If it has not
   * stopped within `deadlineMs`, SIGKILLs its children and then `up`.
   */
  stop(deadlineMs: number): Promise<number | null>;
}

/** The granary subcommand a child runs (`metadata`, `storage-node`); undefined for etcd. */
export function granaryCommand(args: readonly string[]): string | undefined {
  const at = args.indexOf(GRANARY_BIN);
  return at < 0 ? undefined : args[at + 1];
}

/** The value given to `flag` on a command line, if it is there. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at < 0 ? undefined : args[at + 1];
}

/** The processes whose parent is `parent`, read from /proc, with their command lines. */
async function childrenOf(parent: number): Promise<UpChild[]> {
  const found: UpChild[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter((arg) => arg !== '');
      found.push({ pid: Number(entry), args });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

/**
 * Spawns `granary up ARGS` in `cwd`. It returns before `up` is ready (await `ready`), so that a
 * test can keep the process where its afterAll will stop it even if it never becomes ready.
 */
export function startUp(args: readonly string[], cwd: string): UpProcess {
  const child = spawn(process.execPath, [GRANARY_BIN, 'up', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid as number;
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // Listened for from the start, so an exit is never missed by a later stop() or ready().
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const children = (): Promise<UpChild[]> => childrenOf(pid);
  const what = `granary up ${args.join(' ')}`;

  return {
    child,
    pid,
    output: () => output,
    children,
    async pidOf(matches) {
      return (await children()).find(({ args: command }) => matches(command))?.pid;
    },
    ready(deadlineMs) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!output.includes('cluster ready')) return;
          finish();
          resolve();
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
          finish();
          reject(new Error(`${what} exited ${code ?? signal}:\n${output}`));
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${what} was not ready within ${deadlineMs} ms:\n${output}`));
        }, deadlineMs);
        const finish = (): void => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.stderr.off('data', check);
          child.off('exit', onExit);
        };
        // After the listeners above that append to `output`, so each check sees the new chunk.
        child.stdout.on('data', check);
        child.stderr.on('data', check);
        child.once('exit', onExit);
        if (!running()) onExit(child.exitCode, child.signalCode);
        else check();
      });
    },
    async stop(deadlineMs) {
      if (!running()) return child.exitCode;
      // Listed while `up` still runs: once it is gone they are no longer its children in /proc.
      const leftovers = await children();
      if (!running()) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        // `up` did not stop in time: take down what it started (and only that), then `up`.
        void children().then((now) => {
          for (const pid of new Set([...leftovers, ...now].map((found) => found.pid))) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }
          child.kill('SIGKILL');
        });
      }, deadlineMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** One `granary up` for a test file, in a temporary directory of its own. */
export interface UpCluster {
  /** The temporary directory: `up`'s working directory, and the CLI's as a user would run it. */
  readonly dir: string;
  /** `up`'s data directory, DIR/data. */
  readonly root: string;
  /** The metadata port P (the first replica's with --ha); the nodes' ports are above it. */
  readonly port: number;
  /** The `up` running now: a restart replaces it. */
  readonly up: UpProcess;
  /** Starts `up` again on the same directory and ports, after a test stopped it. */
  restart(): Promise<void>;
}

/**
 * Registers the file's beforeAll (a temporary directory, free ports, `up` started there and
 * ready) and afterAll (`up` stopped, SIGKILLs past `stopDeadlineMs`; the directory removed).
 * The returned fields can be read once the beforeAll has run.
 */
export function useUpCluster(options: {
  /** Names the temporary directory. */
  readonly name: string;
  /** The storage nodes `up` will start, for the free-port search. */
  readonly nodes: number;
  /** Ports beyond the nodes' that `up` will bind, relative to P (see freeUpPortRange). */
  readonly portOffsets?: readonly number[];
  /** `up`'s arguments after `up` for this directory and port. */
  readonly args: (root: string, port: number) => string[];
  readonly readyDeadlineMs: number;
  readonly stopDeadlineMs: number;
}): UpCluster {
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  let port = 0;
  let up: UpProcess | undefined;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error(`${options.name}: granary up is not started (read in the beforeAll?)`);
    return value;
  };
  const root = (): string => join(started(dir).path, 'data');
  const start = async (): Promise<void> => {
    // Kept before it is ready, so that the afterAll stops an `up` that never became ready.
    up = startUp(options.args(root(), port), started(dir).path);
    await up.ready(options.readyDeadlineMs);
  };
  beforeAll(async () => {
    dir = await makeTempDir(options.name);
    port = await freeUpPortRange(options.nodes, options.portOffsets);
    await start();
  }, options.readyDeadlineMs + 10_000);
  afterAll(async () => {
    await up?.stop(options.stopDeadlineMs);
    await dir?.remove();
  }, options.stopDeadlineMs + 10_000);
  return {
    get dir() {
      return started(dir).path;
    },
    get root() {
      return root();
    },
    get port() {
      started(dir);
      return port;
    },
    get up() {
      return started(up);
    },
    restart: start,
  };
}

/** How one CLI run ended: the exit code (0 on success) and what it wrote. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `granary` CLI; a non-zero exit is a result to assert on, not a throw. */
export async function runGranary(
  args: readonly string[],
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly maxBuffer: number },
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [GRANARY_BIN, ...args], options);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}
