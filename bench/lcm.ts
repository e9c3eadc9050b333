/**
 * LCM 4 steps (guidance 1: one batch-1 UNet call per step) beside PNDM 20 steps (guidance
 * 7.5: 21 batch-2 calls) on the same model, a model built by sd-mali build (the port's
 * build bakes guidance in and cannot run batch 1). Wall time per image and UNet calls;
 * same process, same prompt, runs interleaved so machine load hits both alike.
 */
import { StableDiffusion, type GenerateOptions } from '../lib/index.js';
import { loadRuntime } from '../lib/tvm/index.js';

export interface LcmBenchRow {
  model: string;
  device: string;
  mode: string;
  steps: number;
  guidanceScale: number;
  unetCalls: number;
  unetBatch: number;
  wallMs: { mean: number; min: number; max: number };
  unetMsPerCall: number;
  runs: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

const MODES: Array<{ mode: string; options: GenerateOptions; batch: number }> = [
  { mode: 'PNDM 20 steps, CFG 7.5', options: { scheduler: 'pndm', steps: 20, guidanceScale: 7.5 }, batch: 2 },
  { mode: 'LCM 4 steps, CFG 1', options: { scheduler: 'lcm', steps: 4, guidanceScale: 1 }, batch: 1 },
];

export async function benchLcm(modelDir: string, runtimePath: string, device: string, runs = 3): Promise<LcmBenchRow[] | string> {
  const rt = loadRuntime({ library: runtimePath });
  if (!(await rt.device(device).existsAsync())) return `no ${device} device`;
  // PoCL's OpenCL device is a CPU, which load refuses unless asked: here it is the OpenCL device there is.
  const pipe = await StableDiffusion.load(modelDir, { device, tvmRuntime: runtimePath, allowCpuOpenCl: true });
  try {
    // Both modes once first: kernels built (OpenCL), caches warm.
    for (const m of MODES) await pipe.generate('warm up', { ...m.options, seed: 0 });
    const walls = MODES.map(() => [] as number[]);
    const unet = MODES.map(() => [] as number[]);
    const calls = MODES.map(() => 0);
    for (let r = 0; r < runs; r++) {
      for (const [k, m] of MODES.entries()) {
        const t = performance.now();
        const image = await pipe.generate('a photograph of an astronaut riding a horse', { ...m.options, seed: 100 + r });
        walls[k]!.push(performance.now() - t);
        unet[k]!.push(...image.timings.unetMs);
        calls[k] = image.timings.unetMs.length;
      }
    }
    const model = modelDir.split('/').filter(Boolean).pop() ?? modelDir;
    return MODES.map((m, k) => ({
      model,
      device: pipe.info.device,
      mode: m.mode,
      steps: m.options.steps!,
      guidanceScale: m.options.guidanceScale!,
      unetCalls: calls[k]!,
      unetBatch: m.batch,
      wallMs: { mean: mean(walls[k]!), min: Math.min(...walls[k]!), max: Math.max(...walls[k]!) },
      unetMsPerCall: mean(unet[k]!),
      runs,
    }));
  } finally {
    pipe.dispose();
  }
}

export function printLcm(rows: LcmBenchRow[]): void {
  console.log('\nLCM vs PNDM on the same model (sd-mali build; interleaved runs after one warm-up each)');
  const fmt = (n: number): string => n.toFixed(1).padStart(9);
  console.log(`${'model'.padEnd(26)} ${'device'.padEnd(9)} ${'mode'.padEnd(24)} ${'UNet calls'.padStart(10)} ${'batch'.padStart(5)} ${'wall ms'.padStart(9)} ${'min'.padStart(9)} ${'ms/call'.padStart(9)} ${'vs PNDM'.padStart(8)}`);
  for (const r of rows) {
    const base = rows.find((x) => x.model === r.model && x.device === r.device && x.mode.startsWith('PNDM'));
    const ratio = base ? `${(base.wallMs.mean / r.wallMs.mean).toFixed(1)}x`.padStart(8) : '';
    console.log(`${r.model.padEnd(26)} ${r.device.padEnd(9)} ${r.mode.padEnd(24)} ${String(r.unetCalls).padStart(10)} ${String(r.unetBatch).padStart(5)} ${fmt(r.wallMs.mean)} ${fmt(r.wallMs.min)} ${fmt(r.unetMsPerCall)} ${ratio}`);
  }
}
