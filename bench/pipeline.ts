/**
 * The pipeline on the stand-in model: load time by phase, per-step time split into UNet
 * call / host scheduler / copies, total generate time, peak RSS, and the longest
 * event-loop stall during generate.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { StableDiffusion, type LoadPhase } from '../lib/index.js';
import { loadRuntime } from '../lib/tvm/index.js';

export interface PipelineBench {
  /** Which TVM runtime ran it, e.g. 'v0.20 legacy', 'v0.26 tvm-ffi'. */
  tvm: string;
  device: string;
  deviceName: string | undefined;
  loadMs: Record<LoadPhase | 'total', number>;
  steps: number;
  scheduler: string;
  generates: number;
  firstGenerateMs: number;
  generateMs: { mean: number; min: number; max: number };
  perStepMs: { unet: number; scheduler: number; copies: number };
  textEncoderMs: number;
  vaeMs: number;
  peakRssMiB: number;
  longestEventLoopStallMs: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function benchPipeline(modelDir: string, runtimePath: string, tokenizer: string, device: string, tvm: string): Promise<PipelineBench | string> {
  const rt = loadRuntime({ library: runtimePath });
  if (!(await rt.device(device).existsAsync())) return `no ${device} device`;
  const t0 = performance.now();
  const marks: Partial<Record<LoadPhase, number>> = {};
  const pipe = await StableDiffusion.load(modelDir, {
    device,
    tvmRuntime: runtimePath,
    tokenizer,
    onProgress: (p) => (marks[p.phase] = performance.now()),
  });
  const loaded = performance.now();
  const loadMs = {
    runtime: (marks.runtime ?? t0) - t0,
    module: (marks.module ?? t0) - (marks.runtime ?? t0),
    weights: (marks.weights ?? loaded) - (marks.module ?? t0),
    warmup: 0,
    total: loaded - t0,
  };
  const steps = 50;
  let t = performance.now();
  await pipe.generate('warm up the kernels', { steps: 2, seed: 0 });
  const firstGenerateMs = performance.now() - t;

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const totals: number[] = [];
  const unet: number[] = [];
  const sched: number[] = [];
  const copies: number[] = [];
  const text: number[] = [];
  const vae: number[] = [];
  const runs = 5;
  histogram.enable();
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    const image = await pipe.generate('a photo of an astronaut riding a horse on mars', { steps, seed: 42 + i });
    totals.push(performance.now() - t);
    unet.push(...image.timings.unetMs);
    sched.push(...image.timings.schedulerMs);
    copies.push(...image.timings.copyMs);
    text.push(image.timings.textEncoderMs);
    vae.push(image.timings.vaeMs);
  }
  histogram.disable();
  const info = pipe.info;
  pipe.dispose();
  return {
    tvm,
    device: info.device,
    deviceName: info.deviceName,
    loadMs,
    steps,
    scheduler: 'pndm',
    generates: runs,
    firstGenerateMs,
    generateMs: { mean: mean(totals), min: Math.min(...totals), max: Math.max(...totals) },
    perStepMs: { unet: mean(unet), scheduler: mean(sched), copies: mean(copies) },
    textEncoderMs: mean(text),
    vaeMs: mean(vae),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    longestEventLoopStallMs: histogram.max / 1e6,
  };
}

export function printPipeline(rows: PipelineBench[]): void {
  console.log('\nPipeline on the stand-in model (PNDM, 50 steps = 51 UNet calls, 5 runs after a warm-up)');
  const fmt = (n: number): string => n.toFixed(2).padStart(9);
  console.log(`${'TVM'.padEnd(14)} ${'device'.padEnd(10)} ${'load ms'.padStart(9)} ${'(rt/mod/w)'.padStart(20)} ${'gen ms'.padStart(9)} ${'unet/st'.padStart(9)} ${'sched/st'.padStart(9)} ${'copy/st'.padStart(9)} ${'text ms'.padStart(9)} ${'vae ms'.padStart(9)} ${'peak MiB'.padStart(9)} ${'stall ms'.padStart(9)}`);
  for (const r of rows) {
    const split = `${r.loadMs.runtime.toFixed(0)}/${r.loadMs.module.toFixed(0)}/${r.loadMs.weights.toFixed(0)}`;
    console.log(
      `${r.tvm.padEnd(14)} ${r.device.padEnd(10)} ${fmt(r.loadMs.total)} ${split.padStart(20)} ${fmt(r.generateMs.mean)} ${fmt(r.perStepMs.unet)} ${fmt(r.perStepMs.scheduler)} ${fmt(r.perStepMs.copies)} ${fmt(r.textEncoderMs)} ${fmt(r.vaeMs)} ${fmt(r.peakRssMiB)} ${fmt(r.longestEventLoopStallMs)}`,
    );
  }
}
