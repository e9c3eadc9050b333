/** Wall-clock timing of a generate's stages: one line per stage instead of `t = now()` pairs. */
export class StageTimer {
  readonly #start = performance.now();

  /** Milliseconds since the timer started (shifted back by `offsetMs`, time spent before it). */
  constructor(private readonly offsetMs = 0) {}

  elapsedMs(): number {
    return performance.now() - this.#start + this.offsetMs;
  }

  /** Runs `work` and returns its result with the milliseconds it took. */
  async time<T>(work: () => Promise<T>): Promise<[T, number]> {
    const t = performance.now();
    const value = await work();
    return [value, performance.now() - t];
  }
}
