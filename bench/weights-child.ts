/**
 * One measurement of the weight-loading bench, in its own process so that its peak RSS is
 * its own. Prints one JSON line.
 *   loader <runtime> <paramsDir> <device>: loadWeights onto the device
 *   floor <paramsDir>: the shards read with fs alone, then expanded by the addon's plain C loop
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { loadWeights, readWeightIndex } from '../lib/artifacts/index.js';
import { loadRuntime } from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';

export interface LoaderSample {
  seconds: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  longestBlockMs: number;
  /** The same histogram over one idle second just before the load: what this machine's scheduler alone costs. */
  idleLongestBlockMs: number;
  /** Garbage collections during the load (V8 collects as arrays report their external memory). */
  gcCount: number;
  longestGcMs: number;
  /** CPU time of the JavaScript thread during the load, event-loop monitor included (Linux schedstat). */
  mainThreadCpuMs: number | undefined;
}

export interface FloorSample {
  readSeconds: number;
  expandSeconds: number;
}

const [mode, ...args] = process.argv.slice(2);

/** Nanoseconds the JavaScript thread (its tid is the pid) has run on a CPU. */
function mainThreadCpuNs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

async function loader(runtimePath: string, paramsDir: string, deviceKind: string): Promise<LoaderSample | { skipped: string }> {
  const rt = loadRuntime({ library: runtimePath });
  const device = rt.device(deviceKind);
  if (!(await device.existsAsync())) return { skipped: `no ${deviceKind} device` };
  const index = await readWeightIndex(paramsDir);
  // Start the device (PoCL compiles nothing for copies, but opens its driver) outside the timing.
  (await rt.emptyAsync([1], 'float32', device)).dispose();
  const rssBeforeBytes = process.memoryUsage().rss;
  // 5 ms sampling: finds any block over 20 ms without the monitor itself costing much CPU.
  const idle = monitorEventLoopDelay({ resolution: 5 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  idle.disable();
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  const gcs: number[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => e.duration)));
  observer.observe({ entryTypes: ['gc'] });
  histogram.enable();
  const cpu0 = mainThreadCpuNs();
  const t = performance.now();
  const weights = await loadWeights(rt, device, index);
  const seconds = (performance.now() - t) / 1000;
  const cpu1 = mainThreadCpuNs();
  histogram.disable();
  await new Promise((resolve) => setImmediate(resolve)); // the observer's last entries
  observer.disconnect();
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  for (const list of weights.values()) for (const w of list) w.dispose();
  return { seconds, peakRssBytes, rssBeforeBytes, longestBlockMs: histogram.max / 1e6, idleLongestBlockMs: idle.max / 1e6,
    gcCount: gcs.length,
    longestGcMs: Math.max(0, ...gcs),
    mainThreadCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / 1e6,
  };
}

async function floor(paramsDir: string): Promise<FloorSample> {
  const index = await readWeightIndex(paramsDir);
  const largest = Math.max(...index.shards.map((s) => s.nbytes));
  const buf = Buffer.allocUnsafe(largest);
  const out = new Uint32Array(largest / 2);
  const { expandBf16 } = nativeBinding();
  let readSeconds = 0;
  let expandSeconds = 0;
  for (const shard of index.shards) {
    let t = performance.now();
    const fd = openSync(join(index.dir, shard.dataPath), 'r');
    for (let off = 0; off < shard.nbytes; ) off += readSync(fd, buf, off, shard.nbytes - off, off);
    closeSync(fd);
    readSeconds += (performance.now() - t) / 1000;
    t = performance.now();
    expandBf16(buf.subarray(0, shard.nbytes), out.subarray(0, shard.nbytes / 2));
    expandSeconds += (performance.now() - t) / 1000;
  }
  return { readSeconds, expandSeconds };
}

const result = mode === 'loader' ? await loader(args[0]!, args[1]!, args[2]!) : mode === 'floor' ? await floor(args[0]!) : { skipped: `unknown mode ${mode}` };
console.log(JSON.stringify(result));
