/**
 * Keeps removals of files (file, partition and table drops, retention) from happening under a
 * plan page in flight. A page awaits manifest pieces from the store, so, unlike the in-memory
 * planner before it, it can span other requests: a drop in between would delete the pieces and
 * block records it is about to read. Plans share the gate; a removal waits for the plans in
 * flight to finish and holds new ones back until it is done (writer first, so a stream of plans
 * cannot starve it). Appends (commits) need no gate: a file becomes visible only after its pieces
 * are durable, and later files do not move a page's position.
 */
export class PlanGate {
  private plansInFlight = 0;
  private idle: (() => void)[] = [];
  /** Set while a removal waits or runs; plans that arrive meanwhile wait for it. */
  private removal: Promise<void> | undefined;

  get inFlight(): number {
    return this.plansInFlight;
  }

  /** Runs one plan page; pages run side by side. */
  async plan<T>(work: () => Promise<T>): Promise<T> {
    while (this.removal !== undefined) await this.removal;
    this.plansInFlight++;
    try {
      return await work();
    } finally {
      this.plansInFlight--;
      assert(this.plansInFlight >= 0, 'plans in flight never go below zero');
      if (this.plansInFlight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /**
   * Runs a removal once no plan is in flight. Callers hold MetadataState.exclusive, so removals
   * never overlap one another.
   */
  async remove<T>(work: () => Promise<T>): Promise<T> {
    assert(this.removal === undefined, 'removals run one at a time (under MetadataState.exclusive)');
    let done = (): void => {};
    this.removal = new Promise((resolve) => {
      done = resolve;
    });
    try {
      while (this.plansInFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
      return await work();
    } finally {
      this.removal = undefined;
      done();
    }
  }
}

/** An invariant of the gate; a failure is a bug. */
function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${what}`);
}
