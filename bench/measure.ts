/** Small helpers shared by the benchmarks: timed loops and a result table. */

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
