/**
 * Starts a real `granary storage-node` process (the built dist/ bin) on a free loopback port and
 * waits for its "storage node ready" log line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const GRANARY_BIN = fileURLToPath(new URL('../../dist/bin/granary.js', import.meta.url));

export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  readonly nodeId: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

export async function startNodeProcess(
  dataDir: string,
  extraArgs: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, GRANARY_BIN, 'storage-node', '--data', dataDir, '--port', '0', '--scrub-interval-hours', '0', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let ready: { port: number; nodeId: string } | undefined;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    output += text;
    for (const line of text.split('\n')) {
      if (!line.includes('storage node ready')) continue;
      const record = JSON.parse(line) as { port: number; nodeId: string };
      ready = { port: record.port, nodeId: record.nodeId };
    }
  });
  child.stderr.on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const started = await new Promise<{ port: number; nodeId: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`storage node was not ready within 60 s:\n${output}`));
    }, 60_000);
    const poll = setInterval(() => {
      if (ready === undefined) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve(ready);
    }, 10);
    void exited.then((result) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`storage node exited (${result}) before it was ready:\n${output}`));
    });
  });
  return {
    child,
    pid: child.pid as number,
    url: `http://127.0.0.1:${started.port}`,
    port: started.port,
    nodeId: started.nodeId,
    output: () => output,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
