/**
 * Long work on the JavaScript thread, cut into slices by time so the event loop keeps
 * turning (no block over 20 ms). Slices are measured, not counted: the same loop is ten
 * times slower before V8 has compiled it, and a slow or busy machine makes every count
 * wrong, but "yield once 4 ms have passed" holds everywhere.
 */

/** How long a slice may run before it yields: a few ms, well inside the 20 ms goal. */
export const DEFAULT_SLICE_MS = 4;

/** Items between two looks at the clock in forEachPaced: a clock read costs ~40 ns. */
const ITEMS_PER_CLOCK_CHECK = 64;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Pacer {
  readonly sliceMs: number;
  #sliceStart = performance.now();
  #yields = 0;

  constructor(sliceMs: number = DEFAULT_SLICE_MS) {
    this.sliceMs = sliceMs;
  }

  /** Whether the current slice has used its time. */
  due(): boolean {
    return performance.now() - this.#sliceStart >= this.sliceMs;
  }

  /** Lets timers, I/O and other callbacks run (setImmediate), then starts a new slice. */
  async yield(): Promise<void> {
    await nextTurn();
    this.#yields++;
    this.#sliceStart = performance.now();
  }

  /** Yields only when the slice is used up. */
  async pace(): Promise<void> {
    if (this.due()) await this.yield();
  }

  /** How many times this pacer yielded (for tests and benchmarks). */
  get yields(): number {
    return this.#yields;
  }
}

/** Runs body(i) for i = 0 .. count-1 in order, yielding to the event loop between slices. */
export async function forEachPaced(count: number, body: (i: number) => void, pacer: Pacer = new Pacer()): Promise<void> {
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + ITEMS_PER_CLOCK_CHECK);
    for (; i < end; i++) body(i);
    if (pacer.due()) await pacer.yield();
  }
}
