/** Small helpers shared by the benchmarks: timed loops and a result table. */
import { cpus, totalmem } from 'node:os';

export interface Throughput {
  readonly name: string;
  readonly bytes: number;
  readonly seconds: number;
  readonly bytesPerSecond: number;
}

/** Runs `once` (which returns the bytes it moved) repeatedly for at least `minSeconds`. */
export async function throughput(name: string, once: () => Promise<number> | number, minSeconds = 2): Promise<Throughput> {
  await once(); // warm-up: JIT, caches, connections
  let bytes = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    const moved = await once();
    bytes += moved;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < minSeconds);
  return { name, bytes, seconds: elapsed, bytesPerSecond: bytes / elapsed };
}

/**
 * Runs `once` (which returns the bytes it moved) in `parallel` loops for `seconds`, after one
 * warm-up round; the figure for a server measured at a fixed number of requests in flight.
 */
export async function concurrently(
  name: string,
  parallel: number,
  seconds: number,
  once: () => Promise<number>,
): Promise<Throughput & { requests: number }> {
  await Promise.all(Array.from({ length: parallel }, once));
  let bytes = 0;
  let requests = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (Date.now() < deadline) {
        const moved = await once(); // not `bytes += await once()`: that reads `bytes` before the await
        bytes += moved;
        requests++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { name, bytes, seconds: elapsed, bytesPerSecond: bytes / elapsed, requests };
}

export function gbps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
}

export function ratio(value: number, ceiling: number): string {
  return `${(value / ceiling).toFixed(2)}x`;
}

export function printTable(title: string, rows: readonly (readonly string[])[]): void {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  console.log(`\n${title}`);
  for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')}`);
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function mbps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
}

export function pct(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(0)}%`;
}

export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Yields what `items` yields, adding the time each item took to make to `spent.seconds`. */
export function* timedItems<T>(items: Iterator<T>, spent: { seconds: number }): Generator<T> {
  for (;;) {
    const start = process.hrtime.bigint();
    const next = items.next();
    spent.seconds += secondsSince(start);
    if (next.done === true) return;
    yield next.value;
  }
}

/** The machine a result was measured on, recorded with every results file. */
export function machineInfo(): { node: string; cpus: number; cpuModel: string; memoryBytes: number } {
  return { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem() };
}
