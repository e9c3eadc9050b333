// The pacer that cuts long JavaScript work into slices of the event loop.
import { describe, expect, it } from 'vitest';
import { forEachPaced, Pacer } from '../lib/event-loop-pacer.js';

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: stands for work that holds the thread
  }
}

describe('forEachPaced', () => {
  it('visits every index once, in order', async () => {
    const seen: number[] = [];
    await forEachPaced(1000, (i) => seen.push(i), new Pacer(0));
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('lets other callbacks run between slices of long work', async () => {
    // 256 items of 0.25 ms = 64 ms of work, the clock read every 64 items: slices of 4 ms must
    // let an immediate run long before the end.
    const pacer = new Pacer(4);
    let itemsWhenOtherRan = -1;
    let done = 0;
    setImmediate(() => (itemsWhenOtherRan = done));
    await forEachPaced(
      256,
      () => {
        busyFor(0.25);
        done++;
      },
      pacer,
    );
    expect(done).toBe(256);
    expect(itemsWhenOtherRan).toBeGreaterThan(0);
    expect(itemsWhenOtherRan).toBeLessThan(256);
    expect(pacer.yields).toBeGreaterThan(0);
  });

  it('does not yield while the slice has time left', async () => {
    const pacer = new Pacer(60_000);
    let ranBetween = false;
    setImmediate(() => (ranBetween = true));
    await forEachPaced(10_000, () => undefined, pacer);
    expect(pacer.yields).toBe(0);
    expect(ranBetween).toBe(false);
  });

  it('stops at the first error of the body', async () => {
    let calls = 0;
    await expect(
      forEachPaced(100, (i) => {
        calls++;
        if (i === 7) throw new RangeError('item 7');
      }),
    ).rejects.toThrow('item 7');
    expect(calls).toBe(8);
  });
});
