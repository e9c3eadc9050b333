/**
 * Euler (EulerDiscreteScheduler, s_churn = 0) and Euler ancestral
 * (EulerAncestralDiscreteScheduler, one noise draw per step), as diffusers runs them.
 */
import { f32 } from './numpy-like.js';
import { StepCounter, type NoiseSource, type Scheduler, type SchedulerOptions } from './scheduler.js';
import type { SchedulerName } from './names.js';
import { convertSigmas, interpolateSigmas, logF32, sigmaSpaceScheduler, sigmaToT } from './sigma-schedule.js';
import { checkSteps, floatTimesteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * Timesteps and sigmas (with the final 0) of LMS, Euler and Euler ancestral; with a sigma
 * schedule (Karras, exponential, beta) the timesteps follow from the converted sigmas.
 */
export function sigmaSchedule(
  options: SchedulerOptions,
  /** How a converted schedule's float64 timestep is stored (float32, or KDPM2's rounding). */
  castTimestep: (t: number) => number = f32,
): { timesteps: number[]; sigmas: Float32Array; spacing: string } {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const spacing = options.timestepSpacing ?? 'linspace';
  const train = trainingSchedule(cfg);
  let timesteps = floatTimesteps(spacing, options.steps, cfg);
  let sigmas = interpolateSigmas(train.sigmas, timesteps);
  if (options.sigmaSchedule) {
    const logSigmas = logF32(train.sigmas);
    sigmas = convertSigmas(options.sigmaSchedule, sigmas, options.steps);
    timesteps = sigmas.map((s) => castTimestep(sigmaToT(s, logSigmas)));
  }
  return { timesteps, sigmas: Float32Array.from([...sigmas, 0]), spacing };
}

export function createEuler(name: SchedulerName, options: SchedulerOptions, ancestral: boolean): Scheduler {
  const { timesteps, sigmas, spacing } = sigmaSchedule(options);
  const counter = new StepCounter(name, timesteps.length, options.beginIndex);
  return {
    ...sigmaSpaceScheduler(name, timesteps, sigmas, spacing),
    step(modelOutput, i, sample, generator?: NoiseSource) {
      if (ancestral && !generator) throw new InvalidArgumentError(`${name}: step() needs a generator for its noise`);
      counter.take(i, modelOutput, sample);
      const sigma = sigmas[i]!;
      const next = sigmas[i + 1]!;
      const n = sample.length;
      const out = new Float32Array(n);
      if (!ancestral) {
        const dt = f32(next - sigma);
        for (let k = 0; k < n; k++) {
          const x0 = f32(sample[k]! - f32(sigma * modelOutput[k]!));
          const d = f32(f32(sample[k]! - x0) / sigma);
          out[k] = f32(sample[k]! + f32(d * dt));
        }
        return out;
      }
      const to2 = f32(next * next);
      const from2 = f32(sigma * sigma);
      const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
      const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
      const dt = f32(sigmaDown - sigma);
      const noise = generator!.randn([n]);
      for (let k = 0; k < n; k++) {
        const x0 = f32(sample[k]! - f32(sigma * modelOutput[k]!));
        const d = f32(f32(sample[k]! - x0) / sigma);
        out[k] = f32(f32(sample[k]! + f32(d * dt)) + f32(noise[k]! * sigmaUp));
      }
      return out;
    },
  };
}
