/**
 * Issue 15's measurable defects, each next to its reference in the same run:
 *  - the longest event-loop stall of a generate while another caller keeps the same
 *    runtime's worker thread busy (every runtime call is asynchronous), beside how long a
 *    copy queued behind that caller takes to settle (what a synchronous copy, which the
 *    runtime no longer has, would have held the event loop for);
 *  - the longest stall while toPNG encodes a 512x512 image;
 *  - tokenizing a 16,000-letter word and 1,740 CJK characters (3.5 s and 125 ms before).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { StableDiffusion } from '../lib/index.js';
import { ClipTokenizer } from '../lib/tokenizer/index.js';
import { loadRuntime } from '../lib/tvm/index.js';

export interface RobustnessBench {
  device: string;
  idleStallMs: number;
  asyncGenerateStallMs: number;
  /** The longest a copyFromAsync issued meanwhile took to settle (waiting behind the neighbour). */
  queuedCopyLatencyMs: number;
  toPngStallMs: number;
  longWordTokenizeMs: number;
  cjkTokenizeMs: number;
}

async function longestStall(work: () => Promise<unknown>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  histogram.disable();
  return histogram.max / 1e6;
}

export async function benchRobustness(modelDir: string, runtimePath: string, tokenizerDir: string, device: string): Promise<RobustnessBench | string> {
  const rt = loadRuntime({ library: runtimePath });
  if (!(await rt.device(device).existsAsync())) return `no ${device} device`;
  const options = { device, tvmRuntime: runtimePath, tokenizer: tokenizerDir };
  const [a, b] = await Promise.all([StableDiffusion.load(modelDir, options), StableDiffusion.load(modelDir, options)]);
  await Promise.all([a.generate('warm', { steps: 2, seed: 0 }), b.generate('warm', { steps: 2, seed: 0 })]);

  // The neighbour: 512 MiB copies into the shared runtime, back to back, each holding its
  // worker thread for tens of milliseconds (a stand-in for another pipeline's long UNet
  // call; the stand-in model's own UNet is too small to show it).
  const big = await rt.emptyAsync([128 * 1024 * 1024], 'float32', rt.device(device));
  const bigData = new Float32Array(128 * 1024 * 1024).fill(1);
  let running = true;
  const neighbour = (async () => {
    while (running) await big.copyFromAsync(bigData);
  })();

  const asyncGenerateStallMs = await longestStall(() => b.generate('measured', { steps: 20, seed: 2 }));
  // Control: the longest stall of an idle main thread meanwhile (the machine's own noise:
  // the neighbour's copies compete for the CPU and memory bandwidth).
  const idleStallMs = await longestStall(() => new Promise((resolve) => setTimeout(resolve, 1000)));

  // Reference: a copy issued meanwhile waits for the neighbour's copy queued before it; a
  // synchronous copy would have held the event loop that long.
  const arr = await rt.emptyAsync([1, 4, 64, 64], 'float32', rt.device(device));
  const data = new Float32Array(4 * 64 * 64);
  let queuedCopyLatencyMs = 0;
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const t = performance.now();
    await arr.copyFromAsync(data);
    queuedCopyLatencyMs = Math.max(queuedCopyLatencyMs, performance.now() - t);
  }
  running = false;
  await neighbour;
  arr.dispose();
  big.dispose();

  const image = await b.generate('a png', { steps: 2, seed: 4 });
  const toPngStallMs = await longestStall(() => image.toPNG());
  a.dispose();
  b.dispose();

  const tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir);
  const timeOnce = (text: string): number => {
    const t = performance.now();
    tokenizer.encode(text);
    return performance.now() - t;
  };
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let word = '';
  for (let i = 0; i < 16000; i++) word += letters[(i * 7919 + (i >> 3)) % letters.length];
  const cjk = Array.from({ length: 1740 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 37) % 2000))).join('');
  return {
    device: `${device}:0`,
    idleStallMs,
    asyncGenerateStallMs,
    queuedCopyLatencyMs,
    toPngStallMs,
    longWordTokenizeMs: timeOnce(word),
    cjkTokenizeMs: timeOnce(cjk),
  };
}

export function printRobustness(rows: RobustnessBench[]): void {
  console.log('\nIssue 15: event-loop stalls with two pipelines on one runtime, toPNG, long words (ms)');
  const fmt = (n: number): string => n.toFixed(2).padStart(12);
  console.log(`${'device'.padEnd(10)} ${'idle'.padStart(12)} ${'async gen'.padStart(12)} ${'queued copy'.padStart(12)} ${'toPNG'.padStart(12)} ${'16k word'.padStart(12)} ${'1740 CJK'.padStart(12)}`);
  for (const r of rows) {
    console.log(`${r.device.padEnd(10)} ${fmt(r.idleStallMs)} ${fmt(r.asyncGenerateStallMs)} ${fmt(r.queuedCopyLatencyMs)} ${fmt(r.toPngStallMs)} ${fmt(r.longWordTokenizeMs)} ${fmt(r.cjkTokenizeMs)}`);
  }
}
