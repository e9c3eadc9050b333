/**
 * Heun (HeunDiscreteScheduler): n steps are 2n - 1 model calls. Even calls are an Euler
 * step from sigma_i to sigma_i+1; the odd call after it evaluates the model there and
 * redoes the step from the saved sample with the two derivatives averaged. The last call
 * (to sigma 0) is a plain Euler step.
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { sigmaSpaceScheduler } from './sigma-schedule.js';
import { sigmaSchedule } from './euler.js';

/** [a0, a1, a1, a2, a2, ...]: the first entry once, the rest twice (torch repeat_interleave). */
export function interleaveAfterFirst(values: ArrayLike<number>): number[] {
  const out: number[] = values.length === 0 ? [] : [values[0]!];
  for (let i = 1; i < values.length; i++) out.push(values[i]!, values[i]!);
  return out;
}

export function createHeun(name: SchedulerName, options: SchedulerOptions): Scheduler {
  const base = sigmaSchedule(options);
  // sigmas: [s0, s1, s1, ..., s(n-1), s(n-1), 0]; timesteps: [t0, t1, t1, ..., t(n-1), t(n-1)].
  const sigmas = Float32Array.from([...interleaveAfterFirst(base.sigmas.subarray(0, -1)), 0]);
  const timesteps = interleaveAfterFirst(base.timesteps);
  const counter = new StepCounter(name, timesteps.length, options.beginIndex);
  let pending: { derivative: Float32Array; dt: number; sample: Float32Array } | undefined;
  return {
    ...sigmaSpaceScheduler(name, timesteps, sigmas, base.spacing),
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const n = sample.length;
      const out = new Float32Array(n);
      if (!pending) {
        const sigma = sigmas[i]!;
        const dt = f32(sigmas[i + 1]! - sigma);
        const derivative = new Float32Array(n);
        for (let k = 0; k < n; k++) {
          const x0 = f32(sample[k]! - f32(sigma * modelOutput[k]!));
          derivative[k] = f32(f32(sample[k]! - x0) / sigma);
          out[k] = f32(sample[k]! + f32(derivative[k]! * dt));
        }
        pending = { derivative, dt, sample };
        return out;
      }
      const sigmaNext = sigmas[i]!;
      const { derivative: first, dt, sample: saved } = pending;
      pending = undefined;
      for (let k = 0; k < n; k++) {
        const x0 = f32(sample[k]! - f32(sigmaNext * modelOutput[k]!));
        const d = f32(f32(sample[k]! - x0) / sigmaNext);
        const avg = f32(f32(first[k]! + d) / 2);
        out[k] = f32(saved[k]! + f32(avg * dt));
      }
      return out;
    },
  };
}
