/**
 * The `granary` user commands run inside the test's own process: the same commander tree
 * bin/granary.ts dispatches to (client/cli, built: built-modules.ts says why), the same one-line
 * failure report, but none of the
 * ~1.3 s of CPU a fresh Node process spends loading modules. Suites that run hundreds of
 * commands (the Parquet conformance collection) use it; the process-level behaviour (exit codes,
 * crash hooks, a decoder trap that must not end the process) is tested on the real binary by
 * bad-input, parquet-library-process and parquet-checksums-cli.
 *
 * Commands write to process.stdout and process.stderr. Each run's writes are told apart with
 * AsyncLocalStorage, so several commands may run at once; writes from outside any run pass
 * through untouched.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Command, CommanderError } from 'commander';
import { builtCli, builtFailureLine } from './built-modules.js';
import type { CliResult } from './up-process.js';

export type InProcessCli = ((args: readonly string[]) => Promise<CliResult>) & {
  /** Puts process.stdout and process.stderr back as they were. */
  close(): void;
};

interface Captured {
  stdout: string;
  stderr: string;
}

type Write = typeof process.stdout.write;

/** Appends a write to the run it belongs to, or hands it to the stream's own write. */
function capturing(original: Write, stream: NodeJS.WriteStream, runs: AsyncLocalStorage<Captured>, into: 'stdout' | 'stderr'): Write {
  return function write(this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
    const run = runs.getStore();
    if (run === undefined) return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    run[into] += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    if (callback !== undefined) queueMicrotask(callback);
    return true;
  } as Write;
}

/** Commander must throw, not exit, and print its own messages into the run's stderr. */
function quiet(command: Command): void {
  command.exitOverride();
  command.configureOutput({ writeOut: (text) => process.stdout.write(text), writeErr: (text) => process.stderr.write(text) });
  for (const sub of command.commands) quiet(sub);
}

/**
 * A runner of `granary ARGS --metadata URL --token TOKEN`: the result of one command as a CLI
 * process would give it (exit code 1 and the `granary: ...` line when it throws; a command's own
 * process.exitCode otherwise).
 */
export async function inProcessCli(metadataUrl: string, token: string): Promise<InProcessCli> {
  const { cliCommands } = await builtCli();
  const { failureLine } = await builtFailureLine();
  const runs = new AsyncLocalStorage<Captured>();
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  process.stdout.write = capturing(stdoutWrite, process.stdout, runs, 'stdout');
  process.stderr.write = capturing(stderrWrite, process.stderr, runs, 'stderr');

  const run = async (args: readonly string[]): Promise<CliResult> => {
    const captured: Captured = { stdout: '', stderr: '' };
    return runs.run(captured, async () => {
      // A fresh tree per run: commander keeps parsed option values on its Command objects.
      const program = new Command('granary').enablePositionalOptions();
      for (const command of cliCommands()) program.addCommand(command);
      quiet(program);
      const exitCodeBefore = process.exitCode;
      let code = 0;
      try {
        await program.parseAsync([...args, '--metadata', metadataUrl, '--token', token], { from: 'user' });
        if (process.exitCode !== exitCodeBefore && typeof process.exitCode === 'number') code = process.exitCode;
      } catch (error) {
        code = error instanceof CommanderError ? error.exitCode : 1;
        if (!(error instanceof CommanderError)) captured.stderr += `${failureLine(error)}\n`;
      } finally {
        process.exitCode = exitCodeBefore;
      }
      return { code, stdout: captured.stdout, stderr: captured.stderr };
    });
  };
  return Object.assign(run, {
    close(): void {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
    },
  });
}
