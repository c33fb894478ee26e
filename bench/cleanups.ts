/**
 * What a benchmark started (clusters, etcd, temp dirs, clients), stopped in reverse order on
 * every way out: its end, an error, Ctrl-C or SIGTERM. A failed step is reported and the rest
 * still run, so one stuck process does not leave the others behind.
 */
export class Cleanups {
  private readonly steps: (() => Promise<void>)[] = [];

  /** Stops and removes everything on SIGINT / SIGTERM, saying `what` it stops, then exits 130. */
  constructor(what: string) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: ${what}`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  push(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup: ${(error as Error).message}`);
      }
    }
  }
}
