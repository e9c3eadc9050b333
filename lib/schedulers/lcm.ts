/**
 * LCM (LCMScheduler): the timesteps are a subset of a 50-step "original" schedule
 * (k = 20: 19, 39, ..., 999); each step makes the consistency model's denoised sample and,
 * except in the last one, noises it again to the next timestep with a fresh draw.
 * timestep_spacing and steps_offset do not apply to this class.
 */
import { f32, linspace } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { integerTimestepScheduler, StepCounter, type NoiseSource, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { checkSteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

/** diffusers' default original_inference_steps (SD 1.5's config has none). */
export const LCM_ORIGINAL_STEPS = 50;
const TIMESTEP_SCALING = 10;
const SIGMA_DATA = 0.5;

export function lcmTimesteps(steps: number, numTrainTimesteps: number, originalSteps = LCM_ORIGINAL_STEPS): number[] {
  if (steps > originalSteps) {
    throw new InvalidArgumentError(`lcm: steps (${steps}) cannot exceed its original schedule's ${originalSteps} steps (diffusers' original_inference_steps)`);
  }
  const k = Math.floor(numTrainTimesteps / originalSteps);
  const origin = Array.from({ length: originalSteps }, (_, i) => (i + 1) * k - 1).reverse();
  // np.linspace(0, len, num=steps, endpoint=False), floored: i * len / steps.
  return linspace(0, origin.length, steps + 1).slice(0, steps).map((x) => origin[Math.floor(x)]!);
}

export function createLcm(name: SchedulerName, options: SchedulerOptions): Scheduler {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const { alphasCumprod } = trainingSchedule(cfg);
  const timesteps = lcmTimesteps(options.steps, cfg.numTrainTimesteps);
  const n = timesteps.length;
  const counter = new StepCounter(name, n, options.beginIndex);
  return {
    ...integerTimestepScheduler(name, timesteps),
    step(modelOutput, i, sample, generator?: NoiseSource) {
      const last = i === n - 1;
      if (!last && !generator) throw new InvalidArgumentError(`${name}: step() needs a generator for its noise`);
      counter.take(i, modelOutput, sample);
      const t = timesteps[i]!;
      const aT = alphasCumprod[t]!;
      const aPrev = alphasCumprod[last ? t : timesteps[i + 1]!]!;
      // get_scalings_for_boundary_condition_discrete, on the int64 timestep tensor: float32.
      const scaled = f32(t * TIMESTEP_SCALING);
      const denom = f32(f32(scaled * scaled) + SIGMA_DATA ** 2);
      const cSkip = f32(SIGMA_DATA ** 2 / denom);
      const cOut = f32(scaled / f32(Math.sqrt(denom)));
      const sqrtBT = f32(Math.sqrt(f32(1 - aT)));
      const sqrtAT = f32(Math.sqrt(aT));
      const len = sample.length;
      const denoised = new Float32Array(len);
      for (let k = 0; k < len; k++) {
        const x0 = f32(f32(sample[k]! - f32(sqrtBT * modelOutput[k]!)) / sqrtAT);
        denoised[k] = f32(f32(cOut * x0) + f32(cSkip * sample[k]!));
      }
      if (last) return denoised;
      const noise = generator!.randn([len]);
      const sqrtAPrev = f32(Math.sqrt(aPrev));
      const sqrtBPrev = f32(Math.sqrt(f32(1 - aPrev)));
      const out = new Float32Array(len);
      for (let k = 0; k < len; k++) out[k] = f32(f32(sqrtAPrev * denoised[k]!) + f32(sqrtBPrev * noise[k]!));
      return out;
    },
  };
}
