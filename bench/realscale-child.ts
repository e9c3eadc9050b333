/**
 * One process of the real-layout event-loop bench (bench/realscale.ts), on one runtime and
 * device: StableDiffusion.load of SD 1.5's real weight layout (64 shards, 1,022 records,
 * 3.9 GiB of float32 on the device, with the stand-in's executables: the load does not run
 * them), then on the stand-in model (whose images are 512x512) the process's first generate,
 * steady generates and toPNG. Each phase is watched by the 5 ms block monitor, with an idle
 * baseline just before it in the same process. Prints one JSON line.
 *   node realscale-child.js <runtime> <stand-in dir> <real-layout params dir> <device> <program cache dir>
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StableDiffusion, type LoadOptions } from '../lib/index.js';
import { idleBaseline, watchBlocks, type BlockSample } from './block-monitor.js';

export interface RealscalePhase {
  phase: 'load (SD 1.5 layout)' | 'first generate' | 'steady generate' | 'toPNG 512x512';
  /** What was timed, e.g. '3 generates, 20 steps'. */
  what: string;
  seconds: number;
  blocks: BlockSample;
  idle: BlockSample;
}

export interface RealscaleSample {
  device: string;
  deviceName: string | undefined;
  deviceKind: string | undefined;
  phases: RealscalePhase[];
}

const [runtime, standin, realParams, device, programCache] = process.argv.slice(2) as [string, string, string, string, string];
const IDLE_MS = 1000;
const STEPS = 20;

function modelDir(params: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-bench-realscale-'));
  for (const kind of ['cpu', 'opencl']) symlinkSync(join(standin, `stable_diffusion_${kind}.so`), join(dir, `stable_diffusion_${kind}.so`));
  symlinkSync(params, join(dir, 'params'));
  return dir;
}

async function phase<T>(name: RealscalePhase['phase'], what: string, work: () => Promise<T>, out: RealscalePhase[]): Promise<T> {
  const idle = await idleBaseline(IDLE_MS);
  const t = performance.now();
  const { value, blocks } = await watchBlocks(work);
  out.push({ phase: name, what, seconds: (performance.now() - t) / 1000, blocks, idle });
  return value;
}

const options: LoadOptions = { device, tvmRuntime: runtime, programCache, allowCpuOpenCl: true };
const phases: RealscalePhase[] = [];
const realDir = modelDir(realParams);
const smallDir = modelDir(join(standin, 'params'));
try {
  // The bundled tokenizer, the real index (1,022 records), 3.9 GiB onto the device.
  const big = await phase('load (SD 1.5 layout)', '1,022 records, 64 shards', () => StableDiffusion.load(realDir, options), phases);
  big.dispose();
  const pipe = await StableDiffusion.load(smallDir, options);
  const first = await phase('first generate', `the process's first, ${STEPS} steps`, () => pipe.generate('an astronaut riding a horse', { steps: STEPS, seed: 1 }), phases);
  await phase(
    'steady generate',
    `3 generates, ${STEPS} steps`,
    async () => {
      for (let i = 0; i < 3; i++) await pipe.generate('a lighthouse on a cliff at dawn', { steps: STEPS, seed: 2 + i, scheduler: i === 1 ? 'euler-a' : 'pndm' });
    },
    phases,
  );
  await phase(
    'toPNG 512x512',
    `3 encodes of a ${first.width}x${first.height} image`,
    async () => {
      for (let i = 0; i < 3; i++) await first.toPNG();
    },
    phases,
  );
  const info = pipe.info;
  pipe.dispose();
  const sample: RealscaleSample = { device: info.device, deviceName: info.deviceName, deviceKind: info.deviceKind, phases };
  console.log(JSON.stringify(sample));
} finally {
  rmSync(realDir, { recursive: true, force: true });
  rmSync(smallDir, { recursive: true, force: true });
}
