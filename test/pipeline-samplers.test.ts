// The pipeline runs the issue-21 samplers as their schedulers say: scheduler.length UNet calls
// (2n - 1 for the two-stage Heun and DPM2), each stochastic draw from the seed's generator
// after the initial noise, and a sigma schedule passed through schedulerOptions. Checked by
// replaying the run on the host with the fake unguided unet (uncond = 0.5x, cond = 0.5x + 0.1).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGenerator, createScheduler, InvalidArgumentError, StableDiffusion, type SchedulerName, type SigmaSchedule } from '../lib/index.js';
import { buildUnguidedExecutable } from './support/c-libraries.js';
import { makeModelDir } from './support/model-dirs.js';
import { relativeError } from './support/scheduler-golden.js';
import { sharedData, testRuntime, testStandin, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const tokenizerFiles = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = {
  available: runtimeInfo.available && standin.available && tokenizerFiles.available,
  reason: runtimeInfo.reason || standin.reason || tokenizerFiles.reason,
  path: '',
};
const base = { tvmRuntime: runtimeInfo.path, tokenizer: tokenizerFiles.path };
const LATENT_SHAPE = [1, 4, 64, 64];

describe.skipIf(!ready.available)(titled('the pipeline with multi-call and stochastic samplers', ready), () => {
  it('calls the unet scheduler.length times and ends where the host replay of the same seed ends', async () => {
    const dir = makeModelDir(standin.path, { executables: {} });
    buildUnguidedExecutable(join(dir, 'stable_diffusion_cpu.so'), runtimeInfo.abi);
    const pipe = await StableDiffusion.load(dir, { ...base, device: 'cpu' });
    const f = Math.fround;
    const g = 3;
    const cases: [SchedulerName, number, SigmaSchedule | undefined][] = [
      ['heun', 3, undefined],
      ['dpm2-a', 3, 'karras'],
      ['dpm++2m-sde', 4, 'exponential'],
      ['lcm', 2, undefined],
      ['ddpm', 3, undefined],
    ];
    for (const [scheduler, steps, sigmaSchedule] of cases) {
      const calls: number[] = [];
      const schedulerOptions = sigmaSchedule ? { sigmaSchedule } : {};
      const image = await pipe.generate('samplers', { steps, scheduler, schedulerOptions, seed: 11, guidanceScale: g, onStep: (p) => calls.push(p.step) });
      const s = createScheduler(scheduler, { steps, ...schedulerOptions });
      expect(calls, scheduler).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
      if (scheduler === 'heun' || scheduler === 'dpm2-a') expect(s.length).toBe(2 * steps - 1);
      // The replay: initial noise and the samplers' draws from one generator seeded 11.
      const generator = createGenerator(11);
      let x: Float32Array = generator.randn(LATENT_SHAPE).map((v) => f(v * s.initNoiseSigma));
      for (let i = 0; i < s.length; i++) {
        const input = s.scaleModelInput(x, i);
        const eps = input.map((v) => {
          const u = f(0.5 * v);
          return f(u + f(f(g) * f(f(u + f(0.1)) - u)));
        });
        x = s.step(eps, i, x, generator);
      }
      expect(relativeError(image.latents, x), scheduler).toBeLessThanOrEqual(1e-6);
    }
    await expect(pipe.generate('x', { scheduler: 'lcm', steps: 51 })).rejects.toThrow(InvalidArgumentError);
    await expect(pipe.generate('x', { scheduler: 'ddim', schedulerOptions: { sigmaSchedule: 'karras' } })).rejects.toThrow(/no sigma schedule option/);
    pipe.dispose();
  }, 120_000);
});
