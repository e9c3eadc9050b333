/** DDIM with eta = 0 (deterministic), diffusers' DDIMScheduler as SD pipelines call it. */
import { f32 } from './numpy-like.js';
import { integerTimestepScheduler, StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { checkSteps, integerTimesteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';

export function createDdim(options: SchedulerOptions): Scheduler {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const { alphasCumprod } = trainingSchedule(cfg);
  const finalAlpha = cfg.setAlphaToOne ? 1 : alphasCumprod[0]!;
  const timesteps = integerTimesteps(options.timestepSpacing ?? 'leading', options.steps, cfg);
  const ratio = Math.floor(cfg.numTrainTimesteps / options.steps);
  const counter = new StepCounter('ddim', timesteps.length, options.beginIndex);
  return {
    ...integerTimestepScheduler('ddim', timesteps),
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const t = timesteps[i]!;
      const prev = t - ratio;
      const aT = alphasCumprod[t]!;
      const aPrev = prev >= 0 ? alphasCumprod[prev]! : finalAlpha;
      const sqrtBT = f32(Math.sqrt(f32(1 - aT)));
      const sqrtAT = f32(Math.sqrt(aT));
      const sqrtAPrev = f32(Math.sqrt(aPrev));
      // eta = 0: std_dev_t = 0, so the direction coefficient is sqrt(1 - a_prev - 0).
      const dirCoeff = f32(Math.sqrt(f32(f32(1 - aPrev) - 0)));
      const out = new Float32Array(sample.length);
      for (let k = 0; k < out.length; k++) {
        const x0 = f32(f32(sample[k]! - f32(sqrtBT * modelOutput[k]!)) / sqrtAT);
        out[k] = f32(f32(sqrtAPrev * x0) + f32(dirCoeff * modelOutput[k]!));
      }
      return out;
    },
  };
}
