/**
 * DDPM (DDPMScheduler, variance_type "fixed_small", no clipping as SD's config says): the
 * posterior mean from the predicted x0, plus sqrt(variance) * noise, one draw in every step
 * whose timestep is above 0. The previous timestep is the next entry of the schedule.
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { integerTimestepScheduler, StepCounter, type NoiseSource, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { checkSteps, integerTimesteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

const MIN_VARIANCE = f32(1e-20);

export function createDdpm(name: SchedulerName, options: SchedulerOptions): Scheduler {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const { alphasCumprod } = trainingSchedule(cfg);
  const timesteps = integerTimesteps(options.timestepSpacing ?? 'leading', options.steps, cfg);
  const n = timesteps.length;
  const counter = new StepCounter(name, n, options.beginIndex);
  return {
    ...integerTimestepScheduler(name, timesteps),
    step(modelOutput, i, sample, generator?: NoiseSource) {
      const t = timesteps[i]!;
      if (t > 0 && !generator) throw new InvalidArgumentError(`${name}: step() needs a generator for its noise`);
      counter.take(i, modelOutput, sample);
      const prev = i + 1 < n ? timesteps[i + 1]! : -1;
      const aT = alphasCumprod[t]!;
      const aPrev = prev >= 0 ? alphasCumprod[prev]! : 1;
      const bT = f32(1 - aT);
      const bPrev = f32(1 - aPrev);
      const currentAlpha = f32(aT / aPrev);
      const currentBeta = f32(1 - currentAlpha);
      const sqrtBT = f32(Math.sqrt(bT));
      const sqrtAT = f32(Math.sqrt(aT));
      const x0Coeff = f32(f32(f32(Math.sqrt(aPrev)) * currentBeta) / bT);
      const sampleCoeff = f32(f32(f32(Math.sqrt(currentAlpha)) * bPrev) / bT);
      const len = sample.length;
      const out = new Float32Array(len);
      for (let k = 0; k < len; k++) {
        const x0 = f32(f32(sample[k]! - f32(sqrtBT * modelOutput[k]!)) / sqrtAT);
        out[k] = f32(f32(x0Coeff * x0) + f32(sampleCoeff * sample[k]!));
      }
      if (t > 0) {
        const noise = generator!.randn([len]);
        // _get_variance: (1 - a_prev) / (1 - a_t) * beta_t, clamped to 1e-20, then its sqrt.
        const variance = Math.max(f32(f32(f32(1 - aPrev) / f32(1 - aT)) * currentBeta), MIN_VARIANCE);
        const std = f32(Math.sqrt(variance));
        for (let k = 0; k < len; k++) out[k] = f32(out[k]! + f32(std * noise[k]!));
      }
      return out;
    },
  };
}
