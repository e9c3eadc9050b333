/**
 * Event-loop blocks, measured as the existing benches do (a 5 ms interval timer: any gap
 * between two ticks beyond 5 ms is time the loop could not turn), plus what the
 * JavaScript thread itself ran during the longest gap (Linux schedstat of the thread whose
 * tid is the pid). On a machine shared with other work, a 40 ms gap in which the thread ran
 * 2 ms is the scheduler's, not the code's; the idle baseline measured beside it in the same
 * process says the same from the other side.
 */
import { readFileSync } from 'node:fs';

export interface BlockSample {
  /** The longest gap between two ticks, minus the 5 ms interval: how long the loop stood still. */
  longestBlockMs: number;
  /** CPU time the JavaScript thread ran during that gap (undefined off Linux). */
  longestBlockCpuMs: number | undefined;
  /** The most CPU the JavaScript thread ran within any one gap: our own longest stretch of work. */
  busiestGapCpuMs: number | undefined;
  /** How long was watched. */
  durationMs: number;
}

const INTERVAL_MS = 5;

function threadCpuNs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** Watches the event loop from start() to stop(). */
export class BlockMonitor {
  #timer: NodeJS.Timeout | undefined;
  #started = 0;
  #last = 0;
  #lastCpu: number | undefined;
  #longest = 0;
  #longestCpu: number | undefined;
  #busiest: number | undefined;

  start(): void {
    this.#started = this.#last = performance.now();
    this.#lastCpu = threadCpuNs();
    this.#longest = 0;
    this.#longestCpu = undefined;
    this.#busiest = this.#lastCpu === undefined ? undefined : 0;
    this.#timer = setInterval(() => this.#tick(), INTERVAL_MS);
  }

  #tick(): void {
    const now = performance.now();
    const cpu = threadCpuNs();
    const gap = now - this.#last;
    const cpuMs = cpu === undefined || this.#lastCpu === undefined ? undefined : (cpu - this.#lastCpu) / 1e6;
    if (gap > this.#longest) {
      this.#longest = gap;
      this.#longestCpu = cpuMs;
    }
    if (cpuMs !== undefined && this.#busiest !== undefined) this.#busiest = Math.max(this.#busiest, cpuMs);
    this.#last = now;
    this.#lastCpu = cpu;
  }

  stop(): BlockSample {
    this.#tick();
    clearInterval(this.#timer);
    return {
      longestBlockMs: Math.max(0, this.#longest - INTERVAL_MS),
      longestBlockCpuMs: this.#longestCpu,
      busiestGapCpuMs: this.#busiest,
      durationMs: performance.now() - this.#started,
    };
  }
}

/** The monitor around `work`. */
export async function watchBlocks<T>(work: () => Promise<T>): Promise<{ value: T; blocks: BlockSample }> {
  const monitor = new BlockMonitor();
  monitor.start();
  const value = await work();
  return { value, blocks: monitor.stop() };
}

/** An idle event loop watched for `ms`: the baseline of this machine at this moment. */
export async function idleBaseline(ms: number): Promise<BlockSample> {
  return (await watchBlocks(() => new Promise((resolve) => setTimeout(resolve, ms)))).blocks;
}
